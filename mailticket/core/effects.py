"""Values of the decision layer (pure): what a decision sees of a ticket and the desk, and what it asks for.

`core.decide` takes a `TicketSnapshot` (or none), the received mail and what the shell looked up
(`Arrival`) and the helpdesk's policy (`Desk`), and returns effects in order. `app.apply` is the only
code that turns them into rows and outbox mail:

- `OpenTicket`: open a ticket for this mail (the store gives its number);
- `Record`: record the received mail on the ticket (and mark its raw row); `Keep`: keep it, no ticket;
- `Change`: set ticket fields (names and values of the ticket row);
- `Event`: one line of the ticket's history;
- `Send`: one mail, rendered from template `kind` with the ticket as it was when decided.
- `Answer`: one mail about no ticket (#daftar, #bantuan, an unverified staff mail);
- `MergeInto`: move the ticket's messages, events and Cc into another ticket (#gabung);
- `ForwardTo`, `PartnerAnswered`: a forward to a partner (#teruskan) recorded, and answered.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from mailticket.core.sla import Calendar
from mailticket.types import Category, Classification, Mail, Status, Verdict


class Role(StrEnum):
    """Who wrote a mail, as far as one ticket is concerned."""

    REPORTER = "reporter"  # the ticket's reporter
    CC = "cc"  # an address in the ticket's Cc
    STAFF = "staff"  # a staff address whose mail passed authentication
    COORDINATOR = "coordinator"  # likewise, a coordinator
    UNVERIFIED = "unverified"  # a staff or coordinator address whose mail failed authentication
    STRANGER = "stranger"  # anyone else
    PARTNER = "partner"  # a service owner of [partners] the ticket was forwarded to (#teruskan)

    @property
    def steers(self) -> bool:
        """Staff and coordinators (authenticated) give commands; everyone else writes follow-ups."""
        return self in (Role.STAFF, Role.COORDINATOR)


@dataclass(frozen=True)
class Person:
    name: str  # the handle staff write after #tugaskan
    email: str
    display: str = ""  # how mail signs for them ("Rina Wulandari"); the name when empty

    @property
    def signature(self) -> str:
        return self.display or self.name


@dataclass(frozen=True)
class Partner:
    """A service owner outside the helpdesk ([partners]; SOP step 4): LKPP, the server team, …"""

    name: str  # the handle staff write after #teruskan, lower-case
    label: str  # how our mail addresses them ("Helpdesk LKPP"); the name when empty
    emails: tuple[str, ...]  # one or more addresses, lower-case
    note: str = ""  # what they handle (the error reply and the help list it)

    @property
    def title(self) -> str:
        return self.label or self.name


@dataclass(frozen=True)
class Forward:
    """One #teruskan of a ticket to a partner, as the decision sees it (store: partner_forwards)."""

    partner: str  # Partner.name
    at: datetime
    answered_at: datetime | None = None


@dataclass(frozen=True)
class Desk:
    """The helpdesk's policy, built once from the settings."""

    prefix: str  # token prefix, "LPSE"
    address: str  # our own address: Reply-To of staff notifications
    own_addresses: frozenset[str]
    members: tuple[Person, ...]
    coordinators: tuple[Person, ...]
    disclose_address: bool  # relays show the staff member's address beside the name
    reopen_window: timedelta
    max_acks_per_hour: int
    max_message_size: int
    calendar: Calendar
    targets: dict[str, timedelta]
    default_category: Category
    # [filter]: upstream verdict headers we believe, and the domains whose links are no spam sign
    trust_spam_headers: tuple[str, ...] = ()
    trusted_link_domains: tuple[str, ...] = ()
    max_tickets_per_hour: int = 20  # new tickets one sender may open an hour; beyond: kept as `flood`
    # [partners] (issue 19): the other service owners, when one is reminded, whether their time pauses
    partners: tuple[Partner, ...] = ()
    partner_remind_after: timedelta = timedelta(days=1)
    pause_for_partners: bool = False

    def partner(self, name: str) -> Partner | None:
        """A partner by name, case-insensitively."""
        wanted = name.strip().lower()
        return next((p for p in self.partners if p.name == wanted), None)

    def partner_addresses(self, names: tuple[str, ...]) -> frozenset[str]:
        """The addresses of the partners `names` (those a ticket was forwarded to)."""
        return frozenset(e for p in self.partners if p.name in names for e in p.emails)

    def partner_of(self, email: str, names: tuple[str, ...]) -> Partner | None:
        """Which of the partners `names` has the address `email`."""
        email = email.strip().lower()
        return next((p for p in self.partners if p.name in names and email in p.emails), None)

    def find(self, name_or_email: str) -> Person | None:
        """A staff member or coordinator by name or address, case-insensitively."""
        wanted = name_or_email.strip().lower()
        for person in (*self.members, *self.coordinators):
            if wanted in (person.email, person.name.lower()):
                return person
        return None

    @property
    def member_addresses(self) -> tuple[str, ...]:
        return tuple(p.email for p in self.members)

    @property
    def coordinator_addresses(self) -> tuple[str, ...]:
        return tuple(p.email for p in self.coordinators)


