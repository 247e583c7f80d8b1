"""The ordered stages, and the one place that turns an unexpected error into quarantine.

`STAGES` is the order, per raw message: parse -> filter -> thread -> classify -> commands -> decide
-> store -> outbox. One loop runs them and names the stage that failed. `decide` is pure (core/):
it turns what the earlier stages found into effects; `store` and `outbox` (app/apply.py) turn the
effects into rows and queued mail.

A batch of messages runs in one SAVEPOINT and is flushed once, at its end (the ORM's unit of work
per message was the largest cost). When a message breaks, that SAVEPOINT is rolled back and the
batch runs again in three parts: the messages before it together, it alone in its own SAVEPOINT
(where it is quarantined with its stage and error), the rest together. Should the rest break
again, its remainder runs one message per SAVEPOINT: a fault that breaks every message costs each
about two passes, never one pass per message before it. A failure of the final flush, which names
no message, runs every message in its own SAVEPOINT.
"""

from __future__ import annotations

import gc
import logging
import traceback
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from mailticket.app import apply, quarantine
from mailticket.app.context import Context
from mailticket.app.faults import is_transient
from mailticket.core import classify, filter, forward, identity, parse, partners, staff, thread
from mailticket.core.decide import BLOCKABLE, decide, needs_classification, reply_address
from mailticket.core.effects import Arrival, Decision, Role
from mailticket.db import models
from mailticket.db.session import transaction
from mailticket.errors import Quarantine
from mailticket.store import rawmail, tickets, trust
from mailticket.types import Kept, Kind, Mail, Verdict

log = logging.getLogger("mailticket.pipeline")

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


# -- one message, stage by stage --------------------------------------------------------------


@dataclass
class Work:
    """One message on its way through the stages; each stage fills in what it found."""

    raw: models.RawMail
    data: bytes | None  # a small message's bytes, read with its row; None: read them when parsing
    maybe_copy: bool  # another raw message has its Message-ID
    now: datetime
    mail: Mail | None = None
    oversize: bool = False
    scan: classify.Scan | None = None
    verdict: Verdict | None = None
    ticket: models.Ticket | None = None
    arrival: Arrival | None = None
    reply: staff.StaffText | None = None
    decision: Decision | None = None
    stored: apply.Stored | None = None
    force: Verdict | None = None  # `mail open ID`: a report after all (no filter, block or flood)


def _parse(ctx: Context, session: Session, w: Work) -> None:
    w.oversize = w.raw.size > ctx.settings.helpdesk.max_message_size
    data = w.data if w.data is not None else rawmail.raw_bytes(session, w.raw.id,
                                                               HEAD_LIMIT if w.oversize else None)
    w.data = None  # the bytes stay in the database; only the parsed mail goes on
    w.mail = parse.parse(header_block(data) if w.oversize else data)


def _scan(ctx: Context, w: Work) -> classify.Scan:
    """What the rules see of the mail, found once for the spam check and the classifier."""
    if w.scan is None:
        w.scan = classify.scan(w.mail.subject, w.mail.text, ctx.rules)
    return w.scan


def _filter(ctx: Context, session: Session, w: Work) -> None:
    def spam_reason(mail: Mail) -> str | None:
        signs = classify.signs(mail, ctx.rules, ctx.desk.trusted_link_domains, ctx.desk.own_addresses,
                               ctx.settings.helpdesk.tz)
        w.scan = replace(_scan(ctx, w), signs=signs)
        return classify.spam_reason(w.scan, ctx.rules)

    if w.force is not None:
        w.verdict = w.force
        return
    w.verdict = filter.judge(w.mail, ctx.desk.own_addresses, spam_reason, ctx.desk.trust_spam_headers,
                             ctx.settings.staff.authserv_id)


