"""Auto-close after waiting ([sla.auto_close]), end to end on a real SQLite file and directory outbox.

A ticket in `waiting` gets one reminder at `remind_at` of `after` and is closed at `after`, both
counted on the office calendar; a reporter's answer before then resumes it. Each happens once,
also across a restart (a new App on the same database). The clock is moved by the test.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from mailticket.clock import FixedClock
from tests.conftest import make_mail
from tests.integration.mailcheck import STAFF_TOML, app_for, feed, make_desk, query, sent, staff_mail

BUDI = "budi@example.co.id"
ATASAN = "atasan@example.co.id"
AUTO_CLOSE = STAFF_TOML + """
[sla]
calendar = "office"
office_hours = "Mon-Thu 08:00-16:00, Fri 08:00-11:30 13:00-16:30"
[sla.auto_close]
after = "2d"
remind_at = 0.5
[survey]
enabled = true
"""
# Friday 2026-11-27 09:00 WIB: the report; 10:00 WIB: staff asks and the ticket waits.
REPORTED = datetime(2026, 11, 27, 2, 0, tzinfo=UTC)
WAITING = datetime(2026, 11, 27, 3, 0, tzinfo=UTC)
# Two working days later (the weekend does not count): Tuesday 10:00 WIB; half of it Monday 10:00 WIB.
REMIND = datetime(2026, 11, 30, 3, 0, tzinfo=UTC)
CLOSE = datetime(2026, 12, 1, 3, 0, tzinfo=UTC)
REPORT = "Selamat pagi, saya tidak bisa login ke SPSE sejak kemarin, muncul pesan akun terkunci.\n"


def waiting_ticket(tmp_path):
    desk = make_desk(tmp_path, extra=AUTO_CLOSE)
    clock = FixedClock(REPORTED)
    app = app_for(desk, clock)
    feed(app, desk, make_mail("Tidak bisa login", REPORT, sender=f"Budi <{BUDI}>", msgid="<r1@budi.id>",
                              headers={"Cc": ATASAN}))
    clock.advance(WAITING - REPORTED)
    feed(app, desk, staff_mail("#tunggu\nMohon kirim tangkapan layar pesan errornya."))
    [ticket] = query(desk, "SELECT status, waiting_since FROM tickets")
    assert ticket["status"] == "waiting"
    return desk, clock, app


def of_kind(desk, kind):
    return [mail for mail in sent(desk) if mail.kind == kind]


def tick_restarting(desk, clock, app) -> None:
    """Two ticks of the running daemon, then one of a restarted daemon on the same database."""
    app.run_once()
    app.run_once()
    app_for(desk, clock).run_once()


def test_a_waiting_ticket_is_reminded_once_then_closed_once_across_restarts(tmp_path):
    desk, clock, app = waiting_ticket(tmp_path)
    clock.advance(REMIND - timedelta(minutes=1) - clock.now())  # Monday 09:59 WIB: not yet
    tick_restarting(desk, clock, app)
    assert of_kind(desk, "reminder") == []

    clock.advance(timedelta(minutes=1))
    tick_restarting(desk, clock, app)
    [reminder] = of_kind(desk, "reminder")
    assert reminder.recipients == {BUDI, ATASAN}
    assert str(reminder.msg["Subject"]) == "[LPSE#1] Tidak bisa login"
    assert reminder.msg["In-Reply-To"] == "<r1@budi.id>"
    text = reminder.text()
    assert "sedang menunggu jawaban atau informasi dari Bapak/Ibu sejak" in text
    assert "Jumat, 27 November 2026 pukul 10.00 WIB" in text  # since
    assert "Bila sampai Selasa, 1 Desember 2026 pukul 10.00 WIB kami belum menerima balasan" in text
    assert "membukanya kembali" in text
    assert query(desk, "SELECT status FROM tickets")[0]["status"] == "waiting"

    clock.advance(CLOSE - timedelta(minutes=1) - clock.now())  # Tuesday 09:59 WIB: not yet
    tick_restarting(desk, clock, app)
    assert of_kind(desk, "autoclose") == []
    assert len(of_kind(desk, "reminder")) == 1

    clock.advance(timedelta(minutes=1))
    tick_restarting(desk, clock, app)
    [closing] = of_kind(desk, "autoclose")
    assert closing.recipients == {BUDI, ATASAN}
    assert str(closing.msg["Subject"]) == "[LPSE#1] Tidak bisa login" and closing.msg["In-Reply-To"] == "<r1@budi.id>"
    text = closing.text()
    assert "telah kami tutup karena sejak Jumat, 27 November 2026 pukul 10.00 WIB" in text
    assert "cukup balas email ini dan laporan akan kami buka kembali" in text
    assert "4 = sangat puas" in text  # [survey] enabled: the closing mail asks for a rating
    assert len(of_kind(desk, "reminder")) == 1
    [ticket] = query(desk, "SELECT status, closed_at, waiting_since FROM tickets")
    assert ticket["status"] == "closed" and ticket["waiting_since"] is None
    events = query(desk, "SELECT type, by FROM events WHERE type IN ('reminded', 'closed')")
    assert events == [{"type": "reminded", "by": "sla"}, {"type": "closed", "by": "sla"}]
    staff_mails = [m for m in sent(desk) if m.recipients & {"rina@lampungprov.go.id", "koord@lampungprov.go.id"}
                   and m.kind in ("reminder", "autoclose")]
    assert staff_mails == []  # the reporter's mail only


def test_an_answer_before_the_close_resumes_the_ticket_and_a_new_wait_gets_its_own_reminder(tmp_path):
    desk, clock, app = waiting_ticket(tmp_path)
    clock.advance(REMIND - clock.now())
    app.run_once()
    assert len(of_kind(desk, "reminder")) == 1
    clock.advance(timedelta(hours=2))
    feed(app, desk, make_mail("Re: [LPSE#1] Tidak bisa login", "Berikut tangkapan layarnya, pesan: akun terkunci.",
                              sender=f"Budi <{BUDI}>", in_reply_to="<r1@budi.id>", references="<r1@budi.id>"))
    assert query(desk, "SELECT status FROM tickets")[0]["status"] == "open"
    clock.advance(CLOSE + timedelta(days=1) - clock.now())  # well past the first wait's close
    tick_restarting(desk, clock, app)
    assert of_kind(desk, "autoclose") == []
    assert query(desk, "SELECT status FROM tickets")[0]["status"] != "closed"

    # Wednesday 2026-12-02 10:00 WIB: staff asks again; this wait gets its own reminder, Thursday 10:00
    feed(app, desk, staff_mail("#tunggu\nMohon kirim juga NIK penanggung jawab."))
    clock.advance(timedelta(days=1) - timedelta(minutes=1))
    tick_restarting(desk, clock, app)
    assert len(of_kind(desk, "reminder")) == 1
    clock.advance(timedelta(minutes=1))
    tick_restarting(desk, clock, app)
    assert len(of_kind(desk, "reminder")) == 2
    assert of_kind(desk, "autoclose") == []
