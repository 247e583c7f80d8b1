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

from mailticket.app import hold
from mailticket.app.context import Context
from mailticket.core import attachments, filerefs
from mailticket.core.effects import (
    Answer,
    Block,
    Change,
    Decision,
    Event,
    ForwardTo,
    Keep,
    MergeInto,
    OpenTicket,
    PartnerAnswered,
    Record,
    Send,
    TicketSnapshot,
)
from mailticket.db import models
from mailticket.outgoing.outbox import queue
from mailticket.outgoing.render import HistoryEntry, MessageEntry, Rendered, Renderer, TicketView
from mailticket.store import rawmail, tickets, trust
from mailticket.types import AttachedFile, Mail, ticket_token


@dataclass
class Stored:
    """What `store_effects` leaves for `queue_mail`."""

    ticket: models.Ticket | None
    new_events: int  # events this decision added (the escalation mail shows history up to its own)
    raw_id: int | None = None  # the received mail: mail to staff shows the ticket's messages before it


def store_effects(session: Session, ctx: Context, raw: models.RawMail, mail: Mail, decision: Decision,
                  ticket: models.Ticket | None, now: datetime) -> Stored:
    stored = Stored(ticket, 0, raw.id)
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
        elif isinstance(effect, MergeInto):
            _merge(session, ctx, stored, effect.number, mail, now)
        elif isinstance(effect, Block):
            trust.block(session, effect.address, effect.why, mail.sender.email if mail.sender else "", now)
        elif isinstance(effect, ForwardTo):  # issue 19: #teruskan
            tickets.add_forward(session, stored.ticket, effect.partner, now, mail.sender.email if mail.sender
                                else "", effect.text, effect.remind_at)
        elif isinstance(effect, PartnerAnswered):
            tickets.answer_forwards(stored.ticket, effect.partner, now)
    return stored


def _merge(session: Session, ctx: Context, stored: Stored, number: int, mail: Mail, now: datetime) -> None:
    """#gabung: the decision checked the target; the events moved with the rest no longer count as new."""
    target = tickets.ticket_by_number(session, number)
    if target is None or target is stored.ticket:
        raise ValueError(f"merge target {ctx.token(number)} vanished")  # decided against a snapshot of it
    by = mail.sender.email if mail.sender else ""
    detail = f"{ctx.token(stored.ticket.number)} merged here"
    tickets.merge_into(session, stored.ticket, target, now, by, detail)
    stored.new_events = 0


def queue_mail(session: Session, ctx: Context, decision: Decision, stored: Stored, now: datetime) -> None:
    for effect in decision.effects:
        if isinstance(effect, Send):
            effect = hold.within_limit(session, ctx, effect, stored.ticket, now, view)  # per address an hour
            if effect is None:
                continue
            files, said = _files(session, ctx, effect, stored)
            rendered = _render(ctx, effect, stored, said)
            out = rendered.outgoing(effect.to, cc=effect.cc, in_reply_to=effect.in_reply_to,
                                    references=effect.references, reply_to=effect.reply_to, attachments=files)
            queue(session, ctx.sender, out, stored.ticket, now)
        elif isinstance(effect, Answer):
            values = {**dict(effect.values), **_answer_values(ctx, effect)}
            rendered = ANSWERS[effect.kind](ctx.renderer, **values)
            out = rendered.outgoing(effect.to, in_reply_to=effect.in_reply_to, references=effect.references)
            queue(session, ctx.sender, out, None, now)


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
TEMPLATES.update(unverified=Renderer.unverified, merged=Renderer.merged)  # issue 14: #gabung, failed auth
TEMPLATES.update(assigned=Renderer.assigned, transcript=Renderer.transcript)  # issue 14: assignment, feedback
TEMPLATES.update(partner=Renderer.partner)  # issue 19: #teruskan to a service owner


# mail about no ticket (#daftar, #bantuan, an unverified new mail)
ANSWERS = {"list": Renderer.ticket_list, "help": Renderer.help, "unverified": Renderer.unverified_new}
ANSWERS.update(flood=hold.flood_notice)  # issue 15: one summary an hour of a sender's flood


def _answer_values(ctx: Context, answer: Answer) -> dict:
    """What the templates of answers need besides the decision's values: ticket rows as views."""
    values = dict(answer.values)
    found = {}
    for name in ("mine", "unassigned"):
        if name in values:
            found[name] = tuple(view(t, ctx.settings.helpdesk.token_prefix) for t in values[name])
    return found


