"""The keep sink (shell): raw mail and the source's checkpoint, committed in one transaction.

Inbox sources receive `KeepSink.keep` and `KeepSink.checkpoint` (see `mailticket.inbox.source`)
and never write the database themselves. `keep_batch` is the only code that writes raw rows
and `FetchState`: a source marks its messages at their origin only after it returned.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session, sessionmaker

from mailticket.clock import Clock
from mailticket.db import models
from mailticket.db.session import transaction
from mailticket.inbox.source import Checkpoint
from mailticket.store import rawmail
from mailticket.types import RawMail


def keep_batch(factory: sessionmaker[Session], raws: list[RawMail], checkpoint: Checkpoint | None,
               now: datetime) -> int:
    """Store raw bytes and how far the source got, and commit; returns how many messages were new."""
    with transaction(factory) as session:
        kept = rawmail.keep_raw(session, raws, now)
        if checkpoint is not None:
            _save_checkpoint(session, checkpoint, now)
    return kept


def load_checkpoint(factory: sessionmaker[Session], source: str) -> Checkpoint | None:
    """The checkpoint stored for this source, or None before its first batch."""
    with transaction(factory) as session:
        state = session.get(models.FetchState, source)
        return None if state is None else Checkpoint(state.source, state.uidvalidity, state.last_uid)


def _save_checkpoint(session: Session, checkpoint: Checkpoint, now: datetime) -> None:
    state = session.get(models.FetchState, checkpoint.source)
    if state is None:
        state = models.FetchState(source=checkpoint.source)
        session.add(state)
    state.uidvalidity, state.last_uid, state.updated_at = checkpoint.uidvalidity, checkpoint.last_uid, now


@dataclass(frozen=True)
class KeepSink:
    """`keep_batch` and `load_checkpoint` bound to one database and clock: what a source receives."""

    factory: sessionmaker[Session]
    clock: Clock

    def keep(self, raws: list[RawMail], checkpoint: Checkpoint | None = None) -> int:
        return keep_batch(self.factory, raws, checkpoint, self.clock.now())

    def checkpoint(self, source: str) -> Checkpoint | None:
        return load_checkpoint(self.factory, source)
