"""Stage `store` (shell): raw mail, tickets, messages and events, inside the caller's transaction.

Raw mail is kept with `keep_raw` and committed before anything else reads it; everything else
here runs in the pipeline's transaction so a ticket, its events and its outbox rows commit
together or not at all.

Several instances on one PostgreSQL database share the work through row locks, not messages:
`pending_raw_ids` claims rows with FOR UPDATE SKIP LOCKED for the caller's transaction, and ticket
numbers come from the sequence `ticket_number_seq` (migration 0004). SQLite has one writer at a
time and keeps its counters row.

The pipeline flushes a whole batch once, at its end. Until then the database does not have the
batch's rows, so every lookup here runs without autoflush and also asks `Unflushed`, the index of
what was added since the session's last flush (emptied on every flush and rollback).

Deferral rule (PostgreSQL): a claimed message whose In-Reply-To or References names an older raw
message that is still pending and not in this batch (another instance holds it, or it was
committed after we looked), or one deferred in this batch, is left pending for a later round, so
that a reply is never processed before the report it answers.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import re
import secrets
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import LargeBinary, bindparam, case, event, exists, func, insert, select, text, update
from sqlalchemy import Sequence as DbSequence
from sqlalchemy.orm import Session, aliased

from .db import models
from .types import Mail, RawMail, ThreadKey

log = logging.getLogger("mailticket.store")

_MESSAGE_ID_HEAD = 16384  # bytes of header we search for a Message-ID when keeping raw mail
_MSG_ID = re.compile(rb"<[^<>\s]{1,996}>")
_FOLD = re.compile(rb"\r?\n[ \t]+")
_REFERENCES_USED = 20  # In-Reply-To and the newest References looked at for the deferral rule
TICKET_SEQUENCE = "ticket_number_seq"
_FLOOR_JUMP = 1000  # below first_number by more than this: setval; closer: draw numbers up to it
_FLOOR_LOCK = 0x6D74666C6F6F72  # advisory lock key ("mtfloor") while moving the sequence up


@dataclass
class Unflushed:
    """What this session added since its last flush, for lookups that must see it before the database does."""

    tickets: dict[int, models.Ticket] = field(default_factory=dict)  # number -> ticket
    threads: dict[str, models.Ticket] = field(default_factory=dict)  # Message-ID (in or out) -> ticket
    # (Message-ID, sender, subject) of a received message -> its raw id
    received: dict[tuple[str, str, str], int] = field(default_factory=dict)
    opened_by: Counter[str] = field(default_factory=Counter)  # reporter -> new tickets


def unflushed(session: Session) -> Unflushed:
    index = session.info.get("unflushed")
    if index is None:
        index = session.info["unflushed"] = Unflushed()
    return index


@event.listens_for(Session, "after_flush")
def _flushed(session: Session, _context) -> None:
    session.info.pop("unflushed", None)


@event.listens_for(Session, "after_soft_rollback")
def _rolled_back(session: Session, _previous) -> None:
    """Numbers drawn from the PostgreSQL sequence for tickets now rolled back are given out again."""
    index = session.info.pop("unflushed", None)
    if index is not None and index.tickets:
        session.info.setdefault("spare_numbers", []).extend(index.tickets)
        session.info["spare_numbers"].sort()


def _postgres(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def _insert(session: Session, table):
    """The dialect's INSERT, which knows ON CONFLICT; imported here, so SQLite never loads PostgreSQL's."""
    if _postgres(session):
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert(table)


def _head(data: bytes) -> bytes:
    return data[:_MESSAGE_ID_HEAD].split(b"\n\n", 1)[0].split(b"\r\n\r\n", 1)[0]


def sniff_message_id(data: bytes) -> str:
    """The Message-ID from the header block, cheaply, before the message is parsed."""
    head = _head(data)
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
             "size": len(raw.data), "received_at": now, "state": "pending"}
            for digest, raw in by_digest.items() if digest not in known]
    if not rows:
        return 0
    # ON CONFLICT: another instance may have kept the same bytes since we looked; those rows come
    # back from RETURNING only when this statement inserted them
    stmt = _insert(session, models.RawMail).on_conflict_do_nothing(index_elements=["sha256"])
    inserted = session.execute(stmt.returning(models.RawMail.id, models.RawMail.sha256), rows).all()
    if inserted:
        session.execute(insert(models.RawData), [{"raw_id": raw_id, "data": by_digest[digest].data}
                                                 for raw_id, digest in inserted])
    return len(inserted)


def sniff_references(data: bytes) -> list[str]:
    """In-Reply-To, then References newest first, from the raw header block (unfolded)."""
    in_reply_to: list[bytes] = []
    references: list[bytes] = []
    for line in _FOLD.sub(b" ", _head(data)).splitlines():
        name = line[:12].lower()
        if name.startswith(b"in-reply-to:"):
            in_reply_to += _MSG_ID.findall(line, 12)
        elif name.startswith(b"references:"):
            references += _MSG_ID.findall(line, 11)
    found = dict.fromkeys(ref.decode("ascii", "replace") for ref in [*in_reply_to, *reversed(references)])
    return list(found)[:_REFERENCES_USED]


def pending_raw_ids(session: Session, limit: int) -> list[int]:
    """Raw messages to process now, oldest first, so a report precedes its replies.

    PostgreSQL: claimed for the caller's transaction (other instances skip them), minus the
    deferred ones (see the module docstring); they stay pending and come back in a later round.
    """
    raw = models.RawMail
    stmt = select(raw.id).where(raw.state == "pending").order_by(raw.id).limit(limit)
    if not _postgres(session):
        return list(session.scalars(stmt))
    # the header block only: the batch loads each message's bytes when it gets to it
    head = select(func.substr(models.RawData.data, 1, _MESSAGE_ID_HEAD)).where(
        models.RawData.raw_id == raw.id).scalar_subquery()
    stmt = stmt.add_columns(head).with_for_update(of=raw, skip_locked=True)
    heads = {raw_id: bytes(head) for raw_id, head in session.execute(stmt)}
    deferred = _deferred(session, heads)
    return [raw_id for raw_id in heads if raw_id not in deferred]


def claim_raw_ids(session: Session, ids: Sequence[int]) -> list[int]:
    """Of the given raw ids, those still pending that this transaction now holds (quarantine retry)."""
    if not ids:
        return []
    stmt = (select(models.RawMail.id).where(models.RawMail.id.in_(ids), models.RawMail.state == "pending")
            .order_by(models.RawMail.id))
    if _postgres(session):
        stmt = stmt.with_for_update(skip_locked=True)
    return list(session.scalars(stmt))


SMALL_MAIL = 64 * 1024  # bytes: mail this size or smaller comes with its row (most mail: a few KiB)


def raw_rows(session: Session, ids: Sequence[int]) -> list[tuple[models.RawMail, bytes | None]]:
    """These raw messages, oldest first, in one query; each with its bytes if it is small (else None:
    `raw_bytes` reads a big one when it is its turn, so a batch never holds many big ones at once)."""
    raw, data = models.RawMail, models.RawData
    small = case((raw.size <= SMALL_MAIL, data.data), else_=None)
    stmt = select(raw, small).join(data, data.raw_id == raw.id).where(raw.id.in_(ids)).order_by(raw.id)
    return [(row, None if head is None else bytes(head)) for row, head in session.execute(stmt)]


_RAW_BYTES = select(models.RawData.data).where(models.RawData.raw_id == bindparam("id"))
_RAW_HEAD = select(func.substr(models.RawData.data, 1, bindparam("limit"), type_=LargeBinary)).where(
    models.RawData.raw_id == bindparam("id"))


def raw_bytes(session: Session, raw_id: int, limit: int | None = None) -> bytes:
    """A raw message's bytes (or its first `limit`), read when needed, so that a batch holds one
    message's bytes at a time and a huge message is never read whole."""
    stmt = _RAW_BYTES if limit is None else _RAW_HEAD
    return bytes(session.connection().execute(stmt, {"id": raw_id, "limit": limit}).scalar_one())


