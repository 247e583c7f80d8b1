#!/usr/bin/env python3
"""Memory benchmark: a report carrying a 20 MB file, forwarded to 4 staff, within the start-up floor
plus 3x the file.

Two runs of the real command line (`mailticket --config C ingest ...`), each on a fresh SQLite file
with the directory outbox, each its own process measured by wait4 (tests/integration/mailcheck.max_rss):

- floor: `ingest` of an empty folder (start-up, schema, pipeline set-up, nothing to process);
- forward: `ingest` of one mail with a --size MiB attachment (random bytes: a scanned PDF does not
  compress either), kept raw, parsed, acknowledged and forwarded to the 4 staff in one notification
  that carries the file ([mail] forward_attachments and max_message_size raised above it), then
  delivered to the outbox folder.

Then the notification's file is checked byte for byte against the original. Prints the floor, the
forward run's max RSS, their difference as a multiple of the file, and the target (floor + 3x);
exits 1 when the target is missed or the file did not arrive intact.

`--smtp` delivers to the test SMTP sink on loopback instead of the outbox folder (aiosmtplib copies
the message to normalise line ends and dot-stuff it: reported, not held to the target).

usage: bench/attachments.py [--size 20] [--repeat 3] [--keep DIR] [--smtp]
"""

from __future__ import annotations

import argparse
import email
import os
import shutil
import statistics
import sys
import tempfile
import textwrap
from email import policy
from email.message import EmailMessage
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.integration.mailcheck import max_rss  # noqa: E402

STAFF = ("rina", "sari", "dodi", "ayu")
TARGET = 3.0  # max RSS may pass the floor by this many times the file


def config(folder: Path, size: int, smtp: str = '[smtp]\nkind = "directory"\npath = "outbox"\n') -> Path:
    members = ",\n".join(f'  {{ name = "{n}", email = "{n}@lampungprov.go.id" }}' for n in STAFF)
    path = folder / "mailticket.toml"
    path.write_text(textwrap.dedent(f"""\
        [helpdesk]
        address = "provlampunglpse@gmail.com"
        max_message_size = {4 * size}
        [database]
        url = "sqlite:///mailticket.db"
        [inbox]
        kind = "maildir"
        path = "mail"
        create = true
        """) + smtp + textwrap.dedent(f"""\
        [mail]
        forward_attachments = "{2 * size}B"
        [staff]
        members = [
        """) + members + "\n]\n")
    return path


def report(size: int) -> tuple[bytes, bytes]:
    """A vendor's mail with one big PDF: (the mail, the file)."""
    body = os.urandom(size)
    msg = EmailMessage()
    msg["From"] = "Budi Santoso <budi@cv-maju.co.id>"
    msg["To"] = "provlampunglpse@gmail.com"
    msg["Subject"] = "Dokumen kualifikasi tender jalan provinsi (scan lengkap)"
    msg["Message-ID"] = "<bench-attachment@cv-maju.co.id>"
    msg["Date"] = "Wed, 25 Nov 2026 10:00:00 +0700"
    msg.set_content("Yth. Helpdesk LPSE,\n\nBersama ini kami kirimkan dokumen kualifikasi hasil scan.\n\n"
                    "Hormat kami,\nBudi Santoso\nCV Maju\n")
    msg.add_attachment(body, maintype="application", subtype="pdf",
                       filename="Dokumen Kualifikasi CV Maju.pdf")
    return msg.as_bytes(policy=policy.SMTP), body


def run(folder: Path, cfg: Path, *paths: str) -> tuple[float, float]:
    for name in ("mailticket.db", "mailticket.db-wal", "mailticket.db-shm"):
        (folder / name).unlink(missing_ok=True)
    shutil.rmtree(folder / "outbox", ignore_errors=True)
    command = [sys.executable, "-m", "mailticket.cli", "--config", str(cfg), "ingest", *paths]
    status, rss, wall = max_rss(command, cwd=folder)
    if status != 0:
        raise SystemExit(f"mailticket ingest {' '.join(paths)} exited {status}")
    return rss, wall


def arrived(folder: Path, original: bytes, sink=None) -> bool:
    """The notification reached the 4 staff and carries the file byte for byte."""
    if sink is not None:
        notes = [m.data for m in sink.messages if b"X-Mailticket-Kind: notification" in m.data[:4096]]
        sink.messages.clear()
    else:
        notes = [path.read_bytes() for path in sorted((folder / "outbox").glob("*-notification.eml"))]
    if len(notes) != 1:
        return False
    msg = email.message_from_bytes(notes[0], policy=policy.default)
    to = {a.addr_spec for a in msg["To"].addresses}
    files = [part.get_content() for part in msg.iter_attachments()]
    return to == {f"{n}@lampungprov.go.id" for n in STAFF} and files == [original]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=float, default=20, help="the attachment, MiB")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--keep", metavar="DIR", help="work in DIR and leave it (default: a temporary folder)")
    ap.add_argument("--smtp", action="store_true", help="deliver to an SMTP sink on loopback, not a folder")
    a = ap.parse_args()
    sink = None
    if a.smtp:
        from tests.servers.fixtures import SmtpSink

        sink = SmtpSink()
        sink.start()
    size = int(a.size * 1024 * 1024)
    folder = Path(a.keep or tempfile.mkdtemp(prefix="mt-bench-attachments-"))
    folder.mkdir(parents=True, exist_ok=True)
    try:
        cfg = config(folder, size, sink.smtp_toml()) if sink else config(folder, size)
        (folder / "empty").mkdir(exist_ok=True)
        mail, original = report(size)
        (folder / "report.eml").write_bytes(mail)
        floors, forwards, walls, intact = [], [], [], True
        for _ in range(a.repeat):
            floors.append(run(folder, cfg, "empty")[0])
            rss, wall = run(folder, cfg, "report.eml")
            forwards.append(rss)
            walls.append(wall)
            intact = intact and arrived(folder, original, sink)
    finally:
        if sink is not None:
            sink.stop()
        if not a.keep:
            shutil.rmtree(folder, ignore_errors=True)
    floor, forward = statistics.median(floors), statistics.median(forwards)
    mib = size / 2**20
    extra = (forward - floor) / mib
    limit = floor + TARGET * mib
    where = "an SMTP sink" if sink else "the outbox folder"
    print(f"attachment {mib:.1f} MiB (mail {len(mail) / 2**20:.1f} MiB), 4 staff, delivered to {where}, "
          f"{a.repeat} runs (median)")
    print(f"floor (empty ingest)   max RSS {floor:7.1f} MiB   runs {', '.join(f'{x:.1f}' for x in floors)}")
    runs, wall = ", ".join(f"{x:.1f}" for x in forwards), statistics.median(walls)
    print(f"forward (ingest, send) max RSS {forward:7.1f} MiB   runs {runs}   wall {wall:.2f} s")
    verdict = "met" if forward <= limit else "MISSED"
    print(f"above the floor: {forward - floor:.1f} MiB = {extra:.2f}x the attachment; "
          f"target <= {limit:.1f} MiB (floor + {TARGET:.0f}x): {verdict}")
    print(f"the file at the staff's mail: {'byte-identical' if intact else 'MISSING OR CHANGED'}")
    if (forward > limit and not sink) or not intact:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
