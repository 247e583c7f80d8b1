"""Stage parse: raw bytes -> Mail.

In: the bytes of one message as received. Out: a `Mail` with headers decoded (RFC 2047/2231,
any charset, undeclared 8-bit bytes as UTF-8 else cp1252/latin-1), the text body (or the
HTML-only body turned into text), the HTML as sent and attachment descriptions.
Raises `Quarantine("parse", ...)` for input that is not a mail at all, and nothing else.
Pure: no I/O, no clock.

mail-parser builds the MIME tree (with its guard against hostile nesting) and reads the
Date header; headers, addresses and bodies are decoded here (charsets by `decode`, HTML by
`htmltext`), because mail-parser drops undeclared 8-bit characters, keeps unknown-charset
encoded words undecoded, mixes the text of attached messages (bounces) into the body and
names unnamed attachments randomly.

A message over SLIM_ABOVE bytes is read without its big file bodies (`mime.slim`): the email
package would hold a 20 MB attachment several times over; the files' sizes come from the bytes.
"""

from __future__ import annotations

import email
import re
import unicodedata
from datetime import datetime
from email.message import Message

import mailparser
from mailparser.dates import parse_mail_date
from mailparser.exceptions import MailParserError
from mailparser.utils import get_addresses

from mailticket.core import mime
from mailticket.core.decode import decode_bytes, decode_header, fix_8bit, unfold
from mailticket.core.htmltext import html_to_text
from mailticket.errors import Quarantine
from mailticket.types import Address, Attachment, Mail

_MSG_ID = re.compile(r"<[^<>\s]+>")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_WORD = re.compile(r"=\?[^?\s]+\?[QqBb]\?[^?\s]*\?=")  # an RFC 2047 encoded word
_HIDDEN = re.compile("\ue000([0-9]+)\ue001")
# One mailbox in a plain form: `Name <a@b>`, `"Name" <a@b>`, `<a@b>` or `a@b` (no comments, groups,
# escapes, routes or address literals; encoded words are hidden as \ue000N\ue001 by then).
_ATEXT = "-A-Za-z0-9!#$%&'*+/=?^_`{|}~"
_ADDR = rf"[{_ATEXT}]+(?:\.[{_ATEXT}]+)*@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*"  # dot-atom @ domain
_NAME = rf'"(?P<quoted>[^"\\\r\n]*)"|(?P<words>[{_ATEXT}.\ue000\ue001 \t]*?)'
_SIMPLE_MAILBOX = re.compile(rf"[ \t]*(?:(?:{_NAME})[ \t]*<(?P<addr>{_ADDR})>|(?P<bare>{_ADDR}))[ \t]*")
_BAD_FILENAME_CHARS = frozenset({"Cc", "Cf", "Cs", "Co", "Zl", "Zp"})
_FALLBACK_EXT = {
    "message/rfc822": ".eml",
    "message/delivery-status": ".txt",
    "text/plain": ".txt",
    "text/html": ".html",
    "text/calendar": ".ics",
    # inline images often come without a name; the name they get is what staff save them as
    "image/png": ".png",
    "image/jpeg": ".jpg",
    "image/gif": ".gif",
    "image/webp": ".webp",
    "application/pdf": ".pdf",
}
_MAX_PARTS = 500  # a bound on hostile input; real mail has a handful
SLIM_ABOVE = 1024 * 1024  # bytes: a bigger message is parsed without its big file bodies


def parse(data: bytes) -> Mail:
    """Parse one raw message; `Quarantine` if it is not a mail at all."""
    if not data or data.isspace():  # not data.strip(): that copies a 27 MB message
        raise Quarantine("parse", "empty message")
    omitted: dict[str, int] = {}
    if len(data) > SLIM_ABOVE:
        data, omitted = mime.slim(data)
    message = _tree(data)
    headers = _headers(message)
    _check_is_mail(headers)
    first = {}
    for name, value in headers:
        first.setdefault(name, value)
    texts, htmls, attachments = _bodies(message, omitted)
    return Mail(
        message_id=_message_id(first.get("message-id", "")),
        subject=first.get("subject", ""),
        sender=_sender(message),
        to=_addresses(message, "to"),
        cc=_addresses(message, "cc"),
        reply_to=_addresses(message, "reply-to"),
        date=_date(message),
        in_reply_to=tuple(_MSG_ID.findall(first.get("in-reply-to", ""))),
        references=tuple(_MSG_ID.findall(first.get("references", ""))),
        headers=headers,
        content_type=message.get_content_type().lower(),
        text=_text(texts, htmls),
        html="\n".join(htmls),
        text_from_html=bool(htmls) and not any(t.strip() for t in texts),
        attachments=tuple(attachments),
        return_path=_return_path(first.get("return-path")),
        **_returned(message),
    )


