"""#teruskan to the other service owners ([partners], issue 19), end to end on a real SQLite file and
the directory outbox: the forward with the report's files, the partner's answer threaded by token and
by In-Reply-To alone, nothing relayed to the reporter, an unknown partner name, a partner address on a
ticket never forwarded to it, and the reminder once across a restart.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime

from mailticket.clock import FixedClock
from tests.conftest import make_mail
from tests.integration.mailcheck import (
    HELPDESK,
    STAFF,
    STAFF_TOML,
    app_for,
    assert_well_formed,
    feed,
    make_desk,
    query,
    sent,
    staff_mail,
)

BUDI = "budi@example.co.id"
LKPP = "helpdesk@lkpp.example.go.id"
LKPP2 = "eproc@lkpp.example.go.id"
SERVER = "noc@diskominfo.example.go.id"
PARTNERS = STAFF_TOML + f"""
[partners]
members = [
  {{ name = "lkpp", label = "Helpdesk LKPP", email = ["{LKPP}", "{LKPP2}"], note = "SPSE" }},
  {{ name = "server", label = "Tim Server Diskominfotik", email = "{SERVER}" }},
]
remind_after = "1d"
[sla]
calendar = "office"
office_hours = "Mon-Thu 08:00-16:00, Fri 08:00-11:30 13:00-16:30"
"""
REPORT = "Selamat pagi, akun SPSE kami terkunci setelah migrasi, mohon bantuan.\n"
# Wednesday 2026-11-25 09:00 WIB: the report; 10:00 WIB: the forward; one working day later 10:00.
REPORTED = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)
FORWARDED = datetime(2026, 11, 25, 3, 0, tzinfo=UTC)
REMIND = datetime(2026, 11, 26, 3, 0, tzinfo=UTC)


def report_with_file() -> bytes:
    msg = EmailMessage()
    msg["From"] = f"Budi <{BUDI}>"
    msg["To"] = HELPDESK
    msg["Subject"] = "Akun SPSE terkunci"
    msg["Message-ID"] = "<r1@example.co.id>"
    msg["Date"] = format_datetime(REPORTED)
    msg.set_content(REPORT)
    msg.add_attachment(b"%PDF-1.4 surat permohonan", maintype="application", subtype="pdf",
                       filename="surat-permohonan.pdf")
    return msg.as_bytes()


def forwarded_ticket(tmp_path, line: str = "#teruskan lkpp Mohon dicek, akun terkunci setelah migrasi."):
    desk = make_desk(tmp_path, extra=PARTNERS)
    clock = FixedClock(REPORTED)
    app = app_for(desk, clock)
    feed(app, desk, report_with_file())
    clock.advance(FORWARDED - REPORTED)
    feed(app, desk, staff_mail(f"{line}\n\nCatatan: pelapor sudah mencoba reset sandi."))
    return desk, clock, app


def of_kind(desk, kind):
    return [mail for mail in sent(desk) if mail.kind == kind]


def show(desk) -> dict:
    return json.loads(desk.cli("tickets", "show", "LPSE#1", "--json").stdout)


def partner_answer(text: str, subject: str, in_reply_to: str = "", sender: str = f"LKPP <{LKPP}>",
                   date: datetime = FORWARDED + timedelta(hours=2), dmarc: str = "pass") -> bytes:
    """A partner's answer as our server receives it: DMARC for its domain checked (identity.role)."""
    domain = sender.rpartition("@")[2].rstrip(">")
    auth = f"mx.google.com; dkim={dmarc} header.i=@{domain}; dmarc={dmarc} (p=NONE) header.from={domain}"
    return make_mail(subject, text, sender=sender, in_reply_to=in_reply_to, references=in_reply_to,
                     date=date, headers={"Authentication-Results": auth})


