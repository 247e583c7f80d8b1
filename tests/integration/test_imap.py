"""ImapInbox against a real Dovecot: keep every message once, mark after commit, survive drops, IDLE."""

from __future__ import annotations

import logging
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from imapclient import IMAPClient
from sqlalchemy import select

from mailticket.clock import FixedClock
from mailticket.db import models
from mailticket.inbox.imap import PROCESSED_FLAG, PROCESSED_FOLDER, ImapInbox, ImapUnavailable, connect
from mailticket.store.fetchstate import KeepSink
from tests.servers.fixtures import free_port

NOW = datetime(2026, 11, 25, 3, 0, tzinfo=UTC)
FAST = {"backoff": (0.1, 0.5), "retry_for": 20.0}


def message(n: int, tag: str = "m", body: str = "") -> bytes:
    """CRLF bytes as a server stores them, so what we keep can be compared byte for byte."""
    text = body or f"Laporan nomor {n}: aplikasi SPSE tidak bisa dibuka."
    return (f"From: Budi <budi{n}@example.co.id>\r\nTo: provlampunglpse@gmail.com\r\n"
            f"Subject: {tag} {n}\r\nMessage-ID: <{tag}.{n}@example.co.id>\r\n"
            f"Date: Wed, 25 Nov 2026 10:00:00 +0700\r\n\r\n{text}\r\n").encode()


def kept(db) -> list[bytes]:
    with db() as session:
        return list(session.scalars(select(models.RawData.data).order_by(models.RawData.raw_id)))


def fetch_state(db, inbox: ImapInbox) -> models.FetchState:
    with db() as session:
        return session.get(models.FetchState, inbox.source)


def fill(dovecot, user: str, count: int, folder: str = "INBOX", tag: str = "m") -> list[bytes]:
    """Put `count` messages in one MULTIAPPEND (fast)."""
    data = [message(n, tag) for n in range(count)]
    client = dovecot.client(user)
    try:
        if not client.folder_exists(folder):
            client.create_folder(folder)
        client.multiappend(folder, data)
    finally:
        client.logout()
    return data


def flags_in(dovecot, user: str, folder: str) -> dict[int, tuple]:
    client = dovecot.client(user)
    try:
        client.select_folder(folder, readonly=True)
        return {uid: got[b"FLAGS"] for uid, got in client.fetch(client.search("ALL"), ["FLAGS"]).items()}
    finally:
        client.logout()


def recording(dovecot=None, drop_on_body_fetch: int = 0, no_move: bool = False, crash_on_move: bool = False):
    """A client class that records FETCHes and can misbehave like a real network or server."""

    class Client(IMAPClient):
        fetches: list[tuple[int, tuple]] = []
        idles = 0

        def fetch(self, messages, data, modifiers=None):
            Client.fetches.append((len(messages), tuple(data)))
            bodies = sum(1 for _n, what in Client.fetches if "BODY.PEEK[]" in what)
            if "BODY.PEEK[]" in data and bodies == drop_on_body_fetch:
                dovecot.drop_connections()
            return super().fetch(messages, data, modifiers)

        def capabilities(self):
            caps = super().capabilities()
            return tuple(c for c in caps if c != b"MOVE") if no_move else caps

        def move(self, messages, folder):
            if crash_on_move:
                raise RuntimeError("the process died right after the commit")
            return super().move(messages, folder)

        def idle(self):
            Client.idles += 1
            return super().idle()

    return Client


def make_inbox(dovecot, db, user, client_class=IMAPClient, **changes) -> ImapInbox:
    names = ("retry_for", "backoff", "batch_size", "token_provider")
    options = {name: changes.pop(name) for name in names if name in changes}
    return imap_inbox(dovecot.inbox(user, **changes), db,
                      client_factory=lambda s: connect(s, dovecot.ssl_context(), 10, client_class),
                      **{**FAST, **options})


def imap_inbox(settings, db, **options) -> ImapInbox:
    """An ImapInbox that keeps its mail and checkpoint in `db`, at NOW."""
    clock = FixedClock(NOW)
    sink = KeepSink(db, clock)
    return ImapInbox(settings, sink.keep, sink.checkpoint, clock, **options)


# -- fetching ------------------------------------------------------------------------------------


def test_fetch_keeps_every_message_once_unseen_and_moves_it_after_commit(dovecot, imap_user, db):
    sent = fill(dovecot, imap_user, 5)
    inbox = make_inbox(dovecot, db, imap_user)

    assert inbox.fetch_new() == 5 and inbox.fetched == 5
    assert kept(db) == sent  # byte for byte, in UID order
    state = fetch_state(db, inbox)
    assert (state.last_uid, state.uidvalidity > 0) == (5, True)
    assert inbox.state == "connected" and inbox.last_ok == NOW
    assert flags_in(dovecot, imap_user, "INBOX") == {}
    moved = flags_in(dovecot, imap_user, PROCESSED_FOLDER)
    assert len(moved) == 5 and not any(b"\\Seen" in f for f in moved.values())  # BODY.PEEK[] only

    assert inbox.fetch_new() == 0
    dovecot.append("INBOX", message(99), user=imap_user)
    assert inbox.fetch_new() == 1
    assert len(kept(db)) == 6 and fetch_state(db, inbox).last_uid == 6
    with db() as session:
        raw = session.scalars(select(models.RawMail).order_by(models.RawMail.id.desc())).first()
        assert raw.source == inbox.source == f"imap:{imap_user}@127.0.0.1/INBOX"
    inbox.close()
    assert inbox.state == "closed"


