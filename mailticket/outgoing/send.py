"""Stage `send` (shell): deliver committed outbox rows through a transport, each row once.

A row is marked sent, durably, as soon as the server accepted it and before the next one goes: a
crash can repeat at most the one mail in hand (its Message-ID, fixed when it was queued, lets the
receiver see the repeat). The transport answers row by row through a `settle` callback, one SMTP
connection serving a whole chunk; each answer is its own small commit. The directory transport is
idempotent (one file per row, written atomically), so its chunk is settled in one commit.

On PostgreSQL each row is claimed (FOR UPDATE SKIP LOCKED) in the transaction that delivers and
marks it, so instances sharing the database each send different mail.

A server that refuses any more mail for now (Gmail's daily sending limit, 421 4.7.0, 454) pauses
the whole queue: nothing is marked failed, the rows wait until the pause ends (`Throttled`).
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import Protocol

from sqlalchemy import Connection, select, update
from sqlalchemy.orm import Session, sessionmaker

from mailticket.clock import Clock
from mailticket.db import models
from mailticket.db.session import transaction
from mailticket.outgoing.fill import deliverable, fill_or_refuse, runs
from mailticket.store import meta
from mailticket.store.meta import SEND_PAUSED_UNTIL

log = logging.getLogger("mailticket.send")
CHUNK = 200  # rows per read and per SMTP connection
CHUNK_SHARED = 20  # PostgreSQL: rows per SMTP connection, each claimed on its own
THROTTLE_PAUSE = timedelta(minutes=5)


class TemporaryFailure(Exception):
    """Try again later (network trouble, 4xx)."""


class PermanentFailure(Exception):
    """Never try again (5xx): the row is marked failed with this text (and who was refused)."""

    def __init__(self, text: str, refused: dict[str, str] | None = None):
        super().__init__(text)
        self.refused = refused or {}


class PartlyRefused(Exception):
    """Accepted for the other recipients, refused for these (address -> answer): the row is sent."""

    def __init__(self, refused: dict[str, str]):
        super().__init__("; ".join(f"{address}: {answer}" for address, answer in refused.items()))
        self.refused = refused


class Throttled(TemporaryFailure):
    """The server takes no more mail from us for now: the whole queue waits; never a failure."""

    def __init__(self, text: str, daily: bool):
        super().__init__(text)
        self.daily = daily

    def resume_at(self, now: datetime) -> datetime:
        """A daily limit lasts until the next day (UTC midnight); throttling a few minutes."""
        if self.daily:
            return datetime.combine(now.date() + timedelta(days=1), time(0), tzinfo=now.tzinfo)
        return now + THROTTLE_PAUSE


Settle = Callable[[models.Outbox, Exception | None], None]
Results = dict[int, Exception | None]  # row id -> None (accepted) or the failure


class Transport(Protocol):
    def deliver(self, rows: Iterable[models.Outbox], settle: Settle | None = None) -> Results:
        """Deliver rows; call `settle(row, None or the failure)` right after each answer; return them all."""


class DirectoryTransport:
    """Writes each mail as `<row id>-<kind>.eml` into a folder (the embedded default).

    A chunk's files are written under temporary names, made durable by one sync(2), then renamed
    into place and the folder synced: a reader never sees half a file, and a file that is there
    survives a power cut. One sync for the chunk instead of an fsync per file (about 0.25 ms each
    on this kind of disk, most of the delivery time); sync(2) covers every filesystem, which is fine
    for this embedded transport (production mail goes out by SMTP).
    """

    idempotent = True  # a file already there is not written twice: one commit per chunk is enough

    def __init__(self, path: Path):
        self.path = path
        path.mkdir(parents=True, exist_ok=True)

    def file_for(self, row: models.Outbox) -> Path:
        return self.path / f"{row.id:08d}-{row.kind}.eml"

    def deliver(self, rows: Iterable[models.Outbox], settle: Settle | None = None) -> Results:
        rows = list(rows)
        results = self._write(rows)
        for row in rows:
            if settle is not None:
                settle(row, results[row.id])
        return results

    def _write(self, rows: list[models.Outbox]) -> dict[int, Exception | None]:
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
    refused: list[tuple[int, str, str]] = field(default_factory=list)  # (row id, address, answer)
    throttled: Throttled | None = None  # the server paused the queue (this run)
    paused_until: datetime | None = None


def retry_delay(attempts: int) -> timedelta:
    """Back off 1, 2, 4 … minutes, at most an hour."""
    return timedelta(minutes=min(60, 2 ** max(0, attempts - 1)))


def send_queued(factory: sessionmaker[Session], transport: Transport, clock: Clock,
                max_attempts: int = 20) -> SendReport:
    """Deliver every queued row that is due, chunk by chunk; returns what happened."""
    report = SendReport()
    report.paused_until = _paused_until(factory, clock)
    if report.paused_until is not None:
        return report
    while True:
        chunk = _chunk_for(factory, clock, transport, max_attempts, report)
        try:
            for rows in chunk.runs():
                transport.deliver(rows, chunk.settle)
                if report.throttled is not None:
                    break
        finally:
            chunk.close()
        if report.throttled is not None:
            report.paused_until = _pause(factory, report.throttled, clock.now())
            return report
        if chunk.count < chunk.limit:
            return report


def _chunk_for(factory: sessionmaker[Session], clock: Clock, transport: Transport, max_attempts: int,
               report: SendReport) -> _Chunk:
    shared = factory.kw["bind"].dialect.name == "postgresql"
    per_row = not getattr(transport, "idempotent", False)
    return (_Claims if shared else _Chunk)(factory, clock, max_attempts, report, per_row)


def _due(clock: Clock):
    return (select(models.Outbox).where(models.Outbox.status == "queued",
                                        models.Outbox.next_attempt_at <= clock.now())
            .order_by(models.Outbox.id))


class _Chunk:
    """Rows read in one short transaction; each answer committed on its own (`per_row`) or all at
    the end. SQLite: one writer (the daemon lock), and no write transaction held while the server
    thinks, so readers and the pipeline never wait on a slow SMTP server. The answers share one
    connection: an UPDATE and a commit per row cost about 0.25 ms, a session each three times that."""

    limit = CHUNK

    def __init__(self, factory: sessionmaker[Session], clock: Clock, max_attempts: int, report: SendReport,
                 per_row: bool):
        self.factory, self.clock, self.max_attempts, self.report = factory, clock, max_attempts, report
        self.per_row = per_row
        self.count = 0
        self.unsaved: list[tuple[int, dict]] = []
        self.conn: Connection | None = None

    def runs(self) -> Iterator[list[models.Outbox]]:
        """The chunk's rows, read once, in runs to deliver (outgoing.fill.runs puts files in)."""
        with transaction(self.factory) as session:
            rows = list(session.scalars(_due(self.clock).limit(self.limit)))
        self.count = len(rows)
        return runs(rows, self._fill)

    def _fill(self, row: models.Outbox) -> bool:
        with transaction(self.factory) as session:
            return fill_or_refuse(session, row, self.refuse)

    def refuse(self, row: models.Outbox, error: Exception) -> None:
        self.settle(row, PermanentFailure(str(error)))

    def settle(self, row: models.Outbox, error: Exception | None) -> None:
        values = _settle(row, error, self.clock.now(), self.max_attempts, self.report)
        self.unsaved.append((row.id, values))
        if self.per_row:
            self.save()

    def save(self) -> None:
        if not self.unsaved:
            return
        self.conn = self.conn or self.factory.kw["bind"].connect()
        try:
            for row_id, values in self.unsaved:
                self.conn.execute(update(models.Outbox).where(models.Outbox.id == row_id).values(**values))
            self.conn.commit()
        except BaseException:
            self.conn.rollback()
            raise
        self.unsaved.clear()

    def close(self) -> None:
        try:
            self.save()
        finally:
            if self.conn is not None:
                self.conn.close()
                self.conn = None


