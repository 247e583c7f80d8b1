"""The block list and the counts behind the per-hour limits (shell): what the pipeline looks up before
`decide`, and what `apply` asks before it queues a mail.

Counts see this batch's rows too: the pipeline flushes a batch once, at its end, so each count adds
the session's unflushed rows (`session.new` for outbox rows, `session.dirty` for raw rows marked).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from mailticket.db import models


def normalise(entry: str) -> str:
    """An address or "@domain" as the list keeps it: lower case, no spaces or angle brackets."""
    return entry.strip().strip("<>").strip().lower()


def block(session: Session, entry: str, why: str, by: str, now: datetime) -> bool:
    """Put `entry` on the list; False when it was there already (its reason is kept)."""
    entry = normalise(entry)
    if session.get(models.BlockedSender, entry) is not None:
        return False
    session.add(models.BlockedSender(address=entry, why=why, by=by, created_at=now))
    return True


def unblock(session: Session, entry: str) -> bool:
    row = session.get(models.BlockedSender, normalise(entry))
    if row is None:
        return False
    session.delete(row)
    return True


def blocked_list(session: Session) -> list[models.BlockedSender]:
    return list(session.scalars(select(models.BlockedSender).order_by(models.BlockedSender.created_at)))


def blocked_why(session: Session, address: str) -> str:
    """Why `address` is blocked ("" when neither it nor its @domain is on the list)."""
    address = normalise(address)
    if not address:
        return ""
    keys = (address, "@" + address.rpartition("@")[2]) if "@" in address else (address,)
    for row in session.new:
        if isinstance(row, models.BlockedSender) and row.address in keys:
            return f"{row.address}: {row.why}" if row.why else row.address
    with session.no_autoflush:
        rows = session.scalars(select(models.BlockedSender).where(models.BlockedSender.address.in_(keys)))
        found = next(iter(rows), None)
    if found is None:
        return ""
    return f"{found.address}: {found.why}" if found.why else found.address


def _sent_to(row: models.Outbox, address: str) -> bool:
    return address in row.recipients.split("\n")


def _outbox_since(session: Session, since: datetime, ticket_id: int | None = None, kind: str | None = None):
    stmt = select(models.Outbox.recipients).where(models.Outbox.created_at >= since)
    if ticket_id is not None:
        stmt = stmt.where(models.Outbox.ticket_id == ticket_id)
    if kind is not None:
        stmt = stmt.where(models.Outbox.kind == kind)
    return stmt


def mails_to_since(session: Session, address: str, since: datetime, *, ticket: models.Ticket | None = None,
                   kind: str | None = None) -> int:
    """Mail (of `kind`, about `ticket`) queued to `address` at or after `since`, this batch's included."""
    address = address.lower()
    unflushed = sum(1 for row in session.new if isinstance(row, models.Outbox) and _sent_to(row, address)
                    and (kind is None or row.kind == kind) and (ticket is None or row.ticket is ticket)
                    and row.created_at >= since)
    if ticket is not None and ticket.id is None:
        return unflushed  # a ticket not yet flushed has no mail in the database
    stmt = _outbox_since(session, since, ticket.id if ticket is not None else None, kind)
    stmt = stmt.where(models.Outbox.recipients.contains(address))
    with session.no_autoflush:
        flushed = sum(1 for recipients in session.scalars(stmt) if address in recipients.split("\n"))
    return flushed + unflushed


def kept_since(session: Session, kind: str, sender: str, since: datetime) -> int:
    """Raw mail of `sender` kept as `kind` (e.g. flood) since `since`, this batch's included."""
    unflushed = sum(1 for row in session.dirty if isinstance(row, models.RawMail) and row.kind == kind
                    and row.sender == sender and row.received_at >= since)
    stmt = select(func.count()).select_from(models.RawMail).where(
        models.RawMail.kind == kind, models.RawMail.sender == sender, models.RawMail.received_at >= since)
    with session.no_autoflush:
        return (session.scalar(stmt) or 0) + unflushed


def events_since(session: Session, ticket: models.Ticket, type_: str, since: datetime) -> int:
    """Events of `type_` on `ticket` at or after `since`, this batch's included."""
    unflushed = sum(1 for row in session.new if isinstance(row, models.Event) and row.ticket is ticket
                    and row.type == type_ and row.at >= since)
    if ticket.id is None:
        return unflushed
    stmt = select(func.count()).select_from(models.Event).where(
        models.Event.ticket_id == ticket.id, models.Event.type == type_, models.Event.at >= since)
    with session.no_autoflush:
        return (session.scalar(stmt) or 0) + unflushed
