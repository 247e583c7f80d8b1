"""The ordered stages, and the one place that turns an unexpected error into quarantine.

parse -> filter -> thread -> classify -> commands -> store -> outbox, per raw message, a batch
of messages per transaction. The batch runs in one SAVEPOINT and is flushed once, at its end
(the ORM's unit of work per message was the largest cost). When a message breaks, that SAVEPOINT
is rolled back and the batch runs again in three parts: the messages before it together, it
alone in its own SAVEPOINT (where it is quarantined with its stage and error), the rest together.
Should the rest break again, its remainder runs one message per SAVEPOINT: a fault that breaks
every message costs each about two passes, never one pass per message before it. A failure of
the final flush, which names no message, runs every message in its own SAVEPOINT.
"""

from __future__ import annotations

import gc
import logging
import tomllib
import traceback
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.exc import DisconnectionError, InterfaceError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from mailticket.app import quarantine
from mailticket.app.staff import StaffReply
from mailticket.app.tickets import TicketWork
from mailticket.clock import Clock
from mailticket.config import Settings
from mailticket.core import classify, filter, identity, parse, sla, thread
from mailticket.db import models
from mailticket.db.session import transaction
from mailticket.errors import ConfigError, Quarantine
from mailticket.outgoing.outbox import Sender, queue
from mailticket.outgoing.render import Renderer, TicketView
from mailticket.store import meta, rawmail, tickets
from mailticket.types import Kind, Mail, Verdict

log = logging.getLogger("mailticket.pipeline")

# Failures of the machine rather than of the message (database locked or gone, disk full):
# never quarantine for these, retry the batch later.
TRANSIENT = (OperationalError, InterfaceError, DisconnectionError, OSError)
BATCH = 200  # messages per transaction: one fsync'd commit serves them all


@dataclass(frozen=True)
class Outcome:
    raw_id: int
    state: str  # ticket | kept | quarantined
    decision: str  # e.g. new-ticket, reply, auto_reply, quarantined
    token: str = ""
    category: str = ""


def _log_outcome(outcome: Outcome) -> None:
    log.info("stage=store raw=%d token=%s category=%s decision=%s", outcome.raw_id, outcome.token or "-",
             outcome.category or "-", outcome.decision)


HEAD_LIMIT = 256 * 1024  # bytes read of a message too big to parse whole: its header block is in them


def header_block(data: bytes, limit: int = HEAD_LIMIT) -> bytes:
    """Only the header block of a message too big to parse whole (its body is kept raw, unread)."""
    head = data[:limit]
    for blank in (b"\r\n\r\n", b"\n\n"):
        end = head.find(blank)
        if end >= 0:
            return head[:end] + blank
    return head + b"\n\n"


