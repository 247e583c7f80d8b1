"""Faults of the machine, not of the mail: a locked database, an SMTP outage, an IMAP outage.

Real parts only: a real SQLite file locked by another process, the real aiosmtpd sink stopped and
started again, the real Dovecot's connections killed and the server stopped and started while a
`mailticket run` daemon runs. Nothing is lost, nothing is quarantined for it, and every report is
acknowledged exactly once once the part is back.
"""

from __future__ import annotations

import email
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from collections import Counter
from email import policy

import pytest
from sqlalchemy import event
from sqlalchemy.exc import OperationalError

from mailticket.app.daemon import Daemon
from tests.conftest import Helpdesk, make_mail
from tests.integration.mailcheck import app_for, query
from tests.servers.fixtures import daemon_config

REPORT = "Selamat pagi, saya gk bisa login ke SPSE sejak tadi pagi, muncul error 500.\n"
CLI = [sys.executable, "-m", "mailticket.cli"]


def report(i: int, prefix: str = "f") -> bytes:
    return make_mail(f"Laporan {i}: tidak bisa login", REPORT, msgid=f"<{prefix}{i}@x.id>",
                     sender=f"user{i}@example.co.id")


def wait_until(check, timeout: float, what: str, step: float = 0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(step)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


def count(db_path, sql: str, *args) -> int:
    try:
        with sqlite3.connect(db_path, timeout=30) as db:
            return db.execute(sql, args).fetchone()[0]
    except sqlite3.OperationalError:  # schema not there yet
        return 0


# == a locked database =============================================================================


class Locker:
    """Another process that holds BEGIN EXCLUSIVE on the SQLite file until told to let go."""

    SCRIPT = textwrap.dedent("""\
        import sqlite3, sys
        conn = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=30)
        for line in sys.stdin:
            conn.execute("BEGIN EXCLUSIVE" if line.strip() == "lock" else "ROLLBACK")
            print("ok", flush=True)
        """)

    def __init__(self, path):
        self.proc = subprocess.Popen([sys.executable, "-c", self.SCRIPT, str(path)], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True)

    def _say(self, word: str) -> None:
        self.proc.stdin.write(word + "\n")
        self.proc.stdin.flush()
        assert self.proc.stdout.readline().strip() == "ok"

    def lock(self) -> None:
        self._say("lock")

    def release(self) -> None:
        self._say("release")

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait(timeout=10)


@pytest.fixture
def locker(helpdesk):
    helpdesk.cli("db", "upgrade")
    lock = Locker(helpdesk.root / "mailticket.db")
    yield lock
    lock.close()


def short_busy_timeout(app, ms: int = 200) -> None:
    """The engine waits 30 s for a lock; the test does not. Everything else stays as configured."""
    event.listen(app.engine, "connect", lambda conn, _record: conn.execute(f"PRAGMA busy_timeout = {ms}"))
    app.engine.dispose()


def test_a_locked_database_leaves_every_message_pending_then_it_goes_through_once(helpdesk, locker):
    app = app_for(helpdesk)
    short_busy_timeout(app)
    daemon = Daemon(app, threading.Event())
    db = helpdesk.root / "mailticket.db"
    helpdesk.deliver(report(1))
    # 1. locked while fetching: nothing can be kept, so the message stays in the inbox
    locker.lock()
    assert daemon.cycle() is False  # logged, and the daemon goes on
    locker.release()
    assert len(list((helpdesk.inbox / "new").iterdir())) == 1
    assert count(db, "SELECT count(*) FROM raw_mail") == 0
    # 2. locked while processing: kept raw, left pending, not quarantined
    assert app.inbox.fetch_new() == 1
    locker.lock()
    assert daemon.cycle() is False
    locker.release()
    assert query(helpdesk, "SELECT state FROM raw_mail") == [{"state": "pending"}]
    assert count(db, "SELECT count(*) FROM quarantine") == 0
    # 3. locked while sending: the mail file may be written, the row not marked; never twice
    helpdesk.deliver(report(2))
    app.inbox.fetch_new()
    app.pipeline.process_pending()
    locker.lock()
    with pytest.raises(OperationalError, match="locked"):
        app.send()
    locker.release()
    assert daemon.cycle() is True
    assert daemon.cycle() is True
    assert [r["state"] for r in query(helpdesk, "SELECT state FROM raw_mail")] == ["ticket", "ticket"]
    assert count(db, "SELECT count(*) FROM quarantine") == 0
    assert count(db, "SELECT count(*) FROM outbox WHERE status != 'sent'") == 0
    assert len(helpdesk.sent("ack")) == 2
    assert sorted(email.message_from_bytes(p.read_bytes())["In-Reply-To"] for p in helpdesk.sent("ack")) == \
        ["<f1@x.id>", "<f2@x.id>"]


def test_a_lock_held_for_a_moment_is_waited_for_by_run_once(helpdesk, locker):
    for i in range(20):
        helpdesk.deliver(report(i))
    locker.lock()
    proc = subprocess.Popen([*CLI, "--config", str(helpdesk.config), "-q", "run", "--once"],
                            cwd=helpdesk.root, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    time.sleep(1.5)
    locker.release()
    assert proc.wait(timeout=60) == 0, proc.stderr.read()
    assert count(helpdesk.root / "mailticket.db", "SELECT count(*) FROM raw_mail WHERE state = 'ticket'") \
        == 20
    assert len(helpdesk.sent("ack")) == 20


# == daemons ======================================================================================


def start_daemon(config, cwd, log):
    """`mailticket run` with its log in a file; returns once it has read its inbox once."""
    fh = open(log, "w")  # noqa: SIM115 - closed with the process
    proc = subprocess.Popen([*CLI, "--config", str(config), "run"], cwd=cwd, stdout=fh, stderr=fh)
    proc.log_file = fh
    wait_until(lambda: "daemon started" in log.read_text() or proc.poll() is not None, 30, "the daemon")
    return proc


def stop_daemon(proc) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        assert proc.wait(timeout=20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.log_file.close()


def acks(sink) -> Counter:
    """Acknowledgements that reached the sink, by the report they answer."""
    found = Counter()
    for received in sink.messages:
        msg = email.message_from_bytes(received.data, policy=policy.default)
        if msg["X-Mailticket-Kind"] == "ack":
            found[msg["In-Reply-To"]] += 1
    return found


def test_smtp_outage_mid_run_loses_nothing_and_delivers_everything_once(tmp_path, smtp_sink):
    desk = Helpdesk(tmp_path, smtp=smtp_sink.smtp_toml(), poll="1s")
    db = tmp_path / "mailticket.db"
    proc = start_daemon(desk.config, tmp_path, tmp_path / "daemon.log")
    try:
        # the sink drops the connection after 10 messages of a batch of 30: a batch cut in the middle
        smtp_sink.drop_after = 10
        for i in range(30):
            desk.deliver(report(i))
        tried = "SELECT count(*) FROM outbox WHERE attempts > 0"
        wait_until(lambda: count(db, tried) == 30, 30, "first attempts")
        assert sum(acks(smtp_sink).values()) == 10
        smtp_sink.drop_after = None
        smtp_sink.stop()  # down: connection refused
        for i in range(30, 50):
            desk.deliver(report(i))
        wait_until(lambda: count(db, tried + " AND status = 'queued'") == 40, 30,
                   "every report processed and its ack tried while the sink is down")
        smtp_sink.start()
        # retries wait 1, 2, 4 … minutes: move them to now, as the clock would
        with sqlite3.connect(db, timeout=30) as conn:
            conn.execute("UPDATE outbox SET next_attempt_at = '2000-01-01 00:00:00.000000' "
                         "WHERE status = 'queued'")
        wait_until(lambda: count(db, "SELECT count(*) FROM outbox WHERE status = 'sent'") == 50, 30,
                   "delivery")
    finally:
        stop_daemon(proc)
    delivered = acks(smtp_sink)
    assert set(delivered) == {f"<f{i}@x.id>" for i in range(50)}
    assert max(delivered.values()) == 1
    assert count(db, "SELECT count(*) FROM raw_mail WHERE state = 'ticket'") == 50
    assert count(db, "SELECT count(*) FROM quarantine") == 0


def imap_config(tmp_path, dovecot, user, sink):
    return daemon_config(tmp_path / "mt.toml", dovecot, user, sink, poll="1s")


def test_imap_outage_while_the_daemon_runs_loses_nothing_and_acknowledges_once(tmp_path, dovecot, imap_user,
                                                                                 smtp_sink):
    config = imap_config(tmp_path, dovecot, imap_user, smtp_sink)
    log = tmp_path / "daemon.log"
    proc = start_daemon(config, tmp_path, log)
    sent_ids: list[str] = []

    def append(start: int, n: int) -> None:
        for i in range(start, start + n):
            dovecot.append("INBOX", report(i, "i"), user=imap_user)
            sent_ids.append(f"<i{i}@x.id>")

    def all_acked(timeout: float = 90) -> None:  # reconnect backoff grows with each failed attempt
        wait_until(lambda: set(acks(smtp_sink)) == set(sent_ids), timeout, f"{len(sent_ids)} acks")

    down = False
    try:
        wait_until(lambda: "state=connected" in log.read_text(), 20, "the IMAP connection")
        append(0, 10)
        all_acked()
        # connections killed again and again: in IDLE, while fetching a backlog, while reconnecting
        killed = 0
        for round_, pause in enumerate((0.0, 0.05, 0.3, 0.8)):
            append(10 + 10 * round_, 10)
            time.sleep(pause)
            killed += dovecot.drop_connections()
        append(50, 30)
        killed += dovecot.drop_connections()
        assert killed >= 2
        all_acked()
        # the server goes away for a while and comes back
        down = True
        assert dovecot.stop(drop_sessions=True) >= 1  # the daemon's own session too
        time.sleep(2)
        dovecot.start()
        down = False
        append(80, 10)
        all_acked()
    finally:
        if down:
            dovecot.start()  # the server stays up for the tests after this one
        stop_daemon(proc)
    delivered = acks(smtp_sink)
    assert len(delivered) == len(sent_ids) == 90 and max(delivered.values()) == 1
    db = tmp_path / "mt.db"
    assert count(db, "SELECT count(*) FROM raw_mail") == 90
    assert count(db, "SELECT count(*) FROM raw_mail WHERE state = 'ticket'") == 90
    text = log.read_text()
    assert "state=retrying" in text  # the outage was seen (connection refused), and outlived
