"""Data migrations: a database built at an older revision with SQL, upgraded to the head, its rows checked.

Migration 0008 backfills `first_response_at` of tickets that have none from their first outgoing
relay or closing; acknowledgements, incoming mail and tickets that already have one are left alone.
The same check runs on SQLite and on a real PostgreSQL.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import create_engine, select, text

from mailticket.db import models
from mailticket.db.session import alembic_config, session_factory, upgrade

TICKET = ("INSERT INTO tickets (id, number, subject, reporter, reporter_name, cc, status, category, category_source,"
          " needs_review, created_at, escalated, paused_seconds, last_in_message_id, first_response_at)"
          " VALUES (:id, :id, 'Tidak bisa login', 'budi@example.co.id', 'Budi', '', :status, 'gangguan', 'rules',"
          " false, '2026-11-25 02:00:00', false, 0, '<r@budi.id>', :first)")
MESSAGE = ("INSERT INTO messages (ticket_id, direction, kind, sender, recipients, subject, date, message_id, text)"
           " VALUES (:ticket, :direction, :kind, 'x@example.co.id', '', 's', :date, :mid, '')")


def utc(hour: int, minute: int = 0, day: int = 25) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=UTC)


def check_first_response_backfill(url: str) -> None:
    from alembic import command

    engine = create_engine(url)
    command.upgrade(alembic_config(engine), "0007")
    tickets = [(1, "closed", None), (2, "closed", None), (3, "open", "2026-11-25 02:05:00"), (4, "open", None),
               (5, "new", None)]
    messages = [
        # 1: the ack is not an answer; the first relay is, a later relay and the closing are not
        (1, "in", "report", "2026-11-25 02:00:00"), (1, "out", "ack", "2026-11-25 02:01:00"),
        (1, "out", "relay", "2026-11-25 04:30:00"), (1, "out", "relay", "2026-11-25 03:20:00"),
        (1, "in", "reply", "2026-11-25 03:00:00"), (1, "out", "closing", "2026-11-26 01:00:00"),
        # 2: closed without a relay: the closing mail is the first answer
        (2, "in", "report", "2026-11-25 02:00:00"), (2, "out", "ack", "2026-11-25 02:01:00"),
        (2, "out", "closing", "2026-11-25 06:45:00"),
        # 3: already measured when the relay went out: kept
        (3, "out", "relay", "2026-11-25 09:00:00"),
        # 4: only an ack and a staff notification: no answer yet
        (4, "in", "report", "2026-11-25 02:00:00"), (4, "out", "ack", "2026-11-25 02:01:00"),
        (4, "out", "notification", "2026-11-25 02:01:00"),
    ]
    with engine.begin() as conn:
        for number, status, first in tickets:
            conn.execute(text(TICKET), {"id": number, "status": status, "first": first})
        for n, (ticket, direction, kind, date) in enumerate(messages):
            conn.execute(text(MESSAGE), {"ticket": ticket, "direction": direction, "kind": kind, "date": date,
                                         "mid": f"<{n}@x>"})
    upgrade(engine)
    with session_factory(engine)() as session:
        found = dict(session.execute(select(models.Ticket.number, models.Ticket.first_response_at)).all())
        assert found == {1: utc(3, 20), 2: utc(6, 45), 3: utc(2, 5), 4: None, 5: None}
        assert session.scalar(select(models.Ticket.rating).where(models.Ticket.number == 1)) is None
    engine.dispose()


def test_0008_backfills_the_first_response_from_the_first_relay_or_closing(tmp_path):
    check_first_response_backfill(f"sqlite:///{tmp_path}/x.db")


def test_0008_backfill_on_postgres(pg_url):
    check_first_response_backfill(pg_url)
