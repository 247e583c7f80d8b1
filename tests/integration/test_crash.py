"""Kill -9 at random points, run again: every message accounted for once, nobody acknowledged twice.

Both drains are killed over and over: `mailticket ingest` on a folder and `mailticket run --once` on
the Maildir inbox, 500 messages each (a quarter of them replies by token) arriving 50 at a time, at
least 20 kills each (while starting, fetching, processing or sending), then one run to the end.
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

from tests.conftest import make_mail

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
