"""Stages `classify` -> `store` -> `outbox` for a report: open a ticket, or add to one.

A TicketWork handles one received message inside the pipeline's SAVEPOINT: every row it writes
and every mail it queues commits together with the message, or not at all.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from mailticket.core import classify, sla, thread, workflow
from mailticket.core.filter import is_unanswerable
from mailticket.db import models
from mailticket.store import rawmail, tickets
from mailticket.types import Category, Mail, Status, ThreadKey

if TYPE_CHECKING:
    from mailticket.app.pipeline import Outcome, Pipeline


class TicketWork:
    def __init__(self, session: Session, pipeline: Pipeline, raw: models.RawMail, mail: Mail, now: datetime,
                 oversize: bool = False):
        self.session, self.p, self.raw, self.mail, self.now = session, pipeline, raw, mail, now
        self.oversize = oversize  # only the header block was read: the reporter is told the limit
        self.who = mail.sender.email if mail.sender else ""

    def outcome(self, decision: str, ticket: models.Ticket) -> Outcome:
        from mailticket.app.pipeline import Outcome

        return Outcome(self.raw.id, "ticket", decision, self.p.token(ticket.number), ticket.category)

    # -- a new report ----------------------------------------------------------------------

    def open_ticket(self, key: ThreadKey, follows: models.Ticket | None = None) -> Outcome:
        self.p.stage("classify")
        settings = self.p.settings
        verdict = classify.classify(self.mail.subject, self.mail.text, self.p.rules,
                                    Category(settings.default_category))
        topics = classify.topics(self.mail.subject, self.mail.text, self.p.rules)
        self.p.stage("store")
        ticket = self._new_ticket(verdict.category.value, verdict.source)
        detail = ""
        if follows is not None:
            detail = f"reply to {self.p.token(follows.number)}, closed too long ago to reopen"
        elif key.number is not None:
            detail = f"token [{self.p.token(key.number)}] names no ticket; opened a new one"
        tickets.add_event(self.session, ticket, self.now, "created", self.who or "(unknown)", detail)
        why = ", ".join(verdict.matched) if verdict.matched else "no rule matched: default category"
        tickets.add_event(self.session, ticket, self.now, "classified", verdict.source,
                        f"{verdict.category.value}: {why}")
        tickets.add_received(self.session, ticket, self.raw.id, self.mail, "report", self.mail.text, self.now)
        rawmail.mark_raw(self.session, self.raw, self.mail, "ticket", "report", "new ticket", ticket)
        self._acknowledge(ticket, topics)
        self._tell_staff(ticket, tuple(p.email for p in settings.staff.members))
        return self.outcome("new-ticket", ticket)

    def _new_ticket(self, category: str, source: str) -> models.Ticket:
        mail, settings = self.mail, self.p.settings
        reporter = self.who
        cc = [a.email for a in mail.cc if a.email and a.email not in self.p.own_addresses | {reporter}
              and not is_unanswerable(a.email)]  # never relay to no-reply or mailer-daemon
        number = tickets.next_ticket_number(self.session, settings.helpdesk.first_number)
        ticket = models.Ticket(
            number=number,
            subject=thread.strip_subject(mail.subject, settings.helpdesk.token_prefix) or "(tanpa subjek)",
            reporter=reporter, reporter_name=mail.sender.name if mail.sender else "",
            cc="\n".join(cc), status=Status.NEW.value, category=category, category_source=source,
            needs_review=source == "default", assignee=None, created_at=self.now,
            closed_at=None, escalated=False, paused_seconds=0, last_in_message_id=mail.message_id,
        )
        ticket.due_at = self.p.due(ticket)
        tickets.add_ticket(self.session, ticket)
        return ticket

    def _acknowledge(self, ticket: models.Ticket, topics: tuple[str, ...]) -> None:
        to = self.reply_address()
        if not to:
            tickets.add_event(self.session, ticket, self.now, "ack-skipped", "system",
                            "the sender has no address we may answer")
            return
        limit = self.p.settings.helpdesk.max_acks_per_hour
        if tickets.tickets_opened_since(self.session, ticket.reporter, self.now - timedelta(hours=1)) > limit:
            tickets.add_event(self.session, ticket, self.now, "ack-skipped", "system",
                            f"more than {limit} new tickets from this sender within an hour")
            return
        self.p.stage("outbox")
        limit = self.p.settings.helpdesk.max_message_size if self.oversize else 0
        rendered = self.p.renderer.ack(ticket=self.p.ticket_view(ticket), topics=topics, size_limit=limit)
        out = rendered.outgoing((to,), in_reply_to=self.mail.message_id, references=self._references())
        self.p.queue(self.session, out, ticket, self.now)

    def _tell_staff(self, ticket: models.Ticket, recipients: tuple[str, ...]) -> None:
        """Forward a report or follow-up to staff, Reply-To us so that their answer lands here."""
        if not recipients:
            return
        self.p.stage("outbox")
        rendered = self.p.renderer.notification(ticket=self.p.ticket_view(ticket), body=self.mail.text,
                                                attachments=self.mail.attachments,
                                                needs_review=ticket.needs_review)
        out = rendered.outgoing(recipients, reply_to=self.p.settings.helpdesk.address,
                                references=self._references())
        self.p.queue(self.session, out, ticket, self.now)

    def reply_address(self) -> str:
        """Where an answer to this mail goes; "" when we must not answer it."""
        candidates = [a.email for a in self.mail.reply_to if a.email] + [self.who]
        for address in candidates:
            if address and address not in self.p.own_addresses and not is_unanswerable(address):
                return address
        return ""

    def _references(self) -> tuple[str, ...]:
        refs = tuple(reversed(self.mail.references)) + (self.mail.message_id,)
        return tuple(dict.fromkeys(r for r in refs if r))

    # -- a message in an existing ticket's thread -----------------------------------------

    def follow_up(self, ticket: models.Ticket, how: str) -> Outcome:
        """A reporter's (or anyone's) message in a ticket's thread: record, resume, reopen, forward."""
        settings = self.p.settings
        action = workflow.reporter_reply_action(ticket.status, ticket.closed_at, self.now,
                                                settings.helpdesk.reopen_window)
        if action == "new-ticket":
            return self.open_ticket(ThreadKey(None, None, ()), follows=ticket)
        self.p.stage("store")
        tickets.add_received(self.session, ticket, self.raw.id, self.mail, "reply", self.mail.text, self.now)
        tickets.add_event(self.session, ticket, self.now, "reply", self.who or "(unknown)",
                          f"matched by {how}")
        if action != "none":
            self._wake(ticket, action)
        if self.who == ticket.reporter:
            ticket.last_in_message_id = self.mail.message_id or ticket.last_in_message_id
        rawmail.mark_raw(self.session, self.raw, self.mail, "ticket", "reply", f"matched by {how}", ticket)
        staff = (ticket.assignee,) if ticket.assignee else tuple(p.email for p in settings.staff.members)
        self._tell_staff(ticket, staff)
        return self.outcome("reply", ticket)

    def _wake(self, ticket: models.Ticket, action: str) -> None:
        """The reporter answered: a waiting ticket resumes its clock, a closed one reopens."""
        if ticket.waiting_since is not None:
            paused = sla.pause_length(self.p.settings.calendar, ticket.waiting_since, self.now)
            ticket.paused_seconds += int(paused.total_seconds())
            ticket.waiting_since = None
            ticket.due_at = self.p.due(ticket)
        old, ticket.status = ticket.status, workflow.next_status(ticket.status, action)
        ticket.closed_at = None
        tickets.add_event(self.session, ticket, self.now, "reopened" if action == "reopen" else "status",
                        self.who, f"{old} -> {ticket.status}")
