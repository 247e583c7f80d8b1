"""Stage `decide` (pure): an Arrival (mail, verdict, ticket snapshot, role, lookups) -> a Decision.

Who gets which mail, as a table (the rows are tested one by one in tests/unit/test_decide.py):

| arrival                                    | recorded as           | mail                               |
|--------------------------------------------|-----------------------|------------------------------------|
| not a report (auto-reply, bounce, spam, …) | kept, no ticket       | none                               |
| auto-reply or bounce in a ticket's thread  | `auto_reply`/`bounce` | none                               |
| a second copy of a processed mail          | kept as `duplicate`   | none                               |
| new report (no ticket)                     | `report`              | ack to the sender*; notification   |
|                                            |                       |   to every staff member            |
| follow-up by the reporter, a Cc, a         | `reply`               | notification to the assignee, else |
|   stranger or an unverified staff address  |                       |   every staff member; waiting      |
|                                            |                       |   resumes, recently closed reopens |
| follow-up to a ticket closed too long ago  | a new ticket          | as a new report                    |
| staff or coordinator reply                 | `staff_reply`/`note`  | see core/staff.py                  |

* unless the sender has no address we may answer, or opened more than `max_acks_per_hour`
  tickets within the hour.
"""

from __future__ import annotations

from mailticket.core import sla, staff, survey, workflow
from mailticket.core.draft import Draft
from mailticket.core.effects import Arrival, Decision, Desk, Keep, OpenTicket, Record, TicketSnapshot
from mailticket.core.filter import is_unanswerable
from mailticket.core.thread import strip_subject
from mailticket.types import Category, Kept, Kind, Status, ticket_token

RECORDED_ON_TICKET = frozenset({Kind.BOUNCE, Kind.AUTO_REPLY})


def decide(arrival: Arrival, desk: Desk, reply: staff.StaffText | None = None) -> Decision:
    """The decision for one received mail; `reply` is the parsed text of a staff reply."""
    kind = arrival.verdict.kind
    if kind is not Kind.REPORT:
        return _not_a_report(arrival)
    if arrival.duplicate_of is not None:  # the same mail by another route: other trace headers
        why = f"another copy of raw message {arrival.duplicate_of}"
        return Decision(Kept.DUPLICATE.value, (Keep(Kept.DUPLICATE.value, why),))
    ticket = arrival.ticket
    if ticket is None:
        return open_ticket(arrival, desk)
    if arrival.role.steers and reply is not None:
        return staff.apply_reply(Draft(arrival, desk, ticket), reply)
    return follow_up(arrival, desk, ticket)


def needs_classification(arrival: Arrival) -> bool:
    """Whether this mail may open a ticket (the shell then classifies it and counts the sender's tickets)."""
    ticket = arrival.ticket
    return (arrival.verdict.kind is Kind.REPORT and arrival.duplicate_of is None
            and (ticket is None or ticket.status is Status.CLOSED))


def _not_a_report(arrival: Arrival) -> Decision:
    verdict = arrival.verdict
    if arrival.ticket is not None and verdict.kind in RECORDED_ON_TICKET:
        record = Record(verdict.kind.value, arrival.mail.text[:4000], verdict.reason)
        return Decision(f"{verdict.kind.value}-recorded", (record,))
    return Decision(verdict.kind.value, (Keep(verdict.kind.value, verdict.reason),))


# -- a new report --------------------------------------------------------------------------------


def open_ticket(arrival: Arrival, desk: Desk, follows: TicketSnapshot | None = None) -> Decision:
    """Open a ticket: record, acknowledge, tell every staff member."""
    verdict = arrival.classification
    if verdict is None:
        raise ValueError("a mail that opens a ticket must be classified first")
    draft = Draft(arrival, desk, new_snapshot(arrival, desk, verdict.category, verdict.source))
    draft.effects.append(OpenTicket(draft.ticket))
    draft.event("created", _created_detail(arrival, desk, follows), by=arrival.sender or "(unknown)")
    why = ", ".join(verdict.matched) if verdict.matched else "no rule matched: default category"
    draft.event("classified", f"{verdict.category.value}: {why}", by=verdict.source)
    draft.effects.append(Record("report", arrival.mail.text, "new ticket"))
    _acknowledge(draft)
    draft.notify_staff(desk.member_addresses)
    return draft.decision("new-ticket")


