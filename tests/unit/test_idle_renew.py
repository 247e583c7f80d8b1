"""IDLE re-entry is DONE, NOOP, IDLE: mail that landed just before DONE is seen at once.

Dovecot pushes new mail about 0.5 s after it lands; mail landing in the last 0.5 s of an IDLE we
leave is announced neither by that IDLE nor by the next one, only by a sync (NOOP, SELECT). Before
the NOOP such mail waited for the next re-entry: bench/latency.py --random-phase p95 7.5 s.
"""

from __future__ import annotations

from datetime import UTC, datetime

from mailticket.config import Inbox
from mailticket.inbox.imap import ImapInbox


class Clock:
    def now(self):
        return datetime.now(UTC)


class FakeClient:
    def __init__(self, noop_responses):
        self.calls: list[str] = []
        self.noop_responses = noop_responses

    def idle_done(self):
        self.calls.append("DONE")
        return b"Idle completed", []

    def noop(self):
        self.calls.append("NOOP")
        return b"NOOP completed", self.noop_responses

    def idle(self):
        self.calls.append("IDLE")


def inbox() -> ImapInbox:
    return ImapInbox(Inbox(username="helpdesk"), keep=None, load_checkpoint=None, clock=Clock())


def test_mail_announced_by_the_noop_ends_the_wait():
    client = FakeClient([(1, b"EXISTS"), (1, b"RECENT")])
    assert inbox()._renew_idle(client) is True
    assert client.calls == ["DONE", "NOOP"]  # out of IDLE: the caller fetches now


def test_nothing_new_goes_back_into_idle():
    client = FakeClient([])
    assert inbox()._renew_idle(client) is False
    assert client.calls == ["DONE", "NOOP", "IDLE"]
