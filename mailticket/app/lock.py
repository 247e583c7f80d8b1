"""One worker per SQLite database: an OS lock (flock) on `<database>.lock`, held while the process lives.

Two daemons on one SQLite file each sent the whole queue (thousands of duplicates) and fought over
the write lock. `run`, `run --once`, `ingest` and `quarantine retry` take this lock first; a second
one is refused with one line naming the holder (pid, host, since when, as the holder wrote them in
the file). The kernel drops the lock with the process, so a `kill -9` never leaves it stale.
Read-only commands take no lock. PostgreSQL needs none: the inbox lease and SKIP LOCKED share work.
"""

from __future__ import annotations

import fcntl
import os
import socket
from datetime import UTC, datetime
from pathlib import Path

_held: dict[Path, int] = {}  # lock file -> descriptor, kept open for the life of the process


class DatabaseInUse(Exception):
    """Another process works on this SQLite database."""


def sqlite_file(url: str) -> Path | None:
    """The database file of a SQLite URL; None for other databases and in-memory SQLite."""
    if not url.startswith("sqlite") or ":///" not in url:
        return None
    path = url.split(":///", 1)[1].split("?", 1)[0]
    return Path(path).resolve() if path and path != ":memory:" else None


def hold(url: str) -> Path | None:
    """Take the lock of the database at `url` for this process; the lock file, or None (not SQLite).

    Raises DatabaseInUse naming the holder when another process has it.
    """
    database = sqlite_file(url)
    if database is None:
        return None
    path = database.with_name(database.name + ".lock")
    if path in _held:
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = _read(fd)
        os.close(fd)
        raise DatabaseInUse(f"another mailticket works on {database}: {holder} (lock {path})") from None
    _write(fd)
    _held[path] = fd
    return path


def _write(fd: int) -> None:
    since = datetime.now(UTC).isoformat(timespec="seconds")
    text = f"pid {os.getpid()} on {socket.gethostname()} since {since}\n"
    os.ftruncate(fd, 0)
    os.pwrite(fd, text.encode(), 0)


def _read(fd: int) -> str:
    text = os.pread(fd, 500, 0).decode("utf-8", "replace").strip()
    return text or "a process that is just starting"
