#!/usr/bin/env python3
"""Latency benchmark: APPEND into a real Dovecot -> acknowledgement at a real SMTP server.

Starts its own Dovecot and SMTP sink on loopback (tests/servers), runs `mailticket run` against
them, appends N reports one by one and measures, per message, the time from APPEND to the
acknowledgement arriving at the sink; prints p50/p95/max. Then a backlog: M messages already in
the folder, `mailticket run --once` from start to exit, msgs/s.

With --random-phase each message arrives after a random pause (0 to --max-phase seconds) after
the previous acknowledgement, so arrivals fall at every phase of the daemon's cycle (just after a
fetch, while IDLE is being re-entered, long after); without it they follow each other at once.

usage: bench/latency.py [--n 200] [--backlog 2000] [--random-phase [--max-phase 12] [--seed 1]]
"""

from __future__ import annotations

import argparse
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from email.message import EmailMessage
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.servers.fixtures import Dovecot, SmtpSink, daemon_config  # noqa: E402


def report(i: int) -> bytes:
    msg = EmailMessage()
    msg["From"] = f"Pelapor {i} <pelapor{i}@example.co.id>"
    msg["To"] = "provlampunglpse@gmail.com"
    msg["Subject"] = f"Tidak bisa login SPSE ({i})"
    msg["Message-ID"] = f"<lat{i}.{time.time_ns()}@example.co.id>"
    msg.set_content("Selamat pagi, saya gk bisa login ke SPSE sejak tadi, muncul error. Mohon bantuan.\n")
    return msg.as_bytes()


def config(folder: Path, dovecot: Dovecot, user: str, sink: SmtpSink) -> Path:
    return daemon_config(folder / "mt.toml", dovecot, user, sink)


def percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[int(q) - 1] if len(values) > 1 else values[0]


def measure_latency(work: Path, dovecot: Dovecot, sink: SmtpSink, n: int,
                    phases: random.Random | None = None, max_phase: float = 12.0,
                    detail=None) -> list[float]:
    user, _ = dovecot.new_user("lat")
    cfg = config(work / "latency", dovecot, user, sink)
    log = open(cfg.parent / "daemon.log", "w")  # noqa: SIM115 - closed with the daemon below
    proc = subprocess.Popen([sys.executable, "-m", "mailticket.cli", "--config", str(cfg), "-v", "run"],
                            cwd=cfg.parent, stderr=log)
    time.sleep(2.0)  # connected and in IDLE
    client = dovecot.client(user)
    latencies = []
    try:
        for i in range(n):
            pause = phases.uniform(0.0, max_phase) if phases is not None else 0.0
            time.sleep(pause)
            before = len(sink.messages)
            start = time.perf_counter()
            client.append("INBOX", report(i))
            while len(sink.messages) <= before:
                if time.perf_counter() - start > 10:
                    raise SystemExit(f"no acknowledgement for message {i} within 10 s")
                time.sleep(0.002)
            latencies.append(time.perf_counter() - start)
            if detail is not None:
                detail.write(f"{i},{pause:.3f},{latencies[-1]:.3f}\n")
    finally:
        client.logout()
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=10)
        log.close()
    return latencies


def measure_backlog(work: Path, dovecot: Dovecot, sink: SmtpSink, m: int) -> float:
    user, _ = dovecot.new_user("backlog")
    client = dovecot.client(user)
    for i in range(m):
        client.append("INBOX", report(100000 + i))
    client.logout()
    cfg = config(work / "backlog", dovecot, user, sink)
    before = len(sink.messages)
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "mailticket.cli", "--config", str(cfg), "-q", "run", "--once"],
                   cwd=cfg.parent, check=True)
    wall = time.perf_counter() - start
    if len(sink.messages) - before != m:
        raise SystemExit(f"backlog: {len(sink.messages) - before} acknowledgements for {m} messages")
    return wall


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--backlog", type=int, default=2000)
    ap.add_argument("--random-phase", action="store_true",
                    help="pause 0..--max-phase s (uniform) before each APPEND: arrivals at any phase")
    ap.add_argument("--max-phase", type=float, default=12.0)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--csv", type=Path, help="write message,pause_s,latency_s per message to this file")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="mt-latency-"))
    (work / "latency").mkdir()
    (work / "backlog").mkdir()
    dovecot = Dovecot(Path(tempfile.mkdtemp(prefix="mt-dovecot-", dir="/dev/shm")))
    sink = SmtpSink()
    dovecot.start()
    sink.start()
    try:
        phases = random.Random(args.seed) if args.random_phase else None
        detail = open(args.csv, "w") if args.csv else None  # noqa: SIM115 - closed below
        try:
            lat = measure_latency(work, dovecot, sink, args.n, phases, args.max_phase, detail)
        finally:
            if detail is not None:
                detail.close()
        how = f", random phase 0-{args.max_phase:g} s (seed {args.seed})" if phases else ""
        print(f"latency APPEND -> ack at the SMTP server, {len(lat)} messages{how}: "
              f"p50 {statistics.median(lat):.3f} s, p95 {percentile(lat, 95):.3f} s, max {max(lat):.3f} s")
        if args.backlog:
            wall = measure_backlog(work, dovecot, sink, args.backlog)
            print(f"backlog: {args.backlog} messages in the IMAP folder, run --once {wall:.2f} s, "
                  f"{args.backlog / wall:.1f} msgs/s (fetch, process, acknowledge over SMTP)")
    finally:
        sink.stop()
        dovecot.stop(purge=True)


if __name__ == "__main__":
    main()
