"""What a session added since its last flush, for lookups that must see it before the database does.

The pipeline flushes a whole batch once, at its end. Until then the database does not have the
batch's rows, so every lookup of `store` runs without autoflush and also asks this index. `track`
empties it on every flush and rollback of the sessions a factory makes (it is installed by
`db.session.session_factory`, not on SQLAlchemy's global Session class).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from sqlalchemy import event
from sqlalchemy.orm import Session, sessionmaker

from mailticket.db import models


@dataclass
class Unflushed:
    """What this session added since its last flush, for lookups that must see it before the database does."""

    tickets: dict[int, models.Ticket] = field(default_factory=dict)  # number -> ticket
    threads: dict[str, models.Ticket] = field(default_factory=dict)  # Message-ID (in or out) -> ticket
    # (Message-ID, sender, subject) of a received message -> its raw id
    received: dict[tuple[str, str, str], int] = field(default_factory=dict)
    opened_by: Counter[str] = field(default_factory=Counter)  # reporter -> new tickets
    # mail queued since the flush, counted per recipient: by (address, kind) and (address, ticket)
    sent_kind: Counter[tuple[str, str]] = field(default_factory=Counter)
    sent_ticket: Counter[tuple[str, int]] = field(default_factory=Counter)
    kept: Counter[tuple[str, str | None]] = field(default_factory=Counter)  # (sender, kind) of raw mail kept

    def queued(self, row: models.Outbox, recipients: list[str]) -> None:
        """Count a queued mail for the per-hour limits (`store.trust`)."""
        for address in recipients:
            self.sent_kind[address, row.kind] += 1
            if row.ticket is not None:
                self.sent_ticket[address, id(row.ticket)] += 1


def unflushed(session: Session) -> Unflushed:
    index = session.info.get("unflushed")
    if index is None:
        index = session.info["unflushed"] = Unflushed()
    return index


def _flushed(session: Session, _context) -> None:
    session.info.pop("unflushed", None)


def _rolled_back(session: Session, _previous) -> None:
    """Numbers drawn from the PostgreSQL sequence for tickets now rolled back are given out again."""
    index = session.info.pop("unflushed", None)
    if index is not None and index.tickets:
        session.info.setdefault("spare_numbers", []).extend(index.tickets)
        session.info["spare_numbers"].sort()


def track(factory: sessionmaker[Session]) -> None:
    """Keep the index right for every session of `factory`."""
    event.listen(factory, "after_flush", _flushed)
    event.listen(factory, "after_soft_rollback", _rolled_back)