def test_forward_sends_report_files_and_text_to_the_partner_only(tmp_path):
    desk, _clock, _app = forwarded_ticket(tmp_path)
    [mail] = of_kind(desk, "partner")
    assert_well_formed(mail.data)
    assert mail.recipients == {LKPP, LKPP2}
    assert not mail.recipients & {*STAFF, BUDI}
    assert mail.msg["From"].addresses[0].addr_spec == HELPDESK
    assert mail.msg["Reply-To"].addresses[0].addr_spec == HELPDESK
    assert "[LPSE#1]" in mail.msg["Subject"]
    text = mail.text()
    assert text.startswith("Yth. Helpdesk LKPP,")
    assert "akun SPSE kami terkunci" in text  # the report
    assert "Mohon dicek, akun terkunci setelah migrasi." in text  # the line's text
    assert "pelapor sudah mencoba reset sandi" in text  # the text below the tag
    assert "rina@lampungprov.go.id" not in mail.data.decode("ascii", "replace").lower()
    files = [p.get_filename() for p in mail.msg.iter_attachments()]
    assert files == ["surat-permohonan.pdf"]
    assert not [m for m in sent(desk) if BUDI in m.recipients and m.kind != "ack"]  # nothing to the reporter
    data = show(desk)
    assert data["waiting_on"] == "lkpp"
    assert data["status"] == "open"
    [forward] = data["forwards"]
    assert forward["partner"] == "lkpp" and forward["by"] == "rina@lampungprov.go.id"
    assert forward["answered_at"] is None and "Mohon dicek" in forward["text"]
    assert any(e["type"] == "partner-forward" and e["detail"].startswith("lkpp: Mohon dicek")
               for e in data["events"])
    listing = desk.cli("tickets", "list").stdout
    assert "open>lkpp" in listing


def test_a_note_in_the_same_reply_stays_internal(tmp_path):
    desk, _clock, _app = forwarded_ticket(tmp_path, line="#teruskan lkpp Mohon dicek.\n#catatan rahasia")
    [mail] = of_kind(desk, "partner")
    assert "rahasia" not in mail.text() and "reset sandi" not in mail.text()


def test_partner_answer_by_token_lands_on_the_ticket_and_goes_to_staff_not_the_reporter(tmp_path):
    desk, _clock, app = forwarded_ticket(tmp_path)
    before = len(sent(desk))
    feed(app, desk, partner_answer("Akun sudah kami buka kembali.\n#tutup\n", "Re: [LPSE#1] Akun SPSE terkunci"))
    new = sent(desk)[before:]
    assert new and all(m.kind == "notification" for m in new)
    assert {r for m in new for r in m.recipients} == set(STAFF)  # unassigned: every member
    assert "Akun sudah kami buka kembali." in new[0].text()
    assert "Jawaban mitra" in new[0].msg["Subject"]
    data = show(desk)
    assert data["status"] == "open"  # "#tutup" from a partner is no command
    assert data["waiting_on"] is None
    assert [m["kind"] for m in data["messages"] if m["direction"] == "in"] == ["report", "staff_reply", "partner"]
    assert data["forwards"][0]["answered_at"] is not None
    assert any(e["type"] == "partner-answer" and "buka kembali" in e["detail"] for e in data["events"])


def test_a_forged_partner_answer_moves_nothing_and_is_recorded_as_a_third_party(tmp_path):
    desk, _clock, app = forwarded_ticket(tmp_path)
    feed(app, desk, partner_answer("Sudah selesai.", "Re: [LPSE#1] Akun SPSE terkunci", dmarc="fail"))
    data = show(desk)
    assert data["waiting_on"] == "lkpp" and data["forwards"][0]["answered_at"] is None
    assert [m["kind"] for m in data["messages"] if m["direction"] == "in"][-1] == "third_party"


def test_partner_answer_threaded_by_in_reply_to_only_notifies_the_assignee(tmp_path):
    desk = make_desk(tmp_path, extra=PARTNERS)
    clock = FixedClock(REPORTED)
    app = app_for(desk, clock)
    feed(app, desk, report_with_file())
    feed(app, desk, staff_mail("#ambil\n#teruskan server cek log server"))
    [forward] = of_kind(desk, "partner")
    assert forward.recipients == {SERVER}
    before = len(sent(desk))
    feed(app, desk, partner_answer("Server sudah normal kembali.", "Balasan tiket",
                                   in_reply_to=forward.msg["Message-ID"], sender=SERVER))
    new = sent(desk)[before:]
    assert [m.recipients for m in new] == [{"rina@lampungprov.go.id"}]
    data = show(desk)
    received = [m for m in data["messages"] if m["direction"] == "in"]
    assert received[-1]["kind"] == "partner" and received[-1]["from"] == SERVER
    assert data["waiting_on"] is None


