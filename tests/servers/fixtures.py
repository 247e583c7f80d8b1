"""Real mail servers on loopback for the integration tests: Dovecot (IMAP) and an aiosmtpd sink.

Register in tests/conftest.py with `pytest_plugins = ["tests.servers.fixtures"]`.

- `dovecot` (session): a throwaway Dovecot started by dovecot-test-server.sh on free ports (plain
  IMAP and IMAPS), users helpdesk/staff; helpers to make fresh users, append mail, kill the
  server's imap processes (a dropped connection) and stop/start/restart the server.
- `imap_user` (function): a fresh user with an empty INBOX on that server.
- `smtp_sink` (function): an in-process aiosmtpd server on a free port that keeps every message
  byte for byte; it can answer 4xx/5xx, drop the connection, and be stopped and started.
  `smtp_sink_factory(**options)` starts more, e.g. with AUTH or TLS (`tls_files`: cert, key).

These fixtures never skip: without Dovecot they fail and say to run tests/servers/install.sh.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import textwrap
import threading
import time
from dataclasses import dataclass, field, replace
from datetime import timedelta
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP
from imapclient import IMAPClient

from mailticket.config import Inbox, Smtp
from tests.servers.smtp_sink import Authenticator

HERE = Path(__file__).resolve().parent
INSTALL_HINT = "Dovecot is not installed: run `sudo tests/servers/install.sh` (installs dovecot-imapd)"
USERS = {"helpdesk": "helpdesk-pw", "staff": "staff-pw"}
SEARCH_PATH = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/usr/local/sbin"])  # dovecot: sbin


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _read_env(path: Path) -> dict[str, str]:
    return dict(line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)


class Dovecot:
    """A Dovecot instance under `root`; ports stay the same across stop/start."""

    host = "127.0.0.1"

    def __init__(self, root: Path):
        self.root = root
        self.users = dict(USERS)
        self.user, self.password = "helpdesk", USERS["helpdesk"]
        self.port = 0
        self.ssl_port = 0
        self.pid = 0
        self.cert = root / "ssl" / "cert.pem"
        self.mail_root = root / "mail"
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self) -> None:
        specs = [f"{user}:{password}" for user, password in self.users.items()]
        env = dict(os.environ, IMAPS_PORT=str(self.ssl_port), PATH=SEARCH_PATH)
        proc = subprocess.run([str(HERE / "dovecot-test-server.sh"), str(self.root), str(self.port), *specs],
                              env=env, capture_output=True, text=True, timeout=60)
        if proc.returncode != 0:
            raise RuntimeError(f"dovecot-test-server.sh failed ({proc.returncode}):\n{proc.stderr}")
        info = _read_env(self.root / "server.env")
        self.pid, self.port, self.ssl_port = int(info["DOVECOT_PID"]), int(info["IMAP_PORT"]), \
            int(info["IMAPS_PORT"])
        self.mail_root = Path(info["MAIL_ROOT"])

    def stop(self, purge: bool = False, drop_sessions: bool = False) -> int:
        """Stop the master. A stopped master leaves its imap processes serving their clients (reparented
        to init, ~30 s more); `drop_sessions` kills them by their instance name too, as a crash or a
        reboot would. Returns the number of sessions dropped."""
        args = [str(HERE / "dovecot-test-server-stop.sh"), str(self.root)] + (["--purge"] if purge else [])
        subprocess.run(args, capture_output=True, text=True, timeout=60, check=False)
        if not drop_sessions:
            return 0
        prefix, dropped = f"dovecot-dvt-{self.port}/".encode(), 0
        for entry in Path("/proc").iterdir():
            with contextlib.suppress(OSError, ProcessLookupError):
                if entry.name.isdigit() and (entry / "cmdline").read_bytes().startswith(prefix):
                    os.kill(int(entry.name), signal.SIGKILL)
                    dropped += 1
        return dropped

    def restart(self) -> None:
        self.stop()
        self.start()

    def new_user(self, prefix: str = "u") -> tuple[str, str]:
        """A fresh user (empty INBOX); Dovecot reloads its users file (~0.1 s)."""
        with self._lock:
            user = f"{prefix}{os.getpid()}x{next(self._ids)}"
            self.users[user] = f"{user}-pw"
            self.start()
        return user, self.users[user]

    def drop_connections(self, sig: int = signal.SIGKILL) -> int:
        """Kill every imap process of this server: clients see the connection die. Returns how many."""
        killed = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            comm, rest = stat[stat.index("(") + 1:stat.rindex(")")], stat[stat.rindex(")") + 2:].split()
            if comm == "imap" and int(rest[1]) == self.pid:
                try:
                    os.kill(int(entry.name), sig)
                    killed.append(int(entry.name))
                except ProcessLookupError:
                    pass
        return len(killed)

    # -- helpers -------------------------------------------------------------------------------

    def ssl_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.cert))

    def client(self, user: str | None = None) -> IMAPClient:
        """A logged-in client on the plain port."""
        user = user or self.user
        client = IMAPClient(self.host, port=self.port, ssl=False, timeout=10)
        client.login(user, self.users[user])
        return client

    def append(self, folder: str, data: bytes, user: str | None = None, flags: tuple = ()) -> None:
        client = self.client(user)
        try:
            if not client.folder_exists(folder):
                client.create_folder(folder)
            client.append(folder, data, flags=flags)
        finally:
            client.logout()

    def inbox_toml(self, user: str, idle: bool = True, poll: str = "60s") -> str:
        """The [inbox] table of a mailticket config reading `user`'s INBOX over plain IMAP."""
        return textwrap.dedent(f"""\
            [inbox]
            kind = "imap"
            host = "{self.host}"
            port = {self.port}
            security = "none"
            username = "{user}"
            password = "{self.users[user]}"
            idle = {str(idle).lower()}
            poll_interval = "{poll}"
            """)

    def inbox(self, user: str | None = None, **changes) -> Inbox:
        """Inbox settings for `user` over plain IMAP (security none); override with keywords."""
        user = user or self.user
        settings = Inbox(kind="imap", host=self.host, port=self.port, security="none", username=user,
                         password=self.users[user], folder="INBOX", idle=True,
                         poll_interval=timedelta(seconds=1))
        return replace(settings, **changes)