@dataclass(frozen=True)
class TicketSnapshot:
    """A ticket's fields as a decision sees them; `number` is 0 for a ticket not yet opened."""

    number: int
    subject: str
    reporter: str
    reporter_name: str
    cc: tuple[str, ...]
    status: Status
    category: Category
    category_source: str
    needs_review: bool
    assignee: str | None
    created_at: datetime
    due_at: datetime | None
    closed_at: datetime | None
    escalated: bool
    waiting_since: datetime | None
    paused_seconds: int
    first_response_at: datetime | None
    last_in_message_id: str
    merged_into: int | None = None  # the number of the ticket this one was merged into (#gabung)
    waiting_on: str | None = None  # the partner whose answer the ticket waits for (#teruskan)
    forwards: tuple[Forward, ...] = ()  # every #teruskan of the ticket, oldest first

    @property
    def forwarded_to(self) -> tuple[str, ...]:
        """The partners this ticket was forwarded to: only they may write on it as partners."""
        return tuple(dict.fromkeys(f.partner for f in self.forwards))

    def changed(self, fields: dict[str, Any]) -> TicketSnapshot:
        return replace(self, **fields)


@dataclass(frozen=True)
class Arrival:
    """One received mail with what the shell looked up for it."""

    mail: Mail
    verdict: Verdict
    now: datetime
    ticket: TicketSnapshot | None = None  # the ticket its thread names, if any
    how: str = ""  # how the ticket was found: token, own-message-id, references
    token_number: int | None = None  # the number of a token in the subject (may name no ticket)
    role: Role = Role.STRANGER
    duplicate_of: int | None = None  # raw id of an earlier copy of this very mail
    oversize: bool = False  # only the header block was read
    classification: Classification | None = None  # set when the mail may open a ticket
    topics: tuple[str, ...] = ()
    opened_last_hour: int = 0  # tickets this sender opened within the last hour, before this mail
    # Looked up only when needed: an unverified staff address was told why within the last hour;
    # the open tickets a #daftar asks for (the sender's and the unassigned ones), None: not asked;
    # the ticket a #gabung names (None: no such ticket or not asked); a forwarded message attached
    # as message/rfc822 to a staff member's new mail, parsed.
    unverified_why: str = ""  # Role.UNVERIFIED: which check failed (identity.why_unauthenticated)
    explained_last_hour: bool = False
    open_tickets: tuple[TicketSnapshot, ...] | None = None
    merge_target: TicketSnapshot | None = None
    attached_mail: Mail | None = None
    # Trust (issue 15): the block-list entry that matched the sender ("" none: why it was blocked);
    # the From failed DMARC (then Reply-To is never answered); acks queued to the address an ack would
    # go to within the last hour; mail of this sender kept as `flood` within the last hour.
    blocked: str = ""
    from_failed_dmarc: bool = False
    acks_to_last_hour: int = 0
    flooded_last_hour: int = 0

    @property
    def sender(self) -> str:
        return self.mail.sender.email if self.mail.sender else ""


# -- effects ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class OpenTicket:
    ticket: TicketSnapshot  # number 0: the store gives it


@dataclass(frozen=True)
class Record:
    kind: str  # messages[].kind: report, reply, staff_reply, note, auto_reply, bounce
    text: str
    reason: str  # why, for the raw row (`mail list`, logs)


@dataclass(frozen=True)
class Keep:
    kind: str  # the raw row's kind: a verdict kind or "duplicate"
    reason: str


@dataclass(frozen=True)
class Change:
    fields: tuple[tuple[str, Any], ...]


@dataclass(frozen=True)
class Event:
    type: str
    by: str
    detail: str = ""


@dataclass(frozen=True)
class Send:
    """A mail from template `kind` about `ticket` as it was when decided."""

    kind: str  # ack, notification, relay, closing, error, escalation
    to: tuple[str, ...]
    ticket: TicketSnapshot
    values: tuple[tuple[str, Any], ...] = ()  # the template's other values
    cc: tuple[str, ...] = ()
    in_reply_to: str = ""
    references: tuple[str, ...] = ()
    reply_to: str = ""
    history_events: int | None = None  # with the ticket's history up to this many of the new events
    recent_messages: int = 0  # with the report's text and this many of the ticket's last messages before it
    with_attachments: bool = False  # the received mail's files go along (core.attachments.CARRY: which)


@dataclass(frozen=True)
class Answer:
    """A mail from template `kind` that is about no ticket (#daftar, #bantuan, an unverified new mail)."""

    kind: str  # list, help, unverified
    to: tuple[str, ...]
    values: tuple[tuple[str, Any], ...] = ()
    in_reply_to: str = ""
    references: tuple[str, ...] = ()


@dataclass(frozen=True)
class ForwardTo:
    """#teruskan: record a forward of the ticket to `partner` (remind the assignee at `remind_at`)."""

    partner: str
    text: str
    remind_at: datetime


@dataclass(frozen=True)
class PartnerAnswered:
    """The partner answered: its open forwards of the ticket are answered (no reminder any more)."""

    partner: str


@dataclass(frozen=True)
class MergeInto:
    """Move this ticket's messages, events and Cc into ticket `number` (the ticket's own fields and
    events are separate Change/Event effects)."""

    number: int


@dataclass(frozen=True)
class Block:
    """Put `address` (or "@domain") on the block list: its later mail is kept as `blocked` (#spam)."""

    address: str
    why: str


Effect = (OpenTicket | Record | Keep | Change | Event | Send | Answer | MergeInto | Block
          | ForwardTo | PartnerAnswered)


@dataclass(frozen=True)
class Decision:
    """What to do with one mail: the effects in order, and a short label for logs and counts."""

    label: str  # e.g. new-ticket, reply, staff_reply:close, command-error, duplicate, spam
    effects: tuple[Effect, ...] = field(default_factory=tuple)

    @property
    def kept(self) -> bool:
        """No ticket: the mail is only kept."""
        return any(isinstance(e, Keep) for e in self.effects)