def _files(session: Session, ctx: Context, send: Send,
           stored: Stored) -> tuple[tuple[AttachedFile, ...], dict[str, object]]:
    """The received mail's files that go along with this mail (`Send.with_attachments`), and what the
    mail says of those left out. The mail refers to them in their kept raw message (`filerefs`): they
    are put in when it is delivered, and stored nowhere else."""
    raw_id = _report_raw_id(stored.ticket) if send.kind == "partner" else stored.raw_id  # the report's files
    if not send.with_attachments or raw_id is None:
        return (), {}
    rule = attachments.carry(send.kind)
    cap = ctx.settings.mail.forward_attachments if rule.capped else None
    carried, left_out = filerefs.refer(rawmail.raw_bytes(session, raw_id), raw_id, cap=cap,
                                       drop_logos=rule.drop_logos)
    if not left_out:
        return tuple(carried), {}
    source = ctx.settings.source
    command = attachments.extract_command(ctx.token(stored.ticket.number),
                                          "" if source.startswith("<") else source)
    return tuple(carried), {"attachments_left_out": tuple(left_out), "attachments_cap": cap,
                            "attachments_command": command}


def _render(ctx: Context, send: Send, stored: Stored, said: dict[str, object] | None = None) -> Rendered:
    ticket = stored.ticket
    snap = replace(send.ticket, number=ticket.number) if send.ticket.number == 0 else send.ticket
    values = {**dict(send.values), **(said or {})}
    if send.history_events is not None:
        events = ticket.events
        values["history"] = history(events[:len(events) - stored.new_events + send.history_events],
                                    names_of(ctx, ticket))
    if send.recent_messages:
        values["recent"] = recent_messages(ticket, names_of(ctx, ticket), send.recent_messages, stored.raw_id)
        if send.kind != "notification":  # a notification shows the new text; the others the report too
            values["report"] = report_text(ticket)
    if send.kind == "partner":  # the report and nothing else of the ticket: no notes, no staff mail
        values["report"] = report_text(ticket, limit=20000)
    return TEMPLATES[send.kind](ctx.renderer, ticket=view(snap, ctx.settings.helpdesk.token_prefix), **values)


def _report_raw_id(ticket: models.Ticket | None) -> int | None:
    """The raw mail of the ticket's report (its first received message), whose files a partner gets."""
    for message in ticket.messages if ticket is not None else ():
        if message.direction == "in" and message.kind == "report":
            return message.raw_id
    return None


def view(ticket: TicketSnapshot | models.Ticket, prefix: str) -> TicketView:
    """What the templates may know of a ticket (a snapshot or a row)."""
    return TicketView(token=ticket_token(prefix, ticket.number), number=ticket.number, subject=ticket.subject,
                      category=ticket.category, reporter=ticket.reporter, status=ticket.status,
                      created_at=ticket.created_at, due_at=ticket.due_at, assignee=ticket.assignee,
                      reporter_name=ticket.reporter_name)


def history(events: list[models.Event], names: dict[str, str] | None = None) -> list[HistoryEntry]:
    """A ticket's events as the coordinators' mails show them; `names`: address -> how to name them."""
    names = names or {}
    return [HistoryEntry(at=e.at, actor=names.get(e.by, e.by), action=e.type, text=e.detail[:200])
            for e in events]


SYSTEM_ACTORS = ("sla", "rules", "system", "default", "(unknown)")
PEOPLE_KINDS = frozenset({"report", "reply", "staff_reply", "note", "third_party", "partner", "unverified"})


def names_of(ctx: Context, ticket: models.Ticket | None) -> dict[str, str]:
    """How our mail to staff names the people of a ticket: staff by display name, the reporter with name."""
    staff = ctx.settings.staff
    names = {actor: "sistem" for actor in SYSTEM_ACTORS}
    names.update({p.email: p.signature for p in (*staff.members, *staff.coordinators)})
    if ticket is not None and ticket.reporter and ticket.reporter_name:
        names.setdefault(ticket.reporter, f"{ticket.reporter_name} <{ticket.reporter}>")
    return names


def recent_messages(ticket: models.Ticket, names: dict[str, str], count: int,
                    skip_raw: int | None = None) -> list[MessageEntry]:
    """The ticket's last `count` messages written by people (not our own mail), the received one left out."""
    # a bare "#ambil" has no text to read: left out
    found = [m for m in ticket.messages
             if m.direction == "in" and m.kind in PEOPLE_KINDS and m.text.strip()
             and (skip_raw is None or m.raw_id != skip_raw)]
    return [MessageEntry(at=m.date, who=names.get(m.sender, m.sender or "(tanpa alamat)"), kind=m.kind,
                         text=first_lines(m.text)) for m in found[-count:]]


def report_text(ticket: models.Ticket, limit: int = 3000) -> str:
    """The text of the ticket's report (its first received message), cut at `limit` characters."""
    for message in ticket.messages:  # in the order recorded
        if message.direction == "in" and message.kind == "report":
            text = message.text.strip()
            return text if len(text) <= limit else text[:limit].rstrip() + " …"
    return ""


def first_lines(text: str, lines: int = 4, width: int = 200) -> str:
    kept = [line.strip()[:width] for line in text.strip().splitlines() if line.strip()]
    return "\n".join(kept[:lines]) + ("\n…" if len(kept) > lines else "") if kept else "(tanpa teks)"
