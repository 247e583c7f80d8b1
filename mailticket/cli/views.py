"""Read-side views for the CLI: tickets, kept mail and quarantine as the contract's JSON or tables."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, tzinfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session, object_session, selectinload

from mailticket.core.sla import CLOCK_STOPPED, clock_runs
from mailticket.db import models
from mailticket.store.meta import SEND_PAUSED_UNTIL
from mailticket.types import KEPT_KINDS, Status, ticket_token


def local_iso(value: datetime | None, tz: tzinfo) -> str | None:
    return None if value is None else value.astimezone(tz).isoformat(timespec="seconds")


def _lines(text: str) -> list[str]:
    return [line for line in text.split("\n") if line]


def ticket_json(ticket: models.Ticket, prefix: str, tz: tzinfo, full: bool) -> dict:
    """One ticket in the contract's shape; `full` adds messages and events."""
    data = {
        "token": ticket_token(prefix, ticket.number), "number": ticket.number, "status": ticket.status,
        "category": ticket.category, "category_source": ticket.category_source,
        "needs_review": ticket.needs_review, "subject": ticket.subject, "reporter": ticket.reporter,
        "assignee": ticket.assignee, "created_at": local_iso(ticket.created_at, tz),
        "due_at": local_iso(ticket.due_at, tz), "closed_at": local_iso(ticket.closed_at, tz),
        "escalated": ticket.escalated,
        "first_response_at": local_iso(ticket.first_response_at, tz), "rating": ticket.rating,
    }
    data["merged_into"] = ticket_token(prefix, ticket.merged_into) if ticket.merged_into is not None else None
    data["waiting_on"] = ticket.waiting_on  # the partner it waits for (#teruskan), or None
    if full:
        data["messages"] = [_message_json(m, tz) for m in ticket.messages]
        _add_attachments(ticket, data["messages"])
        data["events"] = [{"at": local_iso(e.at, tz), "type": e.type, "by": e.by, "detail": e.detail}
                          for e in ticket.events]
        data["forwards"] = [forward_json(f, tz) for f in ticket.forwards]
    return data


def forward_json(forward: models.PartnerForward, tz: tzinfo) -> dict:
    """One #teruskan: to which partner, when, by whom, the text, and when it was answered or reminded."""
    return {"partner": forward.partner, "at": local_iso(forward.at, tz), "by": forward.by,
            "text": forward.text, "answered_at": local_iso(forward.answered_at, tz),
            "reminded_at": local_iso(forward.reminded_at, tz)}


def status_text(ticket: models.Ticket) -> str:
    """The status column of `tickets list`: "open>lkpp" while the ticket waits on a partner."""
    return ticket.status + (f">{ticket.waiting_on}" if ticket.waiting_on else "")


def _add_attachments(ticket: models.Ticket, messages: list[dict]) -> None:
    """messages[].attachments: name, type, size and sha256 of each file (cli/attachments.py); only a
    message whose header block allows files is read further."""
    from mailticket.cli.attachments import listed

    session = object_session(ticket)
    for message, data in zip(ticket.messages, messages, strict=True):
        data["attachments"] = [entry.as_json() for entry in listed(session, message)] if session else []


def _message_json(message: models.Message, tz: tzinfo) -> dict:
    data = {"direction": message.direction, "kind": message.kind, "from": message.sender,
            "to": _lines(message.recipients), "subject": message.subject,
            "date": local_iso(message.date, tz), "message_id": message.message_id}
    if message.outbox is not None:
        data["delivery"] = message.outbox.status
        if message.outbox.last_error:
            data["delivery_error"] = message.outbox.last_error
        if message.outbox.refused:  # recipients the server refused, each with its answer
            data["refused"] = [{"recipient": address, "answer": answer}
                               for address, answer in json.loads(message.outbox.refused).items()]
    return data


LISTED_COLUMNS = ("number", "status", "category", "category_source", "needs_review", "subject", "reporter",
                  "assignee", "created_at", "due_at", "closed_at", "escalated", "first_response_at", "rating",
                  "merged_into", "waiting_on")


