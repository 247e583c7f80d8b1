"""Unit tests for core/links.py (URLs, hosts, trusted domains, signs) and core/lookalike.py."""

from __future__ import annotations

import tomllib
from dataclasses import replace
from pathlib import Path

import pytest

from mailticket.core import classify, links
from mailticket.core.lookalike import imitates, lookalike, words
from mailticket.types import Address, Mail

ROOT = Path(__file__).resolve().parents[2]
TRUSTED = links.trusted_domains(["*.go.id", "lkpp.go.id", "inaproc.id", "spse.inaproc.id"])
NAMES = ("google", "gmail", "googlemail", "outlook", "yahoo", "lkpp", "inaproc", "spse", "lpse", "lampungprov")
GENUINE = ("google.com", "gmail.com", "googlemail.com", "outlook.com", "yahoo.com", "yahoo.co.id", "inaproc.id",
           "go.id")


def mail(text: str = "", html: str = "", sender: str = "budi@cvmaju.co.id", subject: str = "Laporan",
         **fields) -> Mail:
    base = Mail("<a@b>", subject, Address("Budi", sender), (), (), (), None, (), (), (), "text/plain", text, html)
    return replace(base, **fields)


def test_urls_from_text_and_hrefs_not_images() -> None:
    html = ('<img src="https://cdn.example.net/logo.png"><a href="https://evil.example/login?a=1&amp;b=2">x</a>'
            "<a href='mailto:a@b.c'>m</a>")
    found = links.urls("lihat https://lpse.lampungprov.go.id/eproc4, dan www.contoh.co.id/x.", html)
    assert found == ("https://lpse.lampungprov.go.id/eproc4", "www.contoh.co.id/x",
                     "https://evil.example/login?a=1&b=2")


@pytest.mark.parametrize(("url", "host"), [
    ("https://LPSE.LampungProv.go.id./eproc4", "lpse.lampungprov.go.id"),
    ("https://lkpp.go.id@evil.example/login", "evil.example"),  # user info is no host
    ("http://inaproc.id:8080/x", "inaproc.id"),
    ("www.contoh.co.id/x", "www.contoh.co.id"),
    ("mailto:a@b.c", ""),
])
def test_host(url: str, host: str) -> None:
    assert links.host(url) == host


def test_trusted_domains_cover_sub_domains_only() -> None:
    assert links.under("spse.inaproc.id", TRUSTED) and links.under("lpse.lampungprov.go.id", TRUSTED)
    assert not links.under("inaproc-id.com", TRUSTED) and not links.under("go.id.evil.example", TRUSTED)
    assert not links.under("notgo.id", TRUSTED)


def test_archive_and_whatsapp_links() -> None:
    assert links.is_archive("https://x.top/d/KW-0847.zip?dl=1") and not links.is_archive("https://x.top/zip")
    assert links.is_whatsapp("https://wa.me/6281200000000") and links.is_whatsapp("https://api.whatsapp.com/send")


@pytest.mark.parametrize("domain", ["gmaii.com", "g00gle.com", "lkpp-verifikasi.com", "inapr0c.id", "lkpp-go.id",
                                   "googlemail-support.com", "inaproc-id.com", "yahooo.co.id", "outlok.com",
                                   "rnicrosoft-outlook.com", "lampungprov-go.id"])
def test_lookalike_domains(domain: str) -> None:
    assert lookalike(domain, NAMES, GENUINE)


@pytest.mark.parametrize("domain", ["gmail.com", "spse.inaproc.id", "lpse.lampungprov.go.id", "email.com",
                                    "pt-tapiskarya.co.id", "cvsinarbaru-lampung.com", "lpsb.co.id", "mail.gmail.com"])
def test_genuine_and_unrelated_domains_are_no_lookalike(domain: str) -> None:
    assert lookalike(domain, NAMES, GENUINE) is None


def test_short_names_match_only_whole_and_longer_ones_with_edits() -> None:
    assert imitates("lkpp", "lkpp") and not imitates("lkp", "lkpp") and not imitates("lpsb", "lpse")
    assert imitates("gmial", "gmail") and not imitates("email", "gmail")  # the first letter must stay
    assert imitates("lampungpr0v", "lampungprov") and imitates("lampugnprov", "lampungprov")
    assert words("mail.lkpp-verifikasi.co.id") == ["lkpp", "verifikasi"]


def test_signs_of_a_phishing_mail() -> None:
    m = mail("Masukkan user id anda di http://inapr0c-login.com/spse/validasi", sender="admin@lkpp-go.id",
             subject="RE: Akun", reply_to=(Address("", "x@gmail.com"),))
    found = dict(links.signs(m, TRUSTED, NAMES, GENUINE))
    assert set(found) == {"untrusted_link", "lookalike_sender", "lookalike_link", "lookalike", "fake_reply",
                          "reply_to_elsewhere"}
    assert found["untrusted_link"] == "inapr0c-login.com"
    assert "lkpp-go.id imitates lkpp" in found["lookalike_sender"]


def test_no_signs_for_a_report_with_a_government_link() -> None:
    m = mail("Tidak bisa login di https://lpse.lampungprov.go.id/eproc4 sejak pagi", sender="budi@gmail.com",
             in_reply_to=("<x@y>",), subject="Re: tidak bisa login")
    assert links.signs(m, TRUSTED, NAMES, GENUINE) == ()


def test_our_own_domain_is_a_lookalike_name_and_genuine() -> None:
    with open(ROOT / "config/rules.toml", "rb") as fh:
        rules = classify.compile_rules(tomllib.load(fh))
    own = ("helpdesk@lpse-tulangbawang.example",)
    assert dict(classify.signs(mail(sender="it@lpse-tulangbawang.example"), rules, TRUSTED, own)) == {}
    fake = dict(classify.signs(mail(sender="it@lpse-tulangbawang-verify.com"), rules, TRUSTED, own))
    assert "lookalike_sender" in fake
