"""Outgoing -> MIME bytes (CRLF, ready for SMTP or an .eml file). Pure: the caller gives ids and the date,
and the multipart boundary is derived from the message.

Headers are encoded here, not by the email package's header registry, for two reasons:
the registry decodes RFC 2047 encoded words found in a value it is given, so a subject
such as "=?utf-8?q?x=0D=0ABcc:_a@b?=" (a reporter's text, already decoded once by the
parser) would come out as a real CR LF and a new header line; and parsing every header
costs about a millisecond per message. The values are cleaned of every line-breaking and
control character first, then written as plain folded ASCII or as UTF-8 encoded words.
The bodies are 7bit or quoted-printable ASCII made here too, so the message is laid out here
as well: header lines, a blank line, the body or the parts of a multipart/alternative between
their boundaries, every line ending in CRLF (RFC 5322, RFC 2046 §5.1.1). That is what
email.generator wrote for it, at a fifth of the cost. A mail with files is a multipart/mixed: the
text (or its multipart/alternative) first, then each file as `fileparts` writes it; a mail without
files comes out exactly as before.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import re
from datetime import datetime
from email import policy
from email.utils import format_datetime

from mailticket.core import fileparts
from mailticket.core.decode import CONTROL_CHARS
from mailticket.types import Outgoing

MAX_LINE = 78
_BODY_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_FIELD_NAME = re.compile(r"[!-9;-~]{1,76}")
_ATOMS = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~ -]+")
_LOCAL = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]+")
_DOMAIN = re.compile(r"[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*")
_NAME_ADDR = re.compile(r"(.*)<([^<>]*)>")
_MSG_ID = re.compile(r"<[!-;=?-~]+>")  # printable ASCII without '<' and '>'
_WORD_BYTES = 45  # 60 base64 chars: "=?utf-8?b?" + 60 + "?=" = 72, under the 75 of RFC 2047

# Headers that come from Outgoing's own fields; extra_headers may not replace them.
_OWN = frozenset({
    "from", "to", "cc", "bcc", "subject", "date", "message-id", "in-reply-to", "references",
    "reply-to", "mime-version", "content-type", "content-transfer-encoding", "x-mailticket-kind",
})
HUMAN_KINDS = frozenset({"relay", "closing"})  # a person's words: no Auto-Submitted
AUTO_REPLY_KINDS = frozenset({"ack"})


def compose(out: Outgoing, *, from_name: str, from_addr: str, message_id: str, date: datetime) -> bytes:
    """The whole message as bytes with CRLF line ends; ValueError for a bad address, id or date."""
    headers = _headers(out, from_name, from_addr, message_id, date)
    headers.append(("MIME-Version", "1.0"))
    if out.attachments:
        return _with_files(out, headers, message_id)
    if out.html:
        boundary = _boundary(message_id, out)
        headers.append(("Content-Type", f'multipart/alternative;\r\n boundary="{boundary}"'))
        body = _alternative(out, boundary)
    else:
        cte, payload = encode_body(out.text)
        headers += _text_headers("plain", cte)
        body = _crlf(payload)
    return (_header_lines(headers) + "\r\n" + body).encode("ascii")


def _boundary(message_id: str, out: Outgoing, *salt: str) -> str:
    """The multipart boundary, derived from the message so that composing stays pure and repeatable.

    A part could hold it only by containing a hash of its own text; and "=_" never occurs in
    quoted-printable or base64. A salt gives the outer boundary of a mail with files another one.
    """
    content = "\0".join((*salt, message_id, out.text, out.html)).encode("utf-8", "surrogatepass")
    return "=_mt_" + hashlib.sha256(content).hexdigest()[:24]


def _name_words(name: str) -> list[str]:
    """A file name's encoded words, short enough for a line that begins ' name="' (fileparts)."""
    return encoded_words(name, 39)


def _alternative(out: Outgoing, boundary: str) -> str:
    parts = [_text_part(text, subtype) for text, subtype in ((out.text, "plain"), (out.html, "html"))]
    return f"--{boundary}\r\n" + f"\r\n--{boundary}\r\n".join(parts) + f"\r\n--{boundary}--\r\n"