def test_fetch_reads_in_batches_of_100_each_committed(dovecot, imap_user, db):
    fill(dovecot, imap_user, 250)
    client_class = recording()
    inbox = make_inbox(dovecot, db, imap_user, client_class)

    assert inbox.fetch_new() == 250
    bodies = [(n, what) for n, what in client_class.fetches if "BODY.PEEK[]" in what]
    assert [n for n, _what in bodies] == [100, 100, 50]
    assert all(what in (("BODY.PEEK[]",), ("RFC822.SIZE",)) for _n, what in client_class.fetches)
    assert fetch_state(db, inbox).last_uid == 250
    assert len(set(kept(db))) == 250
    inbox.close()


def test_without_move_the_messages_get_a_keyword_and_stay_unseen(dovecot, imap_user, db):
    fill(dovecot, imap_user, 3)
    inbox = make_inbox(dovecot, db, imap_user, recording(no_move=True))

    assert inbox.fetch_new() == 3
    flags = flags_in(dovecot, imap_user, "INBOX")
    assert len(flags) == 3
    assert all(PROCESSED_FLAG.encode() in f and b"\\Seen" not in f for f in flags.values())
    assert inbox.fetch_new() == 0
    client = dovecot.client(imap_user)
    assert not client.folder_exists(PROCESSED_FOLDER)
    client.logout()
    inbox.close()


def test_uidvalidity_change_reads_the_folder_again_without_duplicates(dovecot, imap_user, db):
    sent = fill(dovecot, imap_user, 3, folder="Support")
    inbox = make_inbox(dovecot, db, imap_user, recording(no_move=True), folder="Support")
    assert inbox.fetch_new() == 3
    before = fetch_state(db, inbox)
    inbox.close()

    client = dovecot.client(imap_user)  # the folder is rebuilt: same messages, new UIDVALIDITY
    client.delete_folder("Support")
    client.create_folder("Support")
    client.multiappend("Support", [*sent, message(3)])
    client.logout()

    inbox = make_inbox(dovecot, db, imap_user, recording(no_move=True), folder="Support")
    assert inbox.fetch_new() == 1 and inbox.fetched == 4
    after = fetch_state(db, inbox)
    assert after.uidvalidity != before.uidvalidity and after.last_uid == 4
    assert kept(db) == [*sent, message(3)]
    assert inbox.fetch_new() == 0
    inbox.close()


def test_crash_between_commit_and_server_mark_repeats_nothing(dovecot, imap_user, db):
    fill(dovecot, imap_user, 3)
    crashing = make_inbox(dovecot, db, imap_user, recording(crash_on_move=True))
    with pytest.raises(RuntimeError):
        crashing.fetch_new()
    assert len(kept(db)) == 3 and fetch_state(db, crashing).last_uid == 3
    assert len(flags_in(dovecot, imap_user, "INBOX")) == 3  # committed, never marked

    restarted = make_inbox(dovecot, db, imap_user)  # a new process with the same database
    assert restarted.fetch_new() == 0
    assert len(kept(db)) == 3
    assert flags_in(dovecot, imap_user, "INBOX") == {}  # the leftovers are marked now
    assert len(flags_in(dovecot, imap_user, PROCESSED_FOLDER)) == 3
    restarted.close()


def test_connection_dropped_mid_fetch_reconnects_and_loses_nothing(dovecot, imap_user, db, caplog):
    sent = fill(dovecot, imap_user, 250)
    inbox = make_inbox(dovecot, db, imap_user, recording(dovecot, drop_on_body_fetch=2))

    with caplog.at_level(logging.INFO, logger="mailticket.imap"):
        assert inbox.fetch_new() == 250
    assert sorted(kept(db)) == sorted(sent)
    assert inbox.state == "connected"
    states = [r.getMessage() for r in caplog.records if "state=" in r.getMessage()]
    assert [s.split("state=")[1].split()[0] for s in states] == ["connected", "disconnected", "retrying",
                                                                 "connected"]
    assert flags_in(dovecot, imap_user, "INBOX") == {}
    inbox.close()


def test_server_down_then_back_is_retried_with_backoff(dovecot, imap_user, db):
    sent = fill(dovecot, imap_user, 2)
    inbox = make_inbox(dovecot, db, imap_user)
    dovecot.stop()
    try:
        result = {}
        worker = threading.Thread(target=lambda: result.update(kept=inbox.fetch_new()))
        worker.start()
        time.sleep(0.5)
        assert inbox.state == "retrying" and worker.is_alive()
    finally:
        dovecot.start()
    worker.join(15)
    assert result == {"kept": 2} and kept(db) == sent
    inbox.close()


