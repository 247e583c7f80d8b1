"""Stages `store` and `outbox` (shell): a Decision's effects -> rows and queued mail, in one transaction.

The only code that turns effects into rows. It runs in two passes, each a stage of its own so that a
failure is blamed on the right one: `store_effects` writes the ticket, the received message, the
changes and the events in the order decided; `queue_mail` then renders each `Send` (the ticket as it
was when the mail was decided, with the number the store gave it) and queues it with
`outgoing.outbox.queue`. Both run inside the pipeline's SAVEPOINT: everything commits together with
the message, or not at all, and nothing is sent before that commit.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from enum import Enum

from sqlalchemy.orm import Session

from mailticket.app.context import Context
from mailticket.core.effects import Change, Decision, Event, Keep, OpenTicket, Record, Send, TicketSnapshot
from mailticket.db import models
from mailticket.outgoing.outbox import queue
from mailticket.outgoing.render import HistoryEntry, Rendered, Renderer, TicketView
from mailticket.store import rawmail, tickets
from mailticket.types import Mail, ticket_token


@dataclass
class Stored:
    """What `store_effects` leaves for `queue_mail`."""

    ticket: models.Ticket | None
    new_events: int  # events this decision added (the escalation mail shows history up to its own)


def store_effects(session: Session, ctx: Context, raw: models.RawMail, mail: Mail, decision: Decision,
                  ticket: models.Ticket | None, now: datetime) -> Stored:
    stored = Stored(ticket, 0)
    for effect in decision.effects:
        if isinstance(effect, OpenTicket):
            stored.ticket = _open(session, effect.ticket, ctx.settings.helpdesk.first_number)
        elif isinstance(effect, Record):
            tickets.add_received(session, stored.ticket, raw.id, mail, effect.kind, effect.text, now)
            rawmail.mark_raw(session, raw, mail, "ticket", effect.kind, effect.reason, stored.ticket)
        elif isinstance(effect, Keep):
            rawmail.mark_raw(session, raw, mail, "kept", effect.kind, effect.reason)
        elif isinstance(effect, Change):
            for name, value in effect.fields:
                setattr(stored.ticket, name, _column(value))
        elif isinstance(effect, Event):
            tickets.add_event(session, stored.ticket, now, effect.type, effect.by, effect.detail)
            stored.new_events += 1
    return stored


def queue_mail(session: Session, ctx: Context, decision: Decision, stored: Stored, now: datetime) -> None:
    for effect in decision.effects:
        if isinstance(effect, Send):
            rendered = _render(ctx, effect, stored)
            out = rendered.outgoing(effect.to, cc=effect.cc, in_reply_to=effect.in_reply_to,
                                    references=effect.references, reply_to=effect.reply_to)
            queue(session, ctx.sender, out, stored.ticket, now)


def _open(session: Session, snap: TicketSnapshot, first_number: int) -> models.Ticket:
    ticket = models.Ticket(
        number=tickets.next_ticket_number(session, first_number), subject=snap.subject,
        reporter=snap.reporter, reporter_name=snap.reporter_name, cc="\n".join(snap.cc),
        status=snap.status.value, category=snap.category.value, category_source=snap.category_source,
        needs_review=snap.needs_review, assignee=snap.assignee, created_at=snap.created_at,
        due_at=snap.due_at, closed_at=snap.closed_at, escalated=snap.escalated,
        paused_seconds=snap.paused_seconds, last_in_message_id=snap.last_in_message_id,
    )
    tickets.add_ticket(session, ticket)
    return ticket


def _column(value):
    return value.value if isinstance(value, Enum) else value


# -- rendering ------------------------------------------------------------------------------------

TEMPLATES = {"ack": Renderer.ack, "notification": Renderer.notification, "relay": Renderer.relay,
             "closing": Renderer.closing, "error": Renderer.error, "escalation": Renderer.escalation,
             "survey_scale": Renderer.survey_scale}


def _render(ctx: Context, send: Send, stored: Stored) -> Rendered:
    ticket = stored.ticket
    snap = replace(send.ticket, number=ticket.number) if send.ticket.number == 0 else send.ticket
    values = dict(send.values)
    if send.history_events is not None:
        events = ticket.events
        values["history"] = history(events[:len(events) - stored.new_events + send.history_events])
    return TEMPLATES[send.kind](ctx.renderer, ticket=view(snap, ctx.settings.helpdesk.token_prefix), **values)


def view(ticket: TicketSnapshot | models.Ticket, prefix: str) -> TicketView:
    """What the templates may know of a ticket (a snapshot or a row)."""
    return TicketView(token=ticket_token(prefix, ticket.number), number=ticket.number, subject=ticket.subject,
                      category=ticket.category, reporter=ticket.reporter, status=ticket.status,
                      created_at=ticket.created_at, due_at=ticket.due_at, assignee=ticket.assignee,
                      reporter_name=ticket.reporter_name)


def history(events: list[models.Event]) -> list[HistoryEntry]:
    """A ticket's events as the coordinators' mails show them."""
    return [HistoryEntry(at=e.at, actor=e.by, action=e.type, text=e.detail[:200]) for e in events]
