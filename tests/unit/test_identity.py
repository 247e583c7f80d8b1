"""identity.authenticated / role: only our receiver's topmost Authentication-Results counts."""

from __future__ import annotations

import email
import email.policy
from pathlib import Path

import pytest

from mailticket.core.identity import authenticated, role
from mailticket.types import Address, Mail

REPLIES = Path(__file__).resolve().parent.parent / "data" / "replies"
GOOGLE = "mx.google.com"
RINA = "rina.helpdesk@lampungprov.go.id"
MEMBERS = {RINA, "sari.helpdesk@lampungprov.go.id"}
COORDINATORS = {"koordinator.lpse@lampungprov.go.id"}


def mail(sender: str | None, *results: str, extra: tuple[tuple[str, str], ...] = ()) -> Mail:
    """A Mail from `sender` whose Authentication-Results values are `results`, topmost first."""
    headers = (("delivered-to", "provlampunglpse@gmail.com"),) + extra
    headers += tuple(("authentication-results", value) for value in results)
    if sender is not None:
        headers += (("from", sender),)
    return Mail(
        message_id="<x@example>", subject="Re: [LPSE#1] x", sender=Address("", sender) if sender else None,
        to=(Address("", "provlampunglpse@gmail.com"),), cc=(), reply_to=(), date=None, in_reply_to=(),
        references=(), headers=headers, content_type="text/plain", text="#tutup", html="",
    )


def from_fixture(name: str) -> Mail:
    """Headers of a fixture message as parse.py would hand them over (decoded, in order)."""
    message = email.message_from_bytes((REPLIES / name).read_bytes(), policy=email.policy.default)
    sender = message["From"].addresses[0].addr_spec.lower()
    headers = tuple((key.lower(), str(value)) for key, value in message.items())
    base = mail(sender)
    return Mail(**{**base.__dict__, "headers": headers})


GMAIL_PASS = (
    "mx.google.com;\r\n       dkim=pass header.i=@lampungprov.go.id header.s=zimbra header.b=7oEUG8dh;\r\n"
    "       spf=pass (google.com: domain of rina.helpdesk@lampungprov.go.id designates 103.152.237.184 as "
    "permitted sender) smtp.mailfrom=rina.helpdesk@lampungprov.go.id;\r\n"
    "       dmarc=pass (p=NONE sp=NONE dis=NONE) header.from=lampungprov.go.id"
)


# --- which results count -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "result",
    [
        GMAIL_PASS,
        "mx.google.com; dmarc=pass header.from=lampungprov.go.id",
        "MX.Google.COM; DMARC=PASS header.from=LampungProv.go.id",
        "mx.google.com 1; dmarc=pass (p=NONE) header.from=lampungprov.go.id",
        "mx.google.com; dkim=pass header.i=@lampungprov.go.id header.s=zimbra",
        "mx.google.com; dkim=pass header.d=lampungprov.go.id",
        "mx.google.com; dkim=pass header.i=rina.helpdesk@lampungprov.go.id",
        'mx.google.com; dkim=pass header.d="lampungprov.go.id" reason="good; signature"',
        "mx.google.com; dkim=fail header.d=lampungprov.go.id; dkim=pass header.d=lampungprov.go.id",
        "mx.google.com; dkim=pass header.d=gmail.com; dkim=pass header.d=lampungprov.go.id",
    ],
)
def test_authenticated(result: str) -> None:
    assert authenticated(mail(RINA, result), GOOGLE)


