"""A decision being drawn up (pure): effects in order, with the ticket as they leave it.

Each change is applied to the draft's snapshot as it is recorded, so that later steps of one
decision (a second command in the same mail) see the ticket as the earlier ones left it, and each
mail shows the ticket as it was when that mail was decided.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from functools import cached_property
from typing import Any

from mailticket.core import checklist, sla, workflow
from mailticket.core.checklist import Checklist
from mailticket.core.effects import Arrival, Change, Decision, Desk, Effect, Event, Send, TicketSnapshot
from mailticket.core.reply import new_text
from mailticket.types import Status

# action -> the event type that records it (others record "status")
STATUS_EVENTS = {"close": "closed", "reopen": "reopened", "escalate": "escalated", "wait": "waiting"}


class Draft:
    def __init__(self, arrival: Arrival, desk: Desk, ticket: TicketSnapshot):
        self.arrival, self.desk, self.ticket = arrival, desk, ticket
        self.effects: list[Effect] = []
        self.events = 0  # events recorded so far (escalation mail shows history up to here)


    @cached_property
    def checklist(self) -> Checklist | None:
        """The registration checklist of the received mail, read once for the ack and the notification."""
        return registration_checklist(self.arrival)
    @property
    def who(self) -> str:
        return self.arrival.sender

    @property
    def now(self) -> datetime:
        return self.arrival.now

    def decision(self, label: str) -> Decision:
        return Decision(label, tuple(self.effects))

    # -- recording ---------------------------------------------------------------------------

    def change(self, **fields: Any) -> None:
        self.ticket = self.ticket.changed(fields)
        self.effects.append(Change(tuple(fields.items())))

    def event(self, type_: str, detail: str = "", by: str | None = None) -> None:
        self.effects.append(Event(type_, self.who if by is None else by, detail))
        self.events += 1

    def send(self, kind: str, to: tuple[str, ...], values: dict[str, Any] | None = None, *,
             history: bool = False, **fields: Any) -> None:
        self.effects.append(Send(kind, tuple(to), self.ticket, tuple((values or {}).items()),
                                 history_events=self.events if history else None, **fields))

    # -- steps shared by the decisions -------------------------------------------------------

    def status(self, action: str, detail: str = "") -> bool:
        """Apply a status transition if it applies; record it. True when the status changed."""
        new = workflow.next_status(self.ticket.status, action)
        if new is None:
            return False
        old = self.ticket.status
        self.change(status=Status(new))
        self.event(STATUS_EVENTS.get(action, "status"), f"{old} -> {new}" + (f": {detail}" if detail else ""))
        return True

    def due(self) -> datetime:
        """The ticket's due time on the SLA calendar, its paused time left out."""
        ticket = self.ticket
        return sla.due(self.desk.calendar, ticket.created_at, self.desk.targets[ticket.category],
                       timedelta(seconds=ticket.paused_seconds or 0))

    def references(self) -> tuple[str, ...]:
        """References for mail about the received one: its own, newest last, no duplicates; at most
        MAX_REFERENCES (the thread's first id and the newest), so that a mail with thousands of
        References never makes ours huge."""
        mail = self.arrival.mail
        refs = tuple(mail.references) + (mail.message_id,)  # the header's order: oldest first
        return cap_references(tuple(dict.fromkeys(r for r in refs if r)))

    def notify_staff(self, recipients: tuple[str, ...], event: str | None = None) -> None:
        """Forward the received mail to staff, Reply-To us so that their answer lands on the ticket.

        `event` (default: read from the draft, `notification_event`) says what happened; the mail shows
        who wrote, the new text without quotes, and the ticket's last messages before it."""
        if not recipients:
            return
        mail, arrival = self.arrival.mail, self.arrival
        event = event or self.notification_event()
        opens = self.ticket.number == 0
        body = "" if arrival.oversize else mail.text if opens else new_text(mail.plain, mail.html)
        values = {"body": body, "attachments": mail.attachments, "needs_review": self.ticket.needs_review,
                  "event": event, "author": mail.sender.name if mail.sender else "", "author_email": self.who,
                  "role": arrival.role.value, "opens": opens,
                  "size_limit": self.desk.max_message_size if arrival.oversize else 0,
                  "checklist": self.checklist if opens else None}
        self.send("notification", recipients, values=values, reply_to=self.desk.address,
                  references=self.references(), recent_messages=0 if opens else RECENT_MESSAGES,
                  with_attachments=bool(mail.attachments))

    def notification_event(self) -> str:
        """What the received mail is, for staff: new, oversize, reopened, reply (the reporter's) or other."""
        if self.arrival.oversize:
            return "oversize"
        if self.ticket.number == 0:
            return "new"
        if any(isinstance(e, Event) and e.type == "reopened" for e in self.effects):
            return "reopened"
        return "reply" if self.who and self.who == self.ticket.reporter else "other"

    def colleagues(self) -> tuple[str, ...]:
        """The other staff on the ticket: its assignee, or every member when unassigned; never the sender."""
        assignee = self.ticket.assignee
        on_ticket = (assignee,) if assignee else self.desk.member_addresses
        return tuple(a for a in on_ticket if a != self.who)

    def copy_colleagues(self, event: str, body: str, signature: str) -> None:
        """A staff answer went to the reporter: the other staff on the ticket get a copy, so that two
        people do not answer the same question (`event`: colleague, or closed)."""
        to = self.colleagues()
        if not to:
            return
        values = {"body": body, "event": event, "author": signature, "author_email": self.who,
                  "role": self.arrival.role.value, "needs_review": self.ticket.needs_review}
        self.send("notification", to, values=values, reply_to=self.desk.address, references=self.references(),
                  recent_messages=RECENT_MESSAGES)


RECENT_MESSAGES = 3  # the ticket's last messages our mail to staff shows for context
MAX_REFERENCES = 20  # ids an outgoing References carries (RFC 5322 §3.6.4 allows trimming the middle)


def cap_references(refs: tuple[str, ...], limit: int = MAX_REFERENCES) -> tuple[str, ...]:
    """The first id (the thread's root) and the newest `limit - 1`, in order."""
    if len(refs) <= limit:
        return refs
    return (refs[0],) + refs[-(limit - 1):]


def registration_checklist(arrival: Arrival) -> Checklist | None:
    """The registration documents the received mail brings, and those still missing (None: no such mail)."""
    if arrival.oversize:
        return None
    mail = arrival.mail
    return checklist.check(mail.text, mail.attachments, registration="registration" in arrival.topics)
