"""Stage `decide` for a staff or coordinator reply (pure): the reply's commands -> effects.

The reply's new text (quotes and signature removed) is parsed for tag lines (`read_reply`). Any bad
tag line changes nothing and earns the sender an error reply; otherwise each command is applied in
order, every change is an event, and the text is relayed to the reporter only when the reply has
no tag or only reporter-facing ones (#tutup, #tunggu, #buka; `commands.Tag.to_reporter`): text
beside any other tag is internal, recorded on the ticket and shown to staff, never sent to the
reporter. #tutup sends its text in the closing mail instead of a relay.

| command            | ticket                                       | mail                                  |
|--------------------|----------------------------------------------|---------------------------------------|
| (none, with text)  | new -> open; first response                  | relay of the text to reporter and Cc  |
| #tutup / #close    | -> closed; first response                    | closing mail to reporter and Cc       |
| #buka / #reopen    | closed -> open                               | relay of the text                     |
| #tunggu / #wait    | -> waiting, SLA clock paused                 | relay of the text                     |
| #eskalasi          | -> escalated                                 | escalation to the coordinators        |
| #kategori X        | category X, due time follows                 | none (the text is internal)           |
| #tugaskan X, #ambil| assignee; new -> open                        | none (the text is internal)           |
| #catatan / #note   | note event                                   | none (the text is internal)           |
| #gabung LPSE#N     | messages, events, Cc move to N; this one     | to the reporter and Cc: use LPSE#N    |
|                    |   -> closed, merged_into N; an event on both |   from now on (once: a merged ticket  |
|                    |                                              |   cannot be merged again)             |
| #spam              | -> closed; the reporter's address is blocked | none to the sender (internal-only)    |
|                    |   (`Block`; staff addresses never are)       |                                       |
| #teruskan NAME     | waiting_on NAME (core/partners.py)           | the ticket to partner NAME            |
| #daftar / #list    | nothing                                      | the open tickets to the sender        |
| #bantuan / #help   | nothing                                      | the help mail to the sender           |
| a bad tag line, or | nothing                                      | error reply to the sender only        |
|   #gabung to an unknown, the same or an already merged ticket |   |                                       |

In a new mail (no ticket), #daftar and #bantuan are answered and nothing is opened (`answer_new_mail`).

Feedback to staff (issue 14), on top of the table:

| when                                          | mail                                                 |
|-----------------------------------------------|------------------------------------------------------|
| any command ran (not #daftar/#bantuan alone)  | transcript to the sender: per command what changed,  |
|                                               |   the mail sent, the ticket's new state              |
| a relay or closing went to the reporter       | a copy (notification `colleague`/`closed`) to the    |
|                                               |   other staff on the ticket: the assignee, else every|
|                                               |   member; never the sender                           |
| #tugaskan X by someone other than X           | `assigned` to X: summary, report, last messages,     |
|                                               |   history (#ambil: none, nobody mails himself)       |
| #eskalasi                                     | the escalation carries report and last messages      |

Relays and closings sign with the staff member's display name (`[staff]` `display`), else the name.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from mailticket.core import partners
from mailticket.core.commands import is_internal, parse_commands, strip_tag_lines
from mailticket.core.draft import RECENT_MESSAGES, Draft
from mailticket.core.effects import Answer, Arrival, Block, Decision, Desk, Keep, MergeInto, Record, Send
from mailticket.core.filter import is_unanswerable
from mailticket.core.reply import drop_image_placeholders, new_text
from mailticket.types import Category, Command, CommandError, Kept, Mail, Status, ticket_token

ASKING = frozenset({"list", "help"})  # commands that ask the system something and change nothing


@dataclass(frozen=True)
class StaffText:
    """A staff reply read: its commands (or the errors that stop them) and the text left for the reporter."""

    commands: tuple[Command, ...]
    errors: tuple[CommandError, ...]
    body: str  # new text without tag lines

    @property
    def internal(self) -> bool:
        """The text is internal: a tag beside it is not reporter-facing (one table: commands.TAGS)."""
        return any(is_internal(c.name) for c in self.commands)

    @property
    def kind(self) -> str:
        """How the message is recorded: a note stays internal."""
        return "note" if any(c.name == "note" for c in self.commands) else "staff_reply"


def read_reply(mail: Mail, desk: Desk) -> StaffText:
    """Stage `commands`: the staff member's new words, parsed for tags."""
    text = new_text(mail.plain, mail.html)
    people = (*desk.members, *desk.coordinators)
    names = [p.name.lower() for p in people] + [p.email for p in people]
    commands, errors = parse_commands(text, names, tuple(p.name for p in desk.partners))
    return StaffText(tuple(commands), tuple(errors), drop_image_placeholders(strip_tag_lines(text)).strip())


