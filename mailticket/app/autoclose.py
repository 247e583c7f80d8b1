"""Auto-close (shell): each tick, remind or close the tickets waiting too long for their reporter.

The decision is core/autoclose.py. Each ticket is handled in the scheduler's transaction with its
row locked (FOR UPDATE SKIP LOCKED on PostgreSQL: two instances never take the same ticket); the
reminder is recorded in `reminded_for_waiting` and the close changes the status, so each happens
once, across restarts and instances.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import select

from mailticket.app.apply import view
from mailticket.app.context import Context
from mailticket.core import autoclose, sla
from mailticket.core.filter import is_unanswerable
from mailticket.db import models
from mailticket.db.session import transaction
from mailticket.outgoing.outbox import queue
from mailticket.outgoing.render import Rendered
from mailticket.store import tickets
from mailticket.types import Status

log = logging.getLogger("mailticket.scheduler")


def check_waiting(ctx: Context, now: datetime) -> int:
    """Remind or close what is due; returns how many tickets were handled."""
    config = ctx.settings.auto_close
    if config.after is None:
        return 0
    cal, done = ctx.settings.calendar, 0
    t = models.Ticket
    with transaction(ctx.factory) as session:
        stmt = (select(t).where(t.status == Status.WAITING.value, t.waiting_since.is_not(None))
                .order_by(t.id).with_for_update(skip_locked=True))
        for ticket in session.scalars(stmt).all():
            decision = autoclose.check(ticket.waiting_since, ticket.reminded_for_waiting, now, cal,
                                       config.after, config.remind_at)
            if decision == autoclose.CLOSE:
                _close(session, ctx, ticket, now)
            elif decision == autoclose.REMIND:
                _remind(session, ctx, ticket, now)
            done += decision is not None
    return done


def _remind(session, ctx: Context, ticket: models.Ticket, now: datetime) -> None:
    config = ctx.settings.auto_close
    ticket.reminded_for_waiting = ticket.waiting_since
    close = autoclose.close_at(ctx.settings.calendar, ticket.waiting_since, config.after)
    tickets.add_event(session, ticket, now, "reminded", "sla", f"no answer: closed at {close.isoformat()}")
    rendered = ctx.renderer.reminder(ticket=view(ticket, ctx.settings.helpdesk.token_prefix),
                                     since=ticket.waiting_since, close_at=close)
    _to_reporter(session, ctx, ticket, rendered, now)
    log.info("stage=scheduler token=%s decision=auto-close-reminder", ctx.token(ticket.number))


def _close(session, ctx: Context, ticket: models.Ticket, now: datetime) -> None:
    since = ticket.waiting_since
    paused = sla.pause_length(ctx.settings.calendar, since, now)
    ticket.paused_seconds = (ticket.paused_seconds or 0) + int(paused / timedelta(seconds=1))
    ticket.waiting_since, ticket.status, ticket.closed_at = None, Status.CLOSED.value, now
    detail = f"{Status.WAITING} -> {Status.CLOSED}: no answer from the reporter since {since.isoformat()}"
    tickets.add_event(session, ticket, now, "closed", "sla", detail)
    rendered = ctx.renderer.autoclose(ticket=view(ticket, ctx.settings.helpdesk.token_prefix), since=since)
    _to_reporter(session, ctx, ticket, rendered, now)
    log.info("stage=scheduler token=%s decision=auto-close", ctx.token(ticket.number))


def _to_reporter(session, ctx: Context, ticket: models.Ticket, rendered: Rendered, now: datetime) -> None:
    if not ticket.reporter or is_unanswerable(ticket.reporter):
        return
    last = ticket.last_in_message_id
    cc = tuple(a for a in ticket.cc.split("\n") if a)
    out = rendered.outgoing((ticket.reporter,), cc=cc, in_reply_to=last, references=(last,) if last else ())
    queue(session, ctx.sender, out, ticket, now)
