"""Stage `decide` (pure): an Arrival (mail, verdict, ticket snapshot, role, lookups) -> a Decision.

Who gets which mail, as a table (the rows are tested one by one in tests/unit/test_decide.py):

| arrival                                    | recorded as           | mail                               |
|--------------------------------------------|-----------------------|------------------------------------|
| not a report (auto-reply, bounce, spam, …) | kept, no ticket       | none                               |
| auto-reply or bounce in a ticket's thread  | `auto_reply`/`bounce` | none                               |
| a second copy of a processed mail          | kept as `duplicate`   | none                               |
| new report (no ticket)                     | `report`              | ack to the sender*; notification   |
|                                            |                       |   to every staff member            |
| follow-up by the reporter or a Cc          | `reply`               | notification to the assignee, else |
|                                            |                       |   every staff member; waiting      |
|                                            |                       |   resumes, recently closed reopens |
| follow-up by a stranger (not reporter, Cc, | `third_party`         | notification (`other`) to the      |
|   staff, coordinator)                      |                       |   assignee, else every member;     |
|                                            |                       |   nothing else: no reopen, no      |
|                                            |                       |   clock change, no ack             |
| the reporter only thanks (core/thanks.py)  | `reply`; event        | none; the ticket stays closed      |
|   or rates a closed ticket                 |   `thanks` / rating   |                                    |
| mail from a blocked sender (not staff:     | kept as `blocked`     | none                               |
|   staff addresses cannot be blocked), spam |                       |                                    |
|   and bulk too: the operator's word first  |                       |                                    |
| a new report from a sender who opened      | kept as `flood`       | the first one in the hour: one     |
|   `max_tickets_per_hour` within the hour   |                       |   summary to every staff member    |
| follow-up to a ticket closed too long ago  | a new ticket          | as a new report                    |
| staff or coordinator reply                 | `staff_reply`/`note`  | see core/staff.py                  |
| a partner's, on a ticket forwarded to it   | `partner`             | notification to the assignee, else |
|   (Role.PARTNER, #teruskan)                |                       |   every member; see core/partners  |
| staff or coordinator address, failed       | `unverified` on the   | to that address only, at most once |
|   authentication (Role.UNVERIFIED), in a   |   ticket; nothing     |   an hour: which check failed and  |
|   ticket's thread                          |   else changes        |   what the operator can do         |
| the same, no ticket (a new mail)           | kept as `unverified`  | the same explanation (no ticket:   |
|                                            |   (`mail open ID`)    |   nothing is opened for staff)     |
| new mail from staff with #daftar/#list or  | kept as `command`     | the list / the help to the sender; |
|   #bantuan/#help                           |                       |   nothing is opened                |
| new mail from staff forwarding a citizen's | `report`, reporter =  | ack to the citizen; notification   |
|   mail (core/forward.py)                   |   the citizen; event  |   to every staff member            |
|                                            |   `forwarded_by`      |                                    |
| new mail from staff, anything else         | `report`              | as a new report                    |

* to Reply-To, else From; never to Reply-To when the From failed DMARC (a forged From must not aim
  our ack at a victim); none when that address has no address we may answer, or already got
  `max_acks_per_hour` acks within the hour (counted by the address the ack goes to).

What the staff notification says (`Draft.notify_staff`; its subject and first line name the event):

| the received mail                                  | event      | shows                                   |
|----------------------------------------------------|------------|-----------------------------------------|
| opens a ticket                                     | `new`      | who, the report, the registration       |
|                                                    |            |   checklist (core/checklist.py)         |
| the reporter's, on an open or waiting ticket       | `reply`    | who, the new text without quotes, the   |
|                                                    |            |   ticket's last 3 messages before it    |
| anyone's, that reopened a closed ticket            | `reopened` | the same                                |
| a Cc's or a stranger's                             | `other`    | the same, and how the sender relates    |
| too big to read (only the header block was read)   | `oversize` | no body: the command that shows it      |
| (core/staff.py) a staff answer went to the reporter| `colleague`| to the other staff on the ticket (the   |
|                                                    | / `closed` |   assignee, else every member), never   |
|                                                    |            |   to the sender: the text sent          |

The acknowledgement of a registration request (or of a mail that attaches or names one of the four
documents) lists what arrived and what is still missing.
"""

from __future__ import annotations

from dataclasses import replace

