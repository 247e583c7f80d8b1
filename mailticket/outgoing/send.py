"""Stage `send` (shell): deliver committed outbox rows through a transport, each row once.

A row is marked sent only after the transport accepted it. The directory transport is
idempotent (one file per row, written atomically), so a crash between delivery and marking
never writes the same mail twice. Over SMTP a crash in that moment sends the chunk in hand again:
delivery is at least once, never lost.

On PostgreSQL the rows of a chunk are claimed (FOR UPDATE SKIP LOCKED) in the transaction that
delivers them and marks them, so instances sharing the database each send different mail. Chunks
are smaller there, which keeps what a crash could repeat small and spreads the work.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from mailticket.clock import Clock
from mailticket.db import models
from mailticket.db.session import transaction

log = logging.getLogger("mailticket.send")
CHUNK = 200
CHUNK_SHARED = 20  # PostgreSQL: rows per claim, per SMTP connection and per commit


class TemporaryFailure(Exception):
    """Try again later (network trouble, 4xx)."""


class PermanentFailure(Exception):
    """Never try again (5xx): the row is marked failed with this text."""


class Transport(Protocol):
    def deliver(self, rows: list[models.Outbox]) -> dict[int, Exception | None]:
        """Deliver rows; map each row id to None (accepted) or the failure."""


class DirectoryTransport:
    """Writes each mail as `<row id>-<kind>.eml` into a folder (the embedded default).

    A chunk's files are written under temporary names, made durable by one sync(2), then renamed
    into place and the folder synced: a reader never sees half a file, and a file that is there
    survives a power cut. One sync for the chunk instead of an fsync per file (about 0.25 ms each
    on this kind of disk, most of the delivery time); sync(2) covers every filesystem, which is fine
    for this embedded transport (production mail goes out by SMTP).
    """

    def __init__(self, path: Path):
        self.path = path
        path.mkdir(parents=True, exist_ok=True)

    def file_for(self, row: models.Outbox) -> Path:
        return self.path / f"{row.id:08d}-{row.kind}.eml"

    def deliver(self, rows: list[models.Outbox]) -> dict[int, Exception | None]:
        results: dict[int, Exception | None] = {}
        written: list[tuple[int, Path, Path]] = []
        for row in rows:
            target = self.file_for(row)
            if target.exists():  # delivered before a crash kept us from marking it
                results[row.id] = None
                continue
            tmp = self.path / f".{target.name}.tmp"
            try:
                tmp.write_bytes(row.data)
                written.append((row.id, tmp, target))
            except OSError as exc:
                results[row.id] = TemporaryFailure(str(exc))
        if written:
            os.sync()
        for row_id, tmp, target in written:
            try:
                os.replace(tmp, target)
                results[row_id] = None
            except OSError as exc:
                results[row_id] = TemporaryFailure(str(exc))
        if rows:
            try:
                _fsync_dir(self.path)
            except OSError as exc:  # not known to be durable: try again later (the files make it idempotent)
                results = {row_id: TemporaryFailure(str(exc)) for row_id in results}
        return results


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@dataclass
class SendReport:
    sent: int = 0
    failed: int = 0
    deferred: int = 0


def retry_delay(attempts: int) -> timedelta:
    """Back off 1, 2, 4 … minutes, at most an hour."""
    return timedelta(minutes=min(60, 2 ** max(0, attempts - 1)))


def send_queued(factory: sessionmaker[Session], transport: Transport, clock: Clock,
                max_attempts: int = 20) -> SendReport:
    """Deliver every queued row that is due, chunk by chunk; returns what happened."""
    report = SendReport()
    while True:
        with transaction(factory) as session:
            shared = session.get_bind().dialect.name == "postgresql"
            chunk = CHUNK_SHARED if shared else CHUNK
            rows = _due_rows(session, clock, chunk, claim=shared)
            if not rows:
                return report
            results = transport.deliver(rows)
            for row in rows:
                _settle(row, results.get(row.id), clock, max_attempts, report)
        if len(rows) < chunk:
            return report


def _due_rows(session: Session, clock: Clock, limit: int, claim: bool = False) -> list[models.Outbox]:
    """Queued rows that are due, oldest first; `claim`: lock them, skipping rows others hold."""
    stmt = (select(models.Outbox).where(models.Outbox.status == "queued",
                                         models.Outbox.next_attempt_at <= clock.now())
            .order_by(models.Outbox.id).limit(limit))
    if claim:
        stmt = stmt.with_for_update(skip_locked=True)
    return list(session.scalars(stmt))


def _settle(row: models.Outbox, error: Exception | None, clock: Clock, max_attempts: int,
            report: SendReport) -> None:
    now = clock.now()
    row.attempts += 1
    if error is None:
        row.status, row.sent_at, row.last_error = "sent", now, None
        report.sent += 1
        log.info("stage=send outbox=%d kind=%s decision=sent", row.id, row.kind)
        return
    row.last_error = str(error)[:2000]
    if isinstance(error, PermanentFailure) or row.attempts >= max_attempts:
        row.status = "failed"
        report.failed += 1
        log.error("stage=send outbox=%d kind=%s decision=failed error=%s", row.id, row.kind, row.last_error)
        return
    row.next_attempt_at = now + retry_delay(row.attempts)
    report.deferred += 1
    log.warning("stage=send outbox=%d kind=%s decision=deferred error=%s", row.id, row.kind, row.last_error)
