"""Partner reminders (shell): each tick, one reminder for each forward a partner left unanswered; and
the figures per partner that the digest and the monthly report show.

The rule is core/partners.py (`needs_reminder`): a forward (#teruskan) not answered by its
`remind_at` (`[partners] remind_after` on the SLA calendar), on a ticket still open, gets one mail
to the assignee (else every member) with a follow-up ready to send. The forward's row is claimed
with FOR UPDATE SKIP LOCKED (PostgreSQL: two instances never take the same one) and marked
`reminded_at` in the same transaction as the queued mail, so it goes out once, across restarts and
instances.
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import select

from mailticket.app.apply import view
from mailticket.app.context import Context
from mailticket.core import partners
from mailticket.db import models
from mailticket.db.session import transaction
from mailticket.outgoing.outbox import queue
from mailticket.store import tickets

log = logging.getLogger("mailticket.scheduler")


def remind(ctx: Context, now: datetime) -> int:
    """Queue the reminders due now; returns how many."""
    f = models.PartnerForward
    done = 0
    with transaction(ctx.factory) as session:
        stmt = (select(f).where(f.answered_at.is_(None), f.reminded_at.is_(None), f.remind_at <= now)
                .order_by(f.id).with_for_update(skip_locked=True))
        for row in session.scalars(stmt).all():
            ticket = row.ticket
            if not partners.needs_reminder(row.remind_at, row.answered_at, row.reminded_at, ticket.status,
                                           now):
                continue
            row.reminded_at = now
            _remind(session, ctx, ticket, row, now)
            done += 1
    return done


def _remind(session, ctx: Context, ticket: models.Ticket, row: models.PartnerForward, now: datetime) -> None:
    partner = ctx.desk.partner(row.partner)
    title = partner.title if partner is not None else row.partner
    emails = partner.emails if partner is not None else ()
    tickets.add_event(session, ticket, now, partners.REMINDED_EVENT, "system",
                      f"{row.partner}: no answer since {row.at.isoformat()}")
    rendered = ctx.renderer.partner_reminder(ticket=view(ticket, ctx.settings.helpdesk.token_prefix),
                                             partner=title, name=row.partner, emails=emails, at=row.at,
                                             text=row.text)
    to = (ticket.assignee,) if ticket.assignee else ctx.desk.member_addresses
    if to:
        queue(session, ctx.sender, rendered.outgoing(to, reply_to=ctx.desk.address), ticket, now)
    log.info("stage=scheduler token=%s decision=partner-reminder partner=%s", ctx.token(ticket.number),
             row.partner)


# -- figures: the digest (last days, open forwards too) and the monthly report (forwards made in it) --


def digest_figures(session, ctx: Context, since: datetime,
                   now: datetime) -> tuple[partners.PartnerFigures, ...]:
    """Per partner: forwards still open or made or answered since `since`."""
    return partners.figures(_rows(tickets.forwards_touching(session, since)), now, ctx.desk.partners)


def month_figures(session, ctx: Context, start: datetime,
                  end: datetime) -> tuple[partners.PartnerFigures, ...]:
    """Per partner: the forwards made within [start, end), their time counted up to `end`."""
    return partners.figures(_rows(tickets.forwards_between(session, start, end)), end, ctx.desk.partners)


def _rows(found) -> list[partners.ForwardRow]:
    return [partners.ForwardRow(f.partner, f.ticket_id, f.at, f.answered_at) for f in found]
