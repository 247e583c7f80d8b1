"""Scheduler (shell): each tick, SLA warnings and breaches, and the coordinators' daily digest.

Decisions are pure (sla.check, digest.digest_due, digest.build_digest); this module loads the
rows, hands the results to the outbox and records what was sent, in one transaction each, so
a warning, a breach or a day's digest goes out once, across restarts and instances (rows are
claimed with FOR UPDATE SKIP LOCKED where the database has it).
"""

from __future__ import annotations

import json
import logging
from dataclasses import replace
from datetime import date, datetime, timedelta

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from mailticket.app import autoclose, partner_reminders, report
from mailticket.app.apply import history, names_of, recent_messages, report_text, view
from mailticket.app.context import Context
from mailticket.core import digest, sla
from mailticket.core.digest import DigestTicket
from mailticket.core.draft import RECENT_MESSAGES
from mailticket.db import models
from mailticket.db.session import transaction
from mailticket.outgoing.outbox import queue
from mailticket.outgoing.render import Rendered
from mailticket.store import meta, tickets
from mailticket.types import KEPT_KINDS, Status, ticket_token

log = logging.getLogger("mailticket.scheduler")
# Listed with IN rather than NOT IN sla.CLOCK_STOPPED: the index on status serves an IN.
ALERTED = tuple(status.value for status in Status if sla.clock_runs(status))
DIGEST_KEY = "digest:last_day"
STATS_DAYS = 31
STATUS_FRESH = timedelta(hours=1)  # a daemon's status row older than this is a dead daemon's


