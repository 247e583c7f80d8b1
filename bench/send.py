#!/usr/bin/env python3
"""Sending benchmark: N queued acknowledgements -> `send_queued` over SMTP -> a real aiosmtpd sink.

Queues N outbox rows in a fresh SQLite file (the real schema, synchronous=FULL as in production),
starts the test sink on loopback (tests/servers/fixtures.SmtpSink; `--delay` seconds before it
answers each DATA, 0.1 s is like a real server) and times one `send_queued` until every row is
marked sent. Prints mails/s and ms per mail: the cost of marking each row sent on its own.

usage: bench/send.py [--n 2000] [--delay 0] [--repeat 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import func, select  # noqa: E402

from mailticket.clock import FixedClock  # noqa: E402
from mailticket.db import models  # noqa: E402
from mailticket.db.session import ensure_schema, make_engine, session_factory, transaction  # noqa: E402
from mailticket.outgoing.send import send_queued  # noqa: E402
from mailticket.outgoing.smtp import SmtpTransport  # noqa: E402
from tests.servers.fixtures import SmtpSink  # noqa: E402

NOW = datetime(2026, 11, 25, 3, 0, tzinfo=UTC)
HELPDESK = "provlampunglpse@gmail.com"


def ack(n: int) -> bytes:
    """About the size of a real acknowledgement (2 KB of text)."""
    body = "Terima kasih, laporan Anda sudah kami terima dan dicatat.\r\n" * 35
    return (f"From: Helpdesk LPSE <{HELPDESK}>\r\nTo: pelapor{n}@example.co.id\r\n"
            f"Subject: [LPSE#{n}] Laporan diterima\r\nMessage-ID: <ack.{n}@bench.id>\r\n"
            "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" + body).encode()


def queued_db(folder: Path, n: int):
    engine = make_engine(f"sqlite:///{folder / 'bench.db'}")
    ensure_schema(engine)
    factory = session_factory(engine)
    with transaction(factory) as session:
        session.add_all(models.Outbox(kind="ack", message_id=f"<ack.{i}@bench.id>", sender=HELPDESK,
                                      recipients=f"pelapor{i}@example.co.id", data=ack(i), status="queued",
                                      attempts=0, created_at=NOW, next_attempt_at=NOW)
                        for i in range(n))
    return engine, factory


def one_run(n: int, delay: float) -> float:
    """Seconds for one send_queued of n rows to a fresh sink."""
    sink = SmtpSink(data_delay=delay)
    sink.start()
    with tempfile.TemporaryDirectory(prefix="mt-bench-send-") as tmp:
        engine, factory = queued_db(Path(tmp), n)
        try:
            start = time.perf_counter()
            report = send_queued(factory, SmtpTransport(sink.settings()), FixedClock(NOW))
            took = time.perf_counter() - start
            with factory() as session:
                sent = session.scalar(select(func.count()).select_from(models.Outbox)
                                      .where(models.Outbox.status == "sent"))
        finally:
            engine.dispose()
            sink.stop()
    assert report.sent == sent == n == len(sink.messages), (report, sent, len(sink.messages))
    return took


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--delay", type=float, default=0.0, help="seconds the sink takes per mail")
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args()
    times = [one_run(a.n, a.delay) for _ in range(a.repeat)]
    best, median = min(times), statistics.median(times)
    print(f"{a.n} mails, sink delay {a.delay:.3f}s, {a.repeat} runs: best {best:.2f}s "
          f"({a.n / best:.0f} mails/s, {1000 * best / a.n:.2f} ms/mail), median {median:.2f}s")


if __name__ == "__main__":
    main()
