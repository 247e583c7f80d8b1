"""Shared test helpers: build realistic mail bytes and run a helpdesk in a temporary folder."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path

import pytest
from hypothesis import settings

# real Dovecot, SMTP and PostgreSQL servers on loopback
pytest_plugins = ["tests.servers.fixtures", "tests.servers.postgres", "tests.no_skips_in_ci"]

# Property tests draw the same examples on every run (a suite that passed passes again); with
# MAILTICKET_FUZZ_RANDOM=1 they explore new ones, and any failure they find becomes a named test.
settings.register_profile("repeatable", derandomize=True, database=None)
settings.register_profile("explore", database=None)
settings.load_profile("explore" if os.environ.get("MAILTICKET_FUZZ_RANDOM") else "repeatable")

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data"


def make_mail(subject: str, body: str, sender: str = "Budi <budi@example.co.id>",
              to: str = "provlampunglpse@gmail.com", msgid: str | None = None, in_reply_to: str = "",
              references: str = "", headers: dict | None = None,
              date: datetime | None = None) -> bytes:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = format_datetime(date or datetime(2026, 11, 25, 3, 0, tzinfo=UTC))
    msg["Message-ID"] = msgid or make_msgid(domain="example.co.id")
    if in_reply_to:
        msg["In-Reply-To"] = in_reply_to
    if references:
        msg["References"] = references
    for name, value in (headers or {}).items():
        msg[name] = value
    msg.set_content(textwrap.dedent(body))
    return msg.as_bytes()


class Helpdesk:
    """A helpdesk in a temporary folder: its config, Maildir inbox, outbox and database."""

    def __init__(self, root: Path, extra: str = "", smtp: str = '[smtp]\nkind = "directory"\npath = "outbox"\n',
                 poll: str = "60s"):
        self.root = root
        self.inbox = root / "mail"
        self.outbox = root / "outbox"
        for sub in ("cur", "new", "tmp"):
            (self.inbox / sub).mkdir(parents=True, exist_ok=True)
        self.config = root / "mailticket.toml"
        self.config.write_text(textwrap.dedent("""\
            [helpdesk]
            address = "provlampunglpse@gmail.com"
            [database]
            url = "sqlite:///mailticket.db"
            [inbox]
            kind = "maildir"
            path = "mail"
            """) + f'poll_interval = "{poll}"\n' + smtp + textwrap.dedent(extra))
        self._n = 0

    def write(self, name: str, data: bytes) -> Path:
        path = self.root / "in" / name
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(data)
        return path

    def deliver(self, data: bytes) -> Path:
        """Drop a message into the Maildir inbox, in delivery order."""
        self._n += 1
        path = self.inbox / "new" / f"1764050000.M{self._n:06d}P1.test"
        path.write_bytes(data)
        return path

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        """Run the real command line in a subprocess."""
        proc = subprocess.run([sys.executable, "-m", "mailticket.cli", "--config", str(self.config), *args],
                              capture_output=True, text=True, cwd=self.root, timeout=120)
        if check and proc.returncode != 0:
            raise AssertionError(f"mailticket {' '.join(args)} -> {proc.returncode}\n{proc.stderr}")
        return proc

    def json(self, *args: str, check: bool = True):
        return json.loads(self.cli(*args, "--json", check=check).stdout)

    def sent(self, kind: str | None = None) -> list[Path]:
        if not self.outbox.exists():
            return []
        return sorted(p for p in self.outbox.glob("*.eml") if kind is None or p.name.endswith(f"-{kind}.eml"))


@pytest.fixture
def helpdesk(tmp_path: Path) -> Helpdesk:
    return Helpdesk(tmp_path)


@pytest.fixture
def db(tmp_path):
    """A session factory on a fresh SQLite file at the newest schema."""
    from mailticket.db.session import ensure_schema, make_engine, session_factory

    engine = make_engine(f"sqlite:///{tmp_path / 'mailticket.db'}")
    ensure_schema(engine)
    yield session_factory(engine)
    engine.dispose()
