"""The block list and the counts behind the per-hour limits (shell): what the pipeline looks up before
`decide`, and what `apply` asks before it queues a mail.

Counts see this batch's rows too: the pipeline flushes a batch once, at its end, so each count adds
the session's unflushed rows (`session.new` for outbox rows, `session.dirty` for raw rows marked).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import bindparam, func, select
from sqlalchemy.orm import Session

from mailticket.db import models
from mailticket.store.dialect import insert as dialect_insert
from mailticket.store.unflushed import unflushed


def normalise(entry: str) -> str:
    """An address or "@domain" as the list keeps it: lower case, no spaces or angle brackets."""
    return entry.strip().strip("<>").strip().lower()


def block(session: Session, entry: str, why: str, by: str, now: datetime) -> bool:
    """Put `entry` on the list; False when it was there already (its reason is kept). One INSERT that
    tolerates the entry being there: two #spam for one sender in a batch, or from two instances, both
    succeed. The batch's later mail sees the entry at once."""
    entry = normalise(entry)
    stmt = dialect_insert(session, models.BlockedSender).values(address=entry, why=why, by=by, created_at=now)
    insert = stmt.on_conflict_do_nothing(index_elements=["address"]).returning(models.BlockedSender.address)
    added = session.execute(insert).scalar() is not None  # (rowcount is -1 on PostgreSQL: RETURNING says it)
    _block_list(session).setdefault(entry, why)  # on the list now, whoever put it there
    return added


def unblock(session: Session, entry: str) -> bool:
    row = session.get(models.BlockedSender, normalise(entry))
    if row is None:
        return False
    session.delete(row)
    return True


def blocked_list(session: Session) -> list[models.BlockedSender]:
    return list(session.scalars(select(models.BlockedSender).order_by(models.BlockedSender.created_at)))


_BLOCKED = select(models.BlockedSender.address, models.BlockedSender.why)


def _block_list(session: Session) -> dict[str, str]:
    """The whole block list, read once per session (a batch): it is short, and every report asks."""
    listed = session.info.get("block_list")
    if listed is None:
        listed = session.info["block_list"] = dict(session.connection().execute(_BLOCKED).all())
    return listed


def blocked_why(session: Session, address: str) -> str:
    """Why `address` is blocked ("" when neither it nor its @domain is on the list)."""
    address = normalise(address)
    if not address:
        return ""
    keys = (address, "@" + address.rpartition("@")[2]) if "@" in address else (address,)
    listed = _block_list(session)
    found = next(((key, listed[key]) for key in keys if key in listed), None)
    if found is None:
        return ""
    entry, why = found
    return f"{entry}: {why}" if why else entry


_ACKS_TO = select(func.count()).select_from(models.Outbox).where(
    models.Outbox.recipients == bindparam("address"), models.Outbox.created_at >= bindparam("since"),
    models.Outbox.kind == "ack")  # an ack has one recipient: ix_outbox_ack_recipients_created serves it
_SENT_ABOUT = select(models.Outbox.recipients).where(
    models.Outbox.ticket_id == bindparam("ticket_id"), models.Outbox.created_at >= bindparam("since"))


def acks_to_since(session: Session, address: str, since: datetime) -> int:
    """Acknowledgements queued to `address` at or after `since`, this batch's included (they were
    queued just now: the counters of `unflushed`)."""
    address = address.lower()
    flushed = session.connection().execute(_ACKS_TO, {"address": address, "since": since}).scalar()
    return (flushed or 0) + unflushed(session).sent_kind[address, "ack"]


def mails_about_since(session: Session, ticket: models.Ticket, address: str, since: datetime) -> int:
    """Mail about `ticket` queued to `address` at or after `since`, this batch's included."""
    address = address.lower()
    pending = unflushed(session).sent_ticket[address, id(ticket)]
    if ticket.id is None:
        return pending  # a ticket not yet flushed has no mail in the database
    rows = session.connection().execute(_SENT_ABOUT, {"ticket_id": ticket.id, "since": since}).scalars()
    return pending + sum(1 for recipients in rows if address in recipients.split("\n"))


_KEPT = select(func.count()).select_from(models.RawMail).where(
    models.RawMail.kind == bindparam("kind"), models.RawMail.sender == bindparam("sender"),
    models.RawMail.received_at >= bindparam("since"))


def kept_since(session: Session, kind: str, sender: str, since: datetime) -> int:
    """Raw mail of `sender` kept as `kind` (e.g. flood) since `since`, this batch's included."""
    pending = unflushed(session).kept[sender, kind]  # kept in this batch: received just now
    flushed = session.connection().execute(_KEPT, {"kind": kind, "sender": sender, "since": since}).scalar()
    return (flushed or 0) + pending


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
