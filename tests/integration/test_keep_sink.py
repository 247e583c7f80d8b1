"""The keep sink on a real SQLite file: raw bytes and a source's checkpoint commit together or not at all."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from mailticket.clock import FixedClock
from mailticket.db import models
from mailticket.inbox.source import Checkpoint
from mailticket.store import fetchstate
from mailticket.store.fetchstate import KeepSink
from mailticket.types import RawMail

NOW = datetime(2026, 11, 25, 3, 0, tzinfo=UTC)
SOURCE = "imap:helpdesk@mail.example/INBOX"


def raw(n: int) -> RawMail:
    return RawMail(f"Message-ID: <{n}@example.co.id>\r\n\r\nbody {n}\r\n".encode(), SOURCE, str(n))


def raw_count(db) -> int:
    with db() as session:
        return session.scalar(select(func.count()).select_from(models.RawMail))


def test_keep_stores_new_bytes_once_and_moves_the_checkpoint(db):
    sink = KeepSink(db, FixedClock(NOW))
    assert sink.checkpoint(SOURCE) is None
    assert sink.keep([raw(1), raw(2)], Checkpoint(SOURCE, 7, 2)) == 2
    assert sink.checkpoint(SOURCE) == Checkpoint(SOURCE, 7, 2)
    assert sink.keep([raw(2), raw(3)], Checkpoint(SOURCE, 7, 3)) == 1  # the same bytes are kept once
    assert sink.keep([], Checkpoint(SOURCE, 8, 0)) == 0  # an empty batch moves only the checkpoint
    assert sink.checkpoint(SOURCE) == Checkpoint(SOURCE, 8, 0)
    assert sink.keep([raw(4)], None) == 1 and raw_count(db) == 4
    with db() as session:
        assert session.get(models.FetchState, SOURCE).updated_at.replace(tzinfo=UTC) == NOW


def test_a_keep_that_fails_stores_neither_bytes_nor_checkpoint(db, monkeypatch):
    sink = KeepSink(db, FixedClock(NOW))

    def broken(*_args):
        raise RuntimeError("the disk filled up")

    monkeypatch.setattr(fetchstate, "_save_checkpoint", broken)
    with pytest.raises(RuntimeError):
        sink.keep([raw(1)], Checkpoint(SOURCE, 7, 1))
    assert raw_count(db) == 0 and sink.checkpoint(SOURCE) is None
