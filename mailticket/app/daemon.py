"""The run loop: fetch (keep raw, commit, mark at the source) -> pipeline -> send -> scheduler.

`App` wires one configuration to its database, inbox, pipeline and transport. `ingest` and
`run_once` drain their sources until nothing is left; `run` repeats, waiting in IMAP IDLE (or
polling) between cycles, until SIGTERM/SIGINT, which lets the message in hand finish.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property

from mailticket.app.context import Context
from mailticket.app.context import build as build_context
from mailticket.app.faults import cause_line, is_transient, store_location
from mailticket.app.pipeline import Outcome, Pipeline
from mailticket.app.scheduler import Scheduler
from mailticket.clock import Clock, SystemClock
from mailticket.config import Settings
from mailticket.db import models
from mailticket.db.session import (
    DB_ERRORS,
    db_error_line,
    ensure_schema,
    make_engine,
    session_factory,
    transaction,
    wait_for_database,
)
from mailticket.errors import SourceUnavailable
from mailticket.inbox import files as fetch
from mailticket.inbox.oauth import token_provider
from mailticket.outgoing.outbox import queue
from mailticket.outgoing.refusals import tell_coordinators
from mailticket.outgoing.send import DirectoryTransport, SendReport, Transport, send_queued
from mailticket.store import meta
from mailticket.store.fetchstate import KeepSink
from mailticket.store.lease import InboxLease

log = logging.getLogger("mailticket.daemon")
HEARTBEAT = 300.0  # seconds between heartbeat log lines
ERROR_PAUSE = 5.0  # seconds to wait after a failed cycle before the next
STANDBY_PAUSE = 5.0  # a stand-by tries the inbox lease at least this often (takeover well within 15 s)
TICK = 60.0  # seconds: the longest wait between two cycles (SLA checks, digest time)


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
        self.last_send: datetime | None = None
        self.once = False  # run --once: give up on an unreachable inbox sooner

    @cached_property
    def context(self) -> Context:
        """Rules, templates and the Message-ID key, compiled and read once (a broken one stops start-up)."""
        return build_context(self.settings, self.factory, self.clock)

    @cached_property
    def pipeline(self) -> Pipeline:
        return Pipeline(self.context)

    @cached_property
    def transport(self) -> Transport:
        smtp, inbox = self.settings.smtp, self.settings.inbox
        if smtp.kind == "directory":
            return DirectoryTransport(smtp.path)
        from mailticket.outgoing.smtp import SmtpTransport

        transport = SmtpTransport(smtp, token_provider=token_provider(smtp.oauth2_token_command,
                                                                      smtp.oauth2_token_file))
        if smtp.sent_folder and inbox.kind == "imap":
            from mailticket.outgoing.sent_copies import SentCopies

            return SentCopies(transport, inbox, smtp.sent_folder, self._imap_token)
        return transport

    @cached_property
    def _imap_token(self):
        return token_provider(self.settings.inbox.oauth2_token_command, self.settings.inbox.oauth2_token_file)

    @cached_property
    def sink(self) -> KeepSink:
        """Where sources keep raw mail and their checkpoint; they get its methods, not the database."""
        return KeepSink(self.factory, self.clock)

    @cached_property
    def inbox(self):
        """The configured inbox: fetch_new(stop), wait(timeout, stop), close(), state, last_ok."""
        if self.settings.inbox.kind == "maildir":
            return fetch.MaildirSource(self.settings.inbox, self.sink.keep, self.clock)
        from mailticket.inbox.imap import ImapInbox

        retry_for = 30.0 if self.once else 300.0
        return ImapInbox(self.settings.inbox, self.sink.keep, self.sink.checkpoint, self.clock,
                         retry_for=retry_for, token_provider=self._imap_token)

    @cached_property
    def lease(self) -> InboxLease:
        """Whether this instance reads the inbox (PostgreSQL: one reader per mailbox; SQLite: always)."""
        return InboxLease(self.engine, self.inbox.source)

    def process(self, totals: Totals, progress=None) -> None:
        outcomes = self.pipeline.process_pending()
        totals.add(outcomes)
        if progress:
            progress(len(outcomes))

    def send(self) -> SendReport:
        report = send_queued(self.factory, self.transport, self.clock)
        if report.sent or report.failed:
            self.last_send = self.clock.now()
        # refused staff addresses, a paused queue: the coordinators are told once each
        tell_coordinators(self.factory, self.context.renderer, self.context.sender, self.settings.staff,
                          report, self.clock.now())
        return report

    # -- drains ---------------------------------------------------------------------------------

    def ingest(self, paths: Iterable[str], deliver: bool = True, progress=None) -> Totals:
        totals = Totals()
        self.process(totals, progress)  # whatever an earlier, interrupted run left pending
        for received, new in fetch.PathSource(paths, self.sink.keep).keep_batches():
            totals.received += received
            totals.new += new
            self.process(totals, progress)
        if deliver:
            self.send()
        return totals

    def alert_coordinators(self, stalled: bool, last_ok: datetime, now: datetime) -> None:
        recipients = tuple(p.email for p in self.settings.staff.coordinators)
        if not recipients:
            return
        rendered = self.context.renderer.watchdog(stalled=stalled, source=self.inbox.source, last_ok=last_ok,
                                                   now=now)
        with transaction(self.factory) as session:
            queue(session, self.context.sender, rendered.outgoing(recipients), None, now)
        self.send()

    @cached_property
    def scheduler(self) -> Scheduler:
        return Scheduler(self.context)

    def run_once(self, stop: threading.Event | None = None) -> Totals:
        """One cycle: what is pending, what is new in the inbox, SLA and digest, then send."""
        totals = Totals()
        self.process(totals)
        if self.lease.acquire():
            totals.new += self.inbox.fetch_new(stop)
            self.process(totals)
        self.scheduler.tick()
        self.send()
        return totals

    def run(self, stop: threading.Event | None = None) -> None:
        Daemon(self, stop or install_stop_signals()).loop()


class Daemon:
    """The long-running loop around App.run_once, with heartbeat, status and error pauses."""

    def __init__(self, app: App, stop: threading.Event):
        self.app, self.stop = app, stop
        self.started = app.clock.now()
        self.next_heartbeat = 0.0
        self.stalled = False
        self.reader_since: datetime | None = None  # when this instance became the inbox reader

    def loop(self) -> None:
        settings = self.app.settings
        log.info("daemon started: inbox=%s database=%s", self.app.inbox.source,
                 self.app.engine.url.render_as_string(hide_password=True))
        if hasattr(self.app.inbox, "on_state"):  # an IMAP outage shows in `status` while it retries
            self.app.inbox.on_state = self.report
        try:
            while not self.stop.is_set():
                # the SLA check runs at least every minute, even when no mail arrives
                pause = min(settings.inbox.poll_interval.total_seconds(), TICK)
                if not self.cycle():
                    pause = ERROR_PAUSE
                if not self.app.lease.held():
                    pause = min(pause, STANDBY_PAUSE)
                self.report()
                self.watch()
                if not self.stop.is_set():
                    self.app.inbox.wait(pause, self.stop)
        finally:
            self.app.lease.release()
            self.app.inbox.close()
            self.forget_status()
            log.info("daemon stopped")

    def cycle(self) -> bool:
        """One run_once; an error is logged and the loop goes on (True when it went well)."""
        try:
            totals = self.app.run_once(self.stop)
        except SourceUnavailable as exc:
            log.error("inbox unavailable: %s; trying again in %.0fs", exc, ERROR_PAUSE)
            return False
        except Exception as exc:  # noqa: BLE001 - the daemon must outlive any one failed cycle
            if not is_transient(exc):
                log.exception("cycle failed; trying again in %.0fs", ERROR_PAUSE)
                return False
            # the store (disk full, read-only, locked, connection lost): named in one line, work stays pending
            where = store_location(self.app.settings.database_url)
            log.error("database unavailable: %s; retrying with backoff", cause_line(exc, where))
            wait_for_database(self.app.engine, self.stop)
            return False
        if totals.outcomes:
            log.info("cycle: new=%d %s", totals.new, totals.outcomes)
        return True

    def report(self) -> None:
        """Write the status row other processes read (`mailticket status`); log a heartbeat."""
        data = status_row(self.app, self.started)
        try:
            with transaction(self.app.factory) as session:
                session.merge(models.Meta(key=f"status:{data['host']}:{data['pid']}", value=json.dumps(data)))
        except DB_ERRORS as exc:
            log.warning("could not write the status row: %s", db_error_line(exc))
        except Exception:  # noqa: BLE001 - status is best effort; the next cycle tries again
            log.warning("could not write the status row", exc_info=True)
        if time.monotonic() >= self.next_heartbeat:
            self.next_heartbeat = time.monotonic() + HEARTBEAT
            log.info("heartbeat: inbox=%s last_fetch=%s last_send=%s", data["inbox_state"],
                     data["last_fetch"] or "-", data["last_send"] or "-")


    def forget_status(self) -> None:
        """A daemon that stops takes its status row with it, and leaves one `stopped` row per host
        (so that `status` says when it stopped rather than that nothing ever ran)."""
        host = socket.gethostname()
        try:
            with transaction(self.app.factory) as session:
                row = session.get(models.Meta, f"status:{host}:{os.getpid()}")
                if row is not None:
                    session.delete(row)
                last = {**status_row(self.app, self.started), "stopped": _iso(self.app.clock.now())}
                meta.put(session, f"status:{host}:stopped", json.dumps(last))
        except DB_ERRORS as exc:
            log.warning("could not remove the status row: %s", db_error_line(exc))

    def watch(self) -> None:
        """Tell the coordinators once when the inbox has not been read for too long, once when it is."""
        now = self.app.clock.now()
        if not self.app.lease.held():  # a stand-by reads nothing; the reader watches the inbox
            self.reader_since = None
            return
        self.reader_since = self.reader_since or now
        last = self.app.inbox.last_ok or self.reader_since
        stalled = now - last > self.app.settings.inbox.stall_alert
        if stalled == self.stalled:
            return
        self.stalled = stalled
        if stalled:
            log.error("watchdog: no successful fetch from %s since %s", self.app.inbox.source, _iso(last))
        else:
            log.info("watchdog: %s reads again", self.app.inbox.source)
        try:
            self.app.alert_coordinators(stalled, last, now)
        except Exception:  # noqa: BLE001 - the alert is best effort; the log line above stands
            log.warning("watchdog: could not queue the alert", exc_info=True)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat(timespec="seconds") if value else None


def status_row(app: App, started: datetime) -> dict:
    inbox, settings = app.inbox, app.settings.inbox
    try:
        reader = app.lease.held()
    except Exception:  # noqa: BLE001 - the database may be away; the row says what it can
        reader = None
    return {"host": socket.gethostname(), "pid": os.getpid(), "started": _iso(started),
            "updated": _iso(app.clock.now()), "inbox": inbox.source, "inbox_state": inbox.state,
            "last_fetch": _iso(inbox.last_ok), "last_send": _iso(app.last_send),
            "inbox_since": _iso(getattr(inbox, "state_since", None)),
            "inbox_error": getattr(inbox, "last_error", ""), "inbox_alert": getattr(inbox, "alert", ""),
            "reader": reader, "poll_interval": settings.poll_interval.total_seconds(),
            "stall_alert": settings.stall_alert.total_seconds()}


def install_stop_signals() -> threading.Event:
    stop = threading.Event()

    def _stop(signum, _frame):
        log.info("signal %s: finishing the message in hand, then stopping", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    return stop