def daemon_config(path: Path, dovecot: Dovecot, user: str, sink: SmtpSink, *, database: str = "sqlite:///mt.db",
                  idle: bool = True, poll: str = "60s") -> Path:
    """Write a mailticket config for a daemon on `dovecot` (as `user`) and `sink`; returns its path."""
    path.write_text(f'[helpdesk]\naddress = "provlampunglpse@gmail.com"\n[database]\nurl = "{database}"\n'
                    + dovecot.inbox_toml(user, idle, poll) + sink.smtp_toml())
    return path


@pytest.fixture(scope="session")
def dovecot():
    if not shutil.which("dovecot", path=SEARCH_PATH):
        pytest.fail(INSTALL_HINT, pytrace=False)
    base = "/dev/shm" if os.access("/dev/shm", os.W_OK) else None  # tmpfs: writes ~5x faster
    server = Dovecot(Path(tempfile.mkdtemp(prefix="mt-dovecot-", dir=base)))
    try:
        server.start()
        yield server
    finally:
        server.stop(purge=True)


@pytest.fixture
def imap_user(dovecot) -> str:
    user, _password = dovecot.new_user()
    return user


# -- SMTP sink ---------------------------------------------------------------------------------


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes  # exactly the bytes the client sent (after un-dot-stuffing), CRLF kept


