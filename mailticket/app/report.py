"""The monthly report (shell): load the month's rows, build the report (core/report.py), render it,
write the CSV, queue it to the coordinators.

Only the rows the report needs are read, as plain rows: tickets created before the month's end and
not closed before the previous month began (both months: the trend), the month's reopen events,
kept mail and quarantine counts. At 100,000 tickets that is a few thousand rows.
"""

from __future__ import annotations

import csv
import io
import logging
from dataclasses import replace
from datetime import datetime, time, timedelta

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from mailticket.app import partner_reminders
from mailticket.app.context import Context
from mailticket.core.report import CSV_HEADER, Month, MonthReport, ReportTicket, build_report, csv_rows
from mailticket.db import models
from mailticket.db.session import transaction
from mailticket.outgoing.outbox import queue
from mailticket.outgoing.render import Rendered
from mailticket.store import meta
from mailticket.types import KEPT_KINDS, ticket_token

log = logging.getLogger("mailticket.scheduler")
REPORT_KEY = "report:last_month"


def load_report(session: Session, ctx: Context, month: Month) -> MonthReport:
    settings = ctx.settings
    since, until = month.previous.start, month.end
    t = models.Ticket
    columns = (t.id, t.number, t.subject, t.category, t.category_source, t.status, t.assignee, t.created_at,
               t.due_at, t.closed_at, t.first_response_at, t.paused_seconds, t.escalated, t.rating)
    rows = session.execute(select(*columns).where(
        t.created_at < until, or_(t.closed_at.is_(None), t.closed_at >= since))).all()
    reopens = _reopens(session, month)
    prefix = settings.helpdesk.token_prefix
    tickets = [ReportTicket(
        number=r.number, token=ticket_token(prefix, r.number), subject=r.subject, category=r.category,
        source=r.category_source, status=r.status, assignee=r.assignee, created_at=r.created_at,
        due_at=r.due_at, closed_at=r.closed_at, first_response_at=r.first_response_at,
        paused=timedelta(seconds=r.paused_seconds or 0), escalated=r.escalated,
        reopens=reopens.get(r.id, 0), rating=r.rating) for r in rows]
    report = build_report(tickets, month, settings.calendar, settings.sla.targets,
                          settings.sla.first_response, kept=_kept(session, month),
                          quarantined=_quarantined(session, month), quarantine_waiting=_waiting(session))
    # issue 19: tickets per partner (#teruskan) and their median answer time
    return replace(report, partners=partner_reminders.month_figures(session, ctx, month.start, month.end))


def _reopens(session: Session, month: Month) -> dict[int, int]:
    e = models.Event
    stmt = (select(e.ticket_id, func.count())
            .where(e.type == "reopened", e.at >= month.start, e.at < month.end).group_by(e.ticket_id))
    return dict(session.execute(stmt).all())


def _kept(session: Session, month: Month) -> dict[str, int]:
    raw = models.RawMail
    stmt = (select(raw.kind, func.count()).where(raw.kind.in_(KEPT_KINDS), raw.received_at >= month.start,
                                                 raw.received_at < month.end).group_by(raw.kind))
    return dict(session.execute(stmt).all())


def _quarantined(session: Session, month: Month) -> int:
    q = models.QuarantineEntry
    return session.scalar(select(func.count()).select_from(q).where(
        q.created_at >= month.start, q.created_at < month.end)) or 0


def _waiting(session: Session) -> int:
    q = models.QuarantineEntry
    return session.scalar(select(func.count()).select_from(q).where(q.released_at.is_(None))) or 0


def render_report(session: Session, ctx: Context, month: Month) -> tuple[MonthReport, Rendered]:
    report = load_report(session, ctx, month)
    return report, ctx.renderer.report(report=report)


def report_csv(report: MonthReport, ctx: Context) -> str:
    """One row per ticket; dates in the helpdesk's zone (WIB), ISO 8601."""
    tz = ctx.settings.helpdesk.tz

    def local(moment) -> str:
        return "" if moment is None else moment.astimezone(tz).isoformat(timespec="minutes")

    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_HEADER)
    writer.writerows(csv_rows(report, local))
    return out.getvalue()


def queue_report(session: Session, ctx: Context, month: Month, now) -> Rendered | None:
    """Queue the month's report to the coordinators; None when there are none."""
    _report, rendered = render_report(session, ctx, month)
    recipients = tuple(p.email for p in ctx.settings.staff.coordinators)
    if not recipients:
        return None
    queue(session, ctx.sender, rendered.outgoing(recipients), None, now)
    return rendered


def report_due(now: datetime, ctx: Context) -> Month | None:
    """Last month, once the local day of the month has reached `[report] day` and the digest time."""
    local = now.astimezone(ctx.settings.helpdesk.tz)
    hour, minute = (int(part) for part in ctx.settings.digest_time.split(":"))
    if (local.day, local.time()) < (ctx.settings.report.day, time(hour, minute)):
        return None
    return Month.before(now, ctx.settings.helpdesk.tz)


def send_report_if_due(ctx: Context, now: datetime) -> bool:
    """Queue last month's report once (meta claim: once across restarts and instances)."""
    month = report_due(now, ctx)
    if month is None:
        return False
    with transaction(ctx.factory) as session:
        if not meta.claim_later(session, REPORT_KEY, month.key):
            return False
        rendered = queue_report(session, ctx, month, now)
    log.info("stage=scheduler decision=report month=%s sent=%s", month.key, rendered is not None)
    return True