def _returned(message: Message) -> dict[str, str]:
    """The Message-ID and Subject of the message a delivery report returns, if any."""
    if message.get_content_type().lower() != "multipart/report" or not message.is_multipart():
        return {}
    for part in message.get_payload()[:_MAX_PARTS]:
        ctype = part.get_content_type().lower()
        if ctype == "message/rfc822" and part.is_multipart():
            inner = part.get_payload(0)
        elif ctype == "text/rfc822-headers":
            inner = email.message_from_bytes(part.get_payload(decode=True) or b"")
        else:
            continue
        return {"returned_message_id": _message_id(decode_header(inner.get("message-id", ""))),
                "returned_subject": decode_header(inner.get("subject", ""))}
    return {}


class _TreeOnly(mailparser.MailParser):
    """mail-parser's guarded MIME tree without its own extraction pass.

    `MailParser.parse()` decodes every part, address and Received header into its own fields;
    this stage decodes what it needs itself (see decode.py: mail-parser drops undeclared 8-bit
    text), so that pass would be thrown away: more than half of the parse time per message.
    """

    def parse(self) -> _TreeOnly:
        return self


def _tree(data: bytes) -> Message:
    try:
        return _TreeOnly.from_bytes(data).message
    except MailParserError as exc:  # multipart nesting too deep: hostile, not mail
        raise Quarantine("parse", f"mail-parser: {exc}") from exc


def _date(message: Message) -> datetime | None:
    raw = next((v for k, v in message.raw_items() if k.strip().lower() == "date"), None)
    return parse_mail_date(str(raw)).value if raw is not None else None  # aware UTC, None if invalid


def _check_is_mail(headers: tuple[tuple[str, str], ...]) -> None:
    if not headers:
        raise Quarantine("parse", "no header block: not a mail")
    names = {name for name, _ in headers}
    if not names & {"from", "message-id", "subject"}:
        raise Quarantine("parse", "no From, Message-ID or Subject header: not a mail")


# --- headers -----------------------------------------------------------------------------


def _headers(message: Message) -> tuple[tuple[str, str], ...]:
    return tuple((name.strip().lower(), decode_header(value)) for name, value in message.raw_items())


def _message_id(value: str) -> str:
    found = _MSG_ID.search(value)
    if found:
        return found.group()
    bare = value.strip()
    return f"<{bare}>" if bare and " " not in bare else ""


def _return_path(value: str | None) -> str | None:
    if value is None:
        return None
    found = re.search(r"<([^<>]*)>", value)
    return (found.group(1) if found else value).strip().lower()


# --- addresses ---------------------------------------------------------------------------


def _raw_values(message: Message, name: str) -> list[str]:
    return [unfold(v) for k, v in message.raw_items() if k.strip().lower() == name]


def _parse_addresses(raw: str) -> list[Address]:
    # Parse before decoding: a decoded display name may contain "," or "<". Encoded words are
    # hidden from the parser as well: senders put ":" or "," in them unencoded, which would
    # read as a group or a list and lose the address (found by the hardening tests).
    words: list[str] = []

    def hide(match: re.Match[str]) -> str:
        words.append(match.group())
        return f"\ue000{len(words) - 1}\ue001"

    def restore(text: str) -> str:
        return _HIDDEN.sub(lambda m: words[int(m.group(1))], text)

    found = []
    for name, addr in _mailboxes(_WORD.sub(hide, raw)):
        addr = restore(addr).strip().lower()
        if "@" in addr and not _CONTROL.search(addr):  # NUL or CR LF in it: not an address at all
            found.append(Address(decode_header(restore(name)), addr))
    return found


def _mailboxes(raw: str) -> list[tuple[str, str]]:
    """mail-parser's mailboxes; for "Dinas PU: Budi <b@x.id>" (a stray ":") its one recovered candidate."""
    simple = _SIMPLE_MAILBOX.fullmatch(raw)
    if simple:  # most headers: what mail-parser would say, at a tenth of the cost (a test compares)
        quoted, words, addr = simple.group("quoted", "words", "addr")
        return [(quoted if quoted is not None else " ".join((words or "").split()), addr or simple["bare"])]
    return _parsed_mailboxes(raw)


def _parsed_mailboxes(raw: str) -> list[tuple[str, str]]:
    defects: list[dict] = []
    pairs = get_addresses(raw, defects=defects)
    if any("@" in addr for _name, addr in pairs):
        return pairs
    candidates = [c for d in defects for c in d.get("candidates", ()) if "@" in c.get("address", "")]
    return [(candidates[0]["display_name"], candidates[0]["address"])] if len(candidates) == 1 else pairs


