"""Every mail sent once: a kill while sending, partial refusals, throttling servers, one daemon per file.

Real parts: the `mailticket` command line in subprocesses, a real SQLite file, the aiosmtpd sink on
loopback taking 0.1 s per mail like a real server.
"""

from __future__ import annotations

import contextlib
import email
import os
import signal
import sqlite3
import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime, timedelta
from email import policy
from pathlib import Path

import pytest

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
        # digest --send queues; the daemon that holds the database sends it (never two senders)
        sent = desk.cli("digest", "--send")
        assert sent.returncode == 0 and "Subject:" in sent.stdout
        assert "queued; another mailticket works on" in sent.stderr and f"pid {first.pid} on " in sent.stderr
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


# == partial refusals =============================================================================


def staff_desk(tmp_path, sink) -> Helpdesk:
    from tests.integration.mailcheck import STAFF_TOML

    return Helpdesk(tmp_path, smtp=sink.smtp_toml(), extra=STAFF_TOML)


def kinds_at(sink) -> Counter:
    return Counter(email.message_from_bytes(m.data)["X-Mailticket-Kind"] for m in sink.messages)


def test_a_refused_staff_address_is_kept_on_the_row_shown_and_told_to_coordinators_once(tmp_path, smtp_sink):
    answer = "550 5.1.1 The email account that you tried to reach does not exist"
    smtp_sink.refuse["sari@lampungprov.go.id"] = answer
    desk = staff_desk(tmp_path, smtp_sink)
    desk.cli("ingest", str(desk.write("1.eml", report(1))))
    desk.cli("ingest", str(desk.write("2.eml", report(2))))

    shown = desk.json("tickets", "show", "1")
    [notified] = [m for m in shown["messages"] if "sari@lampungprov.go.id" in m["to"]]
    assert notified["delivery"] == "sent"  # rina got it: sending it again would repeat it for her
    assert notified["refused"] == [{"recipient": "sari@lampungprov.go.id", "answer": answer}]
    assert "refused sari@lampungprov.go.id: 550 5.1.1" in desk.cli("tickets", "show", "1").stdout
    digest = desk.cli("digest", "--preview").stdout
    assert "ditolak server penerima" in digest and f"- sari@lampungprov.go.id: {answer}" in digest
    assert digest.count("sari@lampungprov.go.id:") == 1  # both tickets' refusals, listed once
    status = desk.json("status", check=False)  # exit 1: no daemon runs here
    assert {(r["recipient"], r["answer"]) for r in status["outbox_refused"]} == {("sari@lampungprov.go.id",
                                                                                  answer)}
    assert "refused: outbox" in desk.cli("status", check=False).stdout
    # the coordinators heard of it once, in Indonesian, though both tickets' mail was refused for sari
    desk.cli("run", "--once")
    told = [m for m in smtp_sink.messages
            if email.message_from_bytes(m.data)["X-Mailticket-Kind"] == "refused"]
    assert len(told) == 1 and told[0].rcpt_tos == ["koord@lampungprov.go.id"]
    text = email.message_from_bytes(told[0].data, policy=policy.default).get_content()
    flat = " ".join(text.split())
    assert "sari@lampungprov.go.id" in flat and answer in flat and "menolak alamat staf" in flat


# == a server that takes no more mail for now =====================================================

DAILY_LIMIT = "550 5.4.5 Daily user sending limit exceeded. For more information, go to 5.4.5 https://support.google.com"


def test_gmails_daily_limit_pauses_the_whole_queue_until_the_next_day_and_fails_nothing(tmp_path, smtp_sink):
    smtp_sink.answers["mail"] = DAILY_LIMIT
    desk = staff_desk(tmp_path, smtp_sink)
    db = tmp_path / "mailticket.db"
    proc = desk.cli("ingest", *(str(desk.write(f"{i}.eml", report(i))) for i in range(3)))
    queued = count(db, "SELECT count(*) FROM outbox")
    assert count(db, "SELECT count(*) FROM outbox WHERE status = 'queued'") == queued >= 3
    assert count(db, "SELECT count(*) FROM outbox WHERE attempts > 0") == 0  # the limit is no attempt
    assert count(db, "SELECT count(*) FROM outbox WHERE next_attempt_at < date('now', '+1 day') "
                     "AND kind != 'refused'") == 0
    assert count(db, "SELECT count(*) FROM outbox WHERE kind = 'refused'") == 1  # told once, sent after the pause
    assert proc.stderr.count("takes no more mail until") == 1
    tries = smtp_sink.connections
    status = desk.json("status", check=False)  # exit 1: no daemon runs here
    assert status["sending_paused_until"].startswith(str(datetime.now(UTC).date() + timedelta(days=1)))
    proc = desk.cli("run", "--once")  # paused: not even a connection
    assert smtp_sink.connections == tries and "takes no more mail" not in proc.stderr
    # the next day: everything goes, each once, the coordinators told once
    del smtp_sink.answers["mail"]
    with sqlite3.connect(db) as conn:
        conn.execute("DELETE FROM meta WHERE key = 'send:paused_until'")
        conn.execute("UPDATE outbox SET next_attempt_at = '2000-01-01 00:00:00.000000'")
    desk.cli("run", "--once")
    assert count(db, "SELECT count(*) FROM outbox WHERE status != 'sent'") == 0
    assert max(by_message_id(smtp_sink).values()) == 1
    assert kinds_at(smtp_sink)["refused"] == 1 and kinds_at(smtp_sink)["ack"] == 3


