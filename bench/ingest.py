#!/usr/bin/env python3
"""Ingest benchmark: mailticket vs the floor (stdlib parse + one fsync'd insert per message).

Generates the shared corpus (../shared/bench/make_corpus.py, token "[LPSE#{n}]"), then in the same
run times `floor.py stdlib` and `mailticket ingest` on it, each as its own process (start-up
included), and prints msgs/s, the ratio, replies on the right ticket and max RSS.

With `--db postgresql+psycopg://...` it compares PostgreSQL with SQLite instead, on a corpus whose
replies thread by In-Reply-To/References only (token "[HD-{n}]": with several instances, ticket
numbers follow processing order, not corpus order). For each database, `mailticket ingest` end to
end; then, for each count in `--instances`, one process keeps the raw mail (like the inbox reader)
and that many `mailticket run --once` processes share the processing and the sending (like
stand-bys), timed together. The database at the URL is emptied (schema public dropped) per run.

usage: bench/ingest.py [--n 2000] [--work DIR] [--shared ../shared/bench] [--runs 1]
                       [--db postgresql+psycopg://USER@HOST:PORT/DB] [--instances 1,2,3]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
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


def make_corpus(shared: Path, n: int, out: Path, token: str = "[LPSE#{n}]") -> Path:
    if not (out / "manifest.jsonl").exists():
        subprocess.run([sys.executable, str(shared / "make_corpus.py"), "--n", str(n), "--out", str(out),
                        "--token", token], check=True, stdout=subprocess.DEVNULL)
    return out


def run_floor(shared: Path, corpus: Path, work: Path) -> tuple[float, float]:
    db = work / "floor.db"
    db.unlink(missing_ok=True)
    return timed([sys.executable, str(shared / "floor.py"), "stdlib", str(corpus / "eml"), str(db)], work)


CONFIG = """[database]
url = "{url}"
[smtp]
kind = "directory"
path = "outbox"
[inbox]
kind = "maildir"
path = "mail"
create = true
"""


def fresh_home(work: Path, name: str, url: str) -> tuple[Path, list[str]]:
    """A helpdesk folder with a config for `url`, an empty database at the newest schema; its CLI."""
    home = work / name
    shutil.rmtree(home, ignore_errors=True)
    home.mkdir(parents=True)
    (home / "mt.toml").write_text(CONFIG.format(url=url))
    if url.startswith("postgresql"):
        empty_postgres(url)
    cli = [sys.executable, "-m", "mailticket.cli", "--config", str(home / "mt.toml"), "-q"]
    subprocess.run([*cli, "db", "upgrade"], check=True, stdout=subprocess.DEVNULL, cwd=home)
    return home, cli


def empty_postgres(url: str) -> None:
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()


def run_mailticket(corpus: Path, work: Path, url: str = "sqlite:///mt.db",
                   name: str = "mt") -> tuple[float, float, Path]:
    home, cli = fresh_home(work, name, url)
    wall, rss = timed([*cli, "ingest", str(corpus / "eml")], home)
    return wall, rss, home


def run_instances(corpus: Path, work: Path, url: str, instances: int) -> tuple[float, float, int, Path]:
    """Keep all raw mail (one process), then `instances` × `run --once`; (keep s, process s, stragglers)."""
    home, cli = fresh_home(work, f"mt-x{instances}", url)
    keep_wall, _rss = timed([sys.executable, __file__, "--keep", url, str(corpus / "eml")], home)
    start = time.perf_counter()
    procs = [subprocess.Popen([*cli, "run", "--once"], cwd=home, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE) for _ in range(instances)]
    for proc in procs:
        _out, err = proc.communicate()
        if proc.returncode != 0:
            sys.exit(f"run --once failed:\n{err.decode()[-2000:]}")
    process_wall = time.perf_counter() - start
    # a message deferred behind its report in the very last round of another instance
    stragglers = pending(home, url)
    if stragglers:
        subprocess.run([*cli, "run", "--once"], cwd=home, check=True, stdout=subprocess.DEVNULL)
    return keep_wall, process_wall, stragglers, home


def keep_only(url: str, path: str) -> None:
    """The inbox reader's part: raw mail stored and committed, nothing else."""
    from datetime import UTC, datetime

    from mailticket.clock import FixedClock
    from mailticket.db.session import make_engine, session_factory
    from mailticket.inbox.files import PathSource
    from mailticket.store.fetchstate import KeepSink

    sink = KeepSink(session_factory(make_engine(url)), FixedClock(datetime.now(UTC)))
    for _counts in PathSource([path], sink.keep).keep_batches():
        pass


def database(home: Path, url: str):
    from sqlalchemy import create_engine

    return create_engine(url.replace("sqlite:///", f"sqlite:///{home}/"))