def _with_files(out: Outgoing, headers: list[tuple[str, str]], message_id: str) -> bytes:
    """multipart/mixed: the text, then the files; written to one buffer, whose bytes are the result
    without another copy (a 20 MB file is in memory as itself and its base64 text, no more)."""
    names = tuple(f.filename for f in out.attachments)
    mixed = _boundary(message_id, out, "mixed", *names)
    headers.append(("Content-Type", f'multipart/mixed;\r\n boundary="{mixed}"'))
    if out.html:
        inner = _boundary(message_id, out)
        first = (f'Content-Type: multipart/alternative;\r\n boundary="{inner}"\r\n\r\n'
                 + _alternative(out, inner))
    else:
        first = _text_part(out.text, "plain")
    buffer = io.BytesIO()
    buffer.write((_header_lines(headers) + f"\r\n--{mixed}\r\n" + first).encode("ascii"))
    for file in out.attachments:
        buffer.write(f"\r\n--{mixed}\r\n{fileparts.part_head(file, _name_words)}".encode("ascii"))
        fileparts.write_body(file, buffer)
    buffer.write(f"\r\n--{mixed}--\r\n".encode("ascii"))
    return buffer.getvalue()


def _headers(out: Outgoing, from_name: str, from_addr: str, message_id: str,
             date: datetime) -> list[tuple[str, str]]:
    if date.utcoffset() is None:
        raise ValueError("the Date must be an aware datetime")
    headers = [
        ("From", address_list([(from_name, from_addr)], "From")),
        ("To", address_list([split_address(a) for a in out.to], "To")),
    ]
    if out.cc:
        headers.append(("Cc", address_list([split_address(a) for a in out.cc], "Cc")))
    if out.reply_to:
        headers.append(("Reply-To", address_list([split_address(out.reply_to)], "Reply-To")))
    headers += [
        ("Subject", unstructured(out.subject, "Subject")),
        ("Date", format_datetime(date)),
        ("Message-ID", _required_id(message_id)),
    ]
    parent = clean_id(out.in_reply_to)
    if parent:
        headers.append(("In-Reply-To", parent))
    references = [ref for ref in map(clean_id, out.references) if ref]
    if references:
        headers.append(("References", fold("References", references)))
    return headers + _automatic_headers(out)


def _automatic_headers(out: Outgoing) -> list[tuple[str, str]]:
    """Auto-Submitted and kind, then extra_headers; an extra header replaces an automatic one."""
    automatic: dict[str, tuple[str, str]] = {}
    if out.kind not in HUMAN_KINDS:
        submitted = "auto-replied" if out.kind in AUTO_REPLY_KINDS else "auto-generated"
        automatic["auto-submitted"] = ("Auto-Submitted", submitted)
        # Exchange/Outlook honour this and do not answer with out-of-office mail.
        automatic["x-auto-response-suppress"] = ("X-Auto-Response-Suppress", "OOF, AutoReply")
    automatic["x-mailticket-kind"] = ("X-Mailticket-Kind", unstructured(out.kind, "X-Mailticket-Kind"))
    extra = []
    for name, value in out.extra_headers:
        _check_extra_name(name, [n for n, _ in extra])
        automatic.pop(name.lower(), None)
        extra.append((name, unstructured(value, name)))
    return list(automatic.values()) + extra


def _check_extra_name(name: str, seen: list[str]) -> None:
    if not _FIELD_NAME.fullmatch(name):
        raise ValueError(f"not a header field name: {name!r}")
    if name.lower() in _OWN:
        raise ValueError(f"{name} comes from Outgoing's own fields, not extra_headers")
    unique = policy.SMTP.header_max_count(name) == 1
    if unique and name.lower() in (n.lower() for n in seen):
        raise ValueError(f"{name} may appear only once")


# --- header values -----------------------------------------------------------------------------


def clean(value: str) -> str:
    """One line: every control or line-breaking character becomes a space, runs of space one."""
    return " ".join(CONTROL_CHARS.sub(" ", value).split())


def unstructured(value: str, name: str) -> str:
    """Free text (Subject, extra headers): ASCII words as they are, other runs as encoded words."""
    tokens: list[str] = []
    run: list[str] = []
    for word in clean(value).split(" "):
        if _needs_encoding(word):
            run.append(word)
            continue
        if run:
            tokens += encoded_words(" ".join(run))
            run = []
        tokens.append(word)
    if run:
        tokens += encoded_words(" ".join(run))
    return fold(name, tokens)


def _needs_encoding(word: str) -> bool:
    # "=?" could be read as an encoded word by the recipient; very long words would break line limits.
    return not word.isascii() or "=?" in word or len(word) > 900


def encoded_words(text: str, limit: int = _WORD_BYTES) -> list[str]:
    """RFC 2047 B-encoded UTF-8 words of at most `limit` bytes of text each (45: 72 characters, under
    the 75 of RFC 2047), never splitting a character.

    A word ends after a space where it can: decoders must drop the white space between
    encoded words, but some (the email package's own, in display names) keep it as a space.
    """
    words, chunk, size = [], "", 0
    for char in text:
        length = len(char.encode("utf-8"))
        if size + length > limit:
            cut = chunk.rfind(" ") + 1 or len(chunk)
            words.append(_b_word(chunk[:cut]))
            chunk = chunk[cut:]
            size = len(chunk.encode("utf-8"))
        chunk += char
        size += length
    if chunk:
        words.append(_b_word(chunk))
    return words