def new_snapshot(arrival: Arrival, desk: Desk, category: Category, source: str) -> TicketSnapshot:
    mail, reporter, now = arrival.mail, arrival.sender, arrival.now
    cc = tuple(a.email for a in mail.cc if a.email and a.email not in desk.own_addresses | {reporter}
               and not is_unanswerable(a.email))  # never relay to no-reply or mailer-daemon
    return TicketSnapshot(
        number=0, subject=strip_subject(mail.subject, desk.prefix) or "(tanpa subjek)", reporter=reporter,
        reporter_name=mail.sender.name if mail.sender else "", cc=cc, status=Status.NEW,
        category=category, category_source=source, needs_review=source == "default", assignee=None,
        created_at=now, due_at=sla.due(desk.calendar, now, desk.targets[category]), closed_at=None,
        escalated=False, waiting_since=None, paused_seconds=0, first_response_at=None,
        last_in_message_id=mail.message_id,
    )


def _created_detail(arrival: Arrival, desk: Desk, follows: TicketSnapshot | None) -> str:
    if follows is not None:
        return f"reply to {ticket_token(desk.prefix, follows.number)}, closed too long ago to reopen"
    if arrival.token_number is not None:
        return f"token [{ticket_token(desk.prefix, arrival.token_number)}] names no ticket; opened a new one"
    return ""


def _acknowledge(draft: Draft) -> None:
    arrival, desk = draft.arrival, draft.desk
    to = reply_address(arrival, desk)
    if not to:
        draft.event("ack-skipped", "the sender has no address we may answer", by="system")
        return
    if arrival.opened_last_hour + 1 > desk.max_acks_per_hour:  # this ticket counts too
        draft.event("ack-skipped", f"more than {desk.max_acks_per_hour} new tickets from this sender "
                    "within an hour", by="system")
        return
    limit = desk.max_message_size if arrival.oversize else 0
    draft.send("ack", (to,), values={"topics": arrival.topics, "size_limit": limit},
               in_reply_to=arrival.mail.message_id, references=draft.references())


def reply_address(arrival: Arrival, desk: Desk) -> str:
    """Where an answer to this mail goes; "" when we must not answer it."""
    mail = arrival.mail
    for address in [a.email for a in mail.reply_to if a.email] + [arrival.sender]:
        if address and address not in desk.own_addresses and not is_unanswerable(address):
            return address
    return ""


# -- a follow-up in a ticket's thread ------------------------------------------------------------


def follow_up(arrival: Arrival, desk: Desk, ticket: TicketSnapshot) -> Decision:
    """A reporter's (or anyone's) message in a ticket's thread: record, resume, reopen, tell staff.

    The reporter's answer to the closing mail's survey (core/survey.py) is recorded as the ticket's
    rating and never reopens it."""
    if ticket.status is Status.CLOSED and arrival.sender == ticket.reporter:
        rated = survey.answer(arrival, desk, ticket)
        if rated is not None:
            return rated
    action = workflow.reporter_reply_action(ticket.status, ticket.closed_at, arrival.now, desk.reopen_window)
    if action == "new-ticket":
        return open_ticket(arrival, desk, follows=ticket)
    draft = Draft(arrival, desk, ticket)
    draft.effects.append(Record("reply", arrival.mail.text, f"matched by {arrival.how}"))
    draft.event("reply", f"matched by {arrival.how}", by=arrival.sender or "(unknown)")
    if action != "none":
        _wake(draft, action)
    if arrival.sender == ticket.reporter:
        draft.change(last_in_message_id=arrival.mail.message_id or ticket.last_in_message_id)
    draft.notify_staff((ticket.assignee,) if ticket.assignee else desk.member_addresses)
    return draft.decision("reply")


def _wake(draft: Draft, action: str) -> None:
    """The reporter answered: a waiting ticket resumes its clock, a closed one reopens."""
    ticket, now = draft.ticket, draft.arrival.now
    if ticket.waiting_since is not None:
        paused = ticket.paused_seconds + int(sla.pause_length(draft.desk.calendar, ticket.waiting_since,
                                                              now).total_seconds())
        draft.change(paused_seconds=paused, waiting_since=None)
        draft.change(due_at=draft.due())
    new = workflow.next_status(draft.ticket.status, action)
    old = draft.ticket.status
    draft.change(status=Status(new), closed_at=None)
    draft.event("reopened" if action == "reopen" else "status", f"{old} -> {new}")