def _deferred(session: Session, heads: dict[int, bytes]) -> set[int]:
    """Ids of claimed rows (id -> header bytes, oldest first) that must wait for an older message."""
    refs = {raw_id: sniff_references(head) for raw_id, head in heads.items()}
    wanted = sorted({ref for found in refs.values() for ref in found})
    if not wanted:
        return set()
    pending: dict[str, list[int]] = {}
    stmt = select(models.RawMail.message_id, models.RawMail.id).where(
        models.RawMail.message_id.in_(wanted), models.RawMail.state == "pending")
    for message_id, raw_id in session.execute(stmt):
        pending.setdefault(message_id, []).append(raw_id)
    deferred: set[int] = set()
    for raw_id, found in refs.items():  # oldest first: a deferred parent defers its replies too
        waits_for = [earlier for ref in found for earlier in pending.get(ref, ())
                     if earlier < raw_id and (earlier not in heads or earlier in deferred)]
        if waits_for:
            deferred.add(raw_id)
            log.info("stage=store raw=%d decision=deferred waits_for=raw:%d (still pending)", raw_id,
                     min(waits_for))
    return deferred


def ticket_by_number(session: Session, number: int) -> models.Ticket | None:
    ticket = unflushed(session).tickets.get(number)
    if ticket is not None:
        return ticket
    with session.no_autoflush:
        return session.scalars(select(models.Ticket).where(models.Ticket.number == number)).first()


