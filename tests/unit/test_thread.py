"""Unit tests for mailticket.thread: subject tokens, signed Message-IDs, thread keys."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import pytest

from mailticket.core import thread
from mailticket.core.parse import parse
from mailticket.core.thread import find_token, make_message_id, own_ticket, strip_subject, thread_key, token
from mailticket.types import Mail, ThreadKey

MAIL_DIR = Path(__file__).resolve().parents[1] / "data" / "mail"
SECRET = b"test-secret"  # the fixtures' own Message-IDs were made with this secret
DOMAIN = "helpdesk.lpse.example"


def blank_mail(**fields) -> Mail:
    base = Mail(
        message_id="<a@b>",
        subject="",
        sender=None,
        to=(),
        cc=(),
        reply_to=(),
        date=None,
        in_reply_to=(),
        references=(),
        headers=(),
        content_type="text/plain",
        text="",
        html="",
    )
    return replace(base, **fields)


# --- token -------------------------------------------------------------------------------


def test_token_format():
    assert token("LPSE", 12) == "[LPSE#12]"
    assert token("HD", 1031) == "[HD#1031]"


@pytest.mark.parametrize(
    "subject",
    [
        "[LPSE#12] Jadwal tender tidak dapat diubah",
        "[lpse#12] huruf kecil",
        "[lpse # 12] dengan spasi",
        "[ LPSE #12 ] spasi di dalam kurung",
        "[LPSE#0012] nol di depan",
        "Re: [LPSE#12] balasan",
        "RE: [LPSE#12] balasan Outlook",
        "Fwd: [LPSE#12] diteruskan",
        "FW: [LPSE#12] diteruskan Outlook",
        "BLS: [LPSE#12] balasan Outlook Indonesia",
        "Balas: [LPSE#12] balasan Yahoo Indonesia",
        "TR: [LPSE#12] transfert",
        "AW: [LPSE#12] Antwort",
        "Antw: [LPSE#12] antwoord",
        "Re: Fwd: RE: BLS: [LPSE#12] beberapa awalan",
        "Laporan lanjutan [LPSE#12]",
        "Re: laporan [LPSE#12] di tengah",
    ],
)
def test_find_token_forms(subject):
    assert find_token(subject, "LPSE") == 12


@pytest.mark.parametrize(
    "subject",
    [
        "",
        "Jadwal tender tidak dapat diubah",
        "LPSE#12 tanpa kurung",
        "[LPSE#] tanpa nomor",
        "[LPSE#12a] bukan angka",
        "[LPSE-12] tanda salah",
        "[OTHER#12] awalan lain",
        "[XLPSE#12] awalan lebih panjang",
        "[LPSE#1234567890] terlalu panjang",
    ],
)
def test_find_token_rejects(subject):
    assert find_token(subject, "LPSE") is None


def test_find_token_takes_the_first_token():
    assert find_token("Re: [LPSE#12] digabung dengan [LPSE#15]", "LPSE") == 12


def test_find_token_escapes_the_prefix():
    assert find_token("[HD.1#5] titik", "HD.1") == 5
    assert find_token("[HDx1#5] bukan titik", "HD.1") is None


def test_find_token_compiles_once_per_prefix():
    thread._token_re.cache_clear()
    find_token("[LPSE#1]", "LPSE")
    find_token("[LPSE#2]", "LPSE")
    info = thread._token_re.cache_info()
    assert (info.misses, info.hits) == (1, 1)


def test_token_round_trip():
    assert find_token(f"Re: {token('LPSE', 1031)} Kode verifikasi", "LPSE") == 1031


# --- strip_subject -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("subject", "expected"),
    [
        ("Re: [LPSE#12] Jadwal tender", "Jadwal tender"),
        ("RE: RE: Fwd: [lpse # 12] Jadwal tender", "Jadwal tender"),
        ("BLS: [LPSE#12] Jadwal tender", "Jadwal tender"),
        ("Balas: TR: AW: Antw: Jadwal tender", "Jadwal tender"),
        ("[LPSE#12] Re: Jadwal tender", "Jadwal tender"),
        ("Re[2]: Jadwal tender", "Jadwal tender"),
        ("Jadwal   tender [LPSE#12]", "Jadwal tender"),
        ("Rencana: jadwal tender", "Rencana: jadwal tender"),
        ("Jadwal tender", "Jadwal tender"),
        ("Re: [LPSE#12]", ""),
    ],
)
def test_strip_subject(subject, expected):
    assert strip_subject(subject, "LPSE") == expected


# --- signed Message-IDs ------------------------------------------------------------------


def test_make_message_id_format():
    mid = make_message_id(12, SECRET, DOMAIN, "0f1e2d3c4b5a69788796a5b4c3d2e1f0")
    assert re.fullmatch(
        r"<mt\.12\.[a-z2-7]{10}\.0f1e2d3c4b5a69788796a5b4c3d2e1f0@helpdesk\.lpse\.example>", mid
    )


def test_make_message_id_is_deterministic_and_keyed():
    first = make_message_id(12, SECRET, DOMAIN, "u1")
    assert make_message_id(12, SECRET, DOMAIN, "u1") == first
    assert make_message_id(12, b"other-secret", DOMAIN, "u1") != first
    assert make_message_id(12, SECRET, DOMAIN, "u2").split(".")[2] != first.split(".")[2]


def test_make_message_id_without_ticket_has_no_number():
    mid = make_message_id(None, SECRET, DOMAIN, "digest-20261124")
    assert re.fullmatch(r"<mt\.[a-z2-7]{10}\.digest-20261124@helpdesk\.lpse\.example>", mid)
    assert own_ticket(mid, SECRET) is None


@pytest.mark.parametrize(
    ("number", "domain", "unique"),
    [
        (-1, DOMAIN, "u1"),
        (10**9, DOMAIN, "u1"),
        (1, DOMAIN, ""),
        (1, DOMAIN, "a@b"),
        (1, DOMAIN, "a b"),
        (1, DOMAIN, "a..b"),
        (1, "", "u1"),
        (1, "bad domain", "u1"),
        (1, "x>y", "u1"),
    ],
)
def test_make_message_id_rejects_bad_input(number, domain, unique):
    with pytest.raises(ValueError):
        make_message_id(number, SECRET, domain, unique)


@pytest.mark.parametrize("number", [0, 1, 12, 1031, 999_999_999])
def test_own_ticket_round_trip(number):
    assert own_ticket(make_message_id(number, SECRET, DOMAIN, "a1b2.c3"), SECRET) == number


def test_own_ticket_tolerates_whitespace_and_case_of_the_hash():
    mid = make_message_id(12, SECRET, DOMAIN, "u1")
    mac = mid.split(".")[2]
    assert own_ticket(f"  {mid.replace(mac, mac.upper())}\r\n", SECRET) == 12


def test_own_ticket_rejects_forgeries():
    mid = make_message_id(12, SECRET, DOMAIN, "u1")
    mac = mid.split(".")[2]
    assert own_ticket(mid, b"wrong-secret") is None
    assert own_ticket(mid.replace("mt.12.", "mt.13."), SECRET) is None  # someone else's ticket
    assert own_ticket(mid.replace(".u1@", ".u2@"), SECRET) is None
    assert own_ticket(mid.replace(mac, "aaaaaaaaaa"), SECRET) is None
    assert own_ticket("<mt.12.aaaaaaaaaa.u1@helpdesk.lpse.example>", SECRET) is None


@pytest.mark.parametrize(
    "message_id",
    ["", "<>", "<CAJx9Q2mK7f@mail.gmail.com>", "mt.12.s3x6jmimqz.u1@x", "<lpse.12.s3x6jmimqz.u1@x>"],
)
def test_own_ticket_ignores_foreign_ids(message_id):
    assert own_ticket(message_id, SECRET) is None


# --- thread_key --------------------------------------------------------------------------


def test_thread_key_references_newest_first_without_duplicates():
    mail = blank_mail(
        in_reply_to=("<c@x>",),
        references=("<a@x>", "<b@x>", "<c@x>"),
    )
    assert thread_key(mail, "LPSE", SECRET).references == ("<c@x>", "<b@x>", "<a@x>")


def test_thread_key_own_number_is_the_newest_verified_id():
    old = make_message_id(5, SECRET, DOMAIN, "old")
    new = make_message_id(9, SECRET, DOMAIN, "new")
    forged = "<mt.7.aaaaaaaaaa.forged@helpdesk.lpse.example>"
    mail = blank_mail(references=(old, "<person@x>", new, forged))
    assert thread_key(mail, "LPSE", SECRET).own_number == 9


def test_thread_key_ignores_forged_ids():
    forged = "<mt.7.aaaaaaaaaa.forged@helpdesk.lpse.example>"
    key = thread_key(blank_mail(in_reply_to=(forged,), references=(forged,)), "LPSE", SECRET)
    assert key == ThreadKey(number=None, own_number=None, references=(forged,))


def test_thread_key_of_a_new_report_is_empty():
    mail = parse((MAIL_DIR / "gmail_new_report.eml").read_bytes())
    assert thread_key(mail, "LPSE", SECRET) == ThreadKey(number=None, own_number=None, references=())


def test_thread_key_of_an_outlook_reply():
    mail = parse((MAIL_DIR / "outlook_id_reply.eml").read_bytes())
    own = "<mt.12.s3x6jmimqz.0f1e2d3c4b5a69788796a5b4c3d2e1f0@helpdesk.lpse.example>"
    assert thread_key(mail, "LPSE", SECRET) == ThreadKey(
        number=12,
        own_number=12,
        references=(own, "<CAJx9Q2mK7f+bYtq3vH0b1m-QZ8y1eV5Lw@mail.gmail.com>"),
    )


def test_thread_key_of_an_iphone_reply_finds_our_id_among_others():
    mail = parse((MAIL_DIR / "iphone_reply_photo.eml").read_bytes())
    key = thread_key(mail, "LPSE", SECRET)
    assert (key.number, key.own_number) == (7, 7)
    assert key.references[0] == "<3B8D2C1E-7A6F-4E5D-9C8B-2A1F0E9D8C7B@icloud.com>"
    assert len(key.references) == 3


def test_thread_key_own_number_without_token_in_subject():
    own = make_message_id(21, SECRET, DOMAIN, "u1")
    key = thread_key(blank_mail(subject="Re: judul diubah", in_reply_to=(own,)), "LPSE", SECRET)
    assert (key.number, key.own_number) == (None, 21)


def test_a_delivery_report_finds_the_ticket_of_the_message_it_returns():
    data = (MAIL_DIR / "exim_bounce.eml").read_bytes()
    mail = parse(data)
    assert mail.returned_subject.startswith("[LPSE#21]")
    key = thread_key(mail, "LPSE", b"secret")
    assert key.number == 21
    assert mail.returned_message_id in key.references
