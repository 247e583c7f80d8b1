"""Big raw messages on SQLite, written and read a slice at a time through the blob handle (shell).

Binding a value makes SQLite copy it, and building the row's record copies it again: keeping a
27 MB message cost three copies of it at once, and reading it back two (SQLite's and Python's). A
value over BIG is inserted as zeroblob(n) and its bytes written through sqlite3's incremental blob
I/O (`Connection.blobopen`), SLICE at a time; it is read back in one copy. This works because the
bytes are the last column of raw_data: SQLite stores a trailing zeroblob without making it (any
other column is built in memory whole). PostgreSQL, and small values (nearly all mail), take the
ordinary way.
"""

from __future__ import annotations

from sqlalchemy import Connection, func, insert
from sqlalchemy.orm import Session

from mailticket.db import models

BIG = 1024 * 1024  # bytes: smaller values are bound as usual
SLICE = 1024 * 1024


def is_sqlite(connection: Connection) -> bool:
    return connection.dialect.name == "sqlite"


def is_big(connection: Connection, data: bytes) -> bool:
    return is_sqlite(connection) and len(data) > BIG


def keep(session: Session, raw_id: int, data: bytes) -> None:
    """Insert one raw message's bytes (raw_data) without binding them whole."""
    session.execute(insert(models.RawData).values(raw_id=raw_id, data=func.zeroblob(len(data))))
    view = memoryview(data)
    with _driver(session.connection()).blobopen(models.RawData.__tablename__, "data", raw_id) as blob:
        for start in range(0, len(view), SLICE):
            blob.write(view[start:start + SLICE])


def read(session: Session, raw_id: int) -> bytes:
    """One raw message's bytes in one copy (sqlite3.OperationalError if there is no such row)."""
    with _driver(session.connection()).blobopen(models.RawData.__tablename__, "data", raw_id,
                                                readonly=True) as blob:
        return blob.read()


def _driver(connection: Connection):
    return connection.connection.driver_connection
