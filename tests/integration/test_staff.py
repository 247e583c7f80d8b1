"""Staff work tickets from their mail client: notifications, tags, relays, closing (real CLI + SQLite)."""

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
    assert kinds(ticket) == ["report", "ack", "notification", "staff_reply", "relay"]
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
    assert kinds(ticket)[-1] == "closing" and desk.sent("relay") == []
    [closing] = desk.sent("closing")
    text = body(closing)
    assert "sudah kami aktifkan kembali" in text and "#tutup" not in text
    assert read(closing)["To"] == "budi@example.co.id"


@pytest.mark.parametrize("tag", ["#selesai", "#close", "  #TUTUP  "])
def test_close_aliases(desk, tag):
    open_ticket(desk)
    ingest(desk, staff_mail(f"Sudah beres.\n{tag}\n"))
    assert desk.json("tickets", "show", "LPSE#1")["status"] == "closed"


def test_note_reaches_nobody_outside(desk):
    open_ticket(desk)
    before = len(desk.sent())
    ingest(desk, staff_mail("#catatan\nSudah dicek di server, menunggu vendor aplikasi."))
    ticket = desk.json("tickets", "show", "LPSE#1")
    assert len(desk.sent()) == before
    assert kinds(ticket)[-1] == "note"
    assert ticket["events"][-1]["type"] == "note" and "menunggu vendor" in ticket["events"][-1]["detail"]


def test_category_and_assign_in_one_mail(desk):
    before = open_ticket(desk)
    ingest(desk, staff_mail("#kategori permintaan\n#tugaskan sari\n"))
    ticket = desk.json("tickets", "show", "LPSE#1")
    assert ticket["category"] == "permintaan" and ticket["category_source"] == "staff"
    assert ticket["due_at"] != before["due_at"]
    assert ticket["assignee"] == "sari@lampungprov.go.id"
    assert desk.sent("relay") == []  # nothing but tags: nothing to relay


def test_take_assigns_the_sender_and_follow_ups_go_to_the_assignee_only(desk):
    open_ticket(desk)
    ingest(desk, staff_mail("#ambil"))
    assert desk.json("tickets", "show", "LPSE#1")["assignee"] == "rina@lampungprov.go.id"
    ingest(desk, make_mail("Re: [LPSE#1] Tidak bisa login", "Sudah saya coba, masih gagal."))
    latest = read(desk.sent("notification")[-1])
    assert latest["To"] == "rina@lampungprov.go.id"


def test_escalate_marks_and_mails_the_coordinators(desk):
    open_ticket(desk)
    ingest(desk, staff_mail("#eskalasi perlu koordinasi dengan LKPP\n"))
    ticket = desk.json("tickets", "show", "LPSE#1")
    assert ticket["status"] == "escalated" and ticket["escalated"] is True
    [mail] = desk.sent("escalation")
    assert read(mail)["To"] == "koord@lampungprov.go.id"
    assert "perlu koordinasi dengan LKPP" in body(mail)


def test_wait_pauses_and_a_reporter_answer_resumes(desk):
    open_ticket(desk)
    ingest(desk, staff_mail("Mohon kirimkan tangkapan layar errornya.\n#tunggu"))
    waiting = desk.json("tickets", "show", "LPSE#1")
    assert waiting["status"] == "waiting"
    ingest(desk, make_mail("Re: [LPSE#1] Tidak bisa login", "Terlampir tangkapan layarnya."))
    ticket = desk.json("tickets", "show", "LPSE#1")
    assert ticket["status"] == "open"
    assert ticket["due_at"] >= waiting["due_at"]


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
    open_ticket(desk)
    forged = staff_mail("#tutup\nditutup", auth="mx.google.com; dkim=fail; spf=fail; dmarc=fail "
                        "header.from=lampungprov.go.id")
    other_server = staff_mail("#tutup\nditutup", auth=PASS.replace("mx.google.com", "evil.example"))
    ingest(desk, forged, other_server)
    ticket = desk.json("tickets", "show", "LPSE#1")
    assert ticket["status"] == "new"
    assert kinds(ticket).count("reply") == 2
    assert desk.sent("closing") == [] and desk.sent("relay") == []


def test_tags_in_quotes_or_prose_are_not_commands(desk):
    open_ticket(desk)
    text = "Nanti saya #tutup setelah dicek.\n\n> #tutup\n> lama\n"
    ingest(desk, staff_mail(text))
    assert desk.json("tickets", "show", "LPSE#1")["status"] == "open"


def test_html_only_reply_with_a_tag_in_its_own_div(desk):
    open_ticket(desk)
    html = ('<div dir="ltr"><div>Sudah kami reset, silakan coba lagi.</div><div>#selesai</div></div>'
            '<div class="gmail_quote"><div>Pada Rab, Budi menulis:</div><blockquote>#tunggu</blockquote></div>')
    ingest(desk, staff_mail("", html=html))
    ticket = desk.json("tickets", "show", "LPSE#1")
    assert ticket["status"] == "closed"
    assert "Sudah kami reset" in body(desk.sent("closing")[0])


def test_reporter_reply_reopens_a_recently_closed_ticket(desk):
    open_ticket(desk)
    ingest(desk, staff_mail("#tutup\nselesai"))
    ingest(desk, make_mail("Re: [LPSE#1] Tidak bisa login", "Maaf, ternyata masih gagal."))
    ticket = desk.json("tickets", "show", "LPSE#1")
    assert ticket["status"] == "open" and ticket["closed_at"] is None
    assert "reopened" in [e["type"] for e in ticket["events"]]


def test_reporter_reply_long_after_closing_opens_a_new_ticket(desk):
    desk.config.write_text(desk.config.read_text().replace('reopen_window = "7d"', 'reopen_window = "0s"'))
    open_ticket(desk)
    ingest(desk, staff_mail("#tutup\nselesai"))
    ingest(desk, make_mail("Re: [LPSE#1] Tidak bisa login", "Ada masalah baru lagi, gk bisa login."))
    assert desk.json("tickets", "show", "LPSE#1")["status"] == "closed"
    second = desk.json("tickets", "show", "LPSE#2")
    assert "LPSE#1" in second["events"][0]["detail"]


def test_reopen_tag(desk):
    open_ticket(desk)
    ingest(desk, staff_mail("#tutup\nselesai"))
    ingest(desk, staff_mail("#buka"))
    assert desk.json("tickets", "show", "LPSE#1")["status"] == "open"


def test_coordinator_note_is_recorded(desk):
    open_ticket(desk)
    ingest(desk, staff_mail("#catatan\nSaran: hubungi tim SPSE pusat.", sender="Koord <koord@lampungprov.go.id>"))
    ticket = desk.json("tickets", "show", "LPSE#1")
    assert ticket["events"][-1]["by"] == "koord@lampungprov.go.id"
    assert "hubungi tim SPSE" in ticket["events"][-1]["detail"]
