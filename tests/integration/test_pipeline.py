"""The pipeline in-process on a real SQLite file: what is quarantined and what is retried later."""

from __future__ import annotations

import sqlite3

import pytest
from sqlalchemy.exc import OperationalError

from mailticket.app.daemon import App
from mailticket.config import load
from mailticket.store import rawmail, tickets
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
        if b"Boom" in rawmail.raw_bytes(session, raw.id):
            raise KeyError("a bug")
        return real(session, raw)

    monkeypatch.setattr(app.pipeline, "process_one", sometimes)
    app.ingest([str(good), str(bad)])
    assert states(helpdesk) == [("ticket",), ("quarantined",)]


def test_a_full_disk_at_the_outbox_keeps_the_mail_queued_until_it_can_be_written(app, helpdesk, monkeypatch):
    import errno
    from pathlib import Path

    helpdesk.write("1.eml", make_mail("Login gagal", "saya gk bisa login ke SPSE"))

    def full(*_args, **_kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Path, "write_bytes", full)  # how the outbox writes a mail
    app.ingest([str(helpdesk.root / "in" / "1.eml")])
    monkeypatch.undo()
    assert helpdesk.sent() == [] and list(helpdesk.outbox.iterdir()) == []
    with sqlite3.connect(helpdesk.root / "mailticket.db") as db:
        assert db.execute("SELECT status, attempts, last_error FROM outbox").fetchone()[:2] == ("queued", 1)
        db.execute("UPDATE outbox SET next_attempt_at = '2000-01-01 00:00:00'")  # as time would move on
    app.send()
    assert len(helpdesk.sent("ack")) == 1
    assert states(helpdesk) == [("ticket",)]


def test_an_outbox_folder_not_known_durable_keeps_the_row_queued_and_delivers_it_once(app, helpdesk,
                                                                                       monkeypatch):
    import errno

    from mailticket.outgoing import send

    helpdesk.write("1.eml", make_mail("Login gagal", "saya gk bisa login ke SPSE"))

    def failing(*_args, **_kwargs):
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(send.os, "fsync", failing)  # the folder's fsync after the rename
    app.ingest([str(helpdesk.root / "in" / "1.eml")])
    monkeypatch.undo()
    with sqlite3.connect(helpdesk.root / "mailticket.db") as db:
        assert db.execute("SELECT status FROM outbox").fetchone() == ("queued",)
        db.execute("UPDATE outbox SET next_attempt_at = '2000-01-01 00:00:00'")
    first = helpdesk.sent("ack")
    app.send()
    assert helpdesk.sent("ack") == first and len(first) == 1  # the file was there: not written again
    with sqlite3.connect(helpdesk.root / "mailticket.db") as db:
        assert db.execute("SELECT status FROM outbox").fetchone() == ("sent",)


def _batch_with_two_breaking_messages(helpdesk):
    """Reports from eight senders, two that break, and replies (by token) to reports in the same batch."""
    paths = []
    for i in range(1, 9):
        body = "this one breaks" if i in (3, 6) else f"saya gk bisa login ke SPSE, laporan {i}"
        paths.append(helpdesk.write(f"{i:02}.eml", make_mail(f"Laporan {i}", body, sender=f"u{i}@example.co.id")))
    # reports 1, 2, 4, 5, 7, 8 get tickets 1..6 in order; these answer tickets 1 and 3 (report 4)
    paths.append(helpdesk.write("09.eml", make_mail("Re: [LPSE#1] Laporan 1", "sudah saya coba", "u1@example.co.id")))
    paths.append(helpdesk.write("10.eml", make_mail("Re: [LPSE#3] Laporan 4", "masih gagal", "u4@example.co.id")))
    return paths


def _breaking(app, monkeypatch, calls):
    real = app.pipeline.process_one

    def process_one(session, raw):
        calls.append(raw.id)
        if b"this one breaks" in rawmail.raw_bytes(session, raw.id):
            raise KeyError("a bug")
        return real(session, raw)

    monkeypatch.setattr(app.pipeline, "process_one", process_one)


