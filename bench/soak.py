#!/usr/bin/env python3
"""Soak: `mailticket run` for N minutes against a real Dovecot and SMTP sink, with a steady stream and faults.

Starts its own Dovecot (tests/servers/dovecot-test-server.sh) and SMTP sink (tests/servers/smtp_sink.py,
a Maildir), then the daemon (IMAP IDLE, SQLite). While a thread appends mail at --rate messages per
second (nine new reports for each reply by In-Reply-To), faults come at random times: every IMAP
connection killed, or the SMTP sink stopped for a few seconds and started again. When the stream
stops it waits until everything is acknowledged (SMTP retries back off 1, 2, 4 … minutes), stops the
daemon with SIGTERM and prints: messages appended and processed, lost (must be 0), duplicates (must
be 0), max RSS of the daemon and its growth from the first to the last minute of the stream.
Exit status 1 when anything was lost or duplicated.

usage: bench/soak.py [--minutes 10] [--rate 20] [--work DIR] [--keep] [--seed 1]
"""

from __future__ import annotations

import argparse
import email.parser
import email.utils
import json
import os
import random
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path

from imapclient import IMAPClient

ROOT = Path(__file__).resolve().parent.parent
SERVERS = ROOT / "tests" / "servers"
USER, PASSWORD = "helpdesk", "helpdesk-pw"
HELPDESK = "provlampunglpse@gmail.com"
SBIN = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/usr/local/sbin"])
BODY = "Selamat siang, saya gk bisa login ke SPSE sejak pagi, muncul error 500. Mohon bantuannya.\n"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def log(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", flush=True)


# -- servers ------------------------------------------------------------------------------------


class Dovecot:
    def __init__(self, root: Path):
        self.root = root
        env = dict(os.environ, PATH=SBIN, IMAPS_PORT="")
        proc = subprocess.run([str(SERVERS / "dovecot-test-server.sh"), str(root), "0", f"{USER}:{PASSWORD}"],
                              env=env, capture_output=True, text=True, timeout=120)
        if proc.returncode:
            sys.exit(f"dovecot-test-server.sh failed:\n{proc.stderr}")
        lines = (root / "server.env").read_text().splitlines()
        info = dict(line.split("=", 1) for line in lines if "=" in line)
        self.port = int(info["IMAP_PORT"])

    def drop_connections(self) -> int:
        """Kill every imap session of this instance: the clients see their connection die."""
        name = f"dovecot-dvt-{self.port}/imap".encode()
        killed = 0
        for entry in Path("/proc").iterdir():
            try:
                if entry.name.isdigit() and (entry / "cmdline").read_bytes().split(b"\0")[0] == name:
                    os.kill(int(entry.name), signal.SIGKILL)
                    killed += 1
            except (OSError, ProcessLookupError):
                continue
        return killed

    def client(self) -> IMAPClient:
        client = IMAPClient("127.0.0.1", port=self.port, ssl=False, timeout=10)
        client.login(USER, PASSWORD)
        return client

    def stop(self) -> None:
        subprocess.run([str(SERVERS / "dovecot-test-server-stop.sh"), str(self.root), "--purge"],
                       capture_output=True, timeout=60, check=False)


class Sink:
    """tests/servers/smtp_sink.py on one fixed port, stopped and started at will."""

    def __init__(self, root: Path):
        self.maildir = root / "sink"
        self.port = free_port()
        self.log = open(root / "sink.log", "a")  # noqa: SIM115 - closed in stop_for_good
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen([sys.executable, str(SERVERS / "smtp_sink.py"), "--listen",
                                      f"127.0.0.1:{self.port}", "--maildir", str(self.maildir)],
                                     stdout=subprocess.PIPE, stderr=self.log, text=True)
        line = self.proc.stdout.readline()
        if not line.startswith("READY"):
            sys.exit(f"smtp_sink.py did not start: {line!r}")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=30)
            self.proc = None

    def acks(self) -> Counter:
        """Acknowledgements received, by the Message-ID of the report they answer."""
        parser = email.parser.BytesHeaderParser()
        found: Counter = Counter()
        for path in (self.maildir / "new").iterdir():
            with open(path, "rb") as fh:
                headers = parser.parse(fh)
            if headers["X-Mailticket-Kind"] == "ack":
                found[headers["In-Reply-To"]] += 1
        return found


# -- the stream and the faults ----------------------------------------------------------------------


