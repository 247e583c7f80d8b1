#!/usr/bin/env python3
"""Growth benchmark: does mailticket stay as fast with 100,000 tickets as with none?

Three figures, each against its target:

1. Ingest rate of 1000 real mails (the shared corpus, ../shared/bench/make_corpus.py) into an empty
   database ("messages 1-1000") vs into one already holding ~99,000 tickets ("messages
   99,001-100,000"): within 15%. `mailticket ingest DIR` runs as its own process, like
   bench/ingest.py: "wall" includes start-up; "net" subtracts the wall time of `ingest` on an empty
   folder against the same database (start-up, schema check, pipeline set-up), i.e. the messages'
   own work and the sending of the acknowledgements.
2. `tickets list --status open --json` and `tickets show TOKEN` under 100 ms at 100,000 tickets,
   measured in-process (`mailticket.cli.main`, stdout captured, after a warm-up, median of
   --repeat runs); and the whole command as a subprocess, interpreter start-up included (target
   for `tickets list`: under 400 ms).
3. The daily digest under 2 s at 100,000 tickets: `Scheduler.render_digest` in-process, the whole
   `digest --preview` in-process, and `mailticket digest --preview` as a subprocess.

The big database is not made by ingesting 99,000 mails: after `mailticket db upgrade` the rows the
pipeline writes for a new ticket are inserted directly, in big transactions (see `fill`), and the
result is cached under --work so that reruns start at once. The second phase's corpus is the same
corpus with its reply tokens shifted by the number of tickets already there ("[LPSE#99{n:03d}]"),
so that its replies thread onto the tickets it opens, as in the first phase. After the last run the
second database is topped up to exactly --tickets tickets, and the read side is measured on it.

usage: bench/growth.py [--tickets 100000] [--runs 3] [--repeat 7] [--work DIR] [--shared DIR]
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import io
import json
import os
import random
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

from ingest import CONFIG, make_corpus, threading_check, timed  # noqa: E402

MESSAGES = 1000  # mails ingested per phase
SPAN = timedelta(days=730)  # the filled register covers about two years
TABLES = ("tickets", "raw_mail", "raw_data", "outbox", "messages", "events")  # foreign keys first
CHUNK = 5000  # tickets per transaction while filling
HELPDESK_INBOX = "imap:INBOX"
RATIO_TARGET, LIST_MS, SHOW_MS, LIST_WALL_MS, DIGEST_S = 0.85, 100, 100, 400, 2.0
INDEXED_MS, REPORT_S, DIGEST_LINES = 20, 5.0, 300
FILL_VERSION = 2  # part of the cached database's folder name: bump when the filler's rows change

# -- a helpdesk folder --------------------------------------------------------------------------


def new_home(path: Path) -> tuple[Path, list[str]]:
    """An empty folder with the benchmark config (SQLite mt.db, directory outbox, Maildir inbox)."""
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    (path / "mt.toml").write_text(CONFIG.format(url="sqlite:///mt.db"))
    return path, cli_for(path)


def cli_for(home: Path) -> list[str]:
    script = Path(sys.executable).with_name("mailticket")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "mailticket.cli"]
    return [*command, "--config", str(home / "mt.toml"), "-q"]


def upgraded_home(path: Path) -> tuple[Path, list[str]]:
    home, cli = new_home(path)
    subprocess.run([*cli, "db", "upgrade"], check=True, stdout=subprocess.DEVNULL, cwd=home)
    return home, cli


def settings_of(home: Path):
    from mailticket.config import load

    return load(str(home / "mt.toml"))


# -- filling the register -----------------------------------------------------------------------

FIRST = ["Budi", "Siti", "Agus", "Dewi", "Andi", "Rina", "Joko", "Sri", "Hendra", "Yuni", "Bambang", "Fitri",
         "Rudi", "Wulan", "Eko", "Ratna", "Dedi", "Lestari", "Ahmad", "Nur", "Imam", "Indah", "Teguh", "Maya",
         "Wahyu", "Putri", "Arif", "Novi", "Dimas", "Ayu", "Fajar", "Kartika", "Hadi", "Sari", "Yusuf"]
LAST = ["Santoso", "Wijaya", "Saputra", "Hidayat", "Pratama", "Kurniawan", "Nugroho", "Setiawan", "Siregar",
        "Nasution", "Harahap", "Lubis", "Wibowo", "Susanto", "Gunawan", "Hakim", "Rahman", "Putra", "Utami"]
DOMAINS = ["gmail.com", "gmail.com", "gmail.com", "yahoo.co.id", "yahoo.com", "outlook.com",
           "majujaya.co.id", "karyanusantara.co.id", "sinarabadi.com", "lampungprov.go.id"]
SUBJECTS = ["Tidak bisa login ke SPSE", "Lupa password akun penyedia", "Permohonan reset password SPSE",
            "Pendaftaran penyedia baru belum diverifikasi", "Gagal upload dokumen penawaran",
            "SPSE sangat lambat", "Pertanyaan jadwal tender paket {kode}", "Berkas verifikasi ditolak",
            "Akun penyedia terkunci", "Error saat mengunggah file penawaran",
            "Cara registrasi penyedia di LPSE", "Perubahan jadwal pemasukan penawaran",
            "Website LPSE tidak bisa diakses"]
BODY = ["Selamat pagi Bapak/Ibu Admin LPSE,",
        "Saya tidak dapat login ke aplikasi SPSE sejak kemarin sore. Setiap kali memasukkan User ID dan "
        "password muncul pesan \"User ID atau Password salah\", padahal password belum pernah diganti.",
        "Kami sedang mengikuti tender paket \"Pembangunan Gedung Kantor Dinas PUPR\" (kode tender {kode}) "
        "dan batas akhir pemasukan penawaran sudah dekat, sehingga kami sangat membutuhkan bantuan.",
        "Sudah saya coba dengan Google Chrome dan Firefox, cache sudah dihapus, hasilnya tetap sama.",
        "Mohon bantuan dan arahannya. Terima kasih.", "Hormat kami,\n{name}\n{co}"]
RULES = {"gangguan": "cannot, error, message-shown, since",
         "permasalahan": "deadline, urgent, failed-while-doing", "permintaan": "password, register, how-to"}
STAFF = ["rina.helpdesk@lampungprov.go.id", "agus.helpdesk@lampungprov.go.id",
         "dewi.helpdesk@lampungprov.go.id"]
ACK = """Yth. Bapak/Ibu {name},