@dataclass
class SmtpSink:
    """Answers per stage can be set: e.g. `sink.answers["data"] = "451 4.3.0 try later"`."""

    host: str = "127.0.0.1"
    port: int = field(default_factory=free_port)
    auth: tuple[str, str] | None = None
    messages: list[Received] = field(default_factory=list)
    connections: int = 0
    answers: dict[str, str] = field(default_factory=dict)  # stage (mail, rcpt, data) -> reply
    refuse: dict[str, str] = field(default_factory=dict)  # recipient -> reply
    drop_after: int | None = None  # abort the connection at the MAIL after this many messages
    data_delay: float = 0.0  # seconds before answering DATA (a slow or hung server)
    tls: tuple[Path, Path] | None = None  # (cert, key): offer STARTTLS, or implicit TLS below
    implicit_tls: bool = False
    _controller: Controller | None = None

    def start(self) -> None:
        kwargs: dict = {}
        if self.auth:
            kwargs.update(authenticator=Authenticator([":".join(self.auth)]), auth_require_tls=False)
        if self.tls:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(*map(str, self.tls))
            kwargs["ssl_context" if self.implicit_tls else "tls_context"] = context
        self._controller = _Controller(self, _Handler(self), hostname=self.host, port=self.port,
                                       ident="smtp-sink", **kwargs)
        self._controller.start()
        self.connections = 0  # the controller's own readiness probe is not a client

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def smtp_toml(self) -> str:
        """The [smtp] table of a mailticket config sending through this sink."""
        return f'[smtp]\nkind = "smtp"\nhost = "{self.host}"\nport = {self.port}\nsecurity = "none"\n'

    def settings(self, **changes) -> Smtp:
        user, password = self.auth or ("", "")
        return replace(Smtp(kind="smtp", host=self.host, port=self.port, security="none",
                            username=user, password=password), **changes)

    def wait_for(self, count: int, timeout: float = 5.0) -> list[Received]:
        deadline = time.monotonic() + timeout
        while len(self.messages) < count and time.monotonic() < deadline:
            time.sleep(0.01)
        return self.messages


class _Controller(Controller):
    def __init__(self, sink: SmtpSink, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.sink = sink

    def factory(self):  # called once per connection
        self.sink.connections += 1
        return SMTP(self.handler, **self.SMTP_kwargs)


class _Handler:
    def __init__(self, sink: SmtpSink):
        self.sink = sink

    async def auth_XOAUTH2(self, server, args):  # noqa: N802 - aiosmtpd finds AUTH mechanisms by name
        """XOAUTH2 as Gmail speaks it; like the test Dovecot, the sink takes the password as the token."""
        import base64

        from aiosmtpd.smtp import AuthResult

        try:
            blob = base64.b64decode(args[-1]).decode()
        except (IndexError, ValueError):
            return AuthResult(success=False, handled=False)
        fields = dict(part.split("=", 1) for part in blob.split("\x01") if "=" in part)
        user, password = self.sink.auth or ("", "")
        good = bool(user) and fields.get("user") == user and fields.get("auth") == f"Bearer {password}"
        return AuthResult(success=good, handled=False)

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        if self.sink.drop_after is not None and len(self.sink.messages) >= self.sink.drop_after:
            server.transport.abort()
            return "421 4.4.2 connection dropped by the test"
        if "mail" in self.sink.answers:
            return self.sink.answers["mail"]
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 2.1.0 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        answer = self.sink.refuse.get(address) or self.sink.answers.get("rcpt")
        if answer:
            return answer
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.sink.data_delay:
            await asyncio.sleep(self.sink.data_delay)
        if "data" in self.sink.answers:
            return self.sink.answers["data"]
        data = envelope.original_content or envelope.content
        self.sink.messages.append(Received(envelope.mail_from, list(envelope.rcpt_tos), bytes(data)))
        return "250 2.0.0 OK queued"


@pytest.fixture
def smtp_sink_factory():
    """Start sinks with options, e.g. `smtp_sink_factory(auth=("helpdesk", "pw"))`; all stopped after."""
    sinks: list[SmtpSink] = []

    def start(**options) -> SmtpSink:
        sink = SmtpSink(**options)
        sink.start()
        sinks.append(sink)
        return sink

    yield start
    for sink in sinks:
        sink.stop()


@pytest.fixture
def smtp_sink(smtp_sink_factory) -> SmtpSink:
    return smtp_sink_factory()


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory) -> tuple[Path, Path]:
    """A self-signed certificate for localhost and 127.0.0.1, and its key."""
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                    "-nodes", "-days", "3650", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True, timeout=30)
    return cert, key
