"""Stage `decide` for a staff or coordinator reply (pure): the reply's commands -> effects.

The reply's new text (quotes and signature removed) is parsed for tag lines (`read_reply`). Any bad
tag line changes nothing and earns the sender an error reply; otherwise each command is applied in
order, every change is an event, and the text is relayed to the reporter unless a command made it
internal or quiet:

| command            | ticket                                       | mail                                  |
|--------------------|----------------------------------------------|---------------------------------------|
| (none, with text)  | new -> open; first response                  | relay of the text to reporter and Cc  |
| #tutup / #close    | -> closed; first response                    | closing mail to reporter and Cc       |
| #buka / #reopen    | closed -> open                               | relay of the text                     |
| #tunggu / #wait    | -> waiting, SLA clock paused                 | relay of the text                     |
| #eskalasi          | -> escalated                                 | escalation to the coordinators; relay |
| #kategori X        | category X, due time follows                 | relay of the text                     |
| #tugaskan X, #ambil| assignee; new -> open                        | relay of the text                     |
| #catatan / #note   | note event                                   | none (the text is internal)           |
| a bad tag line     | nothing                                      | error reply to the sender only        |
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from mailticket.core.commands import parse_commands, strip_tag_lines
from mailticket.core.draft import Draft
from mailticket.core.effects import Decision, Desk, Record
from mailticket.core.filter import is_unanswerable
from mailticket.core.reply import new_text
from mailticket.types import Category, Command, CommandError, Mail

QUIET = frozenset({"note", "close"})  # commands after which the text is not relayed as such


@dataclass(frozen=True)
class StaffText:
    """A staff reply read: its commands (or the errors that stop them) and the text left for the reporter."""

    commands: tuple[Command, ...]
    errors: tuple[CommandError, ...]
    body: str  # new text without tag lines

    @property
    def kind(self) -> str:
        """How the message is recorded: a note stays internal."""
        return "note" if any(c.name == "note" for c in self.commands) else "staff_reply"


def read_reply(mail: Mail, desk: Desk) -> StaffText:
    """Stage `commands`: the staff member's new words, parsed for tags."""
    text = new_text(mail.plain, mail.html)
    people = (*desk.members, *desk.coordinators)
    names = [p.name.lower() for p in people] + [p.email for p in people]
    commands, errors = parse_commands(text, names)
    return StaffText(tuple(commands), tuple(errors), strip_tag_lines(text).strip())


def apply_reply(draft: Draft, reply: StaffText) -> Decision:
    draft.effects.append(Record(reply.kind, reply.body, f"from {draft.arrival.role.value}"))
    if reply.errors:
        return _refuse(draft, reply.errors)
    for command in reply.commands:
        COMMANDS[command.name](draft, command, reply)
    if reply.body and not any(c.name in QUIET for c in reply.commands):
        _relay(draft, reply.body)
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


def _to_reporter(draft: Draft, kind: str, body: str) -> None:
    ticket = draft.ticket
    if not ticket.reporter or is_unanswerable(ticket.reporter):
        draft.event("relay-skipped", "the ticket has no reporter address we may answer")
        return
    last = ticket.last_in_message_id
    draft.send(kind, (ticket.reporter,), values={"body": body, "staff_name": staff_name(draft)},
               cc=ticket.cc, in_reply_to=last, references=(last,) if last else ())


def staff_name(draft: Draft) -> str:
    """How relays sign: the staff member's name, with the address only where the config says so."""
    person = draft.desk.find(draft.who)
    name = person.name if person else ""
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


# -- one function per command ---------------------------------------------------------------------


def _close(draft: Draft, command: Command, reply: StaffText) -> None:
    if not draft.status("close"):
        return
    draft.change(closed_at=draft.now, waiting_since=None)
    _answered(draft)
    _to_reporter(draft, "closing", "" if reply.kind == "note" else reply.body)


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
    draft.send("escalation", recipients, values={"text": text, "by": staff_name(draft) or draft.who},
               history=True)


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


Handler = Callable[[Draft, Command, StaffText], None]
COMMANDS: dict[str, Handler] = {
    "close": _close, "reopen": _reopen, "wait": _wait, "escalate": _escalate, "category": _category,
    "assign": _assign_to, "take": _take, "note": _note,
}
