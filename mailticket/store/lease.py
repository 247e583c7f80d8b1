"""Who reads the inbox (shell): one reader per mailbox among instances sharing a PostgreSQL database.

`InboxLease(engine, source)` is a session-level PostgreSQL advisory lock, keyed by a hash of
the inbox source string (`imap:user@host/INBOX`), held on a connection of its own. The server
releases it the moment that connection ends: the reader was killed (its socket closes), lost
the network (server-side TCP keepalives notice within ~15 s), or was ended by an operator.
Stand-bys try again each cycle and the first to get it becomes the reader; fetch state is in the
database, so the new reader goes on where the old one stopped.

The lease avoids double work, it is not what keeps a message single: raw mail is unique by its
bytes, so two readers for a moment (an old reader that has not noticed its loss yet) only fetch
the same mail twice and keep it once. SQLite allows one writer anyway: there the caller is
always the reader.

Connect directly or through a session-pooling pgbouncer: a transaction-pooling one cannot hold
a session lock.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import socket

from sqlalchemy import Connection, Engine, create_engine, text
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.pool import NullPool

from mailticket.db.session import db_error_line

log = logging.getLogger("mailticket.lease")

# libpq keepalives: our side notices a dead server; the SET below makes the server notice us.
CLIENT_OPTIONS = {"connect_timeout": 5, "keepalives": 1, "keepalives_idle": 5, "keepalives_interval": 2,
                  "keepalives_count": 3, "tcp_user_timeout": 10000}
# Server side: a reader whose network vanished loses the lock after about 5 + 2*3 seconds.
SERVER_SETTINGS = ("SET tcp_keepalives_idle = 5", "SET tcp_keepalives_interval = 2",
                   "SET tcp_keepalives_count = 3", "SET statement_timeout = '10s'")


def lock_key(source: str) -> int:
    """The advisory lock key of an inbox: a signed 64-bit hash of its source string."""
    return int.from_bytes(hashlib.sha256(f"mailticket inbox {source}".encode()).digest()[:8], "big",
                          signed=True)


class InboxLease:
    """acquire() each cycle; fetch only when it returns True. See the module docstring."""

    def __init__(self, engine: Engine, source: str):
        self.source = source
        self.key = lock_key(source)
        self.shared = engine.dialect.name == "postgresql"
        self._engine = engine
        self._lock_engine: Engine | None = None
        self._conn: Connection | None = None
        self._standby_logged = False

    def acquire(self) -> bool:
        """True when this process is the reader (taking the lock if it is free); never blocks long."""
        if not self.shared:
            return True
        if self._conn is not None and self.held():
            return True
        try:
            got = self._try_lock()
        except SQLAlchemyError as exc:
            self._drop()
            log.warning("lease: cannot reach the database to take the inbox %s: %s", self.source,
                        db_error_line(exc))
            return False
        if got:
            log.info("lease: this instance now reads the inbox %s", self.source)
            self._standby_logged = False
        elif not self._standby_logged:
            log.info("lease: another instance reads the inbox %s; standing by (processing and sending)",
                     self.source)
            self._standby_logged = True
        return got

    def held(self) -> bool:
        """Is the lock still ours? Asks the server on the lock's connection; a lost connection is no."""
        if not self.shared:
            return True
        if self._conn is None:
            return False
        try:
            # a bigint advisory key shows in pg_locks as classid (high 32 bits), objid (low), objsubid 1
            mine = self._conn.execute(text(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid() "
                "AND granted AND classid::bigint = :high AND objid::bigint = :low AND objsubid = 1"),
                {"high": (self.key >> 32) & 0xFFFFFFFF, "low": self.key & 0xFFFFFFFF},
            ).scalar()
        except SQLAlchemyError as exc:
            self._lost(db_error_line(exc))
            return False
        if not mine:
            self._lost("the lock is gone")
        return bool(mine)

    def release(self) -> None:
        """Give the inbox up (on a clean stop) so that a stand-by takes over at once."""
        if self._conn is not None:
            with contextlib.suppress(SQLAlchemyError):  # the connection is gone: so is the lock
                self._conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": self.key})
            self._drop()
        if self._lock_engine is not None:
            self._lock_engine.dispose()
            self._lock_engine = None

    # -- inside ---------------------------------------------------------------------------------

    def _try_lock(self) -> bool:
        if self._conn is None:
            self._conn = self._connect()
        got = bool(self._conn.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": self.key}).scalar())
        if not got:
            self._drop()  # a stand-by holds no connection open between its tries
        return got

    def _connect(self) -> Connection:
        if self._lock_engine is None:
            name = f"mailticket lease {socket.gethostname()} pid {os.getpid()}"[:63]
            self._lock_engine = create_engine(self._engine.url, poolclass=NullPool,
                                              connect_args={**CLIENT_OPTIONS, "application_name": name})
        conn = self._lock_engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        try:
            for statement in SERVER_SETTINGS:
                conn.execute(text(statement))
        except SQLAlchemyError:
            conn.close()
            raise
        return conn

    def _lost(self, why: str) -> None:
        log.warning("lease: no longer the reader of the inbox %s (%s); a stand-by takes over", self.source,
                    why)
        self._drop()

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(SQLAlchemyError, DBAPIError, OSError):  # already dead
                conn.close()