def _thread(ctx: Context, session: Session, w: Work) -> None:
    """Find the ticket the thread names, an earlier copy of this mail, and who wrote it."""
    mail, verdict = w.mail, w.verdict
    key = thread.thread_key(mail, ctx.desk.prefix, ctx.sender.secret)
    w.ticket, how = tickets.find_ticket(session, key)
    snapshot = tickets.snapshot(w.ticket) if w.ticket is not None else None
    report = verdict.kind is Kind.REPORT
    copy_of = rawmail.copy_of(session, mail) if report and w.maybe_copy else None
    role = Role.STRANGER
    if report:  # a new mail too: staff may ask (#daftar), forward a citizen's mail, or fail authentication
        people = ctx.settings.staff
        role = identity.role(mail, ctx.desk.member_addresses, ctx.desk.coordinator_addresses,
                             people.require_authenticated, people.authserv_id,
                             snapshot.reporter if snapshot else "", snapshot.cc if snapshot else (),
                             partners.with_partners(ctx.desk, snapshot))  # forwarded to them (#teruskan)
    w.arrival = Arrival(mail, verdict, w.now, snapshot, how, key.number, role, copy_of, w.oversize)
    if verdict.kind in BLOCKABLE and not role.steers and w.force is None:  # staff addresses are never blocked
        w.arrival = replace(w.arrival, blocked=trust.blocked_why(session, w.arrival.sender))
    if report and copy_of is None and role is not Role.STRANGER:
        w.arrival = replace(w.arrival, **_staff_lookups(ctx, session, w))


def _staff_lookups(ctx: Context, session: Session, w: Work) -> dict:
    """What a staff mail's decision needs from the store, looked up only when it asks for it."""
    arrival, found = w.arrival, {}
    if arrival.role is Role.UNVERIFIED:
        found["unverified_why"] = identity.why_unauthenticated(arrival.mail, ctx.settings.staff.authserv_id)
        found["explained_last_hour"] = tickets.mailed_since(session, "unverified", arrival.sender,
                                                            w.now - timedelta(hours=1))
        return found
    if not arrival.role.steers:
        return found
    if arrival.ticket is None and any(a.content_type == "message/rfc822" for a in arrival.mail.attachments):
        data = forward.attached_message(rawmail.raw_bytes(session, w.raw.id, None))
        found["attached_mail"] = parse.parse(data) if data else None
    return found


def _classify(ctx: Context, session: Session, w: Work) -> None:
    """Category and topics of a mail that may open a ticket, and how many its sender opened lately."""
    if not needs_classification(w.arrival):
        return
    scan = _scan(ctx, w)
    hour_ago = w.now - timedelta(hours=1)
    opened = tickets.tickets_opened_since(session, w.arrival.sender, hour_ago)
    category = classify.classify(scan, ctx.rules, ctx.desk.default_category)
    w.arrival = replace(w.arrival, classification=category, topics=classify.topics(scan, ctx.rules),
                        opened_last_hour=0 if w.force is not None else opened,
                        from_failed_dmarc=identity.dmarc_failed(w.mail, ctx.settings.staff.authserv_id))
    to = reply_address(w.arrival, ctx.desk)
    if to:  # backscatter: acks are counted by the address they go to
        acks = trust.acks_to_since(session, to, hour_ago)
        w.arrival = replace(w.arrival, acks_to_last_hour=acks)
    if w.arrival.opened_last_hour >= ctx.desk.max_tickets_per_hour:
        flooded = trust.kept_since(session, Kept.FLOOD.value, w.arrival.sender, hour_ago)
        w.arrival = replace(w.arrival, flooded_last_hour=flooded)


def _commands(ctx: Context, session: Session, w: Work) -> None:
    arrival = w.arrival
    if not arrival.role.steers or arrival.duplicate_of is not None:
        return
    w.reply = staff.read_reply(arrival.mail, ctx.desk)  # a new mail too: #daftar, #bantuan
    names = {c.name: c.arg for c in w.reply.commands}  # what the commands need from the store
    if "list" in names:
        open_tickets = tuple(tickets.snapshot(t) for t in tickets.open_for(session, arrival.sender))
        w.arrival = replace(w.arrival, open_tickets=open_tickets)
    if names.get("merge", "").isdigit():
        target = tickets.ticket_by_number(session, int(names["merge"]))
        w.arrival = replace(w.arrival, merge_target=tickets.snapshot(target) if target is not None else None)


