"""SLA warnings, breaches and the daily digest, end to end on a real SQLite file and directory outbox.

The clock is moved by the test; nothing sleeps.
"""

from __future__ import annotations

import email
from datetime import UTC, datetime, timedelta
from email import policy

import pytest

from mailticket.app.daemon import App
from mailticket.clock import FixedClock
from mailticket.config import load
from tests.conftest import Helpdesk, make_mail

STAFF = """
[staff]
members = [{ name = "rina", email = "rina@lampungprov.go.id" }]
coordinators = [{ name = "koordinator", email = "koord@lampungprov.go.id" }]
[digest]
time = "07:30"
"""
# 2026-11-25 08:00 WIB (UTC+7)
START = datetime(2026, 11, 25, 1, 0, tzinfo=UTC)
REQUEST = "Mohon bantuan reset password akun penyedia kami, lupa password."


@pytest.fixture
def desk(tmp_path) -> Helpdesk:
    return Helpdesk(tmp_path, extra=STAFF)


def app_at(desk: Helpdesk, clock: FixedClock) -> App:
    return App(load(str(desk.config)), clock=clock)


def mails(desk: Helpdesk, kind: str) -> list:
    return [email.message_from_bytes(p.read_bytes(), policy=policy.default) for p in desk.sent(kind)]


def test_warning_then_breach_each_once_across_restarts(desk):
    clock = FixedClock(START)
    app = app_at(desk, clock)
    app.ingest([str(desk.write("1.eml", make_mail("Reset password", REQUEST)))])
    clock.advance(timedelta(minutes=40))
    app.run_once()
    assert mails(desk, "warning") == []
    clock.advance(timedelta(minutes=6))  # 46 min of a 1 h target: past 0.75
    app.run_once()
    app.run_once()
    [warning] = mails(desk, "warning")
    assert "[LPSE#1]" in warning["Subject"]
    assert {a.addr_spec for a in warning["To"].addresses} == {"rina@lampungprov.go.id", "koord@lampungprov.go.id"}

    clock.advance(timedelta(minutes=15))
    app_at(desk, clock).run_once()  # a restarted daemon
    app_at(desk, clock).run_once()
    [breach] = mails(desk, "breach")
    assert "koord@lampungprov.go.id" in str(breach["To"])
    text = breach.get_body(("plain",)).get_content()
    assert "Riwayat" in text and "#tugaskan" in text
    ticket = desk.json("tickets", "show", "LPSE#1")
    assert ticket["status"] == "escalated" and ticket["escalated"] is True
    types = [e["type"] for e in ticket["events"]]
    assert types.count("warning") == 1 and types.count("breach") == 1
    assert len(mails(desk, "warning")) == 1


def test_closed_and_waiting_tickets_get_no_alerts(desk):
    clock = FixedClock(START)
    app = app_at(desk, clock)
    app.ingest([str(desk.write("1.eml", make_mail("Reset password", REQUEST)))])
    import sqlite3

    with sqlite3.connect(desk.root / "mailticket.db") as db:
        db.execute("UPDATE tickets SET status = 'waiting'")
    clock.advance(timedelta(hours=5))
    app.run_once()
    assert mails(desk, "warning") == [] and mails(desk, "breach") == []


def test_digest_once_a_day_after_its_time_and_after_a_restart(desk):
    clock = FixedClock(datetime(2026, 11, 25, 0, 0, tzinfo=UTC))  # 07:00 WIB
    app = app_at(desk, clock)
    app.ingest([str(desk.write("1.eml", make_mail("Reset password", REQUEST)))])
    app.run_once()
    assert mails(desk, "digest") == []
    clock.advance(timedelta(minutes=31))  # 07:31 WIB
    app.run_once()
    app_at(desk, clock).run_once()
    [digest] = mails(desk, "digest")
    assert digest["To"] == "koord@lampungprov.go.id"
    assert "Ringkasan harian" in digest["Subject"]
    assert digest.get_body(("html",)) is not None
    clock.advance(timedelta(days=1, hours=2))  # the daemon was down at 07:30 the next day
    app_at(desk, clock).run_once()
    assert len(mails(desk, "digest")) == 2


def test_digest_preview_and_send_commands(desk):
    desk.cli("ingest", str(desk.write("1.eml", make_mail("Reset password", REQUEST))))
    preview = desk.cli("digest", "--preview").stdout
    assert "Ringkasan harian" in preview and "Permintaan layanan: 1" in preview
    assert mails(desk, "digest") == []
    desk.cli("digest", "--send")
    assert len(mails(desk, "digest")) == 1


