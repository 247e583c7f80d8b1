"""Files our queued mail refers to (pure): a reference in the outbox, the bytes put in at delivery.

A file a notification or relay carries is already kept, in the raw message it came with. The queued
mail holds, as the body of the file's part, one line saying where it is (`Ref`: raw message, its
place among that message's files, size, sha256); `fill` puts the file there, base64 as `fileparts`
writes it, just before the mail is delivered. So nothing is stored twice, and a 20 MB file costs the
outbox a line and the database one write (SQLite builds a row's whole record in memory: a queued
mail carrying the file itself cost three copies of it at once). The filled mail is byte for byte
the mail `compose` makes from the file's bytes.

A reference counts only as the whole body of a file part of our own mail (found by `mime.walk`),
so a line someone writes in a text cannot pass for one; the file it names must still have its size
and sha256, or `take` refuses it (`FileGone`).
"""

from __future__ import annotations

import hashlib
import io
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from mailticket.core import attachments, fileparts, mime
from mailticket.types import AttachedFile, Attachment

_REF = re.compile(rb"mailticket-file raw=(\d{1,18}) file=(\d{1,4}) size=(\d{1,15}) sha256=([0-9a-f]{64})")
_MAX_REF_BODY = 200  # bytes: a reference's line and its line break


class FileGone(Exception):
    """A queued mail refers to a file its raw message no longer has as it was."""


@dataclass(frozen=True)
class Ref:
    raw_id: int
    number: int  # the file's place among the raw message's files (attachments.find), from 1
    size: int
    sha256: str

    def __str__(self) -> str:
        return f"mailticket-file raw={self.raw_id} file={self.number} size={self.size} sha256={self.sha256}"

    @classmethod
    def read(cls, body: bytes) -> Ref | None:
        match = _REF.fullmatch(body.strip())
        if match is None:
            return None
        raw_id, number, size, digest = match.groups()
        return cls(int(raw_id), int(number), int(size), digest.decode("ascii"))


def refer(data: bytes, raw_id: int, *, cap: int | None,
          drop_logos: bool) -> tuple[list[AttachedFile], list[Attachment]]:
    """The files of a received message (`data`, kept as raw `raw_id`) that go along with our mail, as
    references; and those left out. Each chosen file is decoded once, to take its sha256."""
    carried, left_out = attachments.select(data, cap=cap, drop_logos=drop_logos)
    files = []
    for found in carried:
        body = mime.decode(data, found.span)
        ref = Ref(raw_id, found.number, len(body), hashlib.sha256(body).hexdigest())
        del body  # one file's bytes at a time
        files.append(AttachedFile(found.filename, found.content_type, b"", found.charset, str(ref)))
    return files, left_out


def refs_in(mail: bytes) -> list[tuple[mime.Span, Ref]]:
    """The references in one of our queued mails, each with the part it stands for."""
    if b"mailticket-file raw=" not in mail:
        return []
    found = []
    for span in mime.walk(mail):
        if span.kind == "file" and span.encoded_size <= _MAX_REF_BODY:
            ref = Ref.read(mail[span.start:span.end])
            if ref is not None:
                found.append((span, ref))
    return found


def take(data: bytes, refs: Sequence[Ref]) -> dict[Ref, bytes]:
    """The referred files of one raw message, decoded and checked; FileGone if one is not as it was."""
    by_number = {found.number: found for found in attachments.find(data)}
    taken = {}
    for ref in refs:
        found = by_number.get(ref.number)
        body = mime.decode(data, found.span) if found is not None else b""
        if found is None or len(body) != ref.size or hashlib.sha256(body).hexdigest() != ref.sha256:
            raise FileGone(f"raw message {ref.raw_id} no longer has file {ref.number} as it was queued")
        taken[ref] = body
    return taken


def fill(mail: bytes, files: Mapping[Ref, bytes]) -> bytes:
    """The mail with each reference replaced by its file (base64); `files` from `take`."""
    out = io.BytesIO()
    pos = 0
    for span, ref in refs_in(mail):
        out.write(mail[pos:span.start])
        fileparts.write_base64(files[ref], out)
        pos = span.end
    if pos == 0:
        return mail
    out.write(mail[pos:])
    return out.getvalue()
