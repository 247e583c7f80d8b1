"""A file as a MIME body part (pure): its header lines and its base64 body, for `compose`.

File names are written the way Thunderbird writes them, which every client we know reads: the
Content-Disposition `filename` as RFC 2231 (`filename*=utf-8''Surat%20Permohonan.pdf`, cut into
numbered continuations so that no line passes 78 columns) whenever it is not short plain ASCII,
and the Content-Type `name` (older Outlook reads only that one) as RFC 2047 encoded words. Every
file is sent as `attachment` in base64, 76 columns, CRLF: an inline image of a mail we forward as
text is a file like any other there.

The body is written to a stream in slices, so that a 20 MB file costs its base64 text once (the
message being built) and not a second time as one big intermediate string. A file given by
reference (`AttachedFile.ref`) gets that one line as its body: `filerefs.fill` puts the file there
when the mail is delivered.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable
from typing import BinaryIO

from mailticket.core.decode import CONTROL_CHARS
from mailticket.types import AttachedFile

_MIME_TYPE = re.compile(r"[a-z0-9][a-z0-9!#$&^_.+-]*/[a-z0-9][a-z0-9!#$&^_.+-]*")
_ATTR_CHARS = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789!#$&+-.^_`|~")
_SEGMENT = 60  # characters of a parameter value per line: ' filename*12*=' + 60 + ';' < 78
_SLICE = 57 * 1024  # bytes encoded at a time: 1024 lines of 76 characters
_FALLBACK_NAME = "lampiran"
_UNKNOWN_TYPE = "application/octet-stream"


def part_head(file: AttachedFile, encoded_words: Callable[[str], list[str]]) -> str:
    """The part's header lines and the blank line that ends them (CRLF); `encoded_words` is compose's
    RFC 2047 encoder (one definition of it)."""
    name = " ".join(CONTROL_CHARS.sub(" ", file.filename).split()) or _FALLBACK_NAME
    content_type = file.content_type if _MIME_TYPE.fullmatch(file.content_type) else _UNKNOWN_TYPE
    if file.charset and content_type.startswith("text/"):
        content_type += f"; charset={file.charset}"
    return (f"Content-Type: {content_type};\r\n name={_name_param(name, encoded_words)}\r\n"
            f"Content-Disposition: attachment;\r\n {_filename_params(name)}\r\n"
            "Content-Transfer-Encoding: base64\r\n\r\n")


def _quoted(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _plain(name: str) -> bool:
    return name.isascii() and name.isprintable() and "=?" not in name and len(name) <= _SEGMENT


def _name_param(name: str, encoded_words: Callable[[str], list[str]]) -> str:
    """Content-Type name: plain ASCII quoted, else encoded words as Thunderbird writes them (a line each
    when there are several: a long name must not make a line of a thousand characters)."""
    if _plain(name):
        return _quoted(name)
    return '"' + "\r\n ".join(encoded_words(name)) + '"'


def _filename_params(name: str) -> str:
    """Content-Disposition filename: plain ASCII quoted, else RFC 2231 (UTF-8, continued over lines)."""
    if _plain(name):
        return "filename=" + _quoted(name)
    escaped = [chr(b) if b in _ATTR_CHARS else f"%{b:02X}" for b in name.encode("utf-8")]
    segments, current = [], "utf-8''"
    for piece in escaped:  # never cut inside a %XX
        if len(current) + len(piece) > _SEGMENT:
            segments.append(current)
            current = ""
        current += piece
    segments.append(current)
    if len(segments) == 1:
        return f"filename*={segments[0]}"
    return ";\r\n ".join(f"filename*{i}*={segment}" for i, segment in enumerate(segments))


def write_body(file: AttachedFile, out: BinaryIO) -> None:
    """The part's body: the file in base64, or the line that refers to it (`filerefs`, filled in later)."""
    if file.ref:
        out.write(file.ref.encode("ascii") + b"\r\n")
    else:
        write_base64(file.data, out)


def write_base64(data: bytes, out: BinaryIO) -> None:
    """The body: base64 lines of 76 characters, each ending in CRLF."""
    view = memoryview(data)
    for start in range(0, len(view), _SLICE):
        out.write(base64.encodebytes(view[start:start + _SLICE]).replace(b"\n", b"\r\n"))