class Scheduler:
    def __init__(self, ctx: Context):
        self.ctx = ctx
        self.settings = ctx.settings
        self.clock = ctx.clock

    def tick(self) -> None:
        now = self.clock.now()
        self.check_sla(now)
        self.send_digest_if_due(now)
        autoclose.check_waiting(self.ctx, now)  # [sla.auto_close]: remind, then close
        report.send_report_if_due(self.ctx, now)  # [report] day: last month's report
        partner_reminders.remind(self.ctx, now)  # [partners] remind_after: a partner stays silent

    # -- SLA ------------------------------------------------------------------------------------

    def check_sla(self, now: datetime) -> int:
        """Warn before the target and escalate at it; returns how many alerts were queued."""
        alerts = 0
        with transaction(self.ctx.factory) as session:
            for ticket_id, decision in self._sla_decisions(session, now):
                ticket = session.get(models.Ticket, ticket_id)
                if decision == sla.WARNING:
                    self._warn(session, ticket, now)
                else:
                    self._breach(session, ticket, now)
                alerts += 1
        return alerts

    _SLA_COLUMNS = (models.Ticket.id, models.Ticket.number, models.Ticket.status, models.Ticket.created_at,
                    models.Ticket.due_at, models.Ticket.category, models.Ticket.paused_seconds,
                    models.Ticket.warned_for_due, models.Ticket.breached_for_due)

    def _sla_decisions(self, session: Session, now: datetime) -> list[tuple[int, str]]:
        """(ticket id, WARNING or BREACH) for the tickets that need an alert now.

        Every ticket still counting is looked at, as plain rows streamed a few hundred at a time:
        with thousands open, loading them all as ORM objects each minute grew the daemon by
        ~17 MiB per 10,000. PostgreSQL: the rows are locked as read, skipping rows another
        instance holds, so two instances never alert for the same ticket.
        """
        t = models.Ticket
        stmt = (select(*self._SLA_COLUMNS)
                .where(t.status.in_(ALERTED), t.due_at.is_not(None),
                       or_(t.breached_for_due.is_(None), t.breached_for_due != t.due_at))
                .order_by(t.due_at).with_for_update(skip_locked=True)
                .execution_options(yield_per=500))
        decisions = []
        cal, warn_at = self.settings.calendar, self.settings.escalation_at
        for row in session.execute(stmt):
            decision = sla.check(self._sla_ticket(row), now, cal, warn_at)
            if decision is not None:
                decisions.append((row.id, decision))
        return decisions

    def _sla_ticket(self, row) -> sla.SlaTicket:
        return sla.SlaTicket(number=row.number, status=row.status, created_at=row.created_at,
                             due_at=row.due_at, target=self.settings.sla.targets[row.category],
                             paused=timedelta(seconds=row.paused_seconds or 0),
                             warned_for_due=row.warned_for_due, breached_for_due=row.breached_for_due)

    def _warn(self, session: Session, ticket: models.Ticket, now: datetime) -> None:
        ticket.warned_for_due = ticket.due_at
        rendered = self.ctx.renderer.warning(ticket=self._view(ticket), now=now, **self._context(ticket))
        self._alert(session, ticket, rendered, now, "warning")

    def _breach(self, session: Session, ticket: models.Ticket, now: datetime) -> None:
        ticket.breached_for_due = ticket.warned_for_due = ticket.due_at
        ticket.escalated = True
        if ticket.status != Status.ESCALATED:
            tickets.add_event(session, ticket, now, "status", "sla", f"{ticket.status} -> {Status.ESCALATED}")
            ticket.status = Status.ESCALATED.value
        rendered = self.ctx.renderer.breach(ticket=self._view(ticket), now=now, **self._context(ticket))
        self._alert(session, ticket, rendered, now, "breach")

    def _context(self, ticket: models.Ticket) -> dict:
        """What a coordinator needs to act from the alert: the report, the last messages, the history."""
        names = names_of(self.ctx, ticket)
        return {"history": history(ticket.events, names), "report": report_text(ticket),
                "recent": recent_messages(ticket, names, RECENT_MESSAGES)}

    def _alert(self, session: Session, ticket: models.Ticket, rendered: Rendered, now: datetime,
               kind: str) -> None:
        staff = (ticket.assignee,) if ticket.assignee else tuple(p.email for p in self.settings.staff.members)
        recipients = tuple(dict.fromkeys((*staff, *(p.email for p in self.settings.staff.coordinators))))
        local_due = ticket.due_at.astimezone(self.settings.helpdesk.tz).isoformat(timespec="minutes")
        tickets.add_event(session, ticket, now, kind, "sla", f"due {local_due}")
        if recipients:
            queue(session, self.ctx.sender, rendered.outgoing(recipients), ticket, now)
        log.info("stage=scheduler token=%s decision=%s", self._token(ticket.number), kind)

    # -- digest ---------------------------------------------------------------------------------

    def send_digest_if_due(self, now: datetime) -> bool:
        """Queue today's digest once the digest time has passed (once per day, catching up)."""
        tz = self.settings.helpdesk.tz
        with transaction(self.ctx.factory) as session:
            day = digest.digest_due(now, tz, self.settings.digest_time, self._last_digest_day(session))
            # the claim is atomic: of instances ticking together, one gets the day and sends
            if day is None or not meta.claim_later(session, DIGEST_KEY, day.isoformat()):
                return False
            self._queue_digest(session, now, day)
            return True

    def queue_digest(self, session: Session, now: datetime) -> Rendered:
        """`digest --send`: queue today's digest now and count today as sent."""
        day = now.astimezone(self.settings.helpdesk.tz).date()
        session.merge(models.Meta(key=DIGEST_KEY, value=day.isoformat()))
        return self._queue_digest(session, now, day)

    def _queue_digest(self, session: Session, now: datetime, day: date) -> Rendered:
        rendered = self.render_digest(session, now)
        recipients = tuple(p.email for p in self.settings.staff.coordinators)
        if recipients:
            queue(session, self.ctx.sender, rendered.outgoing(recipients), None, now)
        else:
            # a config choice (the embedded default has none), not a fault: INFO, not WARNING
            log.info("digest: no coordinators configured ([staff] coordinators), nothing sent")
        log.info("stage=scheduler decision=digest day=%s recipients=%d", day, len(recipients))
        return rendered

    def render_digest(self, session: Session, now: datetime) -> Rendered:
        since = now - timedelta(days=STATS_DAYS)
        t = models.Ticket
        columns = (t.number, t.subject, t.category, t.status, t.created_at, t.due_at, t.closed_at,
                   t.first_response_at, t.needs_review, t.assignee, t.paused_seconds, t.rating)
        rows = session.execute(select(*columns).where(  # plain rows: a light list with thousands open
            or_(t.status != Status.CLOSED, t.created_at >= since, t.closed_at >= since)))
        tickets = [self._digest_ticket(row) for row in rows]
        failed = session.scalar(select(func.count()).select_from(models.Outbox).where(
            models.Outbox.status == "failed", models.Outbox.created_at >= now - timedelta(days=1)))
        quarantined = session.scalar(select(func.count()).select_from(models.RawMail).where(
            models.RawMail.state == "quarantined"))
        context = digest.build_digest(tickets, failed, quarantined, now, self.settings.helpdesk.tz,
                                      self.settings.sla.targets, calendar=self.settings.calendar,
                                      refused=_refused_since(session, now - timedelta(days=1)),
                                      health=_inbox_health(session, now), survey=self.settings.survey.enabled)
        context = replace(context, partners=partner_reminders.digest_figures(session, self.ctx, since, now))
        return self.ctx.renderer.digest(context=context)

    def _digest_ticket(self, row) -> DigestTicket:
        return DigestTicket(number=row.number, token=self._token(row.number), subject=row.subject,
                            category=row.category, status=row.status, created_at=row.created_at,
                            due_at=row.due_at, closed_at=row.closed_at,
                            first_response_at=row.first_response_at,
                            needs_review=row.needs_review, assignee=row.assignee,
                            paused=timedelta(seconds=row.paused_seconds or 0), rating=row.rating)

    def _token(self, number: int) -> str:
        return ticket_token(self.settings.helpdesk.token_prefix, number)

    def _view(self, ticket: models.Ticket):
        return view(ticket, self.settings.helpdesk.token_prefix)

    def _last_digest_day(self, session: Session) -> date | None:
        row = session.get(models.Meta, DIGEST_KEY)
        return date.fromisoformat(row.value) if row else None