def ticket_by_references(session: Session, references: Sequence[str]) -> models.Ticket | None:
    """The ticket of the newest referenced message that we know (In-Reply-To first)."""
    if not references:
        return None
    stmt = select(models.Message.message_id, models.Message.ticket_id).where(
        models.Message.message_id.in_(references[:50]))
    with session.no_autoflush:
        by_id = dict(session.execute(stmt).all())
    threads = unflushed(session).threads
    for ref in references:
        if ref in threads:
            return threads[ref]
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
    """Take the next number of the register; `first_number` raises the floor, never lowers it.

    PostgreSQL: from the sequence, so instances never wait for each other. A number whose ticket
    was rolled back within this transaction (a batch split around a failing message) is given
    again; one lost with its transaction (a crash) is not, which leaves a gap. SQLite: the
    counters row, in the caller's transaction, so a rollback gives the number back by itself.
    """
    if _postgres(session):
        spare = session.info.get("spare_numbers")
        return spare.pop(0) if spare else _sequence_number(session, first_number)
    connection = session.connection()  # Core: the counter is never an ORM object here
    floor = {"floor": first_number - 1}
    number = connection.execute(_NEXT_NUMBER, floor).scalar()
    if number is None:
        connection.execute(_insert(session, models.Counter).on_conflict_do_nothing(),
                           {"name": "ticket", "value": first_number - 1})
        number = connection.execute(_NEXT_NUMBER, floor).scalar()
    return int(number)


def _next_number_statement():
    counter, floor = models.Counter, bindparam("floor")
    bumped = case((counter.value < floor, floor), else_=counter.value) + 1
    return update(counter).where(counter.name == "ticket").values(value=bumped).returning(counter.value)


_NEXT_NUMBER = _next_number_statement()  # built once: the hot path only binds `floor`


def _sequence_number(session: Session, first_number: int) -> int:
    sequence = DbSequence(TICKET_SEQUENCE)
    number = session.scalar(select(sequence.next_value()))
    if number < first_number - _FLOOR_JUMP:
        # Far below the floor: move the sequence up once. The lock keeps two instances from doing
        # it at the same time, and the WHERE makes it forward only.
        with _advisory_lock(session, _FLOOR_LOCK):
            session.execute(text(f"SELECT setval('{TICKET_SEQUENCE}', :floor) FROM {TICKET_SEQUENCE} "
                                 "WHERE last_value < :floor"), {"floor": first_number - 1})
        number = session.scalar(select(sequence.next_value()))
    while number < first_number:  # close below it: draw up to it, which never moves it back
        number = session.scalar(select(sequence.next_value()))
    return int(number)


