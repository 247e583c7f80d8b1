#!/usr/bin/env python3
"""Ingest benchmark: mailticket vs the floor (stdlib parse + one fsync'd insert per message).

Generates the shared corpus (../shared/bench/make_corpus.py, token "[LPSE#{n}]"), then in the same
run times `floor.py stdlib` and `mailticket ingest` on it, each as its own process (start-up
included), and prints msgs/s, the ratio, replies on the right ticket and max RSS.

usage: bench/ingest.py [--n 2000] [--work DIR] [--shared ../shared/bench] [--runs 1]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def timed(cmd: list[str], cwd: Path) -> tuple[float, float]:
    """Run a command; return (wall seconds, max RSS MiB) of that process."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _pid, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"failed: {' '.join(cmd)}\n{proc.stderr.read().decode()[-2000:]}")
    return wall, usage.ru_maxrss / 1024


def make_corpus(shared: Path, n: int, out: Path) -> Path:
    if not (out / "manifest.jsonl").exists():
        subprocess.run([sys.executable, str(shared / "make_corpus.py"), "--n", str(n), "--out", str(out),
                        "--token", "[LPSE#{n}]"], check=True, stdout=subprocess.DEVNULL)
    return out


def run_floor(shared: Path, corpus: Path, work: Path) -> tuple[float, float]:
    db = work / "floor.db"
    db.unlink(missing_ok=True)
    return timed([sys.executable, str(shared / "floor.py"), "stdlib", str(corpus / "eml"), str(db)], work)


def run_mailticket(corpus: Path, work: Path) -> tuple[float, float, Path]:
    home = work / "mt"
    shutil.rmtree(home, ignore_errors=True)
    home.mkdir(parents=True)
    (home / "mt.toml").write_text('[database]\nurl = "sqlite:///mt.db"\n[smtp]\nkind = "directory"\n'
                                  'path = "outbox"\n[inbox]\nkind = "maildir"\npath = "mail"\n')
    cli = [sys.executable, "-m", "mailticket.cli", "--config", str(home / "mt.toml"), "-q"]
    subprocess.run([*cli, "db", "upgrade"], check=True, stdout=subprocess.DEVNULL, cwd=home)
    wall, rss = timed([*cli, "ingest", str(corpus / "eml")], home)
    return wall, rss, home


def threading_check(corpus: Path, home: Path) -> tuple[int, int, int, int]:
    """(replies on the right ticket, replies, tickets, acknowledgements)."""
    manifest = [json.loads(line) for line in (corpus / "manifest.jsonl").read_text().splitlines()[1:]]
    with sqlite3.connect(home / "mt.db") as db:
        where = dict(db.execute("SELECT m.message_id, t.number FROM messages m JOIN tickets t "
                                "ON t.id = m.ticket_id WHERE m.direction = 'in'"))
        tickets = db.execute("SELECT count(*) FROM tickets").fetchone()[0]
    replies = [m for m in manifest if m["kind"] == "reply"]
    right = sum(1 for m in replies if where.get(m["message_id"]) == m["ticket"])
    acks = len(list((home / "outbox").glob("*-ack.eml")))
    return right, len(replies), tickets, acks


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "mailticket-bench")
    ap.add_argument("--shared", type=Path, default=ROOT.parent / "shared" / "bench")
    ap.add_argument("--runs", type=int, default=1)
    args = ap.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    corpus = make_corpus(args.shared, args.n, args.work / f"corpus-{args.n}")
    n = args.n
    print(f"corpus: {n} messages in {corpus}")
    for run in range(1, args.runs + 1):
        floor_wall, floor_rss = run_floor(args.shared, corpus, args.work)
        mt_wall, mt_rss, home = run_mailticket(corpus, args.work)
        right, replies, tickets, acks = threading_check(corpus, home)
        print(f"run {run}: floor-stdlib {n / floor_wall:7.1f} msgs/s ({floor_wall:.2f} s, {floor_rss:.0f} MiB)"
              f" | mailticket {n / mt_wall:7.1f} msgs/s ({mt_wall:.2f} s, max RSS {mt_rss:.0f} MiB)"
              f" | ratio {floor_wall / mt_wall:.2f}"
              f" | replies on right ticket {right}/{replies} | tickets {tickets} | acks {acks}")


if __name__ == "__main__":
    main()