def _inbox_health(session: Session, now: datetime) -> digest.InboxHealth:
    """The last day's mail counts, and the last fetch and start time of the running daemons."""
    since = now - timedelta(days=1)
    raw, quarantine = models.RawMail, models.QuarantineEntry
    received, kept = session.execute(select(func.count(), func.count().filter(raw.kind.in_(KEPT_KINDS)))
                                     .where(raw.received_at >= since)).one()
    quarantined = session.scalar(select(func.count()).select_from(quarantine).where(
        quarantine.created_at >= since))
    fetches, starts = [], []
    for value in session.scalars(select(models.Meta.value).where(models.Meta.key.like("status:%"))):
        row = json.loads(value)
        updated = _moment(row.get("updated"))
        if updated is None or now - updated > STATUS_FRESH:  # a daemon that died without removing its row
            continue
        fetches.append(_moment(row.get("last_fetch")))
        if not row.get("stopped"):  # a cleanly stopped daemon's row: its fetch counts, it runs no more
            starts.append(_moment(row.get("started")))
    return digest.InboxHealth(last_fetch=max(filter(None, fetches), default=None),
                              started=min(filter(None, starts), default=None),
                              received=received, kept=kept, quarantined=quarantined or 0)


def _moment(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


def _refused_since(session: Session, since: datetime) -> list[tuple[str, str]]:
    """(recipient, the server's answer) of mail sent since `since` that some recipients refused."""
    outbox = models.Outbox
    stmt = select(outbox.refused).where(outbox.refused.is_not(None), outbox.created_at >= since)
    return [(address, answer) for refused in session.scalars(stmt)
            for address, answer in json.loads(refused).items()]