def pending(home: Path, url: str) -> int:
    from sqlalchemy import text

    engine = database(home, url)
    with engine.connect() as conn:
        count = conn.execute(text("SELECT count(*) FROM raw_mail WHERE state = 'pending'")).scalar()
    engine.dispose()
    return count


def threading_check(corpus: Path, home: Path, url: str = "sqlite:///mt.db") -> tuple[int, int, int, int]:
    """(replies on their report's ticket, replies, tickets, acknowledgements); any numbering."""
    from sqlalchemy import text

    manifest = [json.loads(line) for line in (corpus / "manifest.jsonl").read_text().splitlines()]
    manifest = [m for m in manifest if "kind" in m]
    engine = database(home, url)
    with engine.connect() as conn:
        where = dict(conn.execute(text("SELECT m.message_id, t.number FROM messages m JOIN tickets t "
                                       "ON t.id = m.ticket_id WHERE m.direction = 'in'")).all())
        tickets = conn.execute(text("SELECT count(*) FROM tickets")).scalar()
    engine.dispose()
    report_of = {m["ticket"]: m["message_id"] for m in manifest if m["kind"] == "new"}
    replies = [m for m in manifest if m["kind"] == "reply"]
    right = sum(1 for m in replies
                if where.get(m["message_id"]) is not None
                and where.get(m["message_id"]) == where.get(report_of.get(m["ticket"])))
    acks = len(list((home / "outbox").glob("*-ack.eml")))
    return right, len(replies), tickets, acks


def compare_databases(args: argparse.Namespace) -> None:
    n = args.n
    corpus = make_corpus(args.shared, n, args.work / f"corpus-{n}-refs", token="[HD-{n}]")
    counts = [int(c) for c in args.instances.split(",")]
    print(f"corpus: {n} messages in {corpus} (replies thread by References)")
    for run in range(1, args.runs + 1):
        base = {}
        for label, url in (("sqlite", "sqlite:///mt.db"), ("postgresql", args.db)):
            wall, rss, home = run_mailticket(corpus, args.work, url, name=f"mt-{label}")
            right, replies, tickets, acks = threading_check(corpus, home, url)
            base.setdefault("ingest", wall)
            print(f"run {run}: {label:10} ingest       {n / wall:7.1f} msgs/s ({wall:.2f} s,"
                  f" max RSS {rss:.0f} MiB)"
                  f" | vs sqlite {base['ingest'] / wall:.2f}"
                  f" | replies on right ticket {right}/{replies} | tickets {tickets} | acks {acks}")
        for label, url, ks in (("sqlite", "sqlite:///mt.db", [1]), ("postgresql", args.db, counts)):
            for k in ks:
                keep_wall, process_wall, stragglers, home = run_instances(corpus, args.work, url, k)
                right, replies, tickets, acks = threading_check(corpus, home, url)
                total = keep_wall + process_wall
                base.setdefault("instances", total)
                print(f"run {run}: {label:10} keep+{k}×run {n / total:7.1f} msgs/s ({keep_wall:.2f} s keep"
                      f" + {process_wall:.2f} s processing at {n / process_wall:.1f} msgs/s)"
                      f" | vs sqlite {base['instances'] / total:.2f}"
                      f" | replies on right ticket {right}/{replies} | tickets {tickets} | acks {acks}"
                      + (f" | {stragglers} left for a next round" if stragglers else ""))


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "--keep":
        keep_only(sys.argv[2], sys.argv[3])
        return
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "mailticket-bench")
    ap.add_argument("--shared", type=Path, default=ROOT.parent / "shared" / "bench")
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--db", help="a PostgreSQL URL to compare with SQLite (its database is emptied)")
    ap.add_argument("--instances", default="1,2,3", help="with --db: processor counts, e.g. 1,2,3")
    args = ap.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    if args.db:
        compare_databases(args)
        return
    corpus = make_corpus(args.shared, args.n, args.work / f"corpus-{args.n}")
    n = args.n
    print(f"corpus: {n} messages in {corpus}")
    for run in range(1, args.runs + 1):
        floor_wall, floor_rss = run_floor(args.shared, corpus, args.work)
        mt_wall, mt_rss, home = run_mailticket(corpus, args.work)
        right, replies, tickets, acks = threading_check(corpus, home)
        print(f"run {run}: floor-stdlib {n / floor_wall:7.1f} msgs/s"
              f" ({floor_wall:.2f} s, {floor_rss:.0f} MiB)"
              f" | mailticket {n / mt_wall:7.1f} msgs/s ({mt_wall:.2f} s, max RSS {mt_rss:.0f} MiB)"
              f" | ratio {floor_wall / mt_wall:.2f}"
              f" | replies on right ticket {right}/{replies} | tickets {tickets} | acks {acks}")


if __name__ == "__main__":
    main()