@pytest.mark.parametrize(
    "result",
    [
        "mx.google.com; dmarc=fail (p=NONE) header.from=lampungprov.go.id",
        "mx.google.com; dkim=pass header.d=lampungprov.go.id; dmarc=fail header.from=lampungprov.go.id",
        "mx.google.com; dkim=pass header.d=lampungprov.go.id; dmarc=temperror header.from=lampungprov.go.id",
        "mx.google.com; dmarc=pass header.from=attacker.example",
        "mx.google.com; dmarc=pass",  # issue 15: names no domain, proves nothing about ours
        "mx.google.com; dkim=fail header.d=lampungprov.go.id",
        "mx.google.com; dkim=neutral header.d=lampungprov.go.id",
        "mx.google.com; dkim=pass header.d=gmail.com",
        "mx.google.com; dkim=pass",
        "mx.google.com; spf=pass smtp.mailfrom=rina.helpdesk@lampungprov.go.id",
        "mx.google.com; none",
        "mx.google.com; spf=none (dmarc=pass header.from=lampungprov.go.id) smtp.mailfrom=x",
        "mx.google.com; spf=none (see; dmarc=pass header.from=lampungprov.go.id) smtp.mailfrom=x",
        "mx.google.com; spf=none (a (nested; dmarc=pass ) comment) smtp.mailfrom=x",
        "mx.google.com; spf=none (see; dmarc=pass ) smtp.mailfrom=x",
        "mx.google.com; arc=pass (i=1 dkim=pass dkdomain=lampungprov.go.id dmarc=pass)",
        "mx.google.com.attacker.example; dmarc=pass header.from=lampungprov.go.id",
        "attacker.example; dmarc=pass header.from=lampungprov.go.id",
        "spf=pass smtp.mailfrom=lampungprov.go.id; dkim=pass header.d=lampungprov.go.id;"
        "dmarc=pass action=none header.from=lampungprov.go.id;compauth=pass reason=100",
        "",
    ],
)
def test_not_authenticated(result: str) -> None:
    assert not authenticated(mail(RINA, result), GOOGLE)


def test_only_the_topmost_header_of_our_server_counts() -> None:
    real_fail = "mx.google.com; dkim=fail header.d=lampungprov.go.id; dmarc=fail"
    forged_pass = "mx.google.com; dkim=pass header.d=lampungprov.go.id; dmarc=pass"
    assert not authenticated(mail(RINA, real_fail, forged_pass), GOOGLE)
    assert authenticated(mail(RINA, forged_pass, real_fail), GOOGLE)


def test_headers_of_other_servers_are_skipped_not_trusted() -> None:
    ours = "mx.google.com; dmarc=pass header.from=lampungprov.go.id"
    theirs = "relay.example.net; dmarc=fail header.from=lampungprov.go.id"
    assert authenticated(mail(RINA, theirs, ours), GOOGLE)
    assert not authenticated(mail(RINA, "relay.example.net; dmarc=pass"), GOOGLE)
    assert authenticated(mail(RINA, "relay.example.net; dmarc=pass header.from=lampungprov.go.id"),
                         "relay.example.net")


def test_arc_authentication_results_are_not_ours() -> None:
    arc = (("arc-authentication-results", "i=1; mx.google.com; dmarc=pass header.from=lampungprov.go.id"),)
    assert not authenticated(mail(RINA, extra=arc), GOOGLE)


def test_no_sender_or_no_authserv_id() -> None:
    assert not authenticated(mail(None, GMAIL_PASS), GOOGLE)
    assert not authenticated(mail("", GMAIL_PASS), GOOGLE)
    assert not authenticated(mail(RINA, GMAIL_PASS), "")
    assert not authenticated(mail(RINA, "; dmarc=pass"), "")


# --- relaxed DKIM alignment --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sender", "signer", "aligned"),
    [
        (RINA, "lampungprov.go.id", True),
        (RINA, "mail.lampungprov.go.id", True),  # sub-domain of the From domain
        ("rina@mail.lampungprov.go.id", "lampungprov.go.id", True),  # parent of the From domain
        (RINA, "LAMPUNGPROV.GO.ID.", True),
        (RINA, "evil-lampungprov.go.id", False),  # a suffix, not a sub-domain
        (RINA, "lampungprov.go.id.attacker.example", False),
        (RINA, "go.id", True),  # parent; only go.id's owner can publish keys there
        (RINA, "id", False),  # a bare top-level domain never aligns
        ("rina.lpse@gmail.com", "google.com", False),
    ],
)
def test_relaxed_alignment(sender: str, signer: str, aligned: bool) -> None:
    result = f"mx.google.com; dkim=pass header.d={signer}"
    assert authenticated(mail(sender, result), GOOGLE) is aligned


