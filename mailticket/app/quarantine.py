"""Messages that broke the pipeline: kept raw with stage, error and attempts; listed and retried.

A quarantined message is never retried by itself (no retry loop); `quarantine retry` puts it
back in the queue after the operator fixed the cause.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from mailticket.db import models


def record(session: Session, raw: models.RawMail, stage: str, error: str, trace: str, now: datetime) -> None:
    """Quarantine `raw` (in the caller's transaction), counting the attempt if it was here before."""
    raw.state, raw.reason = "quarantined", f"{stage}: {error}"[:2000]
    q = models.QuarantineEntry
    entry = session.scalars(select(q).where(q.raw_id == raw.id)).first()
    if entry is None:
        session.add(models.QuarantineEntry(raw_id=raw.id, stage=stage, error=error, traceback=trace,
                                           attempts=1, created_at=now, updated_at=now, released_at=None))
        return
    entry.stage, entry.error, entry.traceback = stage, error, trace
    entry.attempts += 1
    entry.updated_at, entry.released_at = now, None


def entries(session: Session) -> list[tuple[models.QuarantineEntry, models.RawMail]]:
    """What is in quarantine now, oldest first."""
    stmt = (select(models.QuarantineEntry, models.RawMail)
            .join(models.RawMail, models.RawMail.id == models.QuarantineEntry.raw_id)
            .where(models.RawMail.state == "quarantined").order_by(models.QuarantineEntry.id))
    return [(entry, raw) for entry, raw in session.execute(stmt)]


def release(session: Session, ids: list[int] | None, now: datetime) -> list[int]:
    """Put quarantined messages (by quarantine id, or all) back in the queue; returns their raw ids."""
    raw_ids = []
    for entry, raw in entries(session):
        if ids is None or entry.id in ids:
            raw.state = "pending"
            entry.released_at = now
            raw_ids.append(raw.id)
    return raw_ids
