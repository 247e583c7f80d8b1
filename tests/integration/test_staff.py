"""Staff work tickets from their mail client, end to end (real CLI + SQLite): the mail as staff and
reporters receive it. Which tag, sender role and ticket status leads to which change and which mail is
tested without a database, row by row, in tests/unit/test_decide.py."""

from __future__ import annotations

import email
from email import policy

import pytest

from tests.conftest import Helpdesk, make_mail
from tests.integration.mailcheck import PASS, make_desk, staff_mail

REPORT = "Selamat pagi, saya gk bisa login ke SPSE sejak kemarin, muncul error terus. Mohon bantuan.\n"


@pytest.fixture
def desk(tmp_path) -> Helpdesk:
    return make_desk(tmp_path, helpdesk_keys='reopen_window = "7d"')


def read(path):
    return email.message_from_bytes(path.read_bytes(), policy=policy.default)


def body(path) -> str:
    return read(path).get_body(("plain",)).get_content()


def ingest(desk: Helpdesk, *mails: bytes) -> None:
    paths = []
    for data in mails:
        desk._n += 1
        paths.append(str(desk.write(f"{desk._n:04d}.eml", data)))
    desk.cli("ingest", *paths)


def open_ticket(desk: Helpdesk) -> dict:
    ingest(desk, make_mail("Tidak bisa login", REPORT, msgid="<report@budi.id>"))
    return desk.json("tickets", "show", "LPSE#1")


def kinds(ticket: dict) -> list[str]:
    return [m["kind"] for m in ticket["messages"]]


def test_new_ticket_is_sent_to_every_staff_member_with_reply_to_us(desk):
    open_ticket(desk)
    [note] = desk.sent("notification")
    msg = read(note)
    assert "[LPSE#1]" in msg["Subject"]
    assert set(msg["To"].addresses[i].addr_spec for i in range(2)) == {"rina@lampungprov.go.id",
                                                                       "sari@lampungprov.go.id"}
    assert msg["Reply-To"] == "provlampunglpse@gmail.com"
    assert "<report@budi.id>" in msg["References"]
    assert "gk bisa login" in body(note) and "budi@example.co.id" in body(note)


def test_staff_reply_is_relayed_without_quotes_or_staff_address(desk):
    open_ticket(desk)
    reply = ("Silakan coba reset password melalui menu Lupa Password.\n\nSalam,\nRina\n\n"
             "Pada Rab, 25 Nov 2026 pukul 09.00 Budi <budi@example.co.id> menulis:\n> saya gk bisa login\n")
    ingest(desk, staff_mail(reply))
    ticket = desk.json("tickets", "show", "LPSE#1")
    assert ticket["status"] == "open"
    # issue 14: the other staff member (sari) gets a copy of the answer, so that nobody answers twice
    assert kinds(ticket) == ["report", "ack", "notification", "staff_reply", "relay", "notification"]
    [relay] = desk.sent("relay")
    msg = read(relay)
    assert msg["To"] == "budi@example.co.id" and "[LPSE#1]" in msg["Subject"]
    assert msg["From"].addresses[0].addr_spec == "provlampunglpse@gmail.com"
    assert msg["In-Reply-To"] == "<report@budi.id>"
    text = body(relay)
    assert "Lupa Password" in text and "menulis:" not in text and "> saya" not in text
    assert "rina@lampungprov.go.id" not in relay.read_text()


def test_close_tag_closes_and_sends_the_closing_notification(desk):
    open_ticket(desk)
    ingest(desk, staff_mail("#tutup\nAkun Bapak sudah kami aktifkan kembali."))
    ticket = desk.json("tickets", "show", "LPSE#1")
    assert ticket["status"] == "closed" and ticket["closed_at"]
    # issue 14: after the closing mail, a copy to the other staff and the transcript to the sender
    assert kinds(ticket)[-3:] == ["closing", "notification", "transcript"] and desk.sent("relay") == []
    [closing] = desk.sent("closing")
    text = body(closing)
    assert "sudah kami aktifkan kembali" in text and "#tutup" not in text
    assert read(closing)["To"] == "budi@example.co.id"


def test_escalate_marks_and_mails_the_coordinators(desk):
    open_ticket(desk)
    ingest(desk, staff_mail("#eskalasi perlu koordinasi dengan LKPP\n"))
    ticket = desk.json("tickets", "show", "LPSE#1")
    assert ticket["status"] == "escalated" and ticket["escalated"] is True
    [mail] = desk.sent("escalation")
    assert read(mail)["To"] == "koord@lampungprov.go.id"
    assert "perlu koordinasi dengan LKPP" in body(mail)


def test_unknown_or_invalid_tag_changes_nothing_and_answers_the_sender(desk):
    open_ticket(desk)
    ingest(desk, staff_mail("#tutupp\nSudah selesai ya.\n#kategori xyz\n"))
    ticket = desk.json("tickets", "show", "LPSE#1")
    assert ticket["status"] == "new" and ticket["category"] == "gangguan"
    assert desk.sent("relay") == [] and desk.sent("closing") == []
    [error] = desk.sent("error")
    assert read(error)["To"] == "rina@lampungprov.go.id"
    text = body(error)
    assert "#tutupp" in text and "xyz" in text and "#selesai" in text


def test_forged_staff_mail_steers_nothing(desk):
    """Issue 14 point 4: recorded as `unverified`, nothing else changes, one explanation to the staff
    address (before, it was recorded as a reporter's `reply` and announced to all staff)."""
    open_ticket(desk)
    notifications = len(desk.sent("notification"))
    forged = staff_mail("#tutup\nditutup", auth="mx.google.com; dkim=fail; spf=fail; dmarc=fail "
                        "header.from=lampungprov.go.id")
    other_server = staff_mail("#tutup\nditutup", auth=PASS.replace("mx.google.com", "evil.example"))
    ingest(desk, forged, other_server)
    ticket = desk.json("tickets", "show", "LPSE#1")
    assert ticket["status"] == "new"
    assert kinds(ticket).count("reply") == 0 and kinds(ticket).count("unverified") == 2 + 1
    assert desk.sent("closing") == [] and desk.sent("relay") == []
    assert len(desk.sent("notification")) == notifications
    [told] = desk.sent("unverified")
    assert read(told)["To"] == "rina@lampungprov.go.id"


def test_html_only_reply_with_a_tag_in_its_own_div(desk):
    open_ticket(desk)
    html = ('<div dir="ltr"><div>Sudah kami reset, silakan coba lagi.</div><div>#selesai</div></div>'
            '<div class="gmail_quote"><div>Pada Rab, Budi menulis:</div><blockquote>#tunggu</blockquote></div>')
    ingest(desk, staff_mail("", html=html))
    ticket = desk.json("tickets", "show", "LPSE#1")
    assert ticket["status"] == "closed"
    assert "Sudah kami reset" in body(desk.sent("closing")[0])
