"""Every mail sent once: a kill while sending, partial refusals, throttling servers, one daemon per file.

Real parts: the `mailticket` command line in subprocesses, a real SQLite file, the aiosmtpd sink on
loopback taking 0.1 s per mail like a real server.
"""

from __future__ import annotations

import email
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from email import policy

from tests.conftest import Helpdesk, make_mail

CLI = [sys.executable, "-m", "mailticket.cli"]
PACE = 0.1  # seconds the sink takes per mail


def report(i: int) -> bytes:
    return make_mail(f"Laporan {i}: tidak bisa login", "Saya gk bisa login ke SPSE sejak pagi.\n",
                     msgid=f"<s{i}@x.id>", sender=f"user{i}@example.co.id")


def count(db, sql: str, *args) -> int:
    with sqlite3.connect(db, timeout=30) as conn:
        return conn.execute(sql, args).fetchone()[0]


def by_message_id(sink) -> Counter:
    return Counter(email.message_from_bytes(m.data, policy=policy.default)["Message-ID"] for m in sink.messages)


def queued_acks(tmp_path, sink, n: int) -> Helpdesk:
    """A helpdesk sending through `sink` with n reports processed and their acks queued, not sent."""
    desk = Helpdesk(tmp_path, smtp=sink.smtp_toml())
    paths = [str(desk.write(f"{i:03d}.eml", report(i))) for i in range(n)]
    desk.cli("ingest", "--no-send", *paths)
    return desk


def test_a_kill_while_sending_repeats_at_most_the_mail_in_hand(tmp_path, smtp_sink):
    desk = queued_acks(tmp_path, smtp_sink, 50)
    db = tmp_path / "mailticket.db"
    smtp_sink.data_delay = PACE
    proc = subprocess.Popen([*CLI, "--config", str(desk.config), "-q", "run", "--once"], cwd=tmp_path,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    smtp_sink.wait_for(20, timeout=30)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    at_sink, marked = len(smtp_sink.messages), count(db, "SELECT count(*) FROM outbox WHERE status = 'sent'")
    assert 20 <= at_sink < 50
    assert at_sink - 1 <= marked <= at_sink  # only the mail in hand can be unmarked

    desk.cli("run", "--once")
    delivered = by_message_id(smtp_sink)
    with sqlite3.connect(db) as conn:
        stored = {mid for (mid,) in conn.execute("SELECT message_id FROM outbox WHERE kind = 'ack'")}
    assert set(delivered) == stored and len(stored) == 50  # the Message-ID of the row, also when repeated
    assert sum(delivered.values()) - 50 <= 1 and max(delivered.values()) <= 2
    assert count(db, "SELECT count(*) FROM outbox WHERE status != 'sent'") == 0


# == one daemon per SQLite database ================================================================


def test_a_second_worker_on_one_sqlite_file_is_refused_and_a_killed_ones_lock_is_gone(tmp_path):
    from tests.integration.test_faults import start_daemon, stop_daemon

    desk = Helpdesk(tmp_path, poll="1s")
    desk.deliver(report(1))
    first = start_daemon(desk.config, tmp_path, tmp_path / "first.log")
    try:
        folder = tmp_path / "in"
        desk.write("002.eml", report(2))
        for command in (["run"], ["run", "--once"], ["ingest", str(folder)], ["quarantine", "retry", "--all"]):
            proc = desk.cli(*command, check=False)
            assert proc.returncode == 1, command
            [line] = proc.stderr.splitlines()  # one line, naming the other process
            assert f"pid {first.pid} on " in line and " since 20" in line and "mailticket.db" in line, line
        # read-only commands work alongside
        assert desk.cli("tickets", "list").returncode == 0
        assert desk.cli("status", check=False).returncode in (0, 1)
        assert desk.cli("mail", "list").returncode == 0
        assert "Subject:" in desk.cli("digest", "--preview").stdout
    finally:
        first.kill()  # SIGKILL: no clean-up of its own
        first.wait(timeout=10)
        first.log_file.close()
    second = start_daemon(desk.config, tmp_path, tmp_path / "second.log")
    try:
        assert "daemon started" in (tmp_path / "second.log").read_text()
        assert second.poll() is None
    finally:
        stop_daemon(second)
    assert desk.cli("ingest", str(folder)).returncode == 0
    assert count(tmp_path / "mailticket.db", "SELECT count(*) FROM tickets") == 2