def list_tickets(session: Session, status: str | None, category: str | None, *, now: datetime,
                 overdue: bool = False, due_within: timedelta | None = None) -> list:
    """Plain rows of the columns ticket_json and the table show (attributes as on models.Ticket): no ORM
    objects to build, and no date the listing does not print to convert."""
    t = models.Ticket
    stmt = select(*(t.__table__.c[name] for name in LISTED_COLUMNS)).order_by(t.number)
    if status:
        stmt = stmt.where(t.status == status)
    if category:
        stmt = stmt.where(t.category == category)
    if overdue or due_within is not None:
        limit = now + (due_within or timedelta(0))
        # IN, not NOT IN: the index (status, due_at) serves it without walking the closed tickets
        running = [status.value for status in Status if status not in CLOCK_STOPPED]
        stmt = stmt.where(t.status.in_(running), t.due_at.is_not(None), t.due_at <= limit)
    if overdue:
        stmt = stmt.where(t.due_at < now)
    return session.connection().execute(stmt).all()  # Core: no ORM loading step for plain rows


def remaining(ticket: models.Ticket, now: datetime) -> str:
    """Time left until due, "-2h05m" when overdue, "" when closed or paused."""
    if ticket.due_at is None or not clock_runs(ticket.status):
        return ""
    left = ticket.due_at - now
    seconds = left.total_seconds()
    # ahead: whole minutes left, rounded down; overdue: started minutes, rounded up (never "-0h00m")
    minutes = int(seconds // 60) if seconds >= 0 else int(-seconds // 60) + (1 if -seconds % 60 else 0)
    days, rest = divmod(minutes, 1440)
    text = (f"{days}d" if days else "") + f"{rest // 60}h{rest % 60:02d}m"
    return ("-" if left.total_seconds() < 0 else "") + text


def get_ticket(session: Session, number: int) -> models.Ticket | None:
    stmt = (select(models.Ticket).where(models.Ticket.number == number)
            .options(selectinload(models.Ticket.messages).selectinload(models.Message.outbox),
                     selectinload(models.Ticket.events)))
    return session.scalars(stmt).first()


def kept_mail(session: Session, kind: str | None) -> list:
    """Received messages that opened no ticket (also those recorded on one as bounce/auto-reply): plain
    rows of the columns kept_json shows, with the number of the ticket they are recorded on."""
    raw, t = models.RawMail, models.Ticket
    stmt = (select(raw.id, raw.kind, raw.reason, raw.sender, raw.subject, raw.message_id, raw.received_at,
                   t.number.label("ticket_number"))
            .outerjoin(t, t.id == raw.ticket_id).where(raw.kind.in_(KEPT_KINDS)).order_by(raw.id))
    if kind:
        stmt = stmt.where(raw.kind == kind)
    return session.connection().execute(stmt).all()  # Core: no ORM loading step for plain rows


def kept_json(raw: models.RawMail, prefix: str, tz: tzinfo) -> dict:
    return {"id": raw.id, "kind": raw.kind, "why": raw.reason, "from": raw.sender, "subject": raw.subject,
            "message_id": raw.message_id, "received_at": local_iso(raw.received_at, tz),
            "ticket": ticket_token(prefix, raw.ticket_number) if raw.ticket_number is not None else None}


def quarantine_json(entry: models.QuarantineEntry, raw: models.RawMail, tz: tzinfo) -> dict:
    return {"id": entry.id, "raw_id": raw.id, "stage": entry.stage, "error": entry.error,
            "attempts": entry.attempts, "created_at": local_iso(entry.created_at, tz),
            "updated_at": local_iso(entry.updated_at, tz), "message_id": raw.message_id,
            "source": raw.source, "size": raw.size, "traceback": entry.traceback}


def table(rows: list[list[str]], headers: list[str]) -> str:
    """A plain text table, columns as wide as their widest cell (capped); a cut cell ends with "…"."""
    cells = [headers] + [[str(c) for c in row] for row in rows]
    widths = [min(48, max(len(row[i]) for row in cells)) for i in range(len(headers))]
    lines = ["  ".join(_cut(cell, w).ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
             for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _cut(cell: str, width: int) -> str:
    return cell if len(cell) <= width else cell[:width - 1] + "…"


FRESH_MIN = timedelta(minutes=5)  # a daemon reported within max(3 x poll_interval, this): running
INBOX_OK = ("connected", "maildir")


def status(factory, now: datetime, source: str, tz: tzinfo) -> dict:
    """What `mailticket status` prints: the daemons' status rows, the queues, and `healthy` with the
    `problems` that make it false (no daemon reported recently; an inbox down longer than stall_alert)."""
    with factory() as session:
        def count(model, *where) -> int:
            return session.scalar(select(func.count()).select_from(model).where(*where)) or 0

        rows = session.scalars(select(models.Meta).where(models.Meta.key.like("status:%"))).all()
        daemons, stopped = [], []
        for row in rows:
            data = json.loads(row.value)
            (stopped if row.key.endswith(":stopped") or data.get("stopped") else daemons).append(data)
        queued = models.Outbox.status == "queued"
        oldest = session.scalar(select(func.min(models.Outbox.created_at)).where(queued))
        next_try = session.scalar(select(func.min(models.Outbox.next_attempt_at)).where(queued))
        problems = _judge(daemons, stopped, now)
        return {
            "config": source,
            "healthy": not problems,
            "problems": problems,
            "daemons": daemons,  # each with "updated" and "fresh"
            "stopped": stopped,  # per host, the last daemon that stopped cleanly
            "outbox_oldest_queued": local_iso(oldest, tz),  # UTCDateTime: aware on every database
            "outbox_next_attempt": local_iso(next_try, tz),
            "outbox_queued": count(models.Outbox, queued),
            "outbox_failed": count(models.Outbox, models.Outbox.status == "failed"),
            "outbox_refused": refused_recipients(session),
            "sending_paused_until": _meta(session, SEND_PAUSED_UNTIL),
            "pending": count(models.RawMail, models.RawMail.state == "pending"),
            "quarantined": count(models.RawMail, models.RawMail.state == "quarantined"),
            "tickets_open": count(models.Ticket, models.Ticket.status != Status.CLOSED),
        }



def _judge(daemons: list[dict], stopped: list[dict], now: datetime) -> list[str]:
    """Mark each daemon `fresh`; the reasons `status` exits 1 (empty: healthy)."""
    problems = []
    for d in daemons:
        window = max(FRESH_MIN, 3 * timedelta(seconds=d.get("poll_interval") or 60))
        updated = datetime.fromisoformat(d["updated"]) if d.get("updated") else None
        d["fresh"] = updated is not None and now - updated <= window
        if not d["fresh"] or d.get("reader") is False:
            continue  # a stand-by reads no inbox; a stale row is judged below
        if d.get("inbox_state") in INBOX_OK:
            continue
        last = d.get("last_fetch") or d.get("inbox_since") or d.get("started")
        stall = timedelta(seconds=d.get("stall_alert") or 900)
        if last and now - datetime.fromisoformat(last) > stall:
            since = d.get("inbox_since") or last
            problems.append(f"{d['host']} pid {d['pid']}: inbox {d['inbox_state']} since {since}, "
                            f"no good fetch for longer than stall_alert ({_span(stall)})")
    if not any(d["fresh"] for d in daemons):
        if stopped:
            last = max(stopped, key=lambda d: d.get("stopped") or "")
            problems.append(f"no daemon running: the last one ({last['host']} pid {last['pid']}) stopped at "
                            f"{last.get('stopped')}")
        elif daemons:
            newest = max(d.get("updated") or "" for d in daemons)
            problems.append(f"no daemon has reported since {newest}")
        else:
            problems.append("no daemon has reported yet")
    return problems


def _span(value: timedelta) -> str:
    seconds = int(value.total_seconds())
    return f"{seconds // 60}m" if seconds % 60 == 0 else f"{seconds}s"


def refused_recipients(session: Session, limit: int = 20) -> list[dict]:
    """The newest rows with refused recipients: which mail, who, and the server's answer."""
    rows = session.scalars(select(models.Outbox).where(models.Outbox.refused.is_not(None))
                           .order_by(models.Outbox.id.desc()).limit(limit))
    return [{"outbox": row.id, "kind": row.kind, "recipient": address, "answer": answer}
            for row in rows for address, answer in json.loads(row.refused).items()]


def _meta(session: Session, key: str) -> str | None:
    row = session.get(models.Meta, key)
    return row.value if row else None
