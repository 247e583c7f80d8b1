"""The pipeline in-process on a real SQLite file: what is quarantined and what is retried later."""

from __future__ import annotations

import sqlite3

import pytest
from sqlalchemy.exc import OperationalError

from mailticket.config import load
from mailticket.daemon import App
from tests.conftest import make_mail


@pytest.fixture
def app(helpdesk):
    return App(load(str(helpdesk.config)))


def states(helpdesk):
    with sqlite3.connect(helpdesk.root / "mailticket.db") as db:
        return db.execute("SELECT state FROM raw_mail ORDER BY id").fetchall()


def test_a_database_failure_leaves_the_message_pending_not_quarantined(app, helpdesk, monkeypatch):
    path = helpdesk.write("1.eml", make_mail("Login gagal", "saya gk bisa login ke SPSE"))

    def locked(*_args):
        raise OperationalError("INSERT", {}, Exception("database is locked"))

    monkeypatch.setattr(app.pipeline, "process_one", locked)
    with pytest.raises(OperationalError):
        app.ingest([str(path)])
    assert states(helpdesk) == [("pending",)]
    monkeypatch.undo()
    app.ingest([])
    assert states(helpdesk) == [("ticket",)]


def test_an_unexpected_error_quarantines_only_that_message(app, helpdesk, monkeypatch):
    good = helpdesk.write("1.eml", make_mail("Login gagal", "saya gk bisa login ke SPSE"))
    bad = helpdesk.write("2.eml", make_mail("Boom", "this one breaks"))
    real = app.pipeline.process_one

    def sometimes(session, raw):
        if b"Boom" in raw.data:
            raise KeyError("a bug")
        return real(session, raw)

    monkeypatch.setattr(app.pipeline, "process_one", sometimes)
    app.ingest([str(good), str(bad)])
    assert states(helpdesk) == [("ticket",), ("quarantined",)]


def test_a_full_disk_at_the_outbox_keeps_the_mail_queued_until_it_can_be_written(app, helpdesk, monkeypatch):
    import errno
    import os

    from mailticket import send

    real_fsync = os.fsync
    helpdesk.write("1.eml", make_mail("Login gagal", "saya gk bisa login ke SPSE"))

    def full(*_args, **_kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(send.os, "fsync", full)
    app.ingest([str(helpdesk.root / "in" / "1.eml")])
    assert helpdesk.sent() == []
    with sqlite3.connect(helpdesk.root / "mailticket.db") as db:
        assert db.execute("SELECT status, attempts, last_error FROM outbox").fetchone()[:2] == ("queued", 1)
        db.execute("UPDATE outbox SET next_attempt_at = '2000-01-01 00:00:00'")  # as time would move on
    monkeypatch.setattr(send.os, "fsync", real_fsync)
    app.send()
    assert len(helpdesk.sent("ack")) == 1
    assert states(helpdesk) == [("ticket",)]
