"""A decision being drawn up (pure): effects in order, with the ticket as they leave it.

Each change is applied to the draft's snapshot as it is recorded, so that later steps of one
decision (a second command in the same mail) see the ticket as the earlier ones left it, and each
mail shows the ticket as it was when that mail was decided.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from mailticket.core import sla, workflow
from mailticket.core.effects import Arrival, Change, Decision, Desk, Effect, Event, Send, TicketSnapshot
from mailticket.types import Status

# action -> the event type that records it (others record "status")
STATUS_EVENTS = {"close": "closed", "reopen": "reopened", "escalate": "escalated", "wait": "waiting"}


class Draft:
    def __init__(self, arrival: Arrival, desk: Desk, ticket: TicketSnapshot):
        self.arrival, self.desk, self.ticket = arrival, desk, ticket
        self.effects: list[Effect] = []
        self.events = 0  # events recorded so far (escalation mail shows history up to here)

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
        """References for mail about the received one: its own, newest last, no duplicates."""
        mail = self.arrival.mail
        refs = tuple(reversed(mail.references)) + (mail.message_id,)
        return tuple(dict.fromkeys(r for r in refs if r))

    def notify_staff(self, recipients: tuple[str, ...]) -> None:
        """Forward the received mail to staff, Reply-To us so that their answer lands on the ticket."""
        if not recipients:
            return
        mail = self.arrival.mail
        self.send("notification", recipients,
                  values={"body": mail.text, "attachments": mail.attachments,
                          "needs_review": self.ticket.needs_review},
                  reply_to=self.desk.address, references=self.references())
