"""Kill -9 at random points, run again: every message accounted for once, nobody acknowledged twice.

Both drains are killed over and over: `mailticket ingest` on a folder and `mailticket run --once` on
the Maildir inbox, 500 messages each (a quarter of them replies by token) arriving 50 at a time, at
least 20 kills each (while starting, fetching, processing or sending), then one run to the end.
And the daemon: `mailticket run` on a Dovecot inbox sending through a sink that takes 0.1 s per mail,
killed 20 times while 300 reports arrive: at most the one ack in hand is repeated per kill.
"""

from __future__ import annotations

import email
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from email import policy

import pytest

from tests.conftest import make_mail
from tests.servers.fixtures import daemon_config

TOTAL = 500
PART = 50  # messages added after each run that was let finish
KILLS = 20


def _message(i: int) -> bytes:
    if i % 4 == 3:  # a reply to the report just before it (reports get numbers in order)
        return make_mail(f"Re: [LPSE#{i - (i // 4)}] Laporan {i - 1}", "tambahan info", msgid=f"<m{i}@x.id>",
                         sender=f"user{i - 1}@example.co.id")
    return make_mail(f"Laporan {i}: tidak bisa login", "saya gk bisa login ke SPSE, error terus",
                     msgid=f"<m{i}@x.id>", sender=f"user{i}@example.co.id")


def _count(db, sql):
    try:
        with sqlite3.connect(db, timeout=30) as conn:
            return conn.execute(sql).fetchone()[0]
    except sqlite3.OperationalError:
        return 0


