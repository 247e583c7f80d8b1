"""The per-address limit on our mail about one ticket (shell, part of stage `outbox`).

Relays are human answers and carry no Auto-Submitted, so an auto-responder at each end could ping-pong
through a ticket without end. No ticket sends more than `[mail] max_per_address_per_hour` mails to one
address within an hour: past it, the address is left out of the mail; a mail left with nobody to go
to is held (not queued) and recorded as an event `held`, and the coordinators (else every staff
member) get one notice per ticket and hour. Mail about no ticket (Answer) is not limited here.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from mailticket.app.context import Context
from mailticket.core.effects import Send
from mailticket.db import models
from mailticket.outgoing.outbox import queue
from mailticket.outgoing.render import Rendered, TicketView
from mailticket.store import tickets, trust

log = logging.getLogger("mailticket.outbox")

HELD = "held"  # the event of a mail not sent
NOTICE = "held-notice"  # the event that says the coordinators were told


def within_limit(session: Session, ctx: Context, send: Send, ticket: models.Ticket | None,
                 now: datetime, view: Callable[[models.Ticket, str], TicketView]) -> Send | None:
    """`send` with the addresses over the limit left out; None when nobody is left (held, recorded).
    `view`: how the templates see a ticket (apply.view)."""
    if ticket is None:
        return send
    limit = ctx.settings.mail.max_per_address_per_hour
    since = now - timedelta(hours=1)
    over = {a for a in (*send.to, *send.cc)
            if trust.mails_about_since(session, ticket, a, since) >= limit}
    if not over:
        return send
    to = tuple(a for a in send.to if a not in over)
    cc = tuple(a for a in send.cc if a not in over)
    tickets.add_event(session, ticket, now, HELD, "system",
                      f"{send.kind} not sent to {', '.join(sorted(over))}: {limit} mails within an hour")
    log.warning("stage=outbox token=%s decision=held kind=%s to=%s", ctx.token(ticket.number), send.kind,
                ",".join(sorted(over)))
    tview = view(ticket, ctx.settings.helpdesk.token_prefix)
    _notice(session, ctx, tview, ticket, sorted(over)[0], send.kind, limit, now)
    if not to:
        return None
    return replace(send, to=to, cc=cc)


def _notice(session: Session, ctx: Context, tview: TicketView, ticket: models.Ticket, address: str, kind: str,
            limit: int, now: datetime) -> None:
    if trust.events_since(session, ticket, NOTICE, now - timedelta(hours=1)):
        return
    staff = ctx.settings.staff
    to = tuple(p.email for p in staff.coordinators) or tuple(p.email for p in staff.members)
    if not to:
        return
    rendered = ctx.renderer.held(ticket=tview, address=address, kind=kind, limit=limit)
    queue(session, ctx.sender, rendered.outgoing(to), None, now)
    tickets.add_event(session, ticket, now, NOTICE, "system", f"coordinators told: mail to {address} held")


def flood_notice(renderer, *, sender: str, limit: int, subject: str, now: datetime) -> Rendered:
    """To every staff member, once an hour per sender: mail from `sender` is kept as `flood`."""
    return renderer.flood(sender=sender, limit=limit, subject=subject, now=now)
