"""Values passed between the pipeline stages. Frozen; of the project it imports only the enums.

The enums live in `enums` so that the command line can build its choices without paying for the
dataclasses here (about 15 ms of `--help`); they are re-exported, `mailticket.types.Status` works.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from mailticket.enums import KEPT_KINDS as KEPT_KINDS
from mailticket.enums import Category as Category
from mailticket.enums import Kept as Kept
from mailticket.enums import Kind as Kind
from mailticket.enums import Status as Status


def ticket_token(prefix: str, number: int) -> str:
    """A ticket's name as people read it: ticket_token("LPSE", 12) == "LPSE#12"."""
    return f"{prefix}#{number}"


@dataclass(frozen=True)
class RawMail:
    """Bytes as received, and where they came from (for marking them done at the source)."""

    data: bytes
    source: str  # e.g. "file:/path/x.eml", "maildir:/var/mail", "imap:INBOX"
    ref: str = ""  # the source's key of this message (Maildir key, IMAP UID, mbox index)


@dataclass(frozen=True)
class Address:
    name: str
    email: str  # lower-cased addr-spec, "" if none could be found


@dataclass(frozen=True)
class Attachment:
    filename: str  # sanitised base name, never a path
    content_type: str
    size: int  # decoded size in bytes


@dataclass(frozen=True)
class Mail:
    """A parsed message: decoded headers, a text body, attachment descriptions."""

    message_id: str  # "<...>" as in the header, "" when absent
    subject: str
    sender: Address | None  # From
    to: tuple[Address, ...]
    cc: tuple[Address, ...]
    reply_to: tuple[Address, ...]
    date: datetime | None  # aware
    in_reply_to: tuple[str, ...]
    references: tuple[str, ...]
    headers: tuple[tuple[str, str], ...]  # (lower-case name, decoded value), in order
    content_type: str  # top-level, lower-case, e.g. "multipart/report"
    text: str  # text/plain body, or the HTML body turned into text
    html: str  # the HTML body as sent, "" when none
    attachments: tuple[Attachment, ...] = ()
    return_path: str | None = None  # None: header absent; "": null sender "<>"
    # A delivery report's returned message (multipart/report): its Message-ID and Subject,
    # so that a bounce of our mail finds the ticket it belongs to.
    returned_message_id: str = ""
    returned_subject: str = ""
    text_from_html: bool = False  # no text/plain part: `text` was made from `html`

    @property
    def plain(self) -> str:
        """The text/plain body as sent, "" when the mail had only HTML."""
        return "" if self.text_from_html else self.text

    def header(self, name: str) -> str | None:
        """The first value of a header, or None."""
        name = name.lower()
        for key, value in self.headers:
            if key == name:
                return value
        return None

    def header_all(self, name: str) -> list[str]:
        name = name.lower()
        return [value for key, value in self.headers if key == name]


@dataclass(frozen=True)
class Verdict:
    kind: Kind
    reason: str  # why, in English, for logs and `mail list`


@dataclass(frozen=True)
class ThreadKey:
    """How a message may belong to an existing ticket."""

    number: int | None  # ticket number from a subject token
    own_number: int | None  # ticket named by one of our own signed Message-IDs in the references
    references: tuple[str, ...]  # In-Reply-To and References, newest first, no duplicates


@dataclass(frozen=True)
class Classification:
    category: Category
    source: str  # "rules" or "default"
    matched: tuple[str, ...]  # names of the rules that matched, strongest first
    scores: tuple[tuple[str, float], ...] = ()  # per category
    weak: bool = False  # the rules decided, but barely: a close runner-up, or one weak rule alone

    @property
    def needs_review(self) -> bool:
        return self.source == "default" or self.weak


@dataclass(frozen=True)
class Command:
    """One staff command tag, canonical name in English."""

    name: str  # close, escalate, category, assign, take, note, wait, reopen
    arg: str  # text after the tag, stripped ("" when none)
    line: int  # 1-based line in the staff member's new text
    text: str  # the line as written


@dataclass(frozen=True)
class CommandError:
    line: int
    text: str
    reason: str  # Bahasa Indonesia, shown to the staff member


@dataclass(frozen=True)
class AttachedFile:
    """A file that goes with an outgoing mail: its bytes as received (or where they are), name and type."""

    filename: str  # as parse names it (a base name, never a path)
    content_type: str  # "type/subtype", lower-case
    data: bytes = field(repr=False)  # megabytes, never in a log line; b"" when `ref` says where they are
    charset: str = ""  # a text file's charset, as it was declared
    ref: str = ""  # the file in a kept raw message (core.attachments.Ref): filled in when the mail is sent


@dataclass(frozen=True)
class Outgoing:
    """A mail to send, rendered, before it becomes MIME bytes."""

    kind: str  # ack, notification, relay, escalation, closing, error, warning, digest
    to: tuple[str, ...]
    subject: str
    text: str
    html: str = ""
    cc: tuple[str, ...] = ()
    in_reply_to: str = ""
    references: tuple[str, ...] = ()
    reply_to: str = ""
    extra_headers: tuple[tuple[str, str], ...] = field(default_factory=tuple)
    attachments: tuple[AttachedFile, ...] = ()  # files carried along (multipart/mixed)
