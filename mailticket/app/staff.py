"""Stage `commands` -> `store` -> `outbox` for a staff or coordinator reply in a ticket's thread.

The reply's new text (quotes and signature removed) is parsed for tag lines. Any bad tag line
changes nothing and earns the sender an error reply; otherwise each command is applied in
order, every change is an event, and the text is relayed to the reporter unless it is a note.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mailticket.core.commands import parse_commands, strip_tag_lines
from mailticket.core.filter import is_unanswerable
from mailticket.core.reply import new_text
from mailticket.core.workflow import next_status
from mailticket.db import models
from mailticket.outgoing.render import HistoryEntry
from mailticket.store import rawmail, tickets
from mailticket.types import Command

if TYPE_CHECKING:
    from mailticket.app.pipeline import Outcome
    from mailticket.app.tickets import TicketWork

QUIET = frozenset({"note", "close"})  # commands after which the text is not relayed as such


class StaffReply:
    """One staff reply applied to one ticket, inside the pipeline's SAVEPOINT."""

    def __init__(self, work: TicketWork, ticket: models.Ticket, role: str):
        self.w, self.ticket, self.role = work, ticket, role
        self.p, self.session, self.now = work.p, work.session, work.now
        self.staff = self.p.settings.staff

    def apply(self) -> Outcome:
        self.p.stage("commands")
        text = new_text(self.w.mail.plain, self.w.mail.html)
        names = [p.name.lower() for p in (*self.staff.members, *self.staff.coordinators)]
        names += [p.email for p in (*self.staff.members, *self.staff.coordinators)]
        commands, errors = parse_commands(text, names)
        body = strip_tag_lines(text).strip()
        self.p.stage("store")
        quiet = any(c.name in QUIET for c in commands)
        kind = "note" if any(c.name == "note" for c in commands) else "staff_reply"
        self.noted = kind == "note"  # the text is internal: a #tutup beside it closes without it
        w = self.w
        tickets.add_received(self.session, self.ticket, w.raw.id, w.mail, kind, body, self.now)
        rawmail.mark_raw(self.session, w.raw, w.mail, "ticket", kind, f"from {self.role}", self.ticket)
        if errors:
            return self._refuse(errors)
        for command in commands:
            self._run(command, body)
        if not quiet and body:
            self._relay(body)
        return self.w.outcome(f"{kind}:{','.join(c.name for c in commands) or 'relay'}", self.ticket)

    # -- outcomes ------------------------------------------------------------------------------

    def _refuse(self, errors) -> Outcome:
        lines = "; ".join(f"line {e.line}: {e.reason}" for e in errors)
        self._event("command-error", lines)
        rendered = self.p.renderer.error(ticket=self.p.ticket_view(self.ticket), errors=errors)
        self.p.queue(self.session, rendered.outgoing((self.w.who,), in_reply_to=self.w.mail.message_id),
                     self.ticket, self.now)
        return self.w.outcome("command-error", self.ticket)

    def _relay(self, body: str) -> None:
        self._status("answer")
        self._answered()
        rendered = self.p.renderer.relay(ticket=self.p.ticket_view(self.ticket), body=body,
                                         staff_name=self._staff_name())
        self._to_reporter(rendered)
        self._event("relay", body[:500])

    def _to_reporter(self, rendered) -> None:
        ticket = self.ticket
        if not ticket.reporter or is_unanswerable(ticket.reporter):
            self._event("relay-skipped", "the ticket has no reporter address we may answer")
            return
        last = ticket.last_in_message_id
        out = rendered.outgoing((ticket.reporter,), cc=tuple(c for c in ticket.cc.split("\n") if c),
                                in_reply_to=last, references=(last,) if last else ())
        self.p.queue(self.session, out, ticket, self.now)

    def _staff_name(self) -> str:
        person = self.staff.find(self.w.who)
        name = person.name if person else ""
        if self.staff.disclose_address:
            return f"{name} <{self.w.who}>" if name else self.w.who
        return name

    # -- commands ------------------------------------------------------------------------------

    def _run(self, command: Command, body: str) -> None:
        handler = getattr(self, f"_cmd_{command.name}")
        handler(command, body)

    def _cmd_close(self, command: Command, body: str) -> None:
        if not self._status("close"):
            return
        self.ticket.closed_at, self.ticket.waiting_since = self.now, None
        self._answered()
        body = "" if self.noted else body
        rendered = self.p.renderer.closing(ticket=self.p.ticket_view(self.ticket), body=body,
                                           staff_name=self._staff_name())
        self._to_reporter(rendered)

    def _cmd_reopen(self, command: Command, body: str) -> None:
        if self._status("reopen"):
            self.ticket.closed_at = None

    def _cmd_wait(self, command: Command, body: str) -> None:
        if self._status("wait"):
            self.ticket.waiting_since = self.now

    def _cmd_escalate(self, command: Command, body: str) -> None:
        text = command.arg or body
        self.ticket.escalated = True
        if not self._status("escalate", text[:500]):
            self._event("escalated", text[:500])
        recipients = tuple(p.email for p in self.staff.coordinators)
        if not recipients:
            self._event("escalation-skipped", "no coordinators configured")
            return
        by = self._staff_name() or self.w.who
        rendered = self.p.renderer.escalation(ticket=self.p.ticket_view(self.ticket), text=text,
                                              history=history(self.ticket), by=by)
        self.p.queue(self.session, rendered.outgoing(recipients), self.ticket, self.now)

    def _cmd_category(self, command: Command, body: str) -> None:
        ticket = self.ticket
        if ticket.category == command.arg and ticket.category_source == "staff":
            return
        old = ticket.category
        ticket.category, ticket.category_source, ticket.needs_review = command.arg, "staff", False
        ticket.due_at = self.p.due(ticket)
        self._event("category", f"{old} -> {command.arg}")

    def _cmd_assign(self, command: Command, body: str) -> None:
        person = self.staff.find(command.arg)
        self._assign(person.email if person else command.arg)

    def _cmd_take(self, command: Command, body: str) -> None:
        self._assign(self.w.who)

    def _cmd_note(self, command: Command, body: str) -> None:
        self._event("note", (command.arg or body)[:2000])

    # -- small steps ---------------------------------------------------------------------------

    def _answered(self) -> None:
        """The reporter has heard from staff: the first time counts for the digest."""
        if self.ticket.first_response_at is None:
            self.ticket.first_response_at = self.now

    def _assign(self, email: str) -> None:
        if self.ticket.assignee == email:
            return
        self.ticket.assignee = email
        self._event("assigned", email)
        self._status("answer")

    def _status(self, action: str, detail: str = "") -> bool:
        """Apply a status transition if it applies; record it. True when the status changed."""
        new = next_status(self.ticket.status, action)
        if new is None:
            return False
        old, self.ticket.status = self.ticket.status, new
        event = {"close": "closed", "reopen": "reopened", "escalate": "escalated", "wait": "waiting"}
        self._event(event.get(action, "status"), f"{old} -> {new}" + (f": {detail}" if detail else ""))
        return True

    def _event(self, type_: str, detail: str) -> None:
        tickets.add_event(self.session, self.ticket, self.now, type_, self.w.who, detail)


def history(ticket: models.Ticket) -> list[HistoryEntry]:
    """A ticket's events as the coordinators' mails show them."""
    return [HistoryEntry(at=e.at, actor=e.by, action=e.type, text=e.detail[:200]) for e in ticket.events]
