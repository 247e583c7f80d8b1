"""A message's MIME parts as spans of its bytes (pure): where each part's body lies, nothing decoded.

The email package turns a whole message into strings: a 27 MB message carrying a 20 MB file cost
about 200 MB at once (the text, its lines, the joined payload, the decoded bytes). Here only header
blocks are parsed (by the email package, compat32, as mail-parser reads them); a body stays where it
is in the bytes until its file is wanted (`decode`). The rules are the email package's and `parse`'s:

- a multipart part is walked into when its boundary appears in its body; when it never does, the
  body is text (as parse reads it);
- a boundary line is "--" boundary, "--" for the last, then only spaces or tabs (RFC 2046 5.1.1);
  the line break before it belongs to it;
- a multipart part with Content-Disposition attachment, and message/rfc822, are one file each
  (their own parts are not walked);
- text/plain and text/html without a file name and not marked attachment are the mail's text;
  every other leaf is a file.

Hostile input is bounded: at most MAX_PARTS leaves and MAX_DEPTH nested multiparts.
"""

from __future__ import annotations

import binascii
import hashlib
import re
from dataclasses import dataclass
from email import policy
from email._encoded_words import decode_b  # what Message.get_payload(decode=True) uses for base64
from email.message import Message
from email.parser import BytesHeaderParser

MAX_PARTS = 500  # as parse: real mail has a handful
MAX_DEPTH = 50
_HEADER_LINE = re.compile(rb"From |[\x21-\x39\x3b-\x7e]*:|[\t ]")  # the email package's headerRE
_NOT_BASE64 = bytes(b for b in range(256) if not (chr(b).isascii() and (chr(b).isalnum() or chr(b) in "+/")))
_CHUNK = 1 << 20
_PARSER = BytesHeaderParser(policy=policy.compat32)
_WHOLE = ("message/", "multipart/")  # files that parse reads into (a forwarded mail): never slimmed


@dataclass(frozen=True)
class Span:
    """One leaf part: its parsed header block, where its body is, and what it is to the mail."""

    headers: Message  # the header block only (compat32); no payload
    start: int  # the body is data[start:end]
    end: int
    kind: str  # "text/plain", "text/html" (the mail's text) or "file"

    @property
    def content_type(self) -> str:
        return self.headers.get_content_type().lower()

    @property
    def transfer_encoding(self) -> str:
        return str(self.headers.get("content-transfer-encoding", "")).strip().lower()

    @property
    def encoded_size(self) -> int:
        return self.end - self.start


def walk(data: bytes) -> list[Span]:
    """The leaf parts of a message in their order in the mail."""
    leaves: list[Span] = []
    stack = [(0, len(data), 0)]
    while stack and len(leaves) < MAX_PARTS:
        start, end, depth = stack.pop()
        headers, body = _header_block(data, start, end)
        children = _children(data, headers, body, end) if depth < MAX_DEPTH else None
        if children is not None:
            stack.extend((s, e, depth + 1) for s, e in reversed(children))
        else:
            leaves.append(Span(headers, body, end, _kind(headers)))
    return leaves


def _header_block(data: bytes, start: int, end: int) -> tuple[Message, int]:
    """The part's headers, parsed, and where its body starts: after the first line that is not a
    header line (a blank one is dropped), as the email package's feed parser reads it."""
    pos = start
    while pos < end:
        eol = data.find(b"\n", pos, end)
        line_end = end if eol < 0 else eol + 1
        line = data[pos:min(line_end, pos + 80)]
        if line.strip(b"\r\n") == b"":
            return _PARSER.parsebytes(data[start:pos]), line_end
        if not _HEADER_LINE.match(line):
            break
        pos = line_end
    return _PARSER.parsebytes(data[start:pos]), pos


def filename_of(part: Message) -> str:
    """The part's file name as given, "" when none; a broken RFC 2231 name (filename*0*= cut short) that
    trips the standard library is none."""
    try:
        return part.get_filename() or ""
    except (TypeError, ValueError):
        return ""


def _kind(headers: Message) -> str:
    ctype = headers.get_content_type().lower()
    disposition = (headers.get_content_disposition() or "").lower()
    if ctype.startswith("multipart/"):
        # walked into unless it is a file; here its boundary never appeared: its body is text
        return "file" if disposition == "attachment" else "text/plain"
    if ctype in ("text/plain", "text/html") and disposition != "attachment" and not filename_of(headers):
        return ctype
    return "file"