Terima kasih telah menghubungi Helpdesk LPSE Provinsi Lampung. Laporan Anda sudah kami terima dan kami
catat dengan nomor [{token}].

Perihal: {subject}
Kategori: {category}
Target penyelesaian: paling lambat {due}.

Bila ada informasi tambahan (misalnya tangkapan layar, nama paket, atau kode tender), cukup balas email
ini. Mohon jangan mengubah kode [{token}] di subjek agar balasan Anda tercatat pada laporan yang sama.

Seluruh layanan LPSE Provinsi Lampung tidak dipungut biaya.

Salam hormat,
Helpdesk LPSE Provinsi Lampung
"""


@dataclass(frozen=True)
class Timeline:
    """Ticket k is created at start + (k - 1) * step (plus a little jitter): about two years to `end`."""

    start: datetime
    step: timedelta

    @classmethod
    def ending(cls, end: datetime, tickets: int) -> Timeline:
        return cls(end - SPAN, SPAN / tickets)

    def created_at(self, number: int, rng: random.Random) -> datetime:
        return self.start + self.step * (number - 1 + 0.8 * rng.random())


class Filler:
    """Rows as the pipeline writes them for a new report (tickets.open_ticket, store, outbox.queue):
    raw mail (state 'ticket'), the ticket, events 'created' and 'classified', the report received,
    the acknowledgement sent (message and outbox row, status 'sent'). Most tickets are closed; the
    others are new/open/waiting/escalated and marked as the SLA check would have left them."""

    def __init__(self, settings, timeline: Timeline, now: datetime, secret: bytes, next_ids: dict[str, int],
                 seed: int):
        self.settings, self.timeline, self.now, self.secret = settings, timeline, now, secret
        self.ids = dict(next_ids)
        self.rng = random.Random(seed)
        self.rows: dict[str, list[dict]] = {name: [] for name in TABLES}

    def take(self) -> dict[str, list[dict]]:
        rows, self.rows = self.rows, {name: [] for name in self.rows}
        return rows

    def _id(self, table: str) -> int:
        self.ids[table] += 1
        return self.ids[table] - 1

    def add(self, number: int) -> None:
        rng, helpdesk = self.rng, self.settings.helpdesk
        created = self.timeline.created_at(number, rng)
        category, source = self._category()
        ticket = self._ticket(number, created, category, source)
        name, reporter = self._reporter()
        subject = rng.choice(SUBJECTS).format(kode=rng.randrange(10**7, 10**8))
        body = "\n\n".join(BODY).format(kode=rng.randrange(10**7, 10**8), name=name, co="CV Maju Jaya")
        mid = f"<{number:08x}.{rng.getrandbits(48):012x}@{reporter.rpartition('@')[2]}>"
        raw = self._raw(ticket["id"], name, reporter, subject, body, mid, created)
        ticket.update(subject=subject, reporter=reporter, reporter_name=name, last_in_message_id=mid)
        self.rows["tickets"].append(ticket)
        self.rows["raw_data"].append({"raw_id": raw["id"], "data": raw.pop("data")})
        self.rows["raw_mail"].append(raw)
        self._events(ticket, category, source)
        self.rows["messages"].append({
            "id": self._id("messages"), "ticket_id": ticket["id"], "direction": "in", "kind": "report",
            "sender": reporter, "recipients": helpdesk.address, "subject": subject,
            "date": created - timedelta(seconds=rng.randrange(5, 600)), "message_id": mid, "text": body,
            "raw_id": raw["id"], "outbox_id": None})
        self._ack(ticket, name, mid)
        if rng.random() < 0.08:  # spam, auto-replies, bulk and bounces arrive between the reports
            self._kept(created + timedelta(seconds=rng.randrange(1, 600)))

    def _kept(self, received: datetime) -> None:
        kind = self.rng.choices(("spam", "auto_reply", "bulk", "bounce"), (50, 25, 20, 5))[0]
        data = (f"From: someone@example.net\nSubject: {kind}\nMessage-ID: <{self.rng.getrandbits(64):x}@x>"
                f"\n\n{kind}\n").encode()
        raw_id = self._id("raw_mail")
        self.rows["raw_data"].append({"raw_id": raw_id, "data": data})
        self.rows["raw_mail"].append({
            "id": raw_id, "sha256": hashlib.sha256(data).hexdigest(), "message_id": f"<{raw_id}@x>",
            "source": HELPDESK_INBOX, "size": len(data), "received_at": received, "state": "kept",
            "kind": kind, "reason": f"bench: {kind}", "sender": "someone@example.net", "subject": kind,
            "ticket_id": None})

    def _category(self) -> tuple[str, str]:
        category = self.rng.choices(("gangguan", "permasalahan", "permintaan"), (30, 15, 55))[0]
        source = self.rng.choices(("rules", "default", "staff"), (85, 10, 5))[0]
        return ("permintaan" if source == "default" else category), source

    def _reporter(self) -> tuple[str, str]:
        rng = self.rng
        first, last = rng.choice(FIRST), rng.choice(LAST)
        # a third of the reports come from 500 frequent vendors, the rest from 25,000 occasional ones
        pool = 500 if rng.random() < 0.33 else 25000
        return f"{first} {last}", f"{first.lower()}.{last.lower()}{rng.randrange(pool)}@{rng.choice(DOMAINS)}"

    def _ticket(self, number: int, created: datetime, category: str, source: str) -> dict:
        from mailticket.core import sla

        target = self.settings.sla.targets[category]
        due = sla.due(self.settings.calendar, created, target)
        row = {"id": self._id("tickets"), "number": number, "cc": "", "category": category,
               "category_source": source, "needs_review": source == "default", "created_at": created,
               "due_at": due, "closed_at": None, "escalated": False, "waiting_since": None,
               "paused_seconds": 0, "first_response_at": None, "warned_for_due": None,
               "breached_for_due": None, "assignee": None, "rating": None}
        status = self._status(self.now - created)
        if status == "closed":
            self._closed(row, target)
        else:
            self._not_closed(row, status, target)
        return row

    def _status(self, age: timedelta) -> str:
        rng = self.rng
        still = 0.45 if age < timedelta(days=14) else 0.08 if age < timedelta(days=120) else 0.006
        if rng.random() >= still:
            return "closed"
        return rng.choices(("new", "open", "waiting", "escalated"), (20, 35, 15, 30))[0]

    def _closed(self, row: dict, target: timedelta) -> None:
        rng, created = self.rng, row["created_at"]
        took = target * rng.lognormvariate(-0.7, 0.9)  # about one in five closed after the target
        closed = created + took
        if closed >= self.now:
            closed = created + (self.now - created) * rng.random()
        paused = int(took.total_seconds() * rng.random()) if rng.random() < 0.05 else 0
        late = closed > row["due_at"]
        rated = rng.random() < 0.4  # about two in five reporters answer the survey
        row["rating"] = rng.choices((1, 2, 3, 4), (4, 10, 46, 40))[0] if rated else None
        row.update(status="closed", closed_at=closed, assignee=rng.choice(STAFF), paused_seconds=paused,
                   first_response_at=created + min(self._first_response(row), closed - created),
                   escalated=late,
                   warned_for_due=row["due_at"] if took >= target * 0.75 else None,
                   breached_for_due=row["due_at"] if late else None)

    def _first_response(self, row: dict) -> timedelta:
        """The first answer comes on the category's first-response target's scale, not the resolution's:
        a median of 0.6 of it, about one in four later than it."""
        return self.settings.sla.first_response[row["category"]] * self.rng.lognormvariate(-0.5, 0.8)

    def _not_closed(self, row: dict, status: str, target: timedelta) -> None:
        rng, created, due = self.rng, row["created_at"], row["due_at"]
        row["status"] = status
        if status != "new":
            row.update(assignee=rng.choice(STAFF),
                       first_response_at=created + min(self._first_response(row), self.now - created))
        if status == "waiting":
            row["waiting_since"] = created + (self.now - created) * rng.uniform(0.3, 0.9)
            return
        if due <= self.now:  # the SLA check has warned and escalated it already
            row.update(escalated=True, warned_for_due=due, breached_for_due=due)
        elif self.now - created >= target * 0.75:
            row["warned_for_due"] = due
        row["escalated"] = row["escalated"] or status == "escalated"

    def _raw(self, ticket_id: int, name: str, reporter: str, subject: str, body: str, mid: str,
             created: datetime) -> dict:
        received = created - timedelta(seconds=1)
        date = received.strftime("%a, %d %b %Y %H:%M:%S +0000")
        data = (f"Received: from mail.example.net by mx.google.com with ESMTPS; {date}\n"
                f"From: {name} <{reporter}>\nTo: {self.settings.helpdesk.address}\nSubject: {subject}\n"
                f"Date: {date}\nMessage-ID: {mid}\nMIME-Version: 1.0\n"
                "Content-Type: text/plain; charset=\"utf-8\"\nContent-Transfer-Encoding: 8bit\n\n"
                f"{body}\n").encode()
        return {"id": self._id("raw_mail"), "sha256": hashlib.sha256(data).hexdigest(), "message_id": mid,
                "source": HELPDESK_INBOX, "size": len(data), "data": data, "received_at": received,
                "state": "ticket", "kind": "report", "reason": "new ticket", "sender": reporter,
                "subject": subject, "ticket_id": ticket_id}

    def _events(self, ticket: dict, category: str, source: str) -> None:
        why = "no rule matched: default category" if source == "default" else RULES[category]
        for type_, by, detail in (("created", ticket["reporter"], ""),
                                  ("classified", "default" if source == "default" else "rules",
                                   f"{category}: {why}")):
            self.rows["events"].append({"id": self._id("events"), "ticket_id": ticket["id"], "type": type_,
                                        "at": ticket["created_at"], "by": by, "detail": detail})

    def _ack(self, ticket: dict, name: str, in_reply_to: str) -> None:
        from mailticket.core.thread import make_message_id

        helpdesk, created = self.settings.helpdesk, ticket["created_at"]
        token = f"{helpdesk.token_prefix}#{ticket['number']}"
        message_id = make_message_id(ticket["number"], self.secret, helpdesk.domain,
                                     f"{self.rng.getrandbits(64):016x}")
        subject = f"[{token}] {ticket['subject']}"
        text = ACK.format(name=name, token=token, subject=ticket["subject"], category=ticket["category"],
                          due=ticket["due_at"].astimezone(helpdesk.tz).strftime("%d-%m-%Y %H.%M WIB"))
        data = (f"From: {helpdesk.name} <{helpdesk.address}>\nTo: <{ticket['reporter']}>\n"
                f"Subject: {subject}\nMessage-ID: {message_id}\n"
                f"In-Reply-To: {in_reply_to}\nReferences: {in_reply_to}\n"
                "Auto-Submitted: auto-replied\nX-Mailticket-Kind: ack\nMIME-Version: 1.0\n"
                "Content-Type: text/plain; charset=\"utf-8\"\nContent-Transfer-Encoding: 8bit\n\n"
                f"{text}").encode()
        outbox_id = self._id("outbox")
        self.rows["outbox"].append({
            "id": outbox_id, "ticket_id": ticket["id"], "kind": "ack", "message_id": message_id,
            "sender": helpdesk.address, "recipients": ticket["reporter"], "data": data, "status": "sent",
            "attempts": 1, "last_error": None, "created_at": created, "next_attempt_at": created,
            "sent_at": created + timedelta(seconds=2)})
        self.rows["messages"].append({
            "id": self._id("messages"), "ticket_id": ticket["id"], "direction": "out", "kind": "ack",
            "sender": helpdesk.address, "recipients": ticket["reporter"], "subject": subject, "date": created,
            "message_id": message_id, "text": text, "raw_id": None, "outbox_id": outbox_id})


def fill(home: Path, first: int, last: int, timeline: Timeline, now: datetime) -> None:
    """Insert tickets `first`..`last` with their rows; the counters row ends at `last`."""
    from sqlalchemy import func, insert, select
    from sqlalchemy.dialects.sqlite import insert as upsert

    from mailticket.db import models
    from mailticket.db.session import make_engine
    from mailticket.store import meta

    settings = settings_of(home)
    engine = make_engine(settings.database_url)
    tables = models.Base.metadata.tables
    with engine.begin() as conn:
        next_ids = {name: (conn.execute(select(func.max(tables[name].c.id))).scalar() or 0) + 1
                    for name in ("tickets", "raw_mail", "outbox", "messages", "events")}
    with store_session(engine) as session:
        secret = meta.secret(session, settings.helpdesk.secret)
    filler = Filler(settings, timeline, now, secret, next_ids, seed=first)
    for start in range(first, last + 1, CHUNK):
        end = min(last, start + CHUNK - 1)
        for number in range(start, end + 1):
            filler.add(number)
        rows = filler.take()
        with engine.begin() as conn:
            for name in TABLES:
                conn.execute(insert(tables[name]), rows[name])
            stmt = upsert(models.Counter).values(name="ticket", value=end)
            conn.execute(stmt.on_conflict_do_update(index_elements=["name"], set_={"value": end}))
        print(f"\rfilling: {end - first + 1}/{last - first + 1} tickets", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    engine.dispose()


@contextlib.contextmanager
def store_session(engine):
    from mailticket.db.session import session_factory, transaction

    with transaction(session_factory(engine)) as session:
        yield session


def filled_template(work: Path, base: int, total: int) -> tuple[Path, Timeline]:
    """A database holding `base` tickets (cached); its timeline leaves room for `total`."""
    home = work / f"filled-{base}-of-{total}-v{FILL_VERSION}"
    info = home / "fill.json"
    if info.exists():  # brought to the newest schema, in case a migration came since it was filled
        subprocess.run([*cli_for(home), "db", "upgrade"], check=True, stdout=subprocess.DEVNULL, cwd=home)
        data = json.loads(info.read_text())
        return home, Timeline(datetime.fromisoformat(data["start"]), timedelta(seconds=data["step"]))
    print(f"filling a database with {base} tickets in {home} (cached for reruns)", file=sys.stderr)
    home, _cli = upgraded_home(home)
    now = datetime.now(UTC)
    timeline = Timeline.ending(now, total)
    started = time.perf_counter()
    fill(home, 1, base, timeline, now)
    print(f"filled in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    info.write_text(json.dumps({"start": timeline.start.isoformat(), "step": timeline.step.total_seconds(),
                                "tickets": base}))
    return home, timeline


def copy_home(template: Path, path: Path) -> tuple[Path, list[str]]:
    """A copy of the filled helpdesk, on disk before anything is timed: otherwise SQLite's first
    checkpoint would fsync the whole copied file inside the measurement."""
    home, cli = new_home(path)
    for name in ("mt.db", "mt.db-wal"):
        if (template / name).exists():
            shutil.copyfile(template / name, home / name)
            with open(home / name, "rb+") as copied:
                os.fsync(copied.fileno())
    return home, cli


def top_up(home: Path, total: int, timeline: Timeline) -> int:
    """Fill the register up to `total` tickets (in the slots the timeline left for them)."""
    with sqlite3.connect(home / "mt.db") as db:
        count = db.execute("SELECT count(*) FROM tickets").fetchone()[0]
        last = db.execute("SELECT value FROM counters WHERE name = 'ticket'").fetchone()[0]
    if count < total:
        fill(home, last + 1, last + total - count, timeline, datetime.now(UTC))
    return count


# -- measuring ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Ingest:
    wall: float  # seconds, `mailticket ingest CORPUS`, start-up included
    startup: float  # seconds, `mailticket ingest EMPTY` against the same database

    @property
    def rate(self) -> float:
        return MESSAGES / self.wall

    @property
    def net_rate(self) -> float:
        return MESSAGES / (self.wall - self.startup)


def ingest(home: Path, cli: list[str], corpus: Path, empty: Path) -> Ingest:
    startup, _rss = timed([*cli, "ingest", str(empty)], home)
    wall, _rss = timed([*cli, "ingest", str(corpus / "eml")], home)
    return Ingest(wall, startup)


def in_process(home: Path, argv: list[str], repeat: int) -> tuple[float, str]:
    """Median seconds of `mailticket.cli.main(argv)` after a warm-up, and what it printed."""
    from mailticket.cli import main as cli

    def once() -> tuple[float, str]:
        out = io.StringIO()
        start = time.perf_counter()
        with contextlib.redirect_stdout(out):
            code = cli.main(["--config", str(home / "mt.toml"), "-q", *argv])
        took = time.perf_counter() - start
        if code != 0:
            sys.exit(f"mailticket {' '.join(argv)} exited {code}")
        return took, out.getvalue()

    _took, printed = once()
    return statistics.median(once()[0] for _ in range(repeat)), printed


def wall(home: Path, cli: list[str], argv: list[str], repeat: int) -> float:
    """Median wall seconds of the command as a subprocess (interpreter start-up included)."""
    return statistics.median(timed([*cli, *argv], home)[0] for _ in range(repeat))


def render_digest(home: Path, repeat: int) -> float:
    """Median seconds of Scheduler.render_digest alone (the App built once, outside the timing)."""
    from mailticket.app.daemon import App
    from mailticket.db.session import transaction

    app = App(settings_of(home))

    def once() -> float:
        start = time.perf_counter()
        with transaction(app.factory) as session:
            app.scheduler.render_digest(session, app.clock.now())
        return time.perf_counter() - start

    once()
    return statistics.median(once() for _ in range(repeat))


def show_tokens(home: Path, base: int) -> list[tuple[str, str]]:
    """A ticket from the filled register, and the ingested one with the most messages."""
    with sqlite3.connect(home / "mt.db") as db:
        busiest = db.execute("SELECT t.number, count(*) AS n FROM tickets t "
                             "JOIN messages m ON m.ticket_id = t.id WHERE t.number > ? "
                             "GROUP BY t.id ORDER BY n DESC, t.number LIMIT 1",
                             (base,)).fetchone()
    filled = [(f"LPSE#{base // 2}", "filled")]
    return filled + ([(f"LPSE#{busiest[0]}", f"ingested, {busiest[1]} messages")] if busiest else [])


def verdict(ok: bool) -> str:
    return "ok" if ok else "MISSED"


def measure_reads(home: Path, cli: list[str], base: int, repeat: int) -> None:
    listing = ["tickets", "list", "--status", "open", "--json"]
    list_s, printed = in_process(home, listing, repeat)
    list_wall = wall(home, cli, listing, max(3, repeat // 2))
    print(f"tickets list --status open --json: {len(json.loads(printed))} tickets,"
          f" {len(printed) // 1024} KiB; in-process {list_s * 1000:.1f} ms"
          f" ({verdict(list_s * 1000 < LIST_MS)}, target < {LIST_MS} ms)"
          f" | CLI wall {list_wall * 1000:.0f} ms ({verdict(list_wall * 1000 < LIST_WALL_MS)},"
          f" target < {LIST_WALL_MS} ms)")
    for token, what in show_tokens(home, base):
        show = ["tickets", "show", token, "--json"]
        show_s, _printed = in_process(home, show, repeat)
        show_wall = wall(home, cli, show, max(3, repeat // 2))
        print(f"tickets show {token} --json ({what}): in-process {show_s * 1000:.1f} ms"
              f" ({verdict(show_s * 1000 < SHOW_MS)}, target < {SHOW_MS} ms)"
              f" | CLI wall {show_wall * 1000:.0f} ms")
    measure_indexed(home, repeat)
    report_s, printed = in_process(home, ["report"], max(3, repeat // 2))
    report_wall = wall(home, cli, ["report"], 3)
    print(f"report (last month): in-process {report_s:.2f} s | CLI wall {report_wall:.2f} s"
          f" ({verdict(max(report_s, report_wall) < REPORT_S)}, target < {REPORT_S:.0f} s);"
          f" {len(printed.splitlines())} lines")
    render_s = render_digest(home, repeat)
    digest_s, printed = in_process(home, ["digest", "--preview"], max(3, repeat // 2))
    digest_wall = wall(home, cli, ["digest", "--preview"], 3)
    print(f"digest: render_digest {render_s:.2f} s | digest --preview in-process {digest_s:.2f} s"
          f" | CLI wall {digest_wall:.2f} s ({verdict(max(render_s, digest_s, digest_wall) < DIGEST_S)},"
          f" target < {DIGEST_S:.0f} s); {len(printed.splitlines())} lines"
          f" ({verdict(len(printed.splitlines()) < DIGEST_LINES)}, target < {DIGEST_LINES})")


def measure_indexed(home: Path, repeat: int) -> None:
    """The read paths whose indexes the register needs. The database's part is the view's query (median of
    `repeat`), once for today's rows and once asking for none (what walking the register alone costs: the
    target), with SQLite's plan; the whole command in-process adds a dict and a JSON line per row printed."""
    from sqlalchemy import event

    from mailticket.cli.views import kept_mail, list_tickets
    from mailticket.db.session import make_engine, session_factory, transaction

    engine = make_engine(f"sqlite:///{home / 'mt.db'}")
    factory, now = session_factory(engine), datetime.now(UTC)
    sent: list[tuple[str, tuple]] = []
    event.listen(engine, "before_cursor_execute", lambda _c, _cur, sql, args, *_: sent.append((sql, args)))

    def overdue(at: datetime):
        return lambda session: list_tickets(session, None, None, now=at, overdue=True)

    def query(view) -> tuple[float, int]:
        def once() -> tuple[float, int]:
            with transaction(factory) as session:
                start = time.perf_counter()
                rows = len(view(session))
                return time.perf_counter() - start, rows
        once()
        runs = [once() for _ in range(repeat)]
        return statistics.median(took for took, _rows in runs), runs[0][1]

    paths = [(["tickets", "list", "--overdue", "--json"], overdue(now), overdue(now - SPAN * 2)),
             (["mail", "list", "--json"], lambda session: kept_mail(session, None),
              lambda session: kept_mail(session, "flood"))]
    for argv, view, none in paths:
        (rows_s, rows), (none_s, _none) = query(view), query(none)
        sql, params = sent[-1]
        with engine.connect() as conn:
            plan = "; ".join(row[-1] for row in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}", params))
        took, _printed = in_process(home, argv, repeat)
        ok = verdict(none_s * 1000 < INDEXED_MS)
        print(f"{' '.join(argv)}: query {none_s * 1000:.2f} ms for no rows ({ok}, target < {INDEXED_MS} ms),"
              f" {rows_s * 1000:.1f} ms for {rows} rows"
              f" | whole command in-process {took * 1000:.1f} ms | plan: {plan}")
    engine.dispose()


