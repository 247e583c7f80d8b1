"""Faults of the machine, told apart from faults of a message, and named in one line.

`is_transient(exc)`: the store's database or disk failed (locked, full, read-only, gone): the batch
stays pending and runs again later, nothing is quarantined. Any other error, an OSError of a
message's own files included (a template, an attachment path), is the message's: it is quarantined.

`cause_line(exc, where)`: what an operator must fix, e.g. "disk full: /var/lib/mailticket". SQLite
rolls the whole transaction back when the disk fills, and the next SAVEPOINT release then fails with
"no such savepoint"; the first cause in the exception's chain is the one named.
"""

from __future__ import annotations

import errno
import sqlite3
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy.engine import make_url
from sqlalchemy.exc import DisconnectionError, InterfaceError, OperationalError

DB_FAILURES = (OperationalError, InterfaceError, DisconnectionError, sqlite3.OperationalError)
# errno of an OSError that is the machine's (space, a read-only or failing disk, limits), not the mail's
MACHINE_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EIO, errno.ENFILE, errno.EMFILE,
                  errno.ENOMEM}
# (words in the driver's message or errno, the cause) in order: the first match names it
CAUSES = (
    (("database or disk is full", "no space left", "could not extend file", errno.ENOSPC, errno.EDQUOT),
     "disk full"),
    (("readonly database", "read-only file system", "read-only transaction", errno.EROFS),
     "read-only file system"),
    (("database is locked", "database table is locked"), "database locked by another process"),
    (("disk i/o error", errno.EIO), "disk I/O error"),
    (("server closed the connection", "connection refused", "terminating connection",
      "connection timed out", "could not connect", "connection is closed", "ssl connection has been closed",
      "the database system is"),
     "database connection lost"),
)


def is_transient(exc: BaseException) -> bool:
    """True when the store (database, disk) failed rather than the message being processed."""
    return any(isinstance(e, DB_FAILURES) or (isinstance(e, OSError) and e.errno in MACHINE_ERRNOS)
               for e in _chain(exc))


def cause_line(exc: BaseException, where: str) -> str:
    """One line naming the cause and the place, e.g. "disk full: /var/lib/mailticket"."""
    for e in _chain(exc):
        text = str(getattr(e, "orig", None) or e).lower()
        code = getattr(e, "errno", None)
        for marks, cause in CAUSES:
            if any(mark == code if isinstance(mark, int) else mark in text for mark in marks):
                return f"{cause}: {where}"
    first = (str(exc).strip().splitlines() or [""])[0]
    return f"{type(exc).__name__}: {first[:200]} ({where})"


def store_location(url: str) -> str:
    """Where the store lives, for cause lines: the SQLite file's folder, or host:port/database."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database or ""
        return str(Path(database).resolve().parent) if database and database != ":memory:" else "memory"
    port = f":{parsed.port}" if parsed.port else ""
    return f"{parsed.host or 'localhost'}{port}/{parsed.database or ''}"


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """The exception and what it was raised from or during, first cause first (bounded)."""
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen and len(seen) < 10:
        seen.append(current)
        current = current.__cause__ or current.__context__
    yield from reversed(seen)