from mailticket.core import forward, partners, sla, staff, survey, thanks, workflow
from mailticket.core.draft import Draft
from mailticket.core.effects import (
    Answer,
    Arrival,
    Decision,
    Desk,
    Event,
    Keep,
    OpenTicket,
    Record,
    Role,
    Send,
    TicketSnapshot,
)
from mailticket.core.filter import is_unanswerable
from mailticket.core.reply import new_text
from mailticket.core.thread import strip_subject
from mailticket.types import Category, Kept, Kind, Status, ticket_token

RECORDED_ON_TICKET = frozenset({Kind.BOUNCE, Kind.AUTO_REPLY})
# what a block-list entry overrides (a person's mail, however the filter judged it); bounces and auto-replies
# stay what they are: machine answers, recorded on their ticket
BLOCKABLE = frozenset({Kind.REPORT, Kind.SPAM, Kind.BULK})


def decide(arrival: Arrival, desk: Desk, reply: staff.StaffText | None = None) -> Decision:
    """The decision for one received mail; `reply` is the parsed text of a staff reply."""
    kind = arrival.verdict.kind
    if arrival.duplicate_of is not None:  # the same mail by another route: other trace headers
        why = f"another copy of raw message {arrival.duplicate_of}"
        return Decision(Kept.DUPLICATE.value, (Keep(Kept.DUPLICATE.value, why),))
    if arrival.role is Role.UNVERIFIED:
        return unverified(arrival)
    if arrival.blocked and not arrival.role.steers:  # staff addresses are never blocked
        return Decision(Kept.BLOCKED.value, (Keep(Kept.BLOCKED.value, f"sender blocked: {arrival.blocked}"),))
    if kind is not Kind.REPORT:
        return _not_a_report(arrival)
    ticket = arrival.ticket
    if ticket is None:
        if arrival.role.steers:
            return staff_new_mail(arrival, desk, reply)
        return open_ticket(arrival, desk)
    if arrival.role.steers and reply is not None:
        return staff.apply_reply(Draft(arrival, desk, ticket), reply)
    if arrival.role is Role.PARTNER:  # issue 19: a service owner the ticket was forwarded to
        return partners.answer(arrival, desk, ticket)
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


# -- staff mail: unverified, or new (no ticket) ---------------------------------------------------


UNVERIFIED = Kept.UNVERIFIED.value  # messages[].kind on the ticket, and the kept raw row's kind


def unverified(arrival: Arrival) -> Decision:
    """A staff address whose mail failed authentication: recorded or kept, nothing else changes; the
    address itself (never Reply-To) is told why, at most once an hour."""
    why = arrival.unverified_why or "pemeriksaan keaslian e-mail gagal"
    sender, mail, ticket = arrival.sender, arrival.mail, arrival.ticket
    values = (("why", why), ("subject", mail.subject))
    effects: list = []
    if ticket is not None:
        effects.append(Record(UNVERIFIED, mail.text, f"staff address failed authentication: {why}"))
        effects.append(Event(UNVERIFIED, sender or "(unknown)", why))
    else:
        effects.append(Keep(UNVERIFIED, f"staff address failed authentication: {why}"))
    if sender and not arrival.explained_last_hour:
        if ticket is not None:
            effects.append(Send(UNVERIFIED, (sender,), ticket, values, in_reply_to=mail.message_id))
        else:
            effects.append(Answer(UNVERIFIED, (sender,), values, in_reply_to=mail.message_id))
    return Decision(UNVERIFIED, tuple(effects))


def staff_new_mail(arrival: Arrival, desk: Desk, reply: staff.StaffText | None) -> Decision:
    """A new mail (no ticket) from an authenticated staff member or coordinator."""
    names = {c.name for c in reply.commands} if reply is not None else set()
    if names & staff.ASKING:
        return staff.answer_new_mail(arrival, desk, reply)
    found = forward.forwarded(arrival.mail, arrival.attached_mail)
    if found is None:
        return open_ticket(arrival, desk)
    # the forwarder's own counts must not stop the citizen's ack
    citizen = replace(arrival, mail=forward.as_report(arrival.mail, found), role=Role.STRANGER,
                      opened_last_hour=0, acks_to_last_hour=0)
    decision = open_ticket(citizen, desk)
    by = Event("forwarded_by", arrival.sender, found.note[:300])  # the forwarder's own words, if any
    effects = list(decision.effects)
    effects.insert(2, by)  # after the ticket and its "created" event
    return Decision("forwarded", tuple(effects))


# -- a new report --------------------------------------------------------------------------------