def apply_reply(draft: Draft, reply: StaffText) -> Decision:
    draft.effects.append(Record(reply.kind, reply.body, f"from {draft.arrival.role.value}"))
    errors = reply.errors + _merge_errors(draft, reply)
    if errors:
        return _refuse(draft, errors)
    steps = []
    for command in reply.commands:
        before = draft.ticket
        COMMANDS[command.name](draft, command, reply)
        steps.append(_step(command, before, draft.ticket))
    if reply.body and not reply.internal and not any(c.name == "close" for c in reply.commands):
        _relay(draft, reply.body)
    _transcript(draft, tuple(steps))
    names = ",".join(c.name for c in reply.commands) or "relay"
    return draft.decision(f"{reply.kind}:{names}")


def _refuse(draft: Draft, errors: tuple[CommandError, ...]) -> Decision:
    draft.event("command-error", "; ".join(f"line {e.line}: {e.reason}" for e in errors))
    draft.send("error", (draft.who,), values={"errors": errors}, in_reply_to=draft.arrival.mail.message_id)
    return draft.decision("command-error")


def _relay(draft: Draft, body: str) -> None:
    draft.status("answer")
    _answered(draft)
    _to_reporter(draft, "relay", body)
    draft.event("relay", body[:500])


def _to_reporter(draft: Draft, kind: str, body: str, files: bool = True) -> None:
    """`files`: the staff member's attachments go along (not with an internal note's closing)."""
    ticket = draft.ticket
    if not ticket.reporter or is_unanswerable(ticket.reporter):
        draft.event("relay-skipped", "the ticket has no reporter address we may answer")
        return
    last = ticket.last_in_message_id
    draft.send(kind, (ticket.reporter,), values={"body": body, "staff_name": staff_name(draft)},
               cc=ticket.cc, in_reply_to=last, references=(last,) if last else (),
               with_attachments=files and bool(draft.arrival.mail.attachments))
    signature = _signature(draft)
    draft.copy_colleagues("closed" if kind == "closing" else "colleague", body, signature)


def _signature(draft: Draft) -> str:
    person = draft.desk.find(draft.who)
    return person.signature if person else ""


def staff_name(draft: Draft) -> str:
    """How relays sign: the staff member's display name (else the name), with the address only where
    the config says so."""
    name = _signature(draft)
    if draft.desk.disclose_address:
        return f"{name} <{draft.who}>" if name else draft.who
    return name


def _answered(draft: Draft) -> None:
    """The reporter has heard from staff: the first time counts for the digest."""
    if draft.ticket.first_response_at is None:
        draft.change(first_response_at=draft.now)


def _assign(draft: Draft, email: str) -> None:
    if draft.ticket.assignee == email:
        return
    draft.change(assignee=email)
    draft.event("assigned", email)
    draft.status("answer")
    if email != draft.who:  # #ambil, or #tugaskan oneself: no mail to oneself
        draft.send("assigned", (email,), values={"by": _signature(draft) or draft.who}, history=True,
                   reply_to=draft.desk.address, recent_messages=RECENT_MESSAGES)


# -- one function per command ---------------------------------------------------------------------


def _close(draft: Draft, command: Command, reply: StaffText) -> None:
    if not draft.status("close"):
        return
    draft.change(closed_at=draft.now, waiting_since=None)
    _answered(draft)
    _to_reporter(draft, "closing", "" if reply.internal else reply.body, files=not reply.internal)