def _decide(ctx: Context, session: Session, w: Work) -> None:
    w.decision = decide(w.arrival, ctx.desk, w.reply)


def _store(ctx: Context, session: Session, w: Work) -> None:
    w.stored = apply.store_effects(session, ctx, w.raw, w.mail, w.decision, w.ticket, w.now)


def _outbox(ctx: Context, session: Session, w: Work) -> None:
    apply.queue_mail(session, ctx, w.decision, w.stored, w.now)


Stage = Callable[[Context, Session, Work], None]
STAGES: tuple[tuple[str, Stage], ...] = (
    ("parse", _parse),
    ("filter", _filter),
    ("thread", _thread),
    ("classify", _classify),
    ("commands", _commands),
    ("decide", _decide),
    ("store", _store),
    ("outbox", _outbox),
)


def _outcome(ctx: Context, w: Work) -> Outcome:
    ticket = w.stored.ticket
    if w.decision.kept or ticket is None:
        return Outcome(w.raw.id, "kept", w.decision.label)
    return Outcome(w.raw.id, "ticket", w.decision.label, ctx.token(ticket.number), ticket.category)


# -- batches --------------------------------------------------------------------------------------


class Pipeline:
    """Runs STAGES over pending raw messages, a batch per transaction; see the module docstring."""

    def __init__(self, ctx: Context):
        self.ctx = ctx
        self.failed_stage = ""  # the stage that raised, named by the loop in process_one
        self._maybe_copies: set[str] = set()
        self._small: dict[int, bytes] = {}  # bytes of the batch's small messages, until processed
        self.forced: dict[int, Verdict] = {}  # raw id -> the verdict `mail open` gives it

    def process_pending(self, only: list[int] | None = None) -> list[Outcome]:
        """Process raw messages still pending (or just `only`), oldest first, batch by batch."""
        outcomes: list[Outcome] = []
        while True:
            with transaction(self.ctx.factory) as session:
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
        except Exception as exc:  # noqa: BLE001 - split the batch; the message's own SAVEPOINT names the error
            if is_transient(exc):
                raise  # the database or disk, not a message: the whole batch stays pending for later
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
                session.flush()  # here, so that a row the database refuses is blamed on this message
        except Exception as exc:  # noqa: BLE001 - the one place that turns any error into quarantine
            if is_transient(exc):
                raise  # the database or disk, not the message: the whole batch stays pending for later
            stage = exc.stage if isinstance(exc, Quarantine) else self.failed_stage
            reason = exc.reason if isinstance(exc, Quarantine) else f"{type(exc).__name__}: {exc}"
            trace = traceback.format_exc(limit=8)
            quarantine.record(session, raw, stage, reason, trace, self.ctx.clock.now())
            log.warning("stage=%s raw=%d decision=quarantined error=%s", stage, raw.id, reason[:200])
            return Outcome(raw.id, "quarantined", "quarantined")
        _log_outcome(outcome)
        return outcome

    def process_one(self, session: Session, raw: models.RawMail) -> Outcome:
        """Run STAGES over one message; the stage that raises is named in `failed_stage`."""
        w = Work(raw, self._small.pop(raw.id, None), raw.message_id in self._maybe_copies,
                 self.ctx.clock.now())
        w.force = self.forced.get(raw.id)
        for name, stage in STAGES:
            try:
                stage(self.ctx, session, w)
            except BaseException:
                self.failed_stage = name
                raise
        self.failed_stage = "store"  # what can still fail after the stages is the flush
        return _outcome(self.ctx, w)
