"""Machine faults told apart from a message's faults, and named in one line (app/faults.py)."""

from __future__ import annotations

import errno
import sqlite3

import pytest
from sqlalchemy.exc import OperationalError

from mailticket.app.faults import cause_line, is_transient, store_location


def db_error(text: str) -> OperationalError:
    return OperationalError("INSERT ...", {}, sqlite3.OperationalError(text))


def raised_during(first: BaseException, then: BaseException) -> BaseException:
    """`then` raised while `first` was being handled, as SQLite's lost savepoint after a full disk."""
    try:
        try:
            raise first
        except BaseException:
            raise then  # noqa: B904 - the implicit context is the point
    except BaseException as exc:
        return exc


@pytest.mark.parametrize(("exc", "cause"), [
    (db_error("database or disk is full"), "disk full"),
    (OSError(errno.ENOSPC, "No space left on device"), "disk full"),
    (db_error("attempt to write a readonly database"), "read-only file system"),
    (OSError(errno.EROFS, "Read-only file system"), "read-only file system"),
    (db_error("database is locked"), "database locked by another process"),
    (db_error("server closed the connection unexpectedly"), "database connection lost"),
    (db_error("disk I/O error"), "disk I/O error"),
])
def test_the_stores_failures_are_transient_and_named(exc, cause):
    assert is_transient(exc)
    assert cause_line(exc, "/var/lib/mailticket") == f"{cause}: /var/lib/mailticket"


def test_a_lost_savepoint_after_a_full_disk_names_the_full_disk():
    exc = raised_during(db_error("database or disk is full"), db_error("no such savepoint: sa_savepoint_1"))
    assert is_transient(exc)
    assert cause_line(exc, "/data") == "disk full: /data"


@pytest.mark.parametrize("exc", [
    FileNotFoundError(errno.ENOENT, "No such file or directory", "attachment.pdf"),
    PermissionError(errno.EACCES, "Permission denied", "templates/ack.txt"),
    IsADirectoryError(errno.EISDIR, "Is a directory"),
    UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte"),
    ValueError("bad header"),
])
def test_a_messages_own_errors_are_not_transient(exc):
    assert not is_transient(exc)


def test_where_the_store_lives():
    assert store_location("sqlite:////var/lib/mailticket/mt.db") == "/var/lib/mailticket"
    assert store_location("postgresql+psycopg://mt:secret@db.example:5432/helpdesk") == "db.example:5432/helpdesk"
