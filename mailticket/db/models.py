"""The schema: SQLAlchemy 2 typed declarative models. Migrations in db/migrations follow this file.

All times are stored as UTC and come back timezone-aware. Nothing here is SQLite-only.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    TypeDecorator,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


class UTCDateTime(TypeDecorator):
    """Aware datetimes in, naive UTC stored, aware UTC out: the same on every database."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


class Base(DeclarativeBase):
    type_annotation_map = {datetime: UTCDateTime}


class RawMail(Base):
    """Every received message, kept (its bytes in RawData) before anything else happens to it."""

    __tablename__ = "raw_mail"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    message_id: Mapped[str] = mapped_column(String(998), index=True)
    source: Mapped[str] = mapped_column(String(500))
    size: Mapped[int] = mapped_column(Integer)
    received_at: Mapped[datetime]
    # pending -> ticket | kept | quarantined
    state: Mapped[str] = mapped_column(String(16), index=True, default="pending")
    kind: Mapped[str | None] = mapped_column(String(16), index=True)  # filter verdict
    reason: Mapped[str | None] = mapped_column(Text)
    sender: Mapped[str | None] = mapped_column(String(320))  # filled in once parsed
    subject: Mapped[str | None] = mapped_column(Text)
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"))

    ticket: Mapped[Ticket | None] = relationship()


class RawData(Base):
    """A received message's bytes: written once with its raw_mail row, never updated (the row is)."""

    __tablename__ = "raw_data"
    raw_id: Mapped[int] = mapped_column(ForeignKey("raw_mail.id"), primary_key=True)
    data: Mapped[bytes] = mapped_column(LargeBinary)


class Ticket(Base):
    __tablename__ = "tickets"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    number: Mapped[int] = mapped_column(Integer, unique=True)
    subject: Mapped[str] = mapped_column(Text)
    reporter: Mapped[str] = mapped_column(String(320), index=True)
    reporter_name: Mapped[str] = mapped_column(String(200), default="")
    cc: Mapped[str] = mapped_column(Text, default="")  # addresses, one per line
    status: Mapped[str] = mapped_column(String(16), index=True)
    category: Mapped[str] = mapped_column(String(16), index=True)
    category_source: Mapped[str] = mapped_column(String(16))
    needs_review: Mapped[bool] = mapped_column(Boolean, default=False)
    assignee: Mapped[str | None] = mapped_column(String(320))
    created_at: Mapped[datetime]
    due_at: Mapped[datetime | None] = mapped_column(index=True)
    closed_at: Mapped[datetime | None]
    escalated: Mapped[bool] = mapped_column(Boolean, default=False)
    waiting_since: Mapped[datetime | None]  # set while the SLA clock is paused (#tunggu)
    paused_seconds: Mapped[int] = mapped_column(Integer, default=0)  # clock time not counted so far
    first_response_at: Mapped[datetime | None]  # the first answer from staff to the reporter
    warned_for_due: Mapped[datetime | None]  # the due time the SLA warning was sent for
    breached_for_due: Mapped[datetime | None]  # the due time the breach mail was sent for
    last_in_message_id: Mapped[str] = mapped_column(String(998), default="")
    merged_into: Mapped[int | None] = mapped_column(Integer)  # number of the ticket this one was merged into
    rating: Mapped[int | None] = mapped_column(Integer)  # the reporter's survey answer, 1-4 (IKM)
    rating_comment: Mapped[str | None] = mapped_column(Text)  # words that came with the rating
    reminded_for_waiting: Mapped[datetime | None]  # the waiting_since the auto-close reminder was for
    waiting_on: Mapped[str | None] = mapped_column(String(64))  # the partner it waits for (#teruskan)

    messages: Mapped[list[Message]] = relationship(back_populates="ticket", order_by="Message.id")
    events: Mapped[list[Event]] = relationship(back_populates="ticket", order_by="Event.id")
    forwards: Mapped[list[PartnerForward]] = relationship(back_populates="ticket",
                                                          order_by="PartnerForward.id")

    __table_args__ = (Index("ix_tickets_status_due", "status", "due_at"),)


