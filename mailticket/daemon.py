"""The run loop: fetch -> keep raw (commit) -> mark done at the source -> pipeline -> send.

`App` wires one configuration to its database, pipeline and transport; `ingest` and
`run_once` drain their sources until nothing is left; `run` repeats until SIGTERM/SIGINT.
"""

from __future__ import annotations

import logging
import signal
import sys
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import cached_property

from . import store
from .clock import Clock, SystemClock
from .config import Settings
from .db.session import ensure_schema, make_engine, session_factory, transaction
from .fetch import MaildirInbox, read_paths
from .pipeline import Outcome, Pipeline
from .send import DirectoryTransport, SendReport, Transport, send_queued
from .types import RawMail

log = logging.getLogger("mailticket.daemon")
BATCH_MESSAGES = 200
BATCH_BYTES = 16 * 1024 * 1024


@dataclass
class Totals:
    received: int = 0
    new: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)

    def add(self, outcomes: list[Outcome]) -> None:
        for outcome in outcomes:
            self.outcomes[outcome.decision] = self.outcomes.get(outcome.decision, 0) + 1


class App:
    def __init__(self, settings: Settings, clock: Clock | None = None):
        self.settings = settings
        self.clock = clock or SystemClock()
        self.engine = make_engine(settings.database_url)
        ensure_schema(self.engine)
        self.factory = session_factory(self.engine)

    @cached_property
    def pipeline(self) -> Pipeline:
        return Pipeline(self.settings, self.factory, self.clock)

    @cached_property
    def transport(self) -> Transport:
        if self.settings.smtp.kind == "directory":
            return DirectoryTransport(self.settings.smtp.path)
        from .smtp import SmtpTransport

        return SmtpTransport(self.settings.smtp)

    def keep(self, raws: list[RawMail]) -> int:
        """Store raw bytes and commit: nothing else happens to a message before this."""
        with transaction(self.factory) as session:
            return store.keep_raw(session, raws, self.clock.now())

    def process(self, totals: Totals, progress=None) -> None:
        outcomes = self.pipeline.process_pending()
        totals.add(outcomes)
        if progress:
            progress(len(outcomes))

    def send(self) -> SendReport:
        return send_queued(self.factory, self.transport, self.clock)

    # -- drains -------------------------------------------------------------------------------

    def ingest(self, paths: Iterable[str], deliver: bool = True, progress=None) -> Totals:
        totals = Totals()
        self.process(totals, progress)  # whatever an earlier, interrupted run left pending
        for batch in batches(read_paths(paths)):
            totals.received += len(batch)
            totals.new += self.keep(batch)
            self.process(totals, progress)
        if deliver:
            self.send()
        return totals

    def run_once(self) -> Totals:
        totals = Totals()
        self.process(totals)
        if self.settings.inbox.kind == "maildir":
            self._drain_maildir(totals)
        else:
            from .imap import drain_imap

            drain_imap(self, totals)
        self.send()
        return totals

    def _drain_maildir(self, totals: Totals) -> None:
        inbox = MaildirInbox(self.settings.inbox.path)
        for batch in batches(inbox.read_all()):
            totals.received += len(batch)
            totals.new += self.keep(batch)
            inbox.mark_done(raw.ref for raw in batch)
            self.process(totals)

    def run(self, stop: threading.Event | None = None) -> None:
        """Poll the inbox until stopped; a signal lets the message in hand finish."""
        stop = stop or install_stop_signals()
        interval = self.settings.inbox.poll_interval.total_seconds()
        log.info("daemon started: inbox=%s database=%s", self.settings.inbox.kind,
                 self.engine.url.render_as_string(hide_password=True))
        while not stop.is_set():
            totals = self.run_once()
            if totals.received:
                log.info("cycle: received=%d new=%d %s", totals.received, totals.new, totals.outcomes)
            stop.wait(interval)
        log.info("daemon stopped")


def install_stop_signals() -> threading.Event:
    stop = threading.Event()

    def _stop(signum, _frame):
        log.info("signal %s: finishing the message in hand, then stopping", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    return stop


def batches(raws: Iterable[RawMail]) -> Iterator[list[RawMail]]:
    """Group messages so that one commit serves many, bounded in count and bytes."""
    batch: list[RawMail] = []
    size = 0
    for raw in raws:
        batch.append(raw)
        size += len(raw.data)
        if len(batch) >= BATCH_MESSAGES or size >= BATCH_BYTES:
            yield batch
            batch, size = [], 0
    if batch:
        yield batch


def stderr_is_terminal() -> bool:
    return sys.stderr.isatty()