@contextlib.contextmanager
def _advisory_lock(session: Session, key: int) -> Iterator[None]:
    """A session-level advisory lock for a moment, released before the transaction ends."""
    session.execute(text("SELECT pg_advisory_lock(:key)"), {"key": key})
    try:
        yield
    finally:
        session.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": key})


def secret(session: Session, configured: str) -> bytes:
    """The key for our Message-IDs: from the config, else generated once into the database."""
    if configured:
        return configured.encode()
    stmt = _insert(session, models.Meta).on_conflict_do_nothing()
    session.execute(stmt, {"key": "message_id_secret", "value": secrets.token_hex(32)})
    return session.get(models.Meta, "message_id_secret").value.encode()


def claim_later(session: Session, key: str, value: str) -> bool:
    """Set meta `key` to `value` if it is unset or sorts lower; True when this call did so.

    Atomic across instances (INSERT … ON CONFLICT DO UPDATE … WHERE): of two racing for the same
    value, one wins and the other waits for it and then finds nothing to do.
    """
    stmt = _insert(session, models.Meta).values(key=key, value=value)
    stmt = stmt.on_conflict_do_update(index_elements=["key"], set_={"value": stmt.excluded.value},
                                      where=models.Meta.value < stmt.excluded.value)
    return session.execute(stmt.returning(models.Meta.key)).first() is not None


def add_ticket(session: Session, ticket: models.Ticket) -> None:
    session.add(ticket)
    index = unflushed(session)
    index.tickets[ticket.number] = ticket
    index.opened_by[ticket.reporter] += 1


_OPENED_SINCE = select(func.count()).select_from(models.Ticket).where(
    models.Ticket.reporter == bindparam("reporter"), models.Ticket.created_at >= bindparam("since"))


def tickets_opened_since(session: Session, reporter: str, since: datetime) -> int:
    """Tickets this sender opened at or after `since`, those not yet flushed included."""
    flushed = session.connection().execute(_OPENED_SINCE, {"reporter": reporter, "since": since}).scalar()
    return (flushed or 0) + unflushed(session).opened_by[reporter]


def add_message(session: Session, message: models.Message) -> None:
    """Record a message (in or out) on its ticket, where threading finds it."""
    session.add(message)
    unflushed(session).threads[message.message_id] = message.ticket


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
    add_message(session, message)
    unflushed(session).received[message.message_id, message.sender, message.subject] = raw_id
    return message


def mark_raw(session: Session, raw: models.RawMail, mail: Mail, state: str, kind: str | None, reason: str,
             ticket: models.Ticket | None = None) -> None:
    """Record what became of a raw message, with its sender and subject for listings."""
    raw.state, raw.kind, raw.reason = state, kind, reason
    raw.sender = (mail.sender.email if mail.sender else "")[:320]
    raw.subject = mail.subject
    if ticket is not None:
        raw.ticket = ticket


def shared_message_ids(session: Session, raw_ids: Sequence[int]) -> set[str]:
    """Message-IDs of these raw messages that another raw message carries too."""
    r, other = models.RawMail, aliased(models.RawMail)
    stmt = select(r.message_id).where(r.id.in_(raw_ids), r.message_id != "", exists().where(
        other.message_id == r.message_id, other.id != r.id))
    return set(session.scalars(stmt))


def copy_of(session: Session, mail: Mail) -> int | None:
    """The raw id of a message already recorded with this Message-ID, sender and subject, if any."""
    if not mail.message_id:
        return None
    sender = mail.sender.email if mail.sender else ""
    raw_id = unflushed(session).received.get((mail.message_id, sender, mail.subject))
    if raw_id is not None:
        return raw_id
    m = models.Message
    stmt = select(m.raw_id).where(m.message_id == mail.message_id, m.direction == "in", m.sender == sender,
                                  m.subject == mail.subject).limit(1)
    with session.no_autoflush:
        return session.scalar(stmt)
