"""Helpers for the hardening tests: a helpdesk with staff, feeding mail in-process, reading what went out."""

from __future__ import annotations

import email
import json
import sqlite3
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage
from email.utils import getaddresses, make_msgid
from pathlib import Path

from mailticket.app.daemon import App
from mailticket.config import load
from tests.conftest import Helpdesk

HELPDESK = "provlampunglpse@gmail.com"
STAFF = ("rina@lampungprov.go.id", "sari@lampungprov.go.id")
COORDINATOR = "koord@lampungprov.go.id"
STAFF_TOML = """
[staff]
members = [
  { name = "rina", email = "rina@lampungprov.go.id" },
  { name = "sari", email = "sari@lampungprov.go.id" },
]
coordinators = [{ name = "koordinator", email = "koord@lampungprov.go.id" }]
authserv_id = "mx.google.com"
"""
# What our receiving server writes for mail that passed DMARC: staff commands need it.
PASS = ("mx.google.com; dkim=pass header.i=@lampungprov.go.id header.s=zimbra; spf=pass "
        "smtp.mailfrom=x@lampungprov.go.id; dmarc=pass (p=NONE) header.from=lampungprov.go.id")
# Every header our outgoing mail may carry at the top level; anything else was injected.
OUR_HEADERS = frozenset({
    "from", "to", "cc", "reply-to", "subject", "date", "message-id", "in-reply-to", "references",
    "auto-submitted", "x-auto-response-suppress", "x-mailticket-kind", "mime-version", "content-type",
    "content-transfer-encoding",
})


def make_desk(root: Path, helpdesk_keys: str = "", extra: str = STAFF_TOML) -> Helpdesk:
    """A Helpdesk (tests.conftest) with staff, coordinators and extra [helpdesk] keys."""
    desk = Helpdesk(root, extra=textwrap.dedent(extra))
    if helpdesk_keys:
        desk.config.write_text(desk.config.read_text().replace(
            "[helpdesk]\n", "[helpdesk]\n" + textwrap.dedent(helpdesk_keys).strip() + "\n", 1))
    return desk


def app_for(desk: Helpdesk, clock=None) -> App:
    return App(load(str(desk.config)), clock)


def feed(app: App, desk: Helpdesk, *mails: bytes) -> list[dict]:
    """Write each mail to a file and ingest them in one call (in-process); their raw rows after."""
    paths = []
    for data in mails:
        desk._n += 1
        paths.append(str(desk.write(f"{desk._n:05d}.eml", data)))
    app.ingest(paths)
    return raw_rows(desk)[-len(mails):] if mails else []


def db(desk: Helpdesk) -> sqlite3.Connection:
    conn = sqlite3.connect(desk.root / "mailticket.db", timeout=30)
    conn.row_factory = sqlite3.Row
    return conn


def query(desk: Helpdesk, sql: str, *args) -> list[dict]:
    with db(desk) as conn:
        return [dict(row) for row in conn.execute(sql, args)]


def raw_rows(desk: Helpdesk) -> list[dict]:
    return query(desk, "SELECT r.id, r.state, r.kind, r.reason, r.sha256, d.data, q.stage, q.error "
                       "FROM raw_mail r JOIN raw_data d ON d.raw_id = r.id "
                       "LEFT JOIN quarantine q ON q.raw_id = r.id ORDER BY r.id")


def staff_mail(text: str, number: int = 1, sender: str = "Rina <rina@lampungprov.go.id>",
               html: str = "", subject: str | None = None, auth: str | None = PASS) -> bytes:
    """A staff member's reply from their own mail client; `auth`: the Authentication-Results (None: none)."""
    msg = EmailMessage()
    if auth:
        msg["Authentication-Results"] = auth
    msg["From"] = sender
    msg["To"] = HELPDESK
    msg["Subject"] = subject or f"Re: [LPSE#{number}] Tidak bisa login"
    msg["Message-ID"] = make_msgid(domain="lampungprov.go.id")
    msg["Date"] = "Wed, 25 Nov 2026 10:00:00 +0700"
    if html:
        msg.set_content(html, subtype="html")
    else:
        msg.set_content(text)
    return msg.as_bytes()


@dataclass
class Sent:
    """One delivered mail: its file, bytes, parsed message, the envelope and the header recipients."""

    path: Path
    data: bytes
    msg: EmailMessage
    kind: str
    envelope: list[str]

    @property
    def header_recipients(self) -> set[str]:
        values = [str(v) for name in ("to", "cc") for v in self.msg.get_all(name, [])]
        return {addr.lower() for _name, addr in getaddresses(values)}

    @property
    def recipients(self) -> set[str]:
        return self.header_recipients | {a.lower() for a in self.envelope}

    def text(self) -> str:
        """Every text part, decoded."""
        parts = [part.get_content() for part in self.msg.walk() if part.get_content_maintype() == "text"]
        return "\n".join(parts).replace("\r\n", "\n")

    def html(self) -> str:
        return "\n".join(p.get_content() for p in self.msg.walk() if p.get_content_type() == "text/html")


def sent(desk: Helpdesk) -> list[Sent]:
    """Everything in the directory outbox, with the envelope recipients from the outbox rows."""
    rows = query(desk, "SELECT id, recipients FROM outbox")
    envelopes = {row["id"]: row["recipients"].split("\n") for row in rows}
    found = []
    for path in desk.sent():
        data = path.read_bytes()
        row_id, _, kind = path.stem.partition("-")
        msg = email.message_from_bytes(data, policy=policy.default)
        found.append(Sent(path, data, msg, kind, envelopes.get(int(row_id), [])))
    return found


def header_block(data: bytes) -> bytes:
    return data.split(b"\r\n\r\n", 1)[0]


def assert_well_formed(data: bytes) -> None:
    """Our outgoing mail: CRLF only, lines within RFC 5322's 998, no NUL, and only our own headers."""
    assert b"\x00" not in data
    assert b"\n" not in data.replace(b"\r\n", b""), "bare LF or CR in outgoing mail"
    assert b"\r" not in data.replace(b"\r\n", b"")
    assert max(map(len, data.split(b"\r\n"))) <= 998
    names = [line.split(b":", 1)[0].decode("ascii").lower()
             for line in header_block(data).split(b"\r\n") if line and line[:1] not in b" \t"]
    assert set(names) <= OUR_HEADERS, f"unexpected header(s): {set(names) - OUR_HEADERS}"
    assert len(names) == len(set(names)), f"a header appears twice: {names}"


# Linux keeps the peak RSS of a process across exec, and a child begins with its parent's: wait4 on a
# child of the (big) test process reports the test process. So a small fresh process forks the command
# and reports what wait4 says of it.
_MEASURE = """
import json, os, sys, time
start = time.monotonic()
pid = os.fork()
if pid == 0:
    os.execvp(sys.argv[1], sys.argv[1:])
_pid, status, usage = os.wait4(pid, 0)
print(json.dumps([os.waitstatus_to_exitcode(status), usage.ru_maxrss / 1024, time.monotonic() - start]))
"""


def max_rss(cmd: list[str], cwd: Path) -> tuple[int, float, float]:
    """Run a command to its end: (exit status, max RSS in MiB, wall seconds) of that process alone."""
    proc = subprocess.run([sys.executable, "-c", _MEASURE, *cmd], cwd=cwd, stdout=subprocess.PIPE,
                          stderr=subprocess.DEVNULL, text=True, timeout=300)
    status, rss, wall = json.loads(proc.stdout.strip().splitlines()[-1])
    return status, rss, wall