# --- fixtures ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("forged_from.eml", False),  # Gmail: dkim/dmarc fail; a forged "mx.google.com" pass sits below
        ("foreign_authserv.eml", False),  # the pass comes from another authserv-id
        ("relaxed_alignment.eml", True),  # d=mail.lampungprov.go.id, no DMARC verdict
        ("zimbra_id.eml", True),
        ("gmail_id.eml", True),
        ("yahoo_html_only.eml", True),
    ],
)
def test_fixtures(name: str, expected: bool) -> None:
    assert authenticated(from_fixture(name), GOOGLE) is expected


# --- role --------------------------------------------------------------------------------------


def test_role_by_address() -> None:
    good = "mx.google.com; dmarc=pass header.from=lampungprov.go.id"
    assert role(mail(RINA, good), MEMBERS, COORDINATORS, True, GOOGLE) == "staff"
    assert role(mail("Rina.Helpdesk@LampungProv.go.id", good), MEMBERS, COORDINATORS, True, GOOGLE) == "staff"
    boss = "koordinator.lpse@lampungprov.go.id"
    assert role(mail(boss, good), MEMBERS, COORDINATORS, True, GOOGLE) == "coordinator"
    assert role(mail(boss, good), MEMBERS | {boss}, COORDINATORS, True, GOOGLE) == "coordinator"
    budi = "budi@lampungprov.go.id"
    assert role(mail(budi, good), MEMBERS, COORDINATORS, True, GOOGLE, reporter=budi) == "reporter"
    assert role(mail(budi, good), MEMBERS, COORDINATORS, True, GOOGLE, cc=(budi,)) == "cc"
    assert role(mail(budi, good), MEMBERS, COORDINATORS, True, GOOGLE) == "stranger"
    assert role(mail(None, good), MEMBERS, COORDINATORS, True, GOOGLE) == "stranger"
    # staff comes first: a staff member who reported the ticket still steers it
    assert role(mail(RINA, good), MEMBERS, COORDINATORS, True, GOOGLE, reporter=RINA) == "staff"


def test_role_needs_authentication_when_required() -> None:
    bad = "mx.google.com; dmarc=fail header.from=lampungprov.go.id"
    forged = mail(RINA, bad)
    assert role(forged, MEMBERS, COORDINATORS, True, GOOGLE) == "unverified"  # steers nothing
    assert role(forged, MEMBERS, COORDINATORS, False, GOOGLE) == "staff"
    boss = mail("koordinator.lpse@lampungprov.go.id", bad)
    assert role(boss, MEMBERS, COORDINATORS, True, GOOGLE) == "unverified"
    assert role(boss, MEMBERS, COORDINATORS, False, GOOGLE) == "coordinator"


def test_a_partner_must_authenticate_too_or_is_a_stranger() -> None:
    lkpp = "helpdesk@lkpp.go.id"
    good, bad = "mx.google.com; dmarc=pass header.from=lkpp.go.id", "mx.google.com; dmarc=fail header.from=lkpp.go.id"
    assert role(mail(lkpp, good), MEMBERS, COORDINATORS, True, GOOGLE, partners=(lkpp,)) == "partner"
    assert role(mail(lkpp, bad), MEMBERS, COORDINATORS, True, GOOGLE, partners=(lkpp,)) == "stranger"
    assert role(mail(lkpp, bad), MEMBERS, COORDINATORS, False, GOOGLE, partners=(lkpp,)) == "partner"


def test_role_on_fixtures() -> None:
    assert role(from_fixture("forged_from.eml"), MEMBERS, COORDINATORS, True, GOOGLE) == "unverified"
    assert role(from_fixture("relaxed_alignment.eml"), MEMBERS, COORDINATORS, True, GOOGLE) == "staff"
