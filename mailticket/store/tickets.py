"""Tickets, messages and events (shell), in the pipeline's transaction.

Everything here runs in the caller's transaction, so a ticket, its events and its outbox rows
commit together or not at all. Ticket numbers come from the PostgreSQL sequence
`ticket_number_seq` (migration 0004), so instances never wait for each other; SQLite has one
writer at a time and keeps its counters row. Lookups also ask `unflushed` (see that module).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from datetime import datetime

from sqlalchemy import Sequence as DbSequence
from sqlalchemy import bindparam, case, func, select, text, update
from sqlalchemy.orm import Session

from mailticket.core.effects import Forward, TicketSnapshot
from mailticket.db import models
from mailticket.store.dialect import insert as dialect_insert
from mailticket.store.dialect import is_postgres
from mailticket.store.unflushed import unflushed
from mailticket.types import Category, Mail, Status, ThreadKey

TICKET_SEQUENCE = "ticket_number_seq"
_FLOOR_JUMP = 1000  # below first_number by more than this: setval; closer: draw numbers up to it
_FLOOR_LOCK = 0x6D74666C6F6F72  # advisory lock key ("mtfloor") while moving the sequence up


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
    """The ticket a message belongs to, and how it was found (for the log and events).

    A ticket merged into another (#gabung) stands for that one: its token and messages lead there."""
    if key.number is not None:
        ticket = ticket_by_number(session, key.number)
        if ticket is not None:
            return _follow_merges(session, ticket), "token"
    if key.own_number is not None:
        ticket = ticket_by_number(session, key.own_number)
        if ticket is not None:
            return _follow_merges(session, ticket), "own-message-id"
    ticket = ticket_by_references(session, key.references)
    return (_follow_merges(session, ticket) if ticket else None), ("references" if ticket else "")


def _follow_merges(session: Session, ticket: models.Ticket) -> models.Ticket:
    """The ticket `ticket` was merged into, and so on (a cycle, which merge refuses, ends the walk)."""
    seen = {ticket.number}
    while ticket.merged_into is not None and ticket.merged_into not in seen:
        target = ticket_by_number(session, ticket.merged_into)
        if target is None:
            break
        seen.add(target.number)
        ticket = target
    return ticket


def merge_into(session: Session, ticket: models.Ticket, target: models.Ticket, at: datetime, by: str,
               detail: str) -> None:
    """Move `ticket`'s messages and events to `target`, add its reporter and Cc to target's Cc.

    The merged ticket's own fields (closed, merged_into) and its "merged" event are the caller's."""
    for message in list(ticket.messages):
        message.ticket = target
        unflushed(session).threads[message.message_id] = target
    for event in list(ticket.events):
        event.ticket = target
    cc = [c for c in target.cc.split("\n") if c]
    for address in (ticket.reporter, *(c for c in ticket.cc.split("\n") if c)):
        if address and address != target.reporter and address not in cc:
            cc.append(address)
    target.cc = "\n".join(cc)
    add_event(session, target, at, "merged_from", by, detail)


def mailed_since(session: Session, kind: str, address: str, since: datetime) -> bool:
    """Whether mail of `kind` to `address` alone was queued at or after `since`, this batch's included."""
    for row in session.new:
        if isinstance(row, models.Outbox) and row.kind == kind and row.recipients == address:
            return True
    stmt = select(models.Outbox.id).where(models.Outbox.kind == kind, models.Outbox.recipients == address,
                                          models.Outbox.created_at >= since).limit(1)
    with session.no_autoflush:
        return session.scalar(stmt) is not None


def open_for(session: Session, email: str, limit: int = 100) -> list[models.Ticket]:
    """Open tickets assigned to `email` and unassigned ones, soonest due first (#daftar)."""
    stmt = (select(models.Ticket)
            .where(models.Ticket.status != Status.CLOSED.value,
                   (models.Ticket.assignee == email) | models.Ticket.assignee.is_(None))
            .order_by(models.Ticket.due_at.is_(None), models.Ticket.due_at, models.Ticket.number)
            .limit(limit))
    with session.no_autoflush:
        return list(session.scalars(stmt))


def next_ticket_number(session: Session, first_number: int) -> int:
    """Take the next number of the register; `first_number` raises the floor, never lowers it.

    PostgreSQL: from the sequence, so instances never wait for each other. A number whose ticket
    was rolled back within this transaction (a batch split around a failing message) is given
    again; one lost with its transaction (a crash) is not, which leaves a gap. SQLite: the
    counters row, in the caller's transaction, so a rollback gives the number back by itself.
    """
    if is_postgres(session):
        spare = session.info.get("spare_numbers")
        return spare.pop(0) if spare else _sequence_number(session, first_number)
    connection = session.connection()  # Core: the counter is never an ORM object here
    floor = {"floor": first_number - 1}
    number = connection.execute(_NEXT_NUMBER, floor).scalar()
    if number is None:
        connection.execute(dialect_insert(session, models.Counter).on_conflict_do_nothing(),
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


def snapshot(ticket: models.Ticket) -> TicketSnapshot:
    """A ticket row as the decision layer sees it."""
    return TicketSnapshot(
        number=ticket.number, subject=ticket.subject, reporter=ticket.reporter,
        reporter_name=ticket.reporter_name, cc=tuple(c for c in ticket.cc.split("\n") if c),
        status=Status(ticket.status), category=Category(ticket.category),
        category_source=ticket.category_source,
        needs_review=ticket.needs_review, assignee=ticket.assignee, created_at=ticket.created_at,
        due_at=ticket.due_at, closed_at=ticket.closed_at, escalated=ticket.escalated,
        waiting_since=ticket.waiting_since, paused_seconds=ticket.paused_seconds or 0,
        first_response_at=ticket.first_response_at, last_in_message_id=ticket.last_in_message_id,
        merged_into=ticket.merged_into,
        waiting_on=ticket.waiting_on, forwards=forwards_of(ticket),
    )


# -- forwards to partners (#teruskan, issue 19) ------------------------------------------------------


def forwards_of(ticket: models.Ticket) -> tuple[Forward, ...]:
    """The ticket's forwards to partners as the decision layer sees them, oldest first."""
    return tuple(Forward(f.partner, f.at, f.answered_at) for f in ticket.forwards)


def add_forward(session: Session, ticket: models.Ticket, partner: str, at: datetime, by: str, text: str,
                remind_at: datetime) -> models.PartnerForward:
    row = models.PartnerForward(ticket=ticket, partner=partner, at=at, by=by, text=text, remind_at=remind_at)
    session.add(row)
    return row


def answer_forwards(ticket: models.Ticket, partner: str, at: datetime) -> int:
    """Mark the ticket's open forwards to `partner` answered at `at`; how many were open."""
    open_ones = [f for f in ticket.forwards if f.partner == partner and f.answered_at is None]
    for row in open_ones:
        row.answered_at = at
    return len(open_ones)


def forwards_between(session: Session, start: datetime, end: datetime) -> list[models.PartnerForward]:
    """Forwards made in [start, end), oldest first (monthly report), with their ticket numbers loaded."""
    f = models.PartnerForward
    stmt = select(f).where(f.at >= start, f.at < end).order_by(f.at)
    return list(session.scalars(stmt))


def forwards_touching(session: Session, since: datetime) -> list[models.PartnerForward]:
    """Forwards still open, or made or answered since `since` (the digest's time with partners)."""
    f = models.PartnerForward
    stmt = select(f).where(f.answered_at.is_(None) | (f.at >= since) | (f.answered_at >= since))
    return list(session.scalars(stmt))