def _addresses(message: Message, name: str) -> tuple[Address, ...]:
    return tuple(a for raw in _raw_values(message, name) for a in _parse_addresses(raw))


def _sender(message: Message) -> Address | None:
    values = _raw_values(message, "from")
    if not values:
        return None
    found = _parse_addresses(values[0])
    if found:
        return found[0]
    return Address(decode_header(values[0]), "")  # a display name only, or garbage


# --- bodies and attachments --------------------------------------------------------------


def _bodies(message: Message, omitted: dict[str, int]) -> tuple[list[str], list[str], list[Attachment]]:
    texts: list[str] = []
    htmls: list[str] = []
    attachments: list[Attachment] = []
    stack = [message]  # iterative: mail-parser bounds nesting, our walk should not recurse
    while stack and len(attachments) + len(texts) + len(htmls) < _MAX_PARTS:
        part = stack.pop()
        kind = _part_kind(part)
        if kind == "container":
            stack.extend(reversed(part.get_payload()))
        elif kind == "text/plain":
            texts.append(_part_text(part))
        elif kind == "text/html":
            htmls.append(_part_text(part))
        else:
            attachments.append(_attachment(part, len(attachments) + 1, omitted))
    return texts, htmls, attachments


def _part_kind(part: Message) -> str:
    ctype = part.get_content_type().lower()
    disposition = (part.get_content_disposition() or "").lower()
    if ctype.startswith("multipart/") and part.is_multipart() and disposition != "attachment":
        return "container"
    if ctype.startswith("multipart/") and not part.is_multipart():
        return "text/plain"  # boundary never found: the body is all we have
    if ctype in ("text/plain", "text/html") and disposition != "attachment" and not mime.filename_of(part):
        return ctype
    return "attachment"


def _part_text(part: Message) -> str:
    data = part.get_payload(decode=True)
    if not isinstance(data, bytes):
        return ""
    # NUL is never text: PostgreSQL refuses it, terminals and mail clients cut at it
    return decode_bytes(data, part.get_content_charset()).replace("\x00", "")


def _attachment(part: Message, number: int, omitted: dict[str, int]) -> Attachment:
    return Attachment(filename=attachment_name(part, number), content_type=part.get_content_type().lower(),
                      size=_size(part, omitted))


def attachment_name(part: Message, number: int) -> str:
    """A file part's name: its own, made safe, else "attachment-N" (N: its place among the files)."""
    name = safe_filename(mime.filename_of(part))
    return name or f"attachment-{number}{_FALLBACK_EXT.get(part.get_content_type().lower(), '')}"


def _size(part: Message, omitted: dict[str, int]) -> int:
    if not part.is_multipart():
        payload = part.get_payload()
        if omitted and isinstance(payload, str) and payload.strip() in omitted:
            return omitted[payload.strip()]  # a big body left out by mime.slim: its size, counted there
        data = part.get_payload(decode=True)
        return len(data) if isinstance(data, bytes) else 0
    # message/rfc822 and friends hold parsed messages: count their text as it arrived, without
    # recursion (a hostile message nests them hundreds deep).
    total, stack = 0, list(part.get_payload())
    while stack:
        sub = stack.pop()
        total += sum(len(k) + len(str(v)) + 3 for k, v in sub.raw_items()) + 2
        payload = sub.get_payload()
        if isinstance(payload, list):
            stack.extend(payload)
        else:
            total += len(payload)
    return total


def safe_filename(raw: str) -> str:
    """A base name safe to show and to store: no directories, NUL or control characters."""
    name = decode_header(raw) if "=?" in raw else fix_8bit(raw)
    name = unicodedata.normalize("NFC", name).replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(c for c in name if unicodedata.category(c) not in _BAD_FILENAME_CHARS)
    name = name.strip().strip(".").strip()  # leading dots hide files, trailing ones vanish on Windows
    return _shorten(name, 200)


def _shorten(name: str, limit: int) -> str:
    if len(name) <= limit:
        return name
    stem, dot, ext = name.rpartition(".")
    if dot and 0 < len(ext) <= 10:  # keep the extension, it says what the file is
        return stem[: limit - len(ext) - 1] + dot + ext
    return name[:limit]


# --- text --------------------------------------------------------------------------------


def _text(texts: list[str], htmls: list[str]) -> str:
    plain = "\n\n".join(_tidy(t) for t in texts if t.strip())
    if plain or not htmls:
        return plain
    return html_to_text("\n".join(htmls))


def _tidy(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n").strip("\n").rstrip()