def _reopen(draft: Draft, command: Command, reply: StaffText) -> None:
    if draft.status("reopen"):
        draft.change(closed_at=None)


def _wait(draft: Draft, command: Command, reply: StaffText) -> None:
    if draft.status("wait"):
        draft.change(waiting_since=draft.now)


def _escalate(draft: Draft, command: Command, reply: StaffText) -> None:
    text = command.arg or reply.body
    draft.change(escalated=True)
    if not draft.status("escalate", text[:500]):
        draft.event("escalated", text[:500])
    recipients = draft.desk.coordinator_addresses
    if not recipients:
        draft.event("escalation-skipped", "no coordinators configured")
        return
    draft.send("escalation", recipients, values={"text": text, "by": _signature(draft) or draft.who},
               history=True, reply_to=draft.desk.address, recent_messages=RECENT_MESSAGES)


def _category(draft: Draft, command: Command, reply: StaffText) -> None:
    ticket = draft.ticket
    if ticket.category == command.arg and ticket.category_source == "staff":
        return
    draft.change(category=Category(command.arg), category_source="staff", needs_review=False)
    draft.change(due_at=draft.due())
    draft.event("category", f"{ticket.category} -> {command.arg}")


def _assign_to(draft: Draft, command: Command, reply: StaffText) -> None:
    person = draft.desk.find(command.arg)
    _assign(draft, person.email if person else command.arg)


def _take(draft: Draft, command: Command, reply: StaffText) -> None:
    _assign(draft, draft.who)


def _note(draft: Draft, command: Command, reply: StaffText) -> None:
    draft.event("note", (command.arg or reply.body)[:2000])


def _merge(draft: Draft, command: Command, reply: StaffText) -> None:
    """Checked before any command ran (`_merge_errors`): the target exists, is another ticket, not merged."""
    target = draft.arrival.merge_target
    old = draft.ticket
    into = ticket_token(draft.desk.prefix, target.number)
    draft.effects.append(MergeInto(target.number))
    draft.change(merged_into=target.number)
    if draft.status("close", f"merged into {into}"):
        draft.change(closed_at=draft.now, waiting_since=None)
    draft.event("merged", f"merged into {into}")
    if old.reporter and not is_unanswerable(old.reporter):
        draft.send("merged", (old.reporter,), values={"into": into, "into_subject": target.subject},
                   cc=old.cc, in_reply_to=old.last_in_message_id,
                   references=(old.last_in_message_id,) if old.last_in_message_id else ())


def _merge_errors(draft: Draft, reply: StaffText) -> tuple[CommandError, ...]:
    """#gabung to an unknown ticket, to this ticket itself or to a merged one: the usual error reply."""
    errors = []
    for command in reply.commands:
        if command.name != "merge":
            continue
        number, target = int(command.arg), draft.arrival.merge_target
        token = ticket_token(draft.desk.prefix, number)
        if number == draft.ticket.number:
            reason = f"tiket tidak dapat digabung ke dirinya sendiri ({token})"
        elif target is None or target.number != number:
            reason = f"tiket {token} tidak ditemukan"
        elif target.merged_into is not None:
            later = ticket_token(draft.desk.prefix, target.merged_into)
            reason = f"tiket {token} sudah digabung ke {later}; gabungkan ke tiket itu"
        else:
            continue
        errors.append(CommandError(command.line, command.text, reason))
    return tuple(errors)


def _spam(draft: Draft, command: Command, reply: StaffText) -> None:
    """#spam: closed with no mail to the sender, whose address is blocked (never a staff address)."""
    ticket = draft.ticket
    if draft.status("close", "spam"):
        draft.change(closed_at=draft.now, waiting_since=None)
    address = ticket.reporter.strip().lower()
    people = {a.lower() for a in (*draft.desk.member_addresses, *draft.desk.coordinator_addresses)}
    if not address or address in people or address in draft.desk.own_addresses:
        draft.event("block-skipped", f"{address or '(no address)'} is not blocked: staff or our own address")
        return
    draft.effects.append(Block(address, f"#spam on {ticket_token(draft.desk.prefix, ticket.number)} "
                                        f"by {draft.who}"))
    draft.event("blocked", address)