@dataclass
class Stream:
    dovecot: Dovecot
    rate: float
    rng: random.Random
    reports: list[str] = field(default_factory=list)
    replies: list[str] = field(default_factory=list)
    reconnects: int = 0
    stop: threading.Event = field(default_factory=threading.Event)

    def message(self, i: int) -> tuple[str, bytes, bool]:
        msg = EmailMessage()
        msgid = f"<soak{i}@example.co.id>"
        msg["From"] = f"Pelapor {i} <user{i}@example.co.id>"
        msg["To"] = HELPDESK
        msg["Message-ID"] = msgid
        msg["Date"] = email.utils.formatdate(localtime=True)
        if i % 10 == 9 and self.reports:
            parent = self.rng.choice(self.reports[-200:])
            msg["Subject"] = "Re: Laporan tidak bisa login"
            msg["In-Reply-To"] = msg["References"] = parent
            msg.set_content("Tambahan info: masih gagal juga.\n")
        else:
            msg["Subject"] = f"Laporan {i}: tidak bisa login"
            msg.set_content(BODY)
        return msgid, msg.as_bytes(), "In-Reply-To" in msg

    def run(self) -> None:
        client = None
        i = 0
        next_at = time.monotonic()
        while not self.stop.is_set():
            next_at += 1 / self.rate
            pause = next_at - time.monotonic()
            if pause > 0:
                time.sleep(pause)
            msgid, data, reply = self.message(i)
            while True:  # a killed connection: connect again and append the same bytes (kept once)
                try:
                    client = client or self.dovecot.client()
                    client.append("INBOX", data)
                    break
                except Exception:  # noqa: BLE001 - any failure here is the fault we caused
                    client = None
                    self.reconnects += 1
                    time.sleep(0.05)
            (self.replies if reply else self.reports).append(msgid)
            i += 1


def faults(dovecot: Dovecot, sink: Sink, stop: threading.Event, until: float, rng: random.Random,
           done: list[str]) -> None:
    """At random moments: drop every IMAP connection, or take the SMTP sink away for 3-12 s."""
    kind = 0
    while not stop.wait(rng.uniform(15, 35)) and time.monotonic() < until:
        if kind % 2 == 0:
            done.append(f"imap-drop:{dovecot.drop_connections()}")
        else:
            outage = rng.uniform(3, 12)
            sink.stop()
            stop.wait(outage)
            sink.start()
            done.append(f"smtp-down:{outage:.0f}s")
        log(f"fault {done[-1]}")
        kind += 1