class _Claims:
    """PostgreSQL: rows claimed (FOR UPDATE SKIP LOCKED) by the transaction that delivers and marks
    them, so other instances skip them meanwhile and a crash releases them at once. Each row is
    claimed and committed on its own (`per_row`); for an idempotent transport, the chunk together."""

    limit = CHUNK_SHARED

    def __init__(self, factory: sessionmaker[Session], clock: Clock, max_attempts: int, report: SendReport,
                 per_row: bool):
        self.factory, self.clock, self.max_attempts, self.report = factory, clock, max_attempts, report
        self.per_row = per_row
        self.count = 0
        self.session: Session | None = None

    def runs(self) -> Iterator[Iterable[models.Outbox]]:
        if self.per_row:
            yield self._one_by_one()
            return
        rows, more = self._claim(self.limit)
        self.count = self.limit if more else len(rows)  # cut before a mail with files: come back
        yield rows

    def _one_by_one(self) -> Iterator[models.Outbox]:
        while self.count < self.limit:
            claimed, more = self._claim(1)
            if not claimed:
                if more:  # its file was gone: refused, and committed with the next claim
                    self.count += 1
                    continue
                return
            self.count += 1
            yield claimed[0]  # settled (and committed) before the next is claimed

    def _claim(self, limit: int) -> tuple[list[models.Outbox], bool]:
        """Claimed rows to deliver now, and whether some were left for later (outgoing.fill)."""
        self.close()
        self.session = self.factory()
        self.session.begin()
        rows = list(self.session.scalars(_due(self.clock).limit(limit).with_for_update(skip_locked=True)))
        return deliverable(self.session, rows, self.refuse)  # files put in (outgoing.fill)

    def refuse(self, row: models.Outbox, error: Exception) -> None:
        for name, value in _settle(row, PermanentFailure(str(error)), self.clock.now(), self.max_attempts,
                                   self.report).items():
            setattr(row, name, value)  # committed with the claim

    def settle(self, row: models.Outbox, error: Exception | None) -> None:
        for name, value in _settle(row, error, self.clock.now(), self.max_attempts, self.report).items():
            setattr(row, name, value)
        if self.per_row:
            self.close()

    def close(self) -> None:
        """Commit what was settled (rows claimed but not answered stay as they were) and end the claim."""
        if self.session is not None:
            session, self.session = self.session, None
            try:
                session.commit()
            finally:
                session.close()