@pytest.mark.parametrize(("stage", "answer"), [("data", "421 4.7.0 Try again later, closing connection."),
                                               ("mail", "454 4.7.0 Too many login attempts, please try later"),
                                               ("rcpt", DAILY_LIMIT)])
def test_throttling_answers_stop_the_chunk_and_count_no_attempt(smtp_sink, db, stage, answer):
    from mailticket.clock import FixedClock
    from mailticket.outgoing.send import send_queued
    from mailticket.outgoing.smtp import SmtpTransport
    from tests.integration.test_smtp import NOW, outbox, queue, row

    smtp_sink.answers[stage] = answer
    queue(db, [row(n) for n in range(1, 6)])
    report = send_queued(db, SmtpTransport(smtp_sink.settings()), FixedClock(NOW))
    assert (report.sent, report.failed, report.deferred) == (0, 0, 5)
    assert str(report.throttled) == answer and report.paused_until > NOW
    assert len(smtp_sink.messages) == 0
    assert all(r.status == "queued" and r.attempts == 0 and r.next_attempt_at == report.paused_until
               and r.last_error == answer for r in outbox(db))
    daily = stage == "rcpt"
    assert report.paused_until == (datetime(2026, 11, 26, tzinfo=UTC) if daily else NOW + timedelta(minutes=5))
    assert send_queued(db, SmtpTransport(smtp_sink.settings()), FixedClock(NOW)).paused_until == \
        report.paused_until


# == a full disk ===================================================================================


@pytest.fixture
def small_disk(tmp_path):
    """A 4 MB tmpfs for the database (mounting needs root: CI runs as root; a skip fails a CI run)."""
    folder = tmp_path / "disk"
    folder.mkdir()
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(folder)], capture_output=True,
                          text=True)
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {proc.stderr.strip()}")
    yield folder
    subprocess.run(["umount", "-l", str(folder)], check=False)


def fill(folder) -> Path:
    """Fill the file system of `folder` to the last byte; returns the filler file."""
    filler = folder / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT)
    try:
        for size in (1 << 16, 1 << 12, 1 << 9, 1):
            with contextlib.suppress(OSError):
                while True:
                    os.write(fd, b"\0" * size)
    finally:
        os.close(fd)
    return filler


def test_a_full_disk_is_named_nothing_is_lost_and_the_daemon_recovers_by_itself(tmp_path, small_disk):
    from tests.integration.test_faults import start_daemon, stop_daemon, wait_until

    desk = Helpdesk(tmp_path, poll="1s")
    desk.config.write_text(desk.config.read_text().replace("sqlite:///mailticket.db", "sqlite:///disk/mt.db"))
    db = small_disk / "mt.db"
    desk.cli("ingest", str(desk.write("000.eml", report(0))))
    filler = fill(small_disk)
    # ingest: one line naming the cause and the place, exit 1, nothing kept half
    paths = [str(desk.write(f"{i:03d}.eml", report(i))) for i in range(1, 21)]
    proc = desk.cli("-q", "ingest", *paths, check=False)
    assert proc.returncode == 1
    told = [line for line in proc.stderr.splitlines() if line.startswith("mailticket: ")]
    assert told == [f"mailticket: disk full: {small_disk}; nothing is lost, run again once fixed"], proc.stderr
    assert count(db, "SELECT count(*) FROM raw_mail") == 1
    filler.unlink()
    desk.cli("ingest", *paths)
    assert count(db, "SELECT count(*) FROM tickets") == 21
    # the daemon: the disk fills while it runs, it says why, keeps the mail in the inbox, and goes on
    log = tmp_path / "daemon.log"
    proc = start_daemon(desk.config, tmp_path, log)
    try:
        filler = fill(small_disk)
        for i in range(21, 26):
            desk.deliver(report(i))
        wait_until(lambda: f"disk full: {small_disk}" in log.read_text(), 30, "the cause in the log")
        assert count(db, "SELECT count(*) FROM raw_mail") == 21
        filler.unlink()
        wait_until(lambda: count(db, "SELECT count(*) FROM tickets") == 26, 60, "recovery")
        wait_until(lambda: len(desk.sent("ack")) == 26, 30, "every ack")
    finally:
        stop_daemon(proc)
    assert count(db, "SELECT count(*) FROM quarantine") == 0
    assert count(db, "SELECT count(*) FROM raw_mail WHERE state != 'ticket'") == 0
