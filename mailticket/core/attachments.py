"""The files of a mail (pure): which parts they are, their bytes, and which go along in our mail.

In: a message's bytes (a received one as kept raw, or one we composed). Out: its files in mail order
(`find`), named as `parse` names them, so that a notification's list and the files it carries agree;
then `listing` (name, type, size, sha256: `mailticket attachments`, `tickets show --json`) and
`select` (the files that go along with one of our mails, and those left out). Nothing is decoded
before it is wanted, and then one file at a time (`mime`).

What goes along is chosen by two rules, each with its own tests:

- `is_signature_logo`: a staff member's signature image (Outlook's image001.png, Gmail's inline
  image) is not a file for the reporter. It is inline (Content-Disposition inline, or none with a
  Content-ID), the mail's HTML shows it by its Content-ID (`cid:`), and it is small (LOGO_MAX). A
  screenshot pasted into the text is inline and shown by cid: too, but bigger: it goes along.
- `within_cap`: files in mail order while their total size stays within the cap; a file that does
  not fit is left out (the mail lists it with the command that extracts it), a later smaller one
  may still fit.
"""

from __future__ import annotations

import hashlib
import re
import shlex
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol, TypeVar
from urllib.parse import unquote

from mailticket.core import mime
from mailticket.core.parse import attachment_name
from mailticket.types import Attachment

LOGO_MAX = 64 * 1024  # bytes: signature logos are a few KB; a pasted screenshot is more
_CID = re.compile(r"""cid:([^\s"'<>)]+)""", re.IGNORECASE)
_TOKEN = re.compile(r"[A-Za-z0-9!#$%&'*+.^_`|~-]+")
_SINGLE_TEXT = re.compile(rb"^content-type:[ \t]*text/(?:plain|html)[ \t]*(?:;|\r?$)", re.MULTILINE)


@dataclass(frozen=True)
class Found:
    """One file of a mail, not decoded yet."""

    span: mime.Span
    number: int  # its place among the mail's files, from 1
    filename: str
    content_type: str  # "type/subtype", lower-case
    size: int  # decoded bytes
    inline: bool  # Content-Disposition inline (or none, with a Content-ID)
    content_id: str  # without <>, lower-case; "" when none
    referenced: bool  # the mail's HTML shows it by its Content-ID (cid:)

    @property
    def charset(self) -> str:
        charset = self.span.headers.get_content_charset() or ""
        return charset if self.content_type.startswith("text/") and _TOKEN.fullmatch(charset) else ""


@dataclass(frozen=True)
class Listed:
    """A file as the command line lists it."""

    filename: str
    content_type: str
    size: int
    sha256: str

    def as_json(self) -> dict:
        return {"filename": self.filename, "content_type": self.content_type, "size": self.size,
                "sha256": self.sha256}


def find(data: bytes) -> list[Found]:
    """Every file of the message, in mail order (text bodies are not files)."""
    spans = mime.walk(data)
    shown = referenced_cids(data, [s for s in spans if s.kind == "text/html"])
    found = []
    for span in spans:
        if span.kind != "file":
            continue
        headers = span.headers
        content_id = str(headers.get("content-id", "")).strip().strip("<>").strip().lower()
        disposition = (headers.get_content_disposition() or "").lower()
        number = len(found) + 1
        found.append(Found(
            span=span, number=number, filename=attachment_name(headers, number),
            content_type=span.content_type, size=mime.decoded_size(data, span), content_id=content_id,
            inline=disposition == "inline" or (not disposition and bool(content_id)),
            referenced=bool(content_id) and content_id in shown,
        ))
    return found


def referenced_cids(data: bytes, html_parts: Sequence[mime.Span]) -> frozenset[str]:
    """The Content-IDs the HTML parts show (`<img src="cid:...">`), lower-case."""
    found = set()
    for span in html_parts:
        text = mime.decode(data, span).decode("latin-1")  # the ids are ASCII; the rest may be anything
        found.update(unquote(m.group(1)).strip().lower() for m in _CID.finditer(text))
    return frozenset(found)


def is_signature_logo(file: Found) -> bool:
    """A signature image of a staff member's mail client, not a file they meant to send."""
    small = file.size <= LOGO_MAX
    return file.inline and file.referenced and file.content_type.startswith("image/") and small


class _Sized(Protocol):
    @property
    def size(self) -> int: ...


S = TypeVar("S", bound=_Sized)


def within_cap(files: Sequence[S], cap: int | None) -> tuple[list[S], list[S]]:
    """(carried, left out): files in order while the total stays within `cap` (None: no cap)."""
    if cap is None:
        return list(files), []
    carried, left_out, total = [], [], 0
    for file in files:
        if total + file.size <= cap:
            carried.append(file)
            total += file.size
        else:
            left_out.append(file)
    return carried, left_out


def select(data: bytes, *, cap: int | None, drop_logos: bool) -> tuple[list[Found], list[Attachment]]:
    """The files that go along with our mail about this message, and those left out (as the mail lists
    them). `drop_logos`: a staff member's signature images stay behind; `cap`: the total carried."""
    files = find(data)
    if drop_logos:
        files = [f for f in files if not is_signature_logo(f)]
    carried, left_out = within_cap(files, cap)
    return carried, [Attachment(f.filename, f.content_type, f.size) for f in left_out]


def decoded(data: bytes) -> Iterator[tuple[Found, bytes]]:
    """Each file with its bytes, one at a time (a caller that keeps none holds one file at most)."""
    for file in find(data):
        yield file, mime.decode(data, file.span)


def listing(data: bytes) -> list[Listed]:
    """Name, type, size and sha256 of each file of the message."""
    return [Listed(f.filename, f.content_type, len(body), hashlib.sha256(body).hexdigest())
            for f, body in decoded(data)]


def may_have_files(data: bytes) -> bool:
    """False when the header block says the message is one text part: no need to walk it."""
    head = data[:16384].split(b"\r\n\r\n", 1)[0].split(b"\n\n", 1)[0].lower()
    match = _SINGLE_TEXT.search(head)
    return match is None or any(word in head for word in (b"name", b"attachment"))


# -- which files go along, by the kind of our mail --------------------------------------------------


@dataclass(frozen=True)
class Carry:
    capped: bool  # [mail] forward_attachments bounds the total; the rest is listed
    drop_logos: bool  # a staff member's signature images stay behind


CARRY = {
    "notification": Carry(capped=True, drop_logos=False),  # to staff: the mail as it came, within the cap
    "relay": Carry(capped=False, drop_logos=True),  # to the reporter: what the staff member attached
    "closing": Carry(capped=False, drop_logos=True),
}
DEFAULT_CARRY = Carry(capped=True, drop_logos=False)


def carry(kind: str) -> Carry:
    return CARRY.get(kind, DEFAULT_CARRY)


def extract_command(token: str, config: str = "") -> str:
    """The command that writes a ticket's files to a folder, as staff can type it on the server."""
    option = f"--config {shlex.quote(config)} " if config else ""
    return f"mailticket {option}attachments {token} --out lampiran-{token.replace('#', '')}"
