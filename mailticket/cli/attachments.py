"""`mailticket attachments TOKEN [--out DIR] [--json]`, and the files `tickets show --json` lists (shell).

Every file of every message of a ticket: a received message's from its kept raw bytes, one of ours
from its outbox row (a file it refers to, `core.filerefs`, is listed with the size and sha256 the
reference holds, and read from its raw message to be written). A message whose header says it is one
text part is not read further, so `tickets show` stays fast.

`--out DIR` writes each file under its own name made safe: a base name only (no folder, no leading
dot, no control character, at most MAX_NAME bytes), never over an existing file (a second
"scan.pdf" becomes "scan-2.pdf"). The same bytes are written once: a notification's copy of a
reporter's file, or a file already in DIR from an earlier run, is named, not written again.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.orm import Session

from mailticket.core import attachments, filerefs, mime
from mailticket.core.attachments import Listed
from mailticket.core.parse import safe_filename
from mailticket.db import models
from mailticket.store import rawmail

HEAD = 16384  # bytes of a raw message read first: its header block says whether it can have files
MAX_NAME = 200  # bytes of a written file's name (file systems allow 255)
FALLBACK = "lampiran"


@dataclass(frozen=True)
class File:
    """One file of a ticket, with the message it belongs to."""

    message: int  # the message's place in the ticket, from 1
    msg: models.Message
    listed: Listed

    def as_json(self) -> dict:
        return {"message": self.message, "message_id": self.msg.message_id, "direction": self.msg.direction,
                "kind": self.msg.kind, "from": self.msg.sender, **self.listed.as_json()}


# -- reading ------------------------------------------------------------------------------------


def message_bytes(session: Session, message: models.Message) -> bytes | None:
    """The message as kept (raw for received, the outbox row for ours); None when it cannot have files."""
    if message.direction == "in":
        if message.raw_id is None:
            return None
        if not attachments.may_have_files(rawmail.raw_bytes(session, message.raw_id, HEAD)):
            return None
        return rawmail.raw_bytes(session, message.raw_id)
    data = message.outbox.data if message.outbox is not None else None
    return data if data and attachments.may_have_files(data) else None


def listed(session: Session, message: models.Message) -> list[Listed]:
    """Name, type, size and sha256 of each file of one message (`tickets show --json`)."""
    return [entry for entry, _body in _files(session, message, want_bytes=False)]


def ticket_files(session: Session, ticket: models.Ticket) -> Iterator[tuple[File, bytes]]:
    """Every file of the ticket with its bytes, message by message, one file at a time."""
    for index, message in enumerate(ticket.messages, start=1):
        for entry, body in _files(session, message, want_bytes=True):
            yield File(index, message, entry), body


def _files(session: Session, message: models.Message, want_bytes: bool) -> Iterator[tuple[Listed, bytes]]:
    data = message_bytes(session, message)
    if data is None:
        return
    # references count only in our own mail: a received one could carry a line that looks like one
    refs = {span.start: ref for span, ref in filerefs.refs_in(data)} if message.direction == "out" else {}
    for found in attachments.find(data):
        ref = refs.get(found.span.start)
        if ref is None:
            body = mime.decode(data, found.span)
            digest = hashlib.sha256(body).hexdigest()
            yield Listed(found.filename, found.content_type, len(body), digest), body
        else:
            body = _referred(session, ref) if want_bytes else b""
            yield Listed(found.filename, found.content_type, ref.size, ref.sha256), body


def _referred(session: Session, ref: filerefs.Ref) -> bytes:
    return filerefs.take(rawmail.raw_bytes(session, ref.raw_id), [ref])[ref]


# -- writing ------------------------------------------------------------------------------------


def safe_name(name: str) -> str:
    """A name to write in DIR: a base name (never a path), no leading dot, at most MAX_NAME bytes."""
    name = safe_filename(name.replace("\x00", ""))
    name = name.replace("/", "_").replace("\\", "_").lstrip(".").strip() or FALLBACK
    if name in (".", ".."):
        name = FALLBACK
    stem, dot, ext = name.rpartition(".")
    if not dot or not stem or len(ext.encode()) > 16:
        stem, ext = name, ""
    ext = f".{ext}" if ext else ""
    while len((stem + ext).encode("utf-8")) > MAX_NAME:
        stem = stem[:-1]
    return (stem + ext) if stem else FALLBACK + ext


def write(folder: Path, name: str, body: bytes) -> tuple[Path, bool]:
    """Write `body` as `name` in `folder`, never over another file; (path, False) when a file with these
    very bytes is already there under that name (or a numbered one)."""
    safe = safe_name(name)
    stem, dot, ext = safe.rpartition(".")
    if not dot or not stem:
        stem, dot, ext = safe, "", ""
    digest = hashlib.sha256(body).hexdigest()
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)
    for number in range(1, 10000):
        base = f"{stem}{dot}{ext}" if number == 1 else f"{stem}-{number}{dot}{ext}"
        if os.path.basename(base) != base or base in (".", ".."):
            raise ValueError(f"unsafe file name {name!r}")  # cannot happen: safe_name leaves a base name
        candidate = folder / base  # O_EXCL: an existing file or link there is never written through
        try:
            fd = os.open(candidate, flags, 0o644)
        except FileExistsError:
            if _same(candidate, digest):
                return candidate, False
            continue
        with os.fdopen(fd, "wb") as fh:
            fh.write(body)
        return candidate, True
    raise FileExistsError(f"too many files named like {name!r} in {folder}")


def _same(path: Path, digest: str) -> bool:
    if path.is_symlink() or not path.is_file():
        return False
    sha = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            sha.update(block)
    return sha.hexdigest() == digest


# -- the command ----------------------------------------------------------------------------------


def command(session: Session, ticket: models.Ticket, out: str | None) -> tuple[list[dict], list[str]]:
    """The ticket's files as JSON rows, and with `out` the lines that say what was written."""
    folder = Path(out) if out else None
    if folder is not None:
        folder.mkdir(parents=True, exist_ok=True)
    rows, lines = [], []
    for file, body in ticket_files(session, ticket):
        row = file.as_json()
        if folder is not None:
            path, written = write(folder, file.listed.filename, body)
            row.update(path=str(path), written=written)
            lines.append(f"{'wrote' if written else 'already there'} {path} ({len(body)} bytes) "
                         f"from message {file.message} ({file.msg.direction} {file.msg.kind})")
        rows.append(row)
    return rows, lines


def table_rows(rows: list[dict]) -> tuple[list[list], list[str]]:
    """The listing as a table's rows and headers (cli.views.table)."""
    return ([[r["message"], r["direction"], r["kind"], r["filename"], r["content_type"], r["size"],
              r["sha256"][:16]] for r in rows], ["MSG", "DIR", "KIND", "FILE", "TYPE", "BYTES", "SHA256"])
