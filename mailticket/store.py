"""Stage `store` (shell): raw mail, tickets, messages and events, inside the caller's transaction.

Raw mail is kept with `keep_raw` and committed before anything else reads it; everything else
here runs in the pipeline's transaction so a ticket, its events and its outbox rows commit
together or not at all.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable, Sequence
from datetime import datetime

from sqlalchemy import case, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from .db import models
from .types import Mail, RawMail, ThreadKey

_MESSAGE_ID_HEAD = 16384  # bytes of header we search for a Message-ID when keeping raw mail


def _insert(session: Session, table):
    """The dialect's INSERT, which knows ON CONFLICT DO NOTHING."""
    dialect = session.get_bind().dialect.name
    return (postgresql if dialect == "postgresql" else sqlite).insert(table)


def sniff_message_id(data: bytes) -> str:
    """The Message-ID from the header block, cheaply, before the message is parsed."""
    head = data[:_MESSAGE_ID_HEAD].split(b"\n\n", 1)[0].split(b"\r\n\r\n", 1)[0]
    for line in head.splitlines():
        if line[:11].lower() == b"message-id:":
            return line[11:].strip().decode("ascii", "replace")[:998]
    return ""


def keep_raw(session: Session, raws: Iterable[RawMail], now: datetime) -> int:
    """Insert received messages as pending raw rows; the same bytes twice are kept once.

    Returns how many were new.
    """
    by_digest = {hashlib.sha256(raw.data).hexdigest(): raw for raw in raws}
    if not by_digest:
        return 0
    known = set(session.scalars(select(models.RawMail.sha256).where(models.RawMail.sha256.in_(by_digest))))
    rows = [{"sha256": digest, "message_id": sniff_message_id(raw.data), "source": raw.source[:500],
             "size": len(raw.data), "data": raw.data, "received_at": now, "state": "pending"}
            for digest, raw in by_digest.items() if digest not in known]
    if rows:  # ON CONFLICT: another instance may have kept the same bytes since we looked
        stmt = _insert(session, models.RawMail).on_conflict_do_nothing(index_elements=["sha256"])
        session.execute(stmt, rows)
    return len(rows)


def pending_raw_ids(session: Session, limit: int) -> list[int]:
    """Raw messages not yet processed, oldest first, so a report precedes its replies."""
    stmt = select(models.RawMail.id).where(models.RawMail.state == "pending").order_by(models.RawMail.id)
    return list(session.scalars(stmt.limit(limit)))


def ticket_by_number(session: Session, number: int) -> models.Ticket | None:
    return session.scalars(select(models.Ticket).where(models.Ticket.number == number)).first()


def ticket_by_references(session: Session, references: Sequence[str]) -> models.Ticket | None:
    """The ticket of the newest referenced message that we know (In-Reply-To first)."""
    if not references:
        return None
    rows = session.execute(
        select(models.Message.message_id, models.Message.ticket_id).where(
            models.Message.message_id.in_(references[:50])
        )
    ).all()
    by_id = {message_id: ticket_id for message_id, ticket_id in rows}
    for ref in references:
        if ref in by_id:
            return session.get(models.Ticket, by_id[ref])
    return None


def find_ticket(session: Session, key: ThreadKey) -> tuple[models.Ticket | None, str]:
    """The ticket a message belongs to, and how it was found (for the log and events)."""
    if key.number is not None:
        ticket = ticket_by_number(session, key.number)
        if ticket is not None:
            return ticket, "token"
    if key.own_number is not None:
        ticket = ticket_by_number(session, key.own_number)
        if ticket is not None:
            return ticket, "own-message-id"
    ticket = ticket_by_references(session, key.references)
    return ticket, ("references" if ticket else "")


def next_ticket_number(session: Session, first_number: int) -> int:
    """Take the next number of the register; `first_number` raises the floor, never lowers it."""
    counter = models.Counter
    floor = first_number - 1
    bumped = case((counter.value < floor, floor), else_=counter.value) + 1
    stmt = update(counter).where(counter.name == "ticket").values(value=bumped).returning(counter.value)
    number = session.execute(stmt).scalar()
    if number is None:
        session.execute(_insert(session, counter).on_conflict_do_nothing(), {"name": "ticket", "value": floor})
        number = session.execute(stmt).scalar()
    return int(number)


def secret(session: Session, configured: str) -> bytes:
    """The key for our Message-IDs: from the config, else generated once into the database."""
    if configured:
        return configured.encode()
    stmt = _insert(session, models.Meta).on_conflict_do_nothing()
    session.execute(stmt, {"key": "message_id_secret", "value": secrets.token_hex(32)})
    return session.get(models.Meta, "message_id_secret").value.encode()


def add_event(session: Session, ticket: models.Ticket, at: datetime, type_: str, by: str,
              detail: str = "") -> models.Event:
    event = models.Event(ticket=ticket, at=at, type=type_, by=by, detail=detail)
    session.add(event)
    return event


def add_received(session: Session, ticket: models.Ticket, raw_id: int, mail: Mail, kind: str,
                 text: str, at: datetime) -> models.Message:
    """Record a received message on its ticket."""
    recipients = [a.email for a in (*mail.to, *mail.cc) if a.email]
    message = models.Message(
        ticket=ticket, direction="in", kind=kind,
        sender=mail.sender.email if mail.sender else "", recipients="\n".join(recipients),
        subject=mail.subject, date=mail.date or at, message_id=mail.message_id or f"<raw.{raw_id}@local>",
        text=text, raw_id=raw_id,
    )
    session.add(message)
    return message


def mark_raw(session: Session, raw: models.RawMail, mail: Mail, state: str, kind: str | None, reason: str,
             ticket: models.Ticket | None = None) -> None:
    """Record what became of a raw message, with its sender and subject for listings."""
    raw.state, raw.kind, raw.reason = state, kind, reason
    raw.sender = (mail.sender.email if mail.sender else "")[:320]
    raw.subject = mail.subject
    if ticket is not None:
        raw.ticket = ticket


def count_by_state(session: Session) -> dict[str, int]:
    rows = session.execute(select(models.RawMail.state, func.count()).group_by(models.RawMail.state))
    return {state: n for state, n in rows}