def _b_word(text: str) -> str:
    return "=?utf-8?b?" + base64.b64encode(text.encode("utf-8")).decode("ascii") + "?="


def fold(name: str, tokens: list[str]) -> str:
    """Join tokens with spaces, breaking before a token that would pass 78 columns."""
    lines, line = [], ""
    width = len(name) + 2
    for token in tokens:
        if not token:
            continue
        if line and width + len(line) + 1 + len(token) > MAX_LINE:
            lines.append(line)
            line, width = token, 1
        else:
            line = f"{line} {token}" if line else token
    lines.append(line)
    return "\r\n ".join(lines)


# --- addresses and ids -------------------------------------------------------------------------


def split_address(value: str) -> tuple[str, str]:
    """'Name <a@b>' or 'a@b' -> (name, addr); the address is checked later."""
    value = clean(value)
    match = _NAME_ADDR.fullmatch(value)
    if not match:
        return "", value
    name = match.group(1).strip()
    if len(name) >= 2 and name[0] == name[-1] == '"':
        name = name[1:-1].replace('\\"', '"').replace("\\\\", "\\")
    return name, match.group(2).strip()


def address_list(pairs: list[tuple[str, str]], name: str) -> str:
    if not pairs:
        raise ValueError(f"{name}: no address")
    tokens: list[str] = []
    for i, (display, addr) in enumerate(pairs):
        tokens += phrase(display) + [f"<{check_addr(addr)}>" + ("," if i < len(pairs) - 1 else "")]
    return fold(name, tokens)


def phrase(display: str) -> list[str]:
    """A display name as tokens: atoms, a quoted string, or encoded words."""
    display = clean(display)
    if not display:
        return []
    if _ATOMS.fullmatch(display) and "=?" not in display and max(map(len, display.split(" "))) < 70:
        return display.split(" ")
    if display.isascii() and "=?" not in display and len(display) < 60:
        return ['"' + display.replace("\\", "\\\\").replace('"', '\\"') + '"']
    return encoded_words(display)


def check_addr(addr: str) -> str:
    """A plain ASCII addr-spec, or ValueError (nothing else may reach a header)."""
    addr = clean(addr)
    local, at, domain = addr.rpartition("@")
    if at and not domain.isascii():
        try:
            domain = domain.encode("idna").decode("ascii")
        except UnicodeError:
            raise ValueError(f"not a usable e-mail address: {addr!r}") from None
    if not (at and _LOCAL.fullmatch(local) and _DOMAIN.fullmatch(domain)) or len(local) + len(domain) > 253:
        raise ValueError(f"not a usable e-mail address: {addr!r}")
    return f"{local}@{domain}"


def clean_id(value: str) -> str:
    """'<id@host>' (brackets added when missing) or '' when it cannot be a message id."""
    value = "".join(clean(value).split())
    if value and not value.startswith("<"):
        value = f"<{value}>"
    return value if _MSG_ID.fullmatch(value) and len(value) < 900 else ""


def _required_id(message_id: str) -> str:
    cleaned = clean_id(message_id)
    if not cleaned:
        raise ValueError(f"not a usable Message-ID: {message_id!r}")
    return cleaned


# --- bodies ------------------------------------------------------------------------------------


def _text_part(text: str, subtype: str) -> str:
    cte, payload = encode_body(text)
    return _header_lines(_text_headers(subtype, cte)) + "\r\n" + _crlf(payload)


def _text_headers(subtype: str, cte: str) -> list[tuple[str, str]]:
    return [("Content-Type", f'text/{subtype}; charset="utf-8"'), ("Content-Transfer-Encoding", cte)]


def _header_lines(headers: list[tuple[str, str]]) -> str:
    return "".join(f"{name}: {value}\r\n" for name, value in headers)


def _crlf(payload: str) -> str:
    """The payload (ASCII, ending in a newline) with CRLF line ends."""
    return payload.replace("\n", "\r\n")


def encode_body(text: str) -> tuple[str, str]:
    """(Content-Transfer-Encoding, payload): 7bit when ASCII with short lines, else quoted-printable."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if not text.endswith("\n"):
        text += "\n"
    if text.isascii() and max(map(len, text.split("\n"))) <= MAX_LINE and not _has_controls(text):
        return "7bit", text
    data = binascii.b2a_qp(text.encode("utf-8"), quotetabs=False, istext=True, header=False)
    return "quoted-printable", data.decode("ascii")


def _has_controls(text: str) -> bool:
    # Control characters other than newline and tab would be sent raw in 7bit; send them encoded.
    return _BODY_CONTROL.search(text) is not None
