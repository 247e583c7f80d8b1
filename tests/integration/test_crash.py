"""Kill -9 mid-ingest, run again: every message accounted for once, nobody acknowledged twice."""

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

PART = 150  # messages added to the inbox folder whenever a run got through all of them


def _add_messages(folder, start):
    folder.mkdir(exist_ok=True)
    for i in range(start, start + PART):
        if i % 4 == 3:  # a reply to the report just before it
            data = make_mail(f"Re: [LPSE#{i - (i // 4)}] Laporan {i - 1}", "tambahan info", msgid=f"<m{i}@x.id>",
                             sender=f"user{i - 1}@example.co.id")
        else:
            data = make_mail(f"Laporan {i}: tidak bisa login", "saya gk bisa login ke SPSE, error terus",
                             msgid=f"<m{i}@x.id>", sender=f"user{i}@example.co.id")
        (folder / f"{i:05d}.eml").write_bytes(data)


def _count(db, sql):
    try:
        with sqlite3.connect(db, timeout=30) as conn:
            return conn.execute(sql).fetchone()[0]
    except sqlite3.OperationalError:
        return 0


def test_sigkill_at_random_points_then_rerun_accounts_for_every_message_once(helpdesk):
    folder = helpdesk.root / "corpus"
    n = 0
    _add_messages(folder, n)
    n += PART
    db = helpdesk.root / "mailticket.db"
    cmd = [sys.executable, "-m", "mailticket.cli", "--config", str(helpdesk.config), "-q", "ingest", str(folder)]
    rng = random.Random(7)
    kills = 0
    for _attempt in range(30):
        proc = subprocess.Popen(cmd, cwd=helpdesk.root, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0.2, 0.9))
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            kills += 1
        elif proc.returncode == 0:
            _add_messages(folder, n)
            n += PART
        proc.wait()
        if kills >= 8:
            break
    assert kills >= 8
    helpdesk.cli("ingest", str(folder))
    N = n

    assert _count(db, "SELECT count(*) FROM raw_mail") == N
    assert _count(db, "SELECT count(*) FROM raw_mail WHERE state != 'ticket'") == 0
    assert _count(db, "SELECT count(*) FROM messages WHERE direction = 'in'") == N
    tickets = _count(db, "SELECT count(*) FROM tickets")
    assert tickets == N - N // 4
    acks = [email.message_from_bytes(p.read_bytes(), policy=policy.default) for p in helpdesk.sent("ack")]
    per_ticket = Counter(m["Subject"].split("]")[0] for m in acks)
    assert len(acks) == tickets and max(per_ticket.values()) == 1
    assert _count(db, "SELECT count(*) FROM outbox WHERE status != 'sent'") == 0