def _forward(draft: Draft, command: Command, reply: StaffText) -> None:
    """#teruskan NAME [text]: to a service owner of [partners] (core/partners.py has its table)."""
    partners.forward(draft, command, reply.body, any(c.name == "note" for c in reply.commands))


def _list(draft: Draft, command: Command, reply: StaffText) -> None:
    draft.effects.append(_list_answer(draft.arrival))


def _help(draft: Draft, command: Command, reply: StaffText) -> None:
    draft.effects.append(_help_answer(draft.arrival))


def _list_answer(arrival: Arrival) -> Answer:
    rows = arrival.open_tickets or ()
    mine = tuple(t for t in rows if t.assignee == arrival.sender)
    free = tuple(t for t in rows if t.assignee is None and t.status is not Status.CLOSED)
    return Answer("list", (arrival.sender,), (("mine", mine), ("unassigned", free), ("now", arrival.now)),
                  in_reply_to=arrival.mail.message_id)


def _help_answer(arrival: Arrival) -> Answer:
    return Answer("help", (arrival.sender,), (("role", arrival.role.value),),
                  in_reply_to=arrival.mail.message_id)


def answer_new_mail(arrival: Arrival, desk: Desk, reply: StaffText) -> Decision:
    """A new mail (no ticket) from staff asking #daftar and/or #bantuan: answered, nothing is opened."""
    names = [c.name for c in reply.commands if c.name in ASKING]
    effects: list = [Keep(Kept.COMMAND.value, f"staff asked: {', '.join('#' + n for n in names)}")]
    if "list" in names:
        effects.append(_list_answer(arrival))
    if "help" in names:
        effects.append(_help_answer(arrival))
    return Decision("command:" + ",".join(names), tuple(effects))


# -- the transcript: what a staff mail's commands did -----------------------------------------------

TRACKED = ("status", "category", "assignee")  # the fields a transcript line reports
FEEDBACK = frozenset({"transcript", "error", "list", "help"})  # our mail back to the sender itself


@dataclass(frozen=True)
class Step:
    """One command as it ran: (field, old, new) for each tracked field it changed."""

    name: str
    text: str  # the tag line as written
    changes: tuple[tuple[str, str, str], ...]


def _step(command: Command, before, after) -> Step:
    changes = tuple((name, _text(getattr(before, name)), _text(getattr(after, name))) for name in TRACKED
                    if getattr(before, name) != getattr(after, name))
    return Step(command.name, command.text.strip(), changes)


def _text(value) -> str:
    return "" if value is None else str(getattr(value, "value", value))


def _transcript(draft: Draft, steps: tuple[Step, ...]) -> None:
    """Every staff mail with a command gets a transcript back: what each command changed, which mail went
    out, and the ticket's new state (#daftar and #bantuan are answered by their own mail)."""
    steps = tuple(s for s in steps if s.name not in ASKING)
    if not steps:
        return
    sent = tuple((e.kind, dict(e.values).get("event", ""), e.to) for e in draft.effects
                 if isinstance(e, Send) and e.kind not in FEEDBACK)
    relayed = any(kind in ("relay", "closing") for kind, _event, _to in sent)
    draft.send("transcript", (draft.who,), values={"steps": steps, "sent": sent, "relayed": relayed},
               in_reply_to=draft.arrival.mail.message_id)


Handler = Callable[[Draft, Command, StaffText], None]
COMMANDS: dict[str, Handler] = {
    "close": _close, "reopen": _reopen, "wait": _wait, "escalate": _escalate, "category": _category,
    "assign": _assign_to, "take": _take, "note": _note, "merge": _merge, "list": _list, "help": _help,
    "spam": _spam,
}
COMMANDS["forward"] = _forward  # issue 19: #teruskan