def _children(data: bytes, headers: Message, start: int, end: int) -> list[tuple[int, int]] | None:
    """The spans of a multipart's parts, or None when it is no multipart to walk into."""
    if not headers.get_content_type().lower().startswith("multipart/"):
        return None
    if (headers.get_content_disposition() or "").lower() == "attachment":
        return None
    boundary = headers.get_boundary()
    if not boundary:
        return None
    lines = _boundary_lines(data, b"--" + boundary.encode("ascii", "surrogateescape"), start, end)
    if not lines:
        return None
    parts = []
    for index, (_at, after, last) in enumerate(lines):
        if last:
            break  # what follows the closing line is the epilogue, no part
        following = lines[index + 1][0] if index + 1 < len(lines) else None
        parts.append((after, end if following is None else _line_start_break(data, following, after)))
    return parts


def _boundary_lines(data: bytes, delimiter: bytes, start: int, end: int) -> list[tuple[int, int, bool]]:
    """Each boundary line: (where it starts, where the next line starts, is it the closing one)."""
    found = []
    pos = start
    while True:
        at = data.find(delimiter, pos, end)
        if at < 0:
            return found
        pos = at + len(delimiter)
        if at != start and data[at - 1:at] != b"\n":
            continue
        eol = data.find(b"\n", pos, end)
        rest = data[pos:end if eol < 0 else eol]
        last = rest.startswith(b"--")
        if rest[2 if last else 0:].strip(b" \t\r"):
            continue  # "--boundary" followed by more: not this boundary (maybe a nested one)
        found.append((at, end if eol < 0 else eol + 1, last))
        if last:
            return found


def _line_start_break(data: bytes, at: int, floor: int) -> int:
    """Where a part ends: before the line break (CRLF or LF) that precedes the boundary line at `at`."""
    cut = at
    if cut > floor and data[cut - 1:cut] == b"\n":
        cut -= 1
        if cut > floor and data[cut - 1:cut] == b"\r":
            cut -= 1
    return cut


# -- bodies ---------------------------------------------------------------------------------------


def decode(data: bytes, span: Span) -> bytes:
    """A part's body, transfer encoding undone (base64, quoted-printable; others as they are)."""
    view = memoryview(data)[span.start:span.end]
    encoding = span.transfer_encoding
    if encoding == "base64":
        try:
            return binascii.a2b_base64(view)
        except binascii.Error:
            return _lenient_base64(bytes(view))
    if encoding == "quoted-printable":
        return binascii.a2b_qp(view)
    return bytes(view)


def _lenient_base64(text: bytes) -> bytes:
    """Broken base64 (bad padding, a stray character, a cut line) read as the email package reads it,
    so that a file is the same here as in parse: padding is added; a length no padding can fix gives
    the text undecoded."""
    return decode_b(b"".join(text.splitlines()))[0]


def decoded_size(data: bytes, span: Span) -> int:
    """The size of a part's decoded body; base64 is counted, not decoded (no copy of a big file)."""
    if span.transfer_encoding != "base64":
        return len(decode(data, span))
    view = memoryview(data)
    letters = 0
    for pos in range(span.start, span.end, _CHUNK):
        letters += len(view[pos:min(pos + _CHUNK, span.end)].tobytes().translate(None, _NOT_BASE64))
    if letters % 4 == 1:  # no padding fixes that: `decode` says what becomes of it
        return len(decode(data, span))
    return letters * 3 // 4


# -- a big message, small ---------------------------------------------------------------------


def slim(data: bytes, above: int = 64 * 1024) -> tuple[bytes, dict[str, int]]:
    """The message with every file body bigger than `above` (encoded) replaced by a marker line, and
    each marker's decoded size: what the email package then reads of a 27 MB message is a few KB.

    A marker names its message (a hash of the bytes), so a sender cannot forge one."""
    nonce = hashlib.sha256(data).hexdigest()[:20]
    pieces: list[bytes] = []
    sizes: dict[str, int] = {}
    pos = 0
    for number, span in enumerate(walk(data)):
        if span.kind != "file" or span.encoded_size <= above or span.content_type.startswith(_WHOLE):
            continue
        marker = f"mailticket-omitted-{nonce}-{number}"
        sizes[marker] = decoded_size(data, span)
        pieces += [data[pos:span.start], marker.encode("ascii")]
        pos = span.end
    if not sizes:
        return data, {}
    pieces.append(data[pos:])
    return b"".join(pieces), sizes