def test_tickets_list_overdue_and_due_within(desk):
    clock = FixedClock(datetime.now(UTC) - timedelta(hours=2))  # the CLI lists at real now
    app = app_at(desk, clock)
    app.ingest([str(desk.write("1.eml", make_mail("Reset password", REQUEST)))])
    app.ingest([str(desk.write("2.eml", make_mail("SPSE error", "Aplikasi SPSE error 500 terus, gk bisa login",
                                                  sender="b@example.co.id")))])
    assert [t["number"] for t in desk.json("tickets", "list", "--due-within", "2h")] == [1]
    assert [t["number"] for t in desk.json("tickets", "list", "--overdue")] == [1]
    assert desk.cli("tickets", "list", "--due-within", "soon", check=False).returncode == 2


def test_watchdog_mails_the_coordinators_once_when_fetching_stops_and_once_when_it_recovers(desk):
    import threading

    from mailticket.app.daemon import Daemon

    clock = FixedClock(START)
    app = app_at(desk, clock)
    daemon = Daemon(app, threading.Event())
    app.run_once()
    daemon.watch()
    clock.advance(timedelta(minutes=16))  # no fetch since: past the 15 min stall_alert
    daemon.watch()
    daemon.watch()
    [alert] = mails(desk, "watchdog")
    assert alert["To"] == "koord@lampungprov.go.id" and "tidak terbaca" in alert["Subject"]
    app.run_once()  # the Maildir reads again
    daemon.watch()
    daemon.watch()
    assert len(mails(desk, "watchdog")) == 2
    assert "kembali" in mails(desk, "watchdog")[1]["Subject"]


def test_the_digest_stays_short_at_100000_tickets(tmp_path):
    """The register the growth bench measures, in its shape that matters to the digest: 100,000 tickets,
    most closed, about 2,000 open and overdue, 30 staff members; the digest stays under 300 lines,
    each list cut at 20 with its full count and the command that lists them all."""
    from sqlalchemy import insert

    from mailticket.db import models
    from mailticket.db.session import make_engine

    staff = [f"petugas{i:02d}@lampungprov.go.id" for i in range(30)]
    members = ", ".join(f'{{ name = "p{i:02d}", email = "{address}" }}' for i, address in enumerate(staff))
    desk = Helpdesk(tmp_path, extra=STAFF.replace('[{ name = "rina", email = "rina@lampungprov.go.id" }]',
                                                  f"[{members}]"))
    desk.cli("db", "upgrade")
    now = datetime.now(UTC)
    rows, overdue = [], 0
    for n in range(1, 100_001):
        created = now - timedelta(days=730) + timedelta(minutes=10 * n)
        is_open = n % 50 == 0 or n > 99_900  # 2% of the register, and the last hundred
        row = {"number": n, "subject": f"Tidak bisa login ke SPSE ({n})", "reporter": f"vendor{n % 997}@gmail.com",
               "status": "closed", "category": ("gangguan", "permasalahan", "permintaan")[n % 3],
               "category_source": "rules", "assignee": staff[n % 30], "created_at": created,
               "due_at": created + timedelta(days=1), "closed_at": created + timedelta(hours=5)}
        if is_open:
            row.update(status=("open", "escalated", "new")[n % 3], closed_at=None)
            overdue += row["due_at"] < now
        rows.append(row)
    engine = make_engine(f"sqlite:///{tmp_path / 'mailticket.db'}")
    with engine.begin() as conn:
        conn.execute(insert(models.Ticket.__table__), rows)
    engine.dispose()
    preview = desk.cli("digest", "--preview").stdout
    lines = preview.splitlines()
    assert len(lines) < 300, len(lines)
    assert f"Melewati target ({overdue}, 20 paling lama):" in preview
    assert f"dan {overdue - 20} lainnya; semua: mailticket tickets list --overdue" in preview
    assert "Tiket terbuka: 2098" in preview
    assert sum(line.startswith("- [LPSE#") for line in lines) <= 4 * 20  # overdue, due today, oldest, review
    assert "dan 10 petugas lainnya" in preview  # 30 staff members, 20 shown


def test_a_daemon_that_stopped_cleanly_is_not_shown_running_in_the_digest(desk):
    import json

    from sqlalchemy import create_engine, text

    app = app_at(desk, FixedClock(START))
    app.run_once()  # creates the database
    row = {"host": "h", "pid": 1, "started": (START - timedelta(hours=5)).isoformat(),
           "updated": START.isoformat(), "last_fetch": (START - timedelta(minutes=3)).isoformat(),
           "stopped": START.isoformat()}
    engine = create_engine(f"sqlite:///{desk.root / 'mailticket.db'}")
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO meta (key, value) VALUES ('status:h:stopped', :v)"), {"v": json.dumps(row)})
    engine.dispose()
    with app.factory() as session:
        preview = app.scheduler.render_digest(session, START).text
    assert "- Layanan berjalan: tidak berjalan" in preview
    assert "- Terakhir berhasil dibaca: belum pernah" not in preview  # its last fetch still counts