class Message(Base):
    """A message of a ticket, received or sent."""

    __tablename__ = "messages"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True)
    direction: Mapped[str] = mapped_column(String(3))  # in | out
    kind: Mapped[str] = mapped_column(String(16))
    sender: Mapped[str] = mapped_column(String(320))
    recipients: Mapped[str] = mapped_column(Text, default="")  # one per line
    subject: Mapped[str] = mapped_column(Text)
    date: Mapped[datetime]
    message_id: Mapped[str] = mapped_column(String(998), index=True)
    text: Mapped[str] = mapped_column(Text, default="")
    raw_id: Mapped[int | None] = mapped_column(ForeignKey("raw_mail.id"))
    outbox_id: Mapped[int | None] = mapped_column(ForeignKey("outbox.id"))

    ticket: Mapped[Ticket] = relationship(back_populates="messages")
    outbox: Mapped[Outbox | None] = relationship()


class Event(Base):
    """One step in a ticket's history: who did what, when."""

    __tablename__ = "events"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True)
    at: Mapped[datetime]
    type: Mapped[str] = mapped_column(String(32))
    by: Mapped[str] = mapped_column(String(320))
    detail: Mapped[str] = mapped_column(Text, default="")

    ticket: Mapped[Ticket] = relationship(back_populates="events")


class Outbox(Base):
    """A rendered mail waiting to be delivered; queued in the transaction that caused it."""

    __tablename__ = "outbox"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    message_id: Mapped[str] = mapped_column(String(998), unique=True)
    sender: Mapped[str] = mapped_column(String(320))
    recipients: Mapped[str] = mapped_column(Text)  # one per line
    data: Mapped[bytes] = mapped_column(LargeBinary)
    status: Mapped[str] = mapped_column(String(8), default="queued")  # queued | sent | failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    refused: Mapped[str | None] = mapped_column(Text)  # JSON {address: server's answer}, recipients refused
    created_at: Mapped[datetime] = mapped_column(index=True)  # limits count the last hour by it
    next_attempt_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]

    ticket: Mapped[Ticket | None] = relationship()

    __table_args__ = (Index("ix_outbox_status_next", "status", "next_attempt_at"),
                      # acks only: one recipient each (relays list every Cc; PostgreSQL caps an entry)
                      Index("ix_outbox_ack_recipients_created", "recipients", "created_at",
                            postgresql_where=text("kind = 'ack'"), sqlite_where=text("kind = 'ack'")))


class QuarantineEntry(Base):
    """A received message that broke the pipeline, with where and why."""

    __tablename__ = "quarantine"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    raw_id: Mapped[int] = mapped_column(ForeignKey("raw_mail.id"), unique=True)
    stage: Mapped[str] = mapped_column(String(32))
    error: Mapped[str] = mapped_column(Text)
    traceback: Mapped[str] = mapped_column(Text, default="")
    attempts: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    released_at: Mapped[datetime | None]  # set when a retry went through


class PartnerForward(Base):
    """One #teruskan of a ticket to a partner of [partners]: when, by whom, what, and its answer.

    `reminded_at` is set when the one reminder to the assignee went out (claimed like the SLA marks)."""

    __tablename__ = "partner_forwards"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True)
    partner: Mapped[str] = mapped_column(String(64), index=True)
    at: Mapped[datetime]
    by: Mapped[str] = mapped_column(String(320), default="")
    text: Mapped[str] = mapped_column(Text, default="")
    remind_at: Mapped[datetime] = mapped_column(index=True)
    answered_at: Mapped[datetime | None]
    reminded_at: Mapped[datetime | None]

    ticket: Mapped[Ticket] = relationship(back_populates="forwards")


class BlockedSender(Base):
    """An address or "@domain" (lower case) whose mail is kept as `blocked`: no ticket, no reply."""

    __tablename__ = "blocked_senders"
    address: Mapped[str] = mapped_column(String(320), primary_key=True)
    why: Mapped[str] = mapped_column(Text, default="", server_default="")
    by: Mapped[str] = mapped_column(String(320), default="", server_default="")
    created_at: Mapped[datetime]


class FetchState(Base):
    """Where reading a mailbox got to (IMAP: UIDVALIDITY and the last UID stored)."""

    __tablename__ = "fetch_state"
    source: Mapped[str] = mapped_column(String(500), primary_key=True)
    uidvalidity: Mapped[int] = mapped_column(BigInteger, default=0)
    last_uid: Mapped[int] = mapped_column(BigInteger, default=0)
    updated_at: Mapped[datetime]


class Counter(Base):
    """Named counters, e.g. the ticket register: a row updated in place, never max()+1."""

    __tablename__ = "counters"
    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger)


class Meta(Base):
    """Small settings the daemon keeps itself, e.g. the generated Message-ID secret."""

    __tablename__ = "meta"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