def open_ticket(arrival: Arrival, desk: Desk, follows: TicketSnapshot | None = None) -> Decision:
    """Open a ticket: record, acknowledge, tell every staff member."""
    verdict = arrival.classification
    if verdict is None:
        raise ValueError("a mail that opens a ticket must be classified first")
    if arrival.opened_last_hour >= desk.max_tickets_per_hour and not arrival.role.steers:
        return flood(arrival, desk)
    snapshot = new_snapshot(arrival, desk, verdict.category, verdict.source)
    draft = Draft(arrival, desk, snapshot.changed({"needs_review": verdict.needs_review}))  # weak rules too
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
    if arrival.acks_to_last_hour + 1 > desk.max_acks_per_hour:  # this ack counts too
        draft.event("ack-skipped", f"{to} already got {desk.max_acks_per_hour} acknowledgements "
                    "within an hour", by="system")
        return
    limit = desk.max_message_size if arrival.oversize else 0
    draft.send("ack", (to,), values={"topics": arrival.topics, "size_limit": limit,
                                     "checklist": draft.checklist},
               in_reply_to=arrival.mail.message_id, references=draft.references())


def reply_address(arrival: Arrival, desk: Desk) -> str:
    """Where an answer to this mail goes; "" when we must not answer it."""
    mail = arrival.mail
    reply_to = [] if arrival.from_failed_dmarc else [a.email for a in mail.reply_to if a.email]
    for address in reply_to + [arrival.sender]:
        if address and address not in desk.own_addresses and not is_unanswerable(address):
            return address
    return ""


# -- a follow-up in a ticket's thread ------------------------------------------------------------


def follow_up(arrival: Arrival, desk: Desk, ticket: TicketSnapshot) -> Decision:
    """A reporter's (or anyone's) message in a ticket's thread: record, resume, reopen, tell staff.

    The reporter's answer to the closing mail's survey (core/survey.py) is recorded as the ticket's
    rating and never reopens it, and neither does a reply that only thanks (core/thanks.py). A stranger
    (`third_party`) changes nothing."""
    if arrival.role is Role.STRANGER:
        return third_party(arrival, desk, ticket)
    if ticket.status is Status.CLOSED and arrival.sender == ticket.reporter:
        rated = survey.answer(arrival, desk, ticket)
        if rated is not None:
            return rated
        if not arrival.oversize and thanks.only_thanks(new_text(arrival.mail.plain, arrival.mail.html)):
            return _thanked(arrival, desk, ticket)
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


THIRD_PARTY = "third_party"  # messages[].kind of a stranger's mail on a ticket


def third_party(arrival: Arrival, desk: Desk, ticket: TicketSnapshot) -> Decision:
    """Someone who is not the reporter, a Cc, staff or a coordinator wrote in the ticket's thread:
    recorded, staff are told; no reopen, no clock change, no mail to the sender."""
    draft = Draft(arrival, desk, ticket)
    draft.effects.append(Record(THIRD_PARTY, arrival.mail.text, f"stranger, matched by {arrival.how}"))
    draft.event(THIRD_PARTY, f"matched by {arrival.how}", by=arrival.sender or "(unknown)")
    draft.notify_staff((ticket.assignee,) if ticket.assignee else desk.member_addresses)
    return draft.decision(THIRD_PARTY)


def _thanked(arrival: Arrival, desk: Desk, ticket: TicketSnapshot) -> Decision:
    """The reporter only thanks us for a closed ticket: recorded, the ticket stays closed, no mail."""
    draft = Draft(arrival, desk, ticket)
    draft.effects.append(Record("reply", arrival.mail.text, "thanks after close"))
    draft.event("thanks", "the reporter thanked; the ticket stays closed", by=arrival.sender)
    return draft.decision("thanks")


def flood(arrival: Arrival, desk: Desk) -> Decision:
    """A sender past `max_tickets_per_hour` new tickets: kept as `flood`; staff get one summary an hour."""
    why = f"{arrival.opened_last_hour} new tickets from {arrival.sender} within an hour (limit " \
          f"{desk.max_tickets_per_hour})"
    effects: list = [Keep(Kept.FLOOD.value, why)]
    if arrival.flooded_last_hour == 0 and desk.member_addresses:
        values = (("sender", arrival.sender), ("limit", desk.max_tickets_per_hour),
                  ("subject", arrival.mail.subject), ("now", arrival.now))
        effects.append(Answer(Kept.FLOOD.value, desk.member_addresses, values))
    return Decision(Kept.FLOOD.value, tuple(effects))


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