def load_rules(settings: Settings) -> classify.Rules:
    try:
        with open(settings.rules_path, "rb") as fh:
            data = tomllib.load(fh)
    except OSError as exc:
        raise ConfigError("classifier.rules", f"cannot read {settings.rules_path}: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(str(settings.rules_path), f"not valid TOML: {exc}") from None
    return classify.compile_rules(data, str(settings.rules_path))


class Pipeline:
    """Everything a message needs, built once: rules compiled, templates loaded, secret read."""

    def __init__(self, settings: Settings, factory: sessionmaker[Session], clock: Clock):
        self.settings = settings
        self.factory = factory
        self.clock = clock
        self.rules = load_rules(settings)
        self.renderer = Renderer.from_settings(settings)
        with transaction(factory) as session:
            key = meta.secret(session, settings.helpdesk.secret)
        helpdesk = settings.helpdesk
        self.sender = Sender(helpdesk.name, helpdesk.address, helpdesk.domain, key, helpdesk.tz)
        self.own_addresses = frozenset({helpdesk.address})
        self.staff_addresses = frozenset(p.email for p in settings.staff.members)
        self.coordinator_addresses = frozenset(p.email for p in settings.staff.coordinators)
        self._stage = ""
        self._maybe_copies: set[str] = set()
        self._small: dict[int, bytes] = {}  # bytes of the batch's small messages, until processed

    # -- batches ---------------------------------------------------------------------------

    def process_pending(self, only: list[int] | None = None) -> list[Outcome]:
        """Process raw messages still pending (or just `only`), oldest first, batch by batch."""
        outcomes: list[Outcome] = []
        while True:
            with transaction(self.factory) as session:
                ids = (rawmail.pending_raw_ids(session, BATCH) if only is None
                       else rawmail.claim_raw_ids(session, only[:BATCH]))
                if not ids:
                    return outcomes
                outcomes.extend(self._process_batch(session, ids))
            # The batch's ORM rows hold reference cycles; freeing them now, not after several batches
            # have piled up, keeps the heap (max RSS) about 8 MiB lower. Cheap: start-up is frozen.
            gc.collect()
            if only is not None:
                only = only[BATCH:]

    def _process_batch(self, session: Session, ids: list[int]) -> list[Outcome]:
        # one query for the batch instead of one per message: which may be second copies
        self._maybe_copies = rawmail.shared_message_ids(session, ids)
        rows = [(raw, data) for raw, data in rawmail.raw_rows(session, ids) if raw.state == "pending"]
        self._small = {raw.id: data for raw, data in rows if data is not None}  # process_one takes them
        raws = [raw for raw, _data in rows]
        return self._process_together(session, raws)

    def _process_together(self, session: Session, raws: list[models.RawMail],
                          retry: bool = False) -> list[Outcome]:
        """These messages in one SAVEPOINT, flushed once; on a failure, split as the module says
        (`retry`: this run is already a part of a split batch)."""
        if not raws:
            return []
        failed: models.RawMail | None = None
        try:
            with session.begin_nested():
                outcomes = []
                with session.no_autoflush:
                    for raw in raws:
                        failed = raw
                        outcomes.append(self.process_one(session, raw))
                    failed = None
        except TRANSIENT:
            raise  # the database or disk, not a message: the whole batch stays pending for later
        except Exception:  # noqa: BLE001 - split the batch; the message's own SAVEPOINT names the error
            if failed is None:
                log.warning("stage=store batch of %d failed to flush; processing one by one", len(raws))
                return [self._process_guarded(session, raw) for raw in raws]
            at = raws.index(failed)  # in order: a report before the replies that follow it
            done = self._process_together(session, raws[:at], retry=True)
            done.append(self._process_guarded(session, failed))
            if retry:
                return done + [self._process_guarded(session, raw) for raw in raws[at + 1:]]
            return done + self._process_together(session, raws[at + 1:], retry=True)
        for outcome in outcomes:
            _log_outcome(outcome)
        return outcomes

    def _process_guarded(self, session: Session, raw: models.RawMail) -> Outcome:
        try:
            with session.begin_nested(), session.no_autoflush:
                outcome = self.process_one(session, raw)
                self._stage = "store"
                session.flush()  # here, so that a row the database refuses is blamed on this message
        except TRANSIENT:
            raise  # the database or disk, not the message: the whole batch stays pending for later
        except Exception as exc:  # noqa: BLE001 - the one place that turns any error into quarantine
            stage = exc.stage if isinstance(exc, Quarantine) else self._stage
            reason = exc.reason if isinstance(exc, Quarantine) else f"{type(exc).__name__}: {exc}"
            quarantine.record(session, raw, stage, reason, traceback.format_exc(limit=8), self.clock.now())
            outcome = Outcome(raw.id, "quarantined", "quarantined")
            log.warning("stage=%s raw=%d decision=quarantined error=%s", stage, raw.id, reason[:200])
            return outcome
        _log_outcome(outcome)
        return outcome

    # -- one message -----------------------------------------------------------------------

    def process_one(self, session: Session, raw: models.RawMail) -> Outcome:
        now = self.clock.now()
        self._stage = "parse"
        oversize = raw.size > self.settings.helpdesk.max_message_size
        data = self._small.pop(raw.id, None)
        if data is None:
            data = rawmail.raw_bytes(session, raw.id, HEAD_LIMIT if oversize else None)
        mail = parse.parse(header_block(data) if oversize else data)
        del data  # the bytes stay in the database; only the parsed mail goes on
        self._stage = "filter"
        verdict = filter.judge(mail, self.own_addresses, self._spam_reason)
        self._stage = "thread"
        key = thread.thread_key(mail, self.settings.helpdesk.token_prefix, self.sender.secret)
        ticket, how = tickets.find_ticket(session, key)
        if verdict.kind is not Kind.REPORT:
            return self._not_a_report(session, raw, mail, verdict, ticket, now)
        copy_of = rawmail.copy_of(session, mail) if raw.message_id in self._maybe_copies else None
        if copy_of is not None:  # the same mail by another route: other trace headers, same message
            reason = f"another copy of raw message {copy_of}"
            rawmail.mark_raw(session, raw, mail, "kept", "duplicate", reason)
            return Outcome(raw.id, "kept", "duplicate")
        work = TicketWork(session, self, raw, mail, now, oversize)
        role = identity.role(mail, self.staff_addresses, self.coordinator_addresses,
                             self.settings.staff.require_authenticated, self.settings.staff.authserv_id)
        if ticket is None:
            return work.open_ticket(key)
        if role != identity.REPORTER:
            return StaffReply(work, ticket, role).apply()
        return work.follow_up(ticket, how)

    def _spam_reason(self, mail: Mail) -> str | None:
        return classify.spam_reason(mail.subject, mail.text, self.rules)

    def _not_a_report(self, session: Session, raw: models.RawMail, mail: Mail, verdict: Verdict,
                      ticket: models.Ticket | None, now: datetime) -> Outcome:
        """Keep what opens no ticket; a bounce or auto-reply in a ticket's thread is recorded there."""
        self._stage = "store"
        if ticket is not None and verdict.kind in (Kind.BOUNCE, Kind.AUTO_REPLY):
            tickets.add_received(session, ticket, raw.id, mail, verdict.kind.value, mail.text[:4000], now)
            rawmail.mark_raw(session, raw, mail, "ticket", verdict.kind.value, verdict.reason, ticket)
            return Outcome(raw.id, "ticket", f"{verdict.kind.value}-recorded", self.token(ticket.number))
        rawmail.mark_raw(session, raw, mail, "kept", verdict.kind.value, verdict.reason)
        return Outcome(raw.id, "kept", verdict.kind.value)

    # -- helpers shared with ticket work ---------------------------------------------------

    def token(self, number: int) -> str:
        return f"{self.settings.helpdesk.token_prefix}#{number}"

    def ticket_view(self, ticket: models.Ticket) -> TicketView:
        return TicketView(token=self.token(ticket.number), number=ticket.number, subject=ticket.subject,
                          category=ticket.category, reporter=ticket.reporter, status=ticket.status,
                          created_at=ticket.created_at, due_at=ticket.due_at, assignee=ticket.assignee,
                          reporter_name=ticket.reporter_name)

    def due(self, ticket: models.Ticket) -> datetime:
        """The ticket's due time on the SLA calendar, its paused time left out."""
        return sla.due(self.settings.calendar, ticket.created_at, self.settings.sla.targets[ticket.category],
                       timedelta(seconds=ticket.paused_seconds or 0))

    def queue(self, session: Session, out, ticket: models.Ticket | None, now: datetime) -> models.Outbox:
        self._stage = "outbox"
        return queue(session, self.sender, out, ticket, now)

    def stage(self, name: str) -> None:
        """Name the stage now running, for the quarantine record if it fails."""
        self._stage = name