def _kill_loop(helpdesk, args: list[str], add) -> int:
    """Two runs killed at a random moment, one run to its end (then more mail comes), and again.

    A kill lands anywhere between start-up and the end of a typical run: the delay is drawn up to
    how long the last complete run took.
    """
    cmd = [sys.executable, "-m", "mailticket.cli", "--config", str(helpdesk.config), "-q", *args]
    rng = random.Random(7)
    n = add(0)
    kills = attempt = 0
    full = 1.0  # seconds the last complete run took
    while kills < KILLS or n < TOTAL:
        attempt += 1
        assert attempt <= 90, f"only {kills} kills in {attempt} runs"
        start = time.monotonic()
        proc = subprocess.Popen(cmd, cwd=helpdesk.root, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if attempt % 3 == 0:
            assert proc.wait(timeout=60) == 0
            full = time.monotonic() - start
            n = add(n) if n < TOTAL else n
            continue
        time.sleep(rng.uniform(0.2, max(0.5, full)))  # start-up alone takes ~0.35 s
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            kills += 1
        proc.wait()
    helpdesk.cli(*args)  # one run to the end
    return n


def _assert_accounted_once(helpdesk, n: int) -> None:
    db = helpdesk.root / "mailticket.db"
    assert _count(db, "SELECT count(*) FROM raw_mail") == n
    assert _count(db, "SELECT count(*) FROM raw_mail WHERE state != 'ticket'") == 0
    assert _count(db, "SELECT count(*) FROM messages WHERE direction = 'in'") == n
    assert _count(db, "SELECT count(DISTINCT message_id) FROM messages WHERE direction = 'in'") == n
    tickets = _count(db, "SELECT count(*) FROM tickets")
    assert tickets == n - n // 4
    acks = [email.message_from_bytes(p.read_bytes(), policy=policy.default) for p in helpdesk.sent("ack")]
    per_ticket = Counter(m["Subject"].split("]")[0] for m in acks)
    assert len(acks) == tickets and max(per_ticket.values()) == 1
    assert len({m["In-Reply-To"] for m in acks}) == tickets
    assert _count(db, "SELECT count(*) FROM outbox WHERE status != 'sent'") == 0


def test_sigkill_mid_ingest_then_rerun_accounts_for_every_message_once(helpdesk):
    folder = helpdesk.root / "corpus"
    folder.mkdir()

    def add(start: int) -> int:
        for i in range(start, start + PART):
            (folder / f"{i:05d}.eml").write_bytes(_message(i))
        return start + PART

    n = _kill_loop(helpdesk, ["ingest", str(folder)], add)
    _assert_accounted_once(helpdesk, n)


def test_sigkill_mid_run_once_on_a_maildir_then_rerun_accounts_for_every_message_once(helpdesk):
    def add(start: int) -> int:
        for i in range(start, start + PART):
            helpdesk.deliver(_message(i))
        return start + PART

    n = _kill_loop(helpdesk, ["run", "--once"], add)
    _assert_accounted_once(helpdesk, n)
    assert list((helpdesk.inbox / "new").iterdir()) == []
    done = list((helpdesk.inbox / "cur").iterdir())
    assert len(done) == n and all(p.name.endswith(":2,S") for p in done)


# == the daemon killed while it sends through a real-paced SMTP server =============================

RUN_KILLS = 20
RUN_TOTAL = 300


@pytest.mark.slow
def test_sigkill_of_run_while_mail_arrives_over_imap_repeats_at_most_one_ack_per_kill(tmp_path, dovecot, imap_user,
                                                                                      smtp_sink):
    """20 SIGKILLs of `mailticket run` (Dovecot inbox, a sink taking 0.1 s per mail) while 300 reports
    arrive: every report acknowledged, at most the mail in hand repeated per kill, all accounted."""
    smtp_sink.data_delay = 0.1
    config = daemon_config(tmp_path / "mt.toml", dovecot, imap_user, smtp_sink, poll="1s")
    cmd = [sys.executable, "-m", "mailticket.cli", "--config", str(config), "-q", "run"]
    rng = random.Random(16)
    sent = 0
    for _ in range(RUN_KILLS):
        for i in range(sent, sent + RUN_TOTAL // RUN_KILLS):
            dovecot.append("INBOX", _message(i), user=imap_user)
        sent += RUN_TOTAL // RUN_KILLS
        proc = subprocess.Popen(cmd, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0.8, 2.5))  # start-up, fetching, processing or sending
        proc.send_signal(signal.SIGKILL)
        assert proc.wait(timeout=10) == -signal.SIGKILL
    db = tmp_path / "mt.db"
    tickets = RUN_TOTAL - RUN_TOTAL // 4
    proc = subprocess.Popen(cmd, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while _count(db, "SELECT count(*) FROM outbox WHERE status = 'sent' AND kind = 'ack'") < tickets:
            assert time.monotonic() < deadline, "the last daemon did not send every ack in 60 s"
            time.sleep(0.2)
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    acks = Counter()
    for received in smtp_sink.messages:
        msg = email.message_from_bytes(received.data, policy=policy.default)
        if msg["X-Mailticket-Kind"] == "ack":
            acks[(msg["In-Reply-To"], msg["Message-ID"])] += 1
    repeats = sum(acks.values()) - len(acks)
    rows = _count(db, "SELECT count(*) FROM outbox")
    print(f"\nkill loop: {RUN_KILLS} kills, {RUN_TOTAL} reports, {len(smtp_sink.messages)} mails at the sink for "
          f"{rows} outbox rows, {sum(acks.values())} acks for {len(acks)} ack rows, {repeats} repeated")
    assert _count(db, "SELECT count(*) FROM raw_mail") == RUN_TOTAL
    assert _count(db, "SELECT count(*) FROM raw_mail WHERE state != 'ticket'") == 0
    assert _count(db, "SELECT count(*) FROM tickets") == tickets
    assert len(acks) == tickets and len({report for report, _ in acks}) == tickets  # one ack row per report
    assert repeats <= RUN_KILLS and max(acks.values()) <= 2
    assert len(smtp_sink.messages) - rows <= RUN_KILLS  # every row at most once more
    assert _count(db, "SELECT count(*) FROM outbox WHERE status != 'sent'") == 0