def corpora(args: argparse.Namespace, base: int) -> tuple[Path, Path]:
    """The corpus for the empty database, and the same with reply tokens shifted past `base`."""
    first = make_corpus(args.shared, MESSAGES, args.work / f"corpus-{MESSAGES}")
    shifted = make_corpus(args.shared, MESSAGES, args.work / f"corpus-{MESSAGES}-after-{base}",
                          token=f"[LPSE#{base // 1000}{{n:03d}}]")
    manifest = [json.loads(line) for line in (shifted / "manifest.jsonl").read_text().splitlines()]
    if max(m.get("ticket", 0) for m in manifest) >= 1000:
        sys.exit("the corpus opens 1000 tickets or more: the shifted token no longer fits")
    return first, shifted


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tickets", type=int, default=100000, help="tickets in the big database")
    ap.add_argument("--runs", type=int, default=3, help="ingest runs per phase (medians are compared)")
    ap.add_argument("--repeat", type=int, default=7, help="timed runs per read command")
    ap.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "mailticket-bench")
    ap.add_argument("--shared", type=Path, default=ROOT.parent / "shared" / "bench")
    ap.add_argument("--reads-only", action="store_true",
                    help="no ingest phases: fill --tickets tickets and measure the read side only")
    args = ap.parse_args()
    if args.reads_only:
        args.work.mkdir(parents=True, exist_ok=True)
        template, _timeline = filled_template(args.work, args.tickets, args.tickets)
        home, cli = copy_home(template, args.work / "growth-reads")
        print(f"read side at {args.tickets} tickets (filled rows only;"
              f" database {(home / 'mt.db').stat().st_size / 2**20:.0f} MiB):")
        measure_reads(home, cli, args.tickets, args.repeat)
        return
    if args.tickets < 2 * MESSAGES:
        sys.exit(f"--tickets must be at least {2 * MESSAGES}")
    args.work.mkdir(parents=True, exist_ok=True)
    base = (args.tickets - MESSAGES) // 1000 * 1000  # tickets there before the second phase
    empty = args.work / "empty"
    empty.mkdir(exist_ok=True)
    corpus, shifted = corpora(args, base)
    template, timeline = filled_template(args.work, base, args.tickets)
    print(f"phase 1: {MESSAGES} mails into an empty database | phase 2: the same mails (reply tokens shifted"
          f" by {base}) into one holding {base} tickets | {args.runs} runs, alternating")
    first, second = [], []
    for run in range(1, args.runs + 1):
        home1, cli1 = upgraded_home(args.work / "growth-empty")
        first.append(ingest(home1, cli1, corpus, empty))
        home2, cli2 = copy_home(template, args.work / "growth-full")
        second.append(ingest(home2, cli2, shifted, empty))
        for label, home, got, src in (("phase 1", home1, first[-1], corpus), ("phase 2", home2, second[-1],
                                                                               shifted)):
            right, replies, tickets, acks = threading_check(src, home)
            print(f"run {run}: {label} {got.rate:6.1f} msgs/s wall ({got.wall:.2f} s)"
                  f" | net {got.net_rate:6.1f} msgs/s (start-up {got.startup:.2f} s)"
                  f" | replies on right ticket {right}/{replies}"
                  f" | new tickets {tickets - (base if label == 'phase 2' else 0)} | acks {acks}")
    for what in ("rate", "net_rate"):
        one = statistics.median(getattr(i, what) for i in first)
        two = statistics.median(getattr(i, what) for i in second)
        print(f"median {what.replace('_', ' ')}: messages 1-{MESSAGES} {one:.1f} msgs/s"
              f" | messages {base + 1}-{base + MESSAGES} {two:.1f} msgs/s | ratio {two / one:.2f}"
              f" ({verdict(two / one >= RATIO_TARGET)}, target >= {RATIO_TARGET})")
    before = top_up(home2, args.tickets, timeline)
    print(f"read side at {args.tickets} tickets ({before} after phase 2, topped up with filled rows;"
          f" database {(home2 / 'mt.db').stat().st_size / 2**20:.0f} MiB):")
    measure_reads(home2, cli2, base, args.repeat)


if __name__ == "__main__":
    main()