def test_unknown_partner_name_gets_the_error_reply_listing_the_partners(tmp_path):
    desk, _clock, _app = forwarded_ticket(tmp_path, line="#teruskan bpjs tolong cek")
    assert not of_kind(desk, "partner")
    [error] = of_kind(desk, "error")
    assert error.recipients == {"rina@lampungprov.go.id"}
    assert "lkpp, server" in error.text() and "bpjs" in error.text()
    assert show(desk)["waiting_on"] is None


def test_partner_address_on_a_ticket_never_forwarded_to_it_is_not_a_partner(tmp_path):
    desk, _clock, app = forwarded_ticket(tmp_path, line="#teruskan lkpp cek akun")
    feed(app, desk, partner_answer("Kami dari tim server, ada yang bisa dibantu?", "Re: [LPSE#1] Akun",
                                   sender=SERVER))
    data = show(desk)
    last = [m for m in data["messages"] if m["direction"] == "in"][-1]
    assert last["from"] == SERVER and last["kind"] != "partner"
    assert data["waiting_on"] == "lkpp"  # still waiting on LKPP
    assert data["forwards"][0]["answered_at"] is None


def test_reminder_once_after_a_working_day_across_a_restart(tmp_path):
    desk, clock, app = forwarded_ticket(tmp_path)
    clock.advance(REMIND - FORWARDED - timedelta(minutes=1))
    app.run_once()
    assert not of_kind(desk, "partner_reminder")
    clock.advance(timedelta(minutes=2))
    app.run_once()
    app.run_once()
    app_for(desk, clock).run_once()
    [reminder] = of_kind(desk, "partner_reminder")
    assert reminder.recipients == set(STAFF)  # unassigned: every member
    text = reminder.text()
    assert "Yth. Helpdesk LKPP," in text and "mohon informasi perkembangan" in text
    assert f"{LKPP}, {LKPP2}" in text and '"#teruskan lkpp"' in text
    assert reminder.msg["Reply-To"].addresses[0].addr_spec == HELPDESK
    assert show(desk)["forwards"][0]["reminded_at"] is not None
    assert len([e for e in show(desk)["events"] if e["type"] == "partner-reminded"]) == 1


def test_no_reminder_once_the_partner_answered(tmp_path):
    desk, clock, app = forwarded_ticket(tmp_path)
    feed(app, desk, partner_answer("Sudah kami tangani.", "Re: [LPSE#1] Akun SPSE terkunci"))
    clock.advance(timedelta(days=3))
    app.run_once()
    assert not of_kind(desk, "partner_reminder")


def test_pause_for_partners_stops_the_clock_until_the_answer(tmp_path):
    desk = make_desk(tmp_path, extra=PARTNERS.replace('calendar = "office"',
                                                      'calendar = "office"\npause_for_partners = true'))
    clock = FixedClock(REPORTED)
    app = app_for(desk, clock)
    feed(app, desk, report_with_file())
    due = show(desk)["due_at"]
    clock.advance(FORWARDED - REPORTED)
    feed(app, desk, staff_mail("#teruskan lkpp cek akun"))
    assert show(desk)["due_at"] is None  # no target runs while LKPP works
    clock.advance(timedelta(hours=2))
    feed(app, desk, partner_answer("Sudah kami buka.", "Re: [LPSE#1] Akun SPSE terkunci"))
    data = show(desk)
    assert data["due_at"] is not None and data["due_at"] > due  # two office hours later
    [ticket] = query(desk, "SELECT paused_seconds FROM tickets")
    assert ticket["paused_seconds"] == 2 * 3600


def test_digest_and_monthly_report_count_time_with_each_partner(tmp_path):
    from mailticket.app.report import render_report
    from mailticket.core.report import Month
    from mailticket.db.session import transaction

    desk, clock, app = forwarded_ticket(tmp_path)
    clock.advance(timedelta(hours=3))
    feed(app, desk, partner_answer("Sudah kami buka.", "Re: [LPSE#1] Akun SPSE terkunci"))
    with transaction(app.factory) as session:
        digest = app.scheduler.render_digest(session, clock.now()).text
        _report, monthly = render_report(session, app.context, Month(2026, 11, app.settings.helpdesk.tz))
    assert "Pengelola layanan lain" in digest
    assert "- Helpdesk LKPP: 1 kali untuk 1 tiket, 0 belum dijawab; waktu di lkpp 3 jam" in digest
    assert "- Helpdesk LKPP: 1 tiket (1 kali diteruskan), dijawab 1; median jawaban 3 jam" in monthly.text
