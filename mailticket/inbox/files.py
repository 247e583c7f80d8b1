"""Stage `fetch` (shell): read raw messages from their source, in an order that keeps threads.

Sources: .eml files, folders of them (sorted by file name), mbox files (file order) and Maildir
folders (delivery order). Both sources hand each batch to the keep sink they were given (see
`mailticket.inbox.source`): `PathSource` for `ingest`, `MaildirSource` for the embedded inbox,
which marks a message done only after the sink committed its raw bytes (`MaildirInbox.mark_done`).
"""

from __future__ import annotations

import mailbox
import os
import re
import threading
from collections.abc import Iterable, Iterator
from datetime import datetime
from pathlib import Path

from mailticket.clock import Clock
from mailticket.config import Inbox
from mailticket.errors import ConfigError
from mailticket.inbox.source import Keep
from mailticket.types import RawMail

_MAILDIR_TIME = re.compile(r"^(\d+)(?:\.M(\d+))?")
BATCH_MESSAGES = 200  # messages per commit of raw mail
BATCH_BYTES = 4 * 1024 * 1024  # and at most this much (one message may exceed it)


def is_maildir(path: Path) -> bool:
    return path.is_dir() and all((path / sub).is_dir() for sub in ("cur", "new", "tmp"))


def is_mbox(path: Path) -> bool:
    with open(path, "rb") as fh:
        return fh.read(5) == b"From "


def read_paths(paths: Iterable[str | os.PathLike]) -> Iterator[RawMail]:
    """Every message under the given paths, lazily, each path in its natural order."""
    for given in paths:
        path = Path(given)
        if not path.exists():
            raise FileNotFoundError(f"no such file or folder: {path}")
        if is_maildir(path):
            yield from MaildirInbox(path).read_all()
        elif path.is_dir():
            for child in sorted(p for p in path.iterdir() if p.is_file() and not p.name.startswith(".")):
                yield from _read_file(child)
        else:
            yield from _read_file(path)


def _read_file(path: Path) -> Iterator[RawMail]:
    if is_mbox(path):
        box = mailbox.mbox(str(path), create=False)
        try:
            for index, key in enumerate(box.iterkeys()):
                yield RawMail(box.get_bytes(key), f"mbox:{path}", str(index))
        finally:
            box.close()
    else:
        yield RawMail(path.read_bytes(), f"file:{path}", path.name)


def delivery_order(name: str, mtime: float) -> tuple[float, int, str]:
    """Sort key of a Maildir file: the delivery time in its name (seconds, microseconds)."""
    match = _MAILDIR_TIME.match(name)
    if not match:
        return (mtime, 0, name)
    return (float(match.group(1)), int(match.group(2) or 0), name)


class MaildirInbox:
    """A Maildir we own: waiting mail is in new/ (or unseen in cur/); done mail moves to cur/ as seen.

    Message refs are paths relative to the Maildir ("new/1700000000.M1P2.host").
    """

    def __init__(self, path: Path):
        self.path = path
        for sub in ("cur", "new", "tmp"):
            (path / sub).mkdir(parents=True, exist_ok=True)

    def waiting(self) -> list[str]:
        found = []
        for sub in ("new", "cur"):
            for entry in os.scandir(self.path / sub):
                name = entry.name
                if name.startswith(".") or (sub == "cur" and "S" in name.rpartition(":2,")[2]):
                    continue
                found.append((delivery_order(name, entry.stat().st_mtime), f"{sub}/{name}"))
        return [ref for _order, ref in sorted(found)]

    def read(self, refs: Iterable[str]) -> Iterator[RawMail]:
        for ref in refs:
            try:
                data = (self.path / ref).read_bytes()
            except FileNotFoundError:
                continue  # taken away since we listed it
            yield RawMail(data, f"maildir:{self.path}", ref)

    def read_all(self) -> Iterator[RawMail]:
        return self.read(self.waiting())

    def mark_done(self, refs: Iterable[str]) -> None:
        """Move to cur/ with the Seen flag; call only after the raw bytes are committed."""
        for ref in refs:
            name = ref.split("/", 1)[1]
            base, _sep, flags = name.partition(":2,")
            target = self.path / "cur" / f"{base}:2,{''.join(sorted(set(flags) | {'S'}))}"
            try:
                os.rename(self.path / ref, target)
            except FileNotFoundError:
                continue


def batches(raws: Iterable[RawMail]) -> Iterator[list[RawMail]]:
    """Group messages so that one commit serves many, bounded in count and bytes."""
    batch: list[RawMail] = []
    size = 0
    for raw in raws:
        batch.append(raw)
        size += len(raw.data)
        del raw  # the batch holds it; once kept and cleared by the caller, nothing does
        if len(batch) >= BATCH_MESSAGES or size >= BATCH_BYTES:
            yield batch
            batch, size = [], 0
    if batch:
        yield batch


class PathSource:
    """The files, folders, mbox files and Maildirs given to `ingest`, read once and marked nowhere."""

    def __init__(self, paths: Iterable[str | os.PathLike], keep: Keep):
        self.paths, self.keep = paths, keep

    def keep_batches(self) -> Iterator[tuple[int, int]]:
        """Keep batch after batch; yields (read, new) after each commit, for the caller to process."""
        for batch in batches(read_paths(self.paths)):
            read, new = len(batch), self.keep(batch, None)
            batch.clear()  # kept: its bytes are not held while the caller processes them
            yield read, new


class MaildirSource:
    """The embedded default inbox, with the same face as ImapInbox: fetch_new, wait, close."""

    def __init__(self, settings: Inbox, keep: Keep, clock: Clock):
        if not settings.create and not settings.path.is_dir():  # a typo must not be watched empty for ever
            raise ConfigError("inbox.path", f"the Maildir {settings.path} does not exist: fix the path, "
                              "create it (with cur/, new/ and tmp/), or set [inbox] create = true")
        self.inbox = MaildirInbox(settings.path)
        self.keep, self.clock = keep, clock
        self.source = f"maildir:{settings.path}"
        self.state = "maildir"
        self.last_ok: datetime | None = None
        self.state_since: datetime | None = None
        self.last_error = self.alert = ""

    def fetch_new(self, stop: threading.Event | None = None) -> int:
        kept = 0
        for batch in batches(self.inbox.read_all()):
            kept += self.keep(batch, None)  # committed: nothing else happens to a message before this
            self.inbox.mark_done(raw.ref for raw in batch)
            if stop is not None and stop.is_set():
                break
        self.last_ok = self.clock.now()
        return kept

    def wait(self, timeout: float, stop: threading.Event) -> None:
        stop.wait(timeout)

    def close(self) -> None:
        pass