def _settle(row: models.Outbox, error: Exception | None, now: datetime, max_attempts: int,
            report: SendReport) -> dict:
    """What the answer means for the row (the columns to set), counted and logged."""
    refused = getattr(error, "refused", {})
    report.refused += [(row.id, address, answer) for address, answer in refused.items()]
    if error is None or isinstance(error, PartlyRefused):
        report.sent += 1
        log.info("stage=send outbox=%d kind=%s decision=sent%s", row.id, row.kind,
                 f" refused={error}" if error else "")
        return {"status": "sent", "sent_at": now, "attempts": row.attempts + 1, "last_error": None,
                "refused": json.dumps(refused, ensure_ascii=False) if refused else None}
    text = str(error)[:2000]
    if isinstance(error, Throttled):  # the server's limit, not this mail's fault: no attempt counted
        report.throttled = report.throttled or error
        report.deferred += 1
        return {"last_error": text, "next_attempt_at": error.resume_at(now)}
    attempts = row.attempts + 1
    if isinstance(error, PermanentFailure) or attempts >= max_attempts:
        report.failed += 1
        log.error("stage=send outbox=%d kind=%s decision=failed error=%s", row.id, row.kind, text)
        return {"status": "failed", "attempts": attempts, "last_error": text,
                "refused": json.dumps(refused, ensure_ascii=False) if refused else None}
    report.deferred += 1
    log.warning("stage=send outbox=%d kind=%s decision=deferred error=%s", row.id, row.kind, text)
    return {"attempts": attempts, "last_error": text, "next_attempt_at": now + retry_delay(attempts)}


def _paused_until(factory: sessionmaker[Session], clock: Clock) -> datetime | None:
    """When a throttling server asked us to wait and the wait is not over: until when."""
    with factory() as session:
        row = session.get(models.Meta, SEND_PAUSED_UNTIL)
    if row is None:
        return None
    until = datetime.fromisoformat(row.value)
    return until if until > clock.now() else None


def _pause(factory: sessionmaker[Session], throttled: Throttled, now: datetime) -> datetime:
    """Pause the whole queue; logged once per pause (the next runs skip sending until then)."""
    until = throttled.resume_at(now)
    with transaction(factory) as session:
        meta.put(session, SEND_PAUSED_UNTIL, until.isoformat())  # instances may pause at once
    log.error("stage=send the server takes no more mail until %s: %s; the queue waits, nothing failed",
              until.isoformat(timespec="minutes"), throttled)
    return until
