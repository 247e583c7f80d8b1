"""Forwarded mail (pure): a staff member's forward of a citizen's mail -> who wrote it, what, and when.

A staff member who forwards a citizen's mail to the helpdesk address opens a ticket for the citizen
(contract: "forwarded mail"). Recognised:

- Gmail: a line ``---------- Forwarded message ---------`` (Indonesian Gmail: ``Pesan terusan``), then
  ``From:``/``Date:``/``Subject:``/``To:`` lines (``Dari:``/``Tanggal:``/``Subjek:``/``Kepada:``);
- Outlook: ``-----Original Message-----`` (``Pesan Asli``) or a line of underscores, then
  ``From:``/``Sent:``/``To:``/``Subject:`` (``Dari:``/``Dikirim:``/``Kepada:``/``Subjek:``), the address
  possibly as ``Name [mailto:a@b]``; Apple Mail's ``Begin forwarded message:``;
- a subject starting ``Fwd:``/``FW:``/``TR:``/``RV:`` with such a header block and no marker line;
- the message attached as message/rfc822 (`attached_message` finds its bytes; the shell parses them).

The forwarded block must name a sender address; otherwise the mail is no forward.
"""

from __future__ import annotations

import email
import re
from dataclasses import dataclass, replace
from email import policy
from email.utils import parseaddr

from mailticket.types import Address, Mail

_MARKER = re.compile(
    r"^\s*(?:-{2,}\s*(?:forwarded message|pesan terusan|original message|pesan asli|pesan yang diteruskan)"
    r"\s*-{2,}|_{10,}|begin forwarded message:|awal pesan yang diteruskan:)\s*$", re.IGNORECASE)
_FORWARD_SUBJECT = re.compile(r"^\s*(?:(?:re|aw|bls|balas)\s*:\s*)*(?:fwd?|tr|rv|wg|terusan)\s*:",
                              re.IGNORECASE)
_HEADER = re.compile(r"^[\s>*]*(?P<key>[A-Za-z][A-Za-z \-]{0,20}?)\s*\*?\s*:\s*\*?\s*(?P<value>.*?)\s*$")
_KEYS = {
    "from": "from", "dari": "from", "van": "from", "de": "from",
    "subject": "subject", "subjek": "subject", "perihal": "subject", "hal": "subject",
    "date": "date", "sent": "date", "tanggal": "date", "dikirim": "date", "terkirim": "date",
    "to": "to", "kepada": "to", "cc": "cc", "reply-to": "reply-to",
}
_PREFIX = re.compile(r"^\s*(?:re|aw|bls|balas|fwd?|tr|rv|wg|terusan)\s*:\s*", re.IGNORECASE)
_MAILTO = re.compile(r"\[mailto:([^\]\s]+)\]", re.IGNORECASE)


@dataclass(frozen=True)
class Forwarded:
    """The forwarded mail: its author, subject, date as written, text, and the forwarder's own words."""

    sender: Address
    subject: str
    date: str
    text: str
    note: str  # what the staff member wrote above the forwarded part


def forwarded(mail: Mail, attached: Mail | None = None) -> Forwarded | None:
    """The citizen's mail inside `mail`, or None when `mail` is no forward.

    `attached`: a message/rfc822 attachment of `mail`, parsed by the shell; it wins over the text."""
    if attached is not None and attached.sender is not None and attached.sender.email:
        return Forwarded(attached.sender, attached.subject, "", attached.text.strip(), mail.text.strip())
    lines = mail.text.replace("\r\n", "\n").split("\n")
    forward_subject = bool(_FORWARD_SUBJECT.match(mail.subject or ""))
    for index, line in enumerate(lines):
        if _MARKER.match(line):
            found = _block(lines, index + 1, mail)
        elif forward_subject and _key(line) == "from":
            found = _block(lines, index, mail)
        else:
            continue
        if found is not None:
            return found
    return None


def as_report(mail: Mail, found: Forwarded) -> Mail:
    """The mail as the citizen wrote it, for opening their ticket: their address, subject and text.

    Attachments stay: a forward carries the original's files."""
    return replace(mail, sender=found.sender, subject=found.subject or _strip_forward(mail.subject),
                   text=found.text, html="", text_from_html=False, to=(), cc=(), reply_to=(),
                   in_reply_to=(), references=())


def attached_message(data: bytes) -> bytes | None:
    """The bytes of the first message/rfc822 part of a message (a forward "as attachment"), if any."""
    message = email.message_from_bytes(data, policy=policy.compat32)
    for count, part in enumerate(message.walk()):
        if count > 200:
            break
        if part.get_content_type().lower() == "message/rfc822" and part.is_multipart():
            inner = part.get_payload(0)
            return inner.as_bytes() if inner is not None else None
    return None


def _block(lines: list[str], start: int, mail: Mail) -> Forwarded | None:
    """Read a header block at `start` (blank lines before it skipped) and the body after it."""
    at = start
    while at < len(lines) and not lines[at].strip():
        at += 1
    fields: dict[str, str] = {}
    last = ""
    while at < len(lines):
        line = lines[at]
        key = _key(line)
        if key and key not in fields:
            fields[key] = _HEADER.match(line)["value"]
            last = key
        elif line.strip() and last and line[:1] in " \t" and not key:
            fields[last] += " " + line.strip()  # a folded long header line
        else:
            break
        at += 1
    sender = _address(fields.get("from", ""))
    if sender is None:
        return None
    body = "\n".join(line[2:] if line.startswith("> ") else line for line in lines[at:]).strip()
    note = "\n".join(lines[:start]).strip()
    note = "\n".join(line for line in note.split("\n") if not _MARKER.match(line)).strip()
    return Forwarded(sender, fields.get("subject", "").strip(), fields.get("date", "").strip(), body, note)


def _key(line: str) -> str:
    match = _HEADER.match(line)
    if not match or not match["value"]:
        return ""
    return _KEYS.get(match["key"].strip().lower(), "")


def _address(value: str) -> Address | None:
    value = value.replace("*", "").strip()
    mailto = _MAILTO.search(value)
    if mailto:
        name = _MAILTO.sub("", value).strip().strip('"')
        return _checked(name, mailto[1])
    name, addr = parseaddr(value)
    if not addr and "@" in value:
        addr = value.strip("<> ")
    return _checked(name, addr)


def _checked(name: str, addr: str) -> Address | None:
    addr = addr.strip().strip("<>").lower()
    local, at, domain = addr.rpartition("@")
    if not at or not local or "." not in domain or " " in addr:
        return None
    return Address(name.strip(), addr)


def _strip_forward(subject: str) -> str:
    previous = None
    while previous != subject:
        previous = subject
        subject = _PREFIX.sub("", subject)
    return subject.strip()
