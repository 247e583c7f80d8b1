"""Stage `decide` for the other service owners (pure; SOP step 4): #teruskan, and a partner's answer.

`[partners]` names the service owners outside the helpdesk (LKPP's helpdesk, the province's server
team, …). A staff member sends a ticket to one of them with `#teruskan NAME [text]`; the partner's
answer lands on the ticket and goes to staff, never to the reporter by itself.

| arrival                          | ticket                            | mail                                |
|----------------------------------|-----------------------------------|-------------------------------------|
| staff reply with                 | waiting_on NAME; new -> open; a   | `partner` to NAME's addresses, from |
|   #teruskan NAME [text]          |   forward, reminded after         |   the helpdesk address, Reply-To    |
|                                  |   remind_after (SLA calendar);    |   it: report text, its files        |
|                                  |   event `partner-forward`         |   (capped), the staff text; nothing |
|                                  |                                   |   to the reporter, no staff address |
| #teruskan to a name not in       | nothing (commands.py: a bad tag)  | error reply listing the partners    |
|   [partners]                     |                                   |                                     |
| a partner's mail on a ticket     | `partner`; its forwards answered; | notification `partner` to the       |
|   forwarded to it (Role.PARTNER) |   waiting_on cleared (or the next |   assignee, else every member; not  |
|                                  |   open partner); event            |   to the reporter; no commands      |
|                                  |   `partner-answer`                |                                     |
| a partner address on a ticket    | as a stranger (Role.STRANGER)     | as a stranger's mail                |
|   never forwarded to it          |                                   |                                     |

`[sla] pause_for_partners` (default false: the citizen's target still runs): when true, the ticket's
clock stops while it waits on a partner (the scheduler leaves it alone) and the time from the first
open forward to the answer is added to its paused time when the last open forward is answered.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from statistics import median

from mailticket.core import sla
from mailticket.core.commands import partner_argument
from mailticket.core.draft import Draft
from mailticket.core.effects import (
    Arrival,
    Decision,
    Desk,
    Forward,
    ForwardTo,
    Partner,
    PartnerAnswered,
    Record,
    TicketSnapshot,
)
from mailticket.core.reply import new_text
from mailticket.types import Command, Status

FORWARD_EVENT, ANSWER_EVENT, REMINDED_EVENT = "partner-forward", "partner-answer", "partner-reminded"


def forward(draft: Draft, command: Command, text_below: str, has_note: bool) -> None:
    """#teruskan NAME [text]: the ticket goes to the partner; `text_below` is the reply's text without tag
    lines (it goes along unless the same reply holds a #catatan, which stays internal)."""
    name, line_text = partner_argument(command.arg)
    partner = draft.desk.partner(name)
    if partner is None:  # commands.py checked the name against the same [partners]
        raise ValueError(f"#teruskan to unknown partner {name!r}")
    text = "\n\n".join(t for t in (line_text, "" if has_note else text_below) if t)
    ticket, now = draft.ticket, draft.now
    if ticket.waiting_on is None and draft.desk.pause_for_partners:
        draft.change(waiting_on=partner.name, due_at=None)  # the clock stops: due again on the answer
    else:
        draft.change(waiting_on=partner.name)
    draft.ticket = draft.ticket.changed({"forwards": (*ticket.forwards, Forward(partner.name, now))})
    remind_at = sla.due(draft.desk.calendar, now, draft.desk.partner_remind_after)
    draft.effects.append(ForwardTo(partner.name, text, remind_at))
    draft.status("answer")
    draft.event(FORWARD_EVENT, (f"{partner.name}: {text}" if text else partner.name)[:2000])
    draft.send("partner", partner.emails, values={"partner": partner.title, "text": text},
               reply_to=draft.desk.address, with_attachments=True)


def answer(arrival: Arrival, desk: Desk, ticket: TicketSnapshot) -> Decision:
    """A partner's mail on a ticket forwarded to it: recorded as `partner`, staff told, reporter not."""
    draft = Draft(arrival, desk, ticket)
    partner = desk.partner_of(arrival.sender, ticket.forwarded_to)
    name = partner.name if partner is not None else arrival.sender
    text = new_text(arrival.mail.plain, arrival.mail.html) if not arrival.oversize else ""
    draft.effects.append(Record("partner", arrival.mail.text, f"partner {name}, matched by {arrival.how}"))
    draft.event(ANSWER_EVENT, (f"{name}: {text}" if text else name)[:2000], by=arrival.sender)
    if any(f.partner == name and f.answered_at is None for f in ticket.forwards):
        _answered(draft, name)
    draft.notify_staff((ticket.assignee,) if ticket.assignee else desk.member_addresses, event="partner")
    return draft.decision("partner")


def _answered(draft: Draft, name: str) -> None:
    """The partner's open forwards are answered; the ticket waits on the next open one, else on nobody."""
    ticket, now = draft.ticket, draft.now
    forwards = tuple(Forward(f.partner, f.at, now) if f.partner == name and f.answered_at is None else f
                     for f in ticket.forwards)
    still = [f for f in forwards if f.answered_at is None]
    draft.effects.append(PartnerAnswered(name))
    draft.ticket = draft.ticket.changed({"forwards": forwards})  # rows: PartnerAnswered, not a Change
    draft.change(waiting_on=still[-1].partner if still else None)
    if still or not draft.desk.pause_for_partners or ticket.due_at is not None:
        return  # the clock did not stop for this partner (or still waits on another)
    since = min(f.at for f in ticket.forwards if f.answered_at is None)
    paused = ticket.paused_seconds + int(sla.pause_length(draft.desk.calendar, since, now).total_seconds())
    draft.change(paused_seconds=paused)
    draft.change(due_at=draft.due())


def needs_reminder(remind_at: datetime, answered_at: datetime | None, reminded_at: datetime | None,
                   status: str, now: datetime) -> bool:
    """One reminder to staff per forward: unanswered at its `remind_at`, on a ticket still open."""
    return answered_at is None and reminded_at is None and remind_at <= now and status != Status.CLOSED


def with_partners(desk: Desk, ticket: TicketSnapshot | None) -> tuple[str, ...]:
    """The addresses that write on `ticket` as partners: those of the partners it was forwarded to."""
    return tuple(sorted(desk.partner_addresses(ticket.forwarded_to))) if ticket is not None else ()


# -- figures for the digest and the monthly report -----------------------------------------------


@dataclass(frozen=True)
class ForwardRow:
    """A forward as the figures see it: which partner, which ticket, when sent and answered."""

    partner: str
    ticket: int
    at: datetime
    answered_at: datetime | None = None


@dataclass(frozen=True)
class PartnerFigures:
    """One partner's share of the helpdesk's work: how often, how long, how fast it answered."""

    name: str
    label: str
    forwards: int
    tickets: int  # distinct tickets forwarded
    answered: int
    waiting: int  # forwards not answered yet
    time_with: timedelta  # wall-clock time the tickets spent with the partner (open ones up to `until`)
    median_answer: timedelta | None  # of the answered forwards


def figures(rows: Iterable[ForwardRow], until: datetime,
            known: Iterable[Partner] = ()) -> tuple[PartnerFigures, ...]:
    """Per partner (most forwards first), from forwards made up to `until`."""
    labels = {p.name: p.title for p in known}
    by_partner: dict[str, list[ForwardRow]] = {}
    for row in rows:
        by_partner.setdefault(row.partner, []).append(row)
    found = []
    for name, group in by_partner.items():
        answers = [r.answered_at - r.at for r in group if r.answered_at is not None]
        spent = sum((min(r.answered_at or until, until) - r.at for r in group), timedelta(0))
        found.append(PartnerFigures(
            name, labels.get(name, name), len(group), len({r.ticket for r in group}), len(answers),
            sum(r.answered_at is None for r in group), max(spent, timedelta(0)),
            timedelta(seconds=median(a.total_seconds() for a in answers)) if answers else None))
    return tuple(sorted(found, key=lambda f: (-f.forwards, f.name)))