def test_a_breaking_message_in_a_batch_is_quarantined_alone_and_the_rest_commit_once(app, helpdesk,
                                                                                        monkeypatch):
    calls: list[int] = []
    _breaking(app, monkeypatch, calls)
    app.ingest([str(p) for p in _batch_with_two_breaking_messages(helpdesk)])
    assert [s for (s,) in states(helpdesk)] == ["ticket"] * 2 + ["quarantined"] + ["ticket"] * 2 + [
        "quarantined"] + ["ticket"] * 4
    with sqlite3.connect(helpdesk.root / "mailticket.db") as db:
        tickets = db.execute("SELECT number, reporter FROM tickets ORDER BY number").fetchall()
        replies = db.execute("SELECT t.number, m.sender FROM messages m JOIN tickets t ON t.id = m.ticket_id "
                             "WHERE m.kind = 'reply' ORDER BY m.id").fetchall()
        created = db.execute("SELECT count(*) FROM events WHERE type = 'created'").fetchone()[0]
    # numbers stay contiguous although the batch ran again around each breaking message
    assert tickets == [(1, "u1@example.co.id"), (2, "u2@example.co.id"), (3, "u4@example.co.id"),
                       (4, "u5@example.co.id"), (5, "u7@example.co.id"), (6, "u8@example.co.id")]
    assert replies == [(1, "u1@example.co.id"), (3, "u4@example.co.id")]
    assert created == 6 and len(helpdesk.sent("ack")) == 6  # nothing twice
    # the batch, then: 1-2 again together, 3 alone, 4-10 (breaks at 6), 4-5, 6 alone, 7-10
    assert calls == [1, 2, 3, 1, 2, 3, 4, 5, 6, 4, 5, 6, 7, 8, 9, 10]


def test_a_batch_whose_flush_fails_runs_each_message_in_its_own_savepoint(app, helpdesk, monkeypatch):
    paths = [helpdesk.write(f"{i}.eml", make_mail(f"Laporan {i}", "gagal login", sender=f"u{i}@example.co.id"))
             for i in range(1, 4)]
    real = tickets.add_event

    def add_event(session, ticket, at, type_, by, detail=""):
        # a row the database refuses at flush time (NOT NULL), for the message from u2 only
        return real(session, ticket, at, type_, None if by == "u2@example.co.id" else by, detail)

    monkeypatch.setattr(tickets, "add_event", add_event)
    app.ingest([str(p) for p in paths])
    assert [s for (s,) in states(helpdesk)] == ["ticket", "quarantined", "ticket"]
    with sqlite3.connect(helpdesk.root / "mailticket.db") as db:
        stage, error = db.execute("SELECT stage, error FROM quarantine").fetchone()
    assert stage == "store" and "IntegrityError" in error
    assert len(helpdesk.sent("ack")) == 2


def test_a_file_error_while_rendering_quarantines_the_message_at_the_outbox_stage(app, helpdesk, monkeypatch):
    """Only the store's database and disk faults are transient: an OSError of one message is its own."""
    from mailticket.app import apply

    good = helpdesk.write("1.eml", make_mail("Login gagal", "saya gk bisa login ke SPSE", sender="a@example.co.id"))
    bad = helpdesk.write("2.eml", make_mail("Akun terkunci", "akun saya terkunci", sender="b@example.co.id"))
    real = apply.TEMPLATES["ack"]

    def ack(renderer, *, ticket, **values):
        if ticket.number == 2:
            raise FileNotFoundError(2, "No such file or directory", "templates/ack.txt")
        return real(renderer, ticket=ticket, **values)

    monkeypatch.setitem(apply.TEMPLATES, "ack", ack)
    app.ingest([str(good), str(bad)])
    assert states(helpdesk) == [("ticket",), ("quarantined",)]
    with sqlite3.connect(helpdesk.root / "mailticket.db") as db:
        [(stage, error)] = db.execute("SELECT stage, error FROM quarantine").fetchall()
    assert stage == "outbox" and "FileNotFoundError" in error