def test_gives_up_after_retry_for_and_refuses_bad_logins_at_once(dovecot, imap_user, db):
    nowhere = make_inbox(dovecot, db, imap_user, port=free_port(), retry_for=0.5)
    started = time.monotonic()
    with pytest.raises(ImapUnavailable):
        nowhere.fetch_new()
    assert time.monotonic() - started < 3 and nowhere.state == "failed"

    wrong = make_inbox(dovecot, db, imap_user, password="wrong")
    with pytest.raises(ImapUnavailable, match="AUTHENTICATIONFAILED"):
        wrong.fetch_new()
    assert wrong.state == "failed"


def test_tls_and_xoauth2_logins(dovecot, imap_user, db):
    fill(dovecot, imap_user, 1)
    password = dovecot.users[imap_user]
    implicit = make_inbox(dovecot, db, imap_user, security="ssl", port=dovecot.ssl_port)
    assert implicit.fetch_new() == 1
    implicit.close()
    # Dovecot's test config checks an XOAUTH2 token like a password
    oauth = make_inbox(dovecot, db, imap_user, security="starttls", password="",
                       token_provider=lambda: password)
    assert oauth.fetch_new() == 0 and oauth.state == "connected"
    oauth.close()
    # the system CAs do not know the test certificate, and that is not retried
    untrusted = imap_inbox(dovecot.inbox(imap_user, security="ssl", port=dovecot.ssl_port), db, **FAST)
    with pytest.raises(ImapUnavailable, match="certificate verify failed"):
        untrusted.fetch_new()


# -- waiting --------------------------------------------------------------------------------------


def timed_wait(inbox: ImapInbox, timeout: float, stop: threading.Event | None = None) -> float:
    started = time.monotonic()
    inbox.wait(timeout, stop or threading.Event())
    return time.monotonic() - started


def test_idle_returns_within_a_second_of_new_mail(dovecot, imap_user, db):
    inbox = make_inbox(dovecot, db, imap_user)
    assert inbox.fetch_new() == 0
    appended = []
    timer = threading.Timer(0.3, lambda: (dovecot.append("INBOX", message(1), user=imap_user),
                                          appended.append(time.monotonic())))
    timer.start()
    inbox.wait(10, threading.Event())
    assert appended and time.monotonic() - appended[0] < 1.2  # Dovecot itself waits 0.5 s
    assert inbox.fetch_new() == 1
    inbox.close()


def test_mail_that_arrived_during_the_fetch_ends_the_wait_at_once(dovecot, imap_user, db):
    inbox = make_inbox(dovecot, db, imap_user)
    assert inbox.fetch_new() == 0
    dovecot.append("INBOX", message(1), user=imap_user)
    assert timed_wait(inbox, 10) < 0.3
    assert inbox.fetch_new() == 1
    inbox.close()


def test_stop_event_ends_idle_within_two_seconds(dovecot, imap_user, db):
    inbox = make_inbox(dovecot, db, imap_user)
    inbox.fetch_new()
    stop = threading.Event()
    threading.Timer(0.2, stop.set).start()
    assert timed_wait(inbox, 60, stop) < 1.5
    assert inbox.state == "connected"
    assert inbox.fetch_new() == 0  # the connection is usable after IDLE ended
    inbox.close()


def test_idle_is_renewed_and_the_connection_stays_usable(dovecot, imap_user, db):
    client_class = recording()
    inbox = make_inbox(dovecot, db, imap_user, client_class)
    inbox.fetch_new()
    inbox.idle_renew = 0.4
    assert 1.3 < timed_wait(inbox, 1.5) < 2.5
    assert client_class.idles >= 2  # renewal is checked between 1 s idle_check() calls
    dovecot.append("INBOX", message(1), user=imap_user)
    assert inbox.fetch_new() == 1
    inbox.close()


def test_connection_dropped_mid_idle_returns_and_reconnects(dovecot, imap_user, db):
    inbox = make_inbox(dovecot, db, imap_user)
    inbox.fetch_new()
    took = []
    waiter = threading.Thread(target=lambda: took.append(timed_wait(inbox, 30)))
    waiter.start()
    time.sleep(0.3)  # in IDLE by now
    assert dovecot.drop_connections() >= 1
    dovecot.append("INBOX", message(1), user=imap_user)  # arrives while we are cut off
    waiter.join(5)
    assert took and took[0] < 3
    assert inbox.state == "disconnected"
    assert inbox.fetch_new() == 1 and inbox.state == "connected"
    inbox.close()


def test_polling_when_idle_is_off(dovecot, imap_user, db):
    inbox = make_inbox(dovecot, db, imap_user, idle=False, poll_interval=timedelta(seconds=0.5))
    inbox.fetch_new()
    dovecot.append("INBOX", message(1), user=imap_user)
    assert 0.4 < timed_wait(inbox, 10) < 1.0  # sleeps the poll interval, no IDLE
    assert inbox.fetch_new() == 1

    slow = make_inbox(dovecot, db, imap_user, idle=False, poll_interval=timedelta(seconds=60))
    stop = threading.Event()
    threading.Timer(0.2, stop.set).start()
    assert timed_wait(slow, 60, stop) < 1.0
    inbox.close()