def sample_rss(pid: int, stop: threading.Event, samples: list[tuple[float, int]]) -> None:
    start = time.monotonic()
    while not stop.wait(1.0):
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            return
        kib = int(status.split("VmRSS:")[1].split()[0])
        samples.append((time.monotonic() - start, kib // 1024))


# -- run --------------------------------------------------------------------------------------------


def write_config(work: Path, dovecot: Dovecot, sink: Sink) -> Path:
    config = work / "mailticket.toml"
    config.write_text(textwrap.dedent(f"""\
        [helpdesk]
        address = "{HELPDESK}"
        [database]
        url = "sqlite:///mailticket.db"
        [inbox]
        kind = "imap"
        host = "127.0.0.1"
        port = {dovecot.port}
        security = "none"
        username = "{USER}"
        password = "{PASSWORD}"
        idle = true
        poll_interval = "5s"
        [smtp]
        kind = "smtp"
        host = "127.0.0.1"
        port = {sink.port}
        security = "none"
        """))
    return config


def db_counts(db: Path) -> dict:
    with sqlite3.connect(db, timeout=60) as conn:
        one = lambda sql: conn.execute(sql).fetchone()[0]  # noqa: E731
        return {
            "raw": one("SELECT count(*) FROM raw_mail"),
            "pending": one("SELECT count(*) FROM raw_mail WHERE state = 'pending'"),
            "quarantined": one("SELECT count(*) FROM raw_mail WHERE state = 'quarantined'"),
            "queued": one("SELECT count(*) FROM outbox WHERE status = 'queued'"),
            "failed": one("SELECT count(*) FROM outbox WHERE status = 'failed'"),
            "tickets": one("SELECT count(*) FROM tickets"),
        }


def drain(db: Path, sink: Sink, stream: Stream, limit: float) -> float:
    """Wait until every message is processed and every ack delivered; returns the seconds it took."""
    start = time.monotonic()
    while time.monotonic() - start < limit:
        counts = db_counts(db)
        if counts["pending"] == 0 and counts["queued"] == 0 and set(stream.reports) <= set(sink.acks()):
            break
        time.sleep(2)
    return time.monotonic() - start


def report(args, stream: Stream, sink: Sink, db: Path, samples, max_rss: float, fault_log,
           drained: float) -> int:
    with sqlite3.connect(db, timeout=60) as conn:
        rows = conn.execute("SELECT message_id, state, count(*) FROM raw_mail "
                            "GROUP BY message_id, state").fetchall()
        tickets_per_report = Counter(mid for (mid,) in conn.execute(
            "SELECT m.message_id FROM messages m WHERE m.direction = 'in' AND m.kind = 'report'"))
    processed = {mid for mid, state, _n in rows if state in ("ticket", "kept")}
    appended = set(stream.reports) | set(stream.replies)
    acks = sink.acks()
    lost = sorted((appended - processed) | (set(stream.reports) - set(acks)))
    duplicates = sum(n - 1 for n in acks.values() if n > 1)  # a report acknowledged twice
    duplicates += sum(n - 1 for n in tickets_per_report.values() if n > 1)  # or opened twice
    duplicates += sum(1 for mid, _state, n in rows if n > 1 and mid in appended)
    per_minute = [rss for t, rss in samples]
    first = [rss for t, rss in samples if t < 60]
    last_from = samples[-1][0] - 60 if samples else 0
    last = [rss for t, rss in samples if t >= last_from]
    counts = db_counts(db)
    figures = {
        "minutes": args.minutes, "rate": args.rate, "appended": len(appended), "reports": len(stream.reports),
        "replies": len(stream.replies), "processed": len(processed & appended), "acks": sum(acks.values()),
        "lost": len(lost), "duplicates": duplicates, "quarantined": counts["quarantined"],
        "outbox_failed": counts["failed"], "faults": fault_log, "append_reconnects": stream.reconnects,
        "drain_seconds": round(drained), "max_rss_mib": round(max_rss, 1),
        "rss_first_minute_mib": max(first, default=0), "rss_last_minute_mib": max(last, default=0),
        "rss_growth_mib": max(last, default=0) - max(first, default=0),
        "rss_min_max_mib": [min(per_minute, default=0), max(per_minute, default=0)],
    }
    print(json.dumps(figures, indent=1))
    print(f"\nprocessed {figures['processed']}/{figures['appended']} messages "
          f"({figures['reports']} reports, {figures['replies']} replies) "
          f"in {args.minutes} min at {args.rate}/s; "
          f"lost {figures['lost']}, duplicates {duplicates}; faults {len(fault_log)}; "
          f"max RSS {max_rss:.0f} MiB, first minute {figures['rss_first_minute_mib']} MiB -> last minute "
          f"{figures['rss_last_minute_mib']} MiB (growth {figures['rss_growth_mib']:+d} MiB)")
    if lost:
        print("lost:", " ".join(lost[:20]))
    return 1 if lost or duplicates else 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=10)
    ap.add_argument("--rate", type=float, default=20, help="messages appended per second")
    ap.add_argument("--work", type=Path, help="folder for servers, database and logs (default: a new one)")
    ap.add_argument("--keep", action="store_true", help="keep the work folder")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--drain", type=float, default=420, help="seconds to wait for the last acks at most")
    args = ap.parse_args()
    base = "/dev/shm" if os.access("/dev/shm", os.W_OK) else None
    work = args.work or Path(tempfile.mkdtemp(prefix="mt-soak-", dir=base))
    work.mkdir(parents=True, exist_ok=True)
    rng = random.Random(args.seed)
    log(f"work folder {work}")
    dovecot = Dovecot(work / "dovecot")
    sink = Sink(work)
    sink.start()
    config = write_config(work, dovecot, sink)
    daemon_log = open(work / "daemon.log", "w")  # noqa: SIM115
    daemon = subprocess.Popen([sys.executable, "-m", "mailticket.cli", "--config", str(config), "run"],
                              cwd=work, stdout=daemon_log, stderr=daemon_log)
    stop_all = threading.Event()
    samples: list[tuple[float, int]] = []
    fault_log: list[str] = []
    stream = Stream(dovecot, args.rate, rng)
    try:
        time.sleep(2)
        log(f"daemon pid {daemon.pid}; appending {args.rate}/s for {args.minutes} min")
        threads = [threading.Thread(target=sample_rss, args=(daemon.pid, stop_all, samples), daemon=True),
                   threading.Thread(target=stream.run, daemon=True)]
        until = time.monotonic() + args.minutes * 60 - 30  # no outage in the last half minute
        threads.append(threading.Thread(target=faults, daemon=True,
                                        args=(dovecot, sink, stream.stop, until, rng, fault_log)))
        for thread in threads:
            thread.start()
        end = time.monotonic() + args.minutes * 60
        while time.monotonic() < end:
            time.sleep(min(30, end - time.monotonic()))
            counts = db_counts(work / "mailticket.db")
            rss = samples[-1][1] if samples else "?"
            log(f"appended {len(stream.reports) + len(stream.replies)}, kept {counts['raw']}, "
                f"pending {counts['pending']}, queued {counts['queued']}, rss {rss} MiB")
        stream.stop.set()
        threads[1].join(30)
        threads[2].join(60)
        if sink.proc is None:
            sink.start()
        log("stream stopped; waiting for every message and ack")
        drained = drain(work / "mailticket.db", sink, stream, args.drain)
        stop_all.set()
        daemon.send_signal(signal.SIGTERM)
        _pid, status, usage = os.wait4(daemon.pid, 0)
        daemon.returncode = os.waitstatus_to_exitcode(status)
        log(f"daemon stopped, exit {daemon.returncode}")
        return report(args, stream, sink, work / "mailticket.db", samples, usage.ru_maxrss / 1024, fault_log,
                      drained) or (daemon.returncode != 0)
    finally:
        stream.stop.set()
        stop_all.set()
        if daemon.poll() is None:
            daemon.kill()
        sink.stop()
        dovecot.stop()
        daemon_log.close()
        if not args.keep and args.work is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
