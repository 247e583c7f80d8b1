"""`mailticket check` (shell): Settings -> can we reach the mailboxes? -> (ok, lines that say what works).

The config was validated when it was loaded. Here we resolve the host names, connect and log in
to IMAP and SMTP (nothing is sent, nothing is marked), or check that the Maildir inbox and the
outbox folder exist or can be created and are writable. A failure comes with hints: Gmail's app
passwords and IMAP switch, the usual port and security pairs, certificates.
"""

from __future__ import annotations

import asyncio
import contextlib
import imaplib
import socket
import ssl
import tempfile
from pathlib import Path

import aiosmtplib
from imapclient import IMAPClient
from imapclient.exceptions import LoginError

from mailticket.config import Inbox, Settings, Smtp
from mailticket.inbox.imap import PROCESSED_FLAG, PROCESSED_FOLDER, connect, login
from mailticket.inbox.oauth import TokenError, token_provider
from mailticket.outgoing.smtp import make_client

USUAL = {"imap": {993: "ssl", 143: "starttls"}, "smtp": {465: "ssl", 587: "starttls", 25: "starttls"}}
PORTS_HINT = {"imap": "IMAP ports: 993 = ssl, 143 = starttls (or none)",
              "smtp": "SMTP ports: 465 = ssl, 587 = starttls (or none on a trusted relay)"}
GMAIL_LOGIN_HINT = ("Gmail refuses the normal account password: turn on 2-step verification and create an "
                    "app password (https://myaccount.google.com/apppasswords), or use OAuth2")
GMAIL_IMAP_HINT = "Gmail: IMAP must be enabled (Settings > See all settings > Forwarding and POP/IMAP)"


class Report:
    def __init__(self) -> None:
        self.ok = True
        self.lines: list[str] = []

    def good(self, text: str) -> None:
        self.lines.append(f"ok    {text}")

    def bad(self, text: str, *hints: str) -> None:
        self.ok = False
        self.lines.append(f"FAIL  {text}")
        self.lines.extend(f"      hint: {hint}" for hint in hints if hint)


def check(settings: Settings, ssl_context: ssl.SSLContext | None = None,
          timeout: float = 10.0) -> tuple[bool, list[str]]:
    """Try everything the daemon will need; ok is False when anything failed."""
    report = Report()
    report.good(f"config: {settings.source}")
    if settings.inbox.kind == "imap":
        check_imap(settings.inbox, report, ssl_context, timeout)
    else:
        check_folder("inbox (Maildir)", settings.inbox.path, report, ("cur", "new", "tmp"))
    if settings.smtp.kind == "smtp":
        asyncio.run(check_smtp(settings.smtp, report, ssl_context, timeout))
    else:
        check_folder("outbox (directory)", settings.smtp.path, report)
    return report.ok, report.lines


def is_gmail(host: str, username: str) -> bool:
    domains = ("gmail.com", "googlemail.com", "google.com")
    return host.lower().endswith(domains) or username.lower().endswith(tuple("@" + d for d in domains))


# -- IMAP ---------------------------------------------------------------------------------------


def check_imap(inbox: Inbox, report: Report, ssl_context: ssl.SSLContext | None, timeout: float) -> None:
    where = f"imap {inbox.host}:{inbox.port} ({inbox.security})"
    if not resolves("imap", inbox.host, inbox.port, report):
        return
    try:
        client = connect(inbox, ssl_context, timeout)
    except (OSError, imaplib.IMAP4.error) as exc:
        report.bad(f"{where}: cannot connect: {describe(exc)}",
                   *connect_hints("imap", inbox.host, inbox.port, inbox.security, exc))
        return
    report.good(f"{where}: connected")
    try:
        if imap_login(client, inbox, report):
            imap_folder(client, inbox, report)
    except (OSError, imaplib.IMAP4.error) as exc:
        report.bad(f"imap: connection failed after login: {describe(exc)}")
    finally:
        with contextlib.suppress(OSError, imaplib.IMAP4.error):
            client.logout()


def imap_login(client: IMAPClient, inbox: Inbox, report: Report) -> bool:
    hints = login_hints("imap", inbox.host, inbox.username)
    provider = token_provider(inbox.oauth2_token_command, inbox.oauth2_token_file)
    if not inbox.username or not (inbox.password or provider):
        report.bad("imap: inbox.username and a password are needed "
                   "(inbox.password or MAILTICKET_IMAP_PASSWORD, or inbox.oauth2_token_command)", *hints[1:])
        return False
    try:
        login(client, inbox, provider)
    except TokenError as exc:
        report.bad(f"imap: no OAuth2 access token: {exc}")
        return False
    except LoginError as exc:
        report.bad(f"imap: authentication failed for {inbox.username}: {describe(exc)}", *hints)
        return False
    report.good(f"imap: logged in as {inbox.username}")
    return True


def imap_folder(client: IMAPClient, inbox: Inbox, report: Report) -> None:
    try:
        selected = client.select_folder(inbox.folder, readonly=True)
    except imaplib.IMAP4.error as exc:
        report.bad(f"imap: folder {inbox.folder!r} cannot be opened: {describe(exc)}",
                   "inbox.folder is case-sensitive except for INBOX; Gmail labels are folders")
        return
    report.good(f"imap: folder {inbox.folder}: {selected.get(b'EXISTS', 0)} messages")
    interval = f"polling every {inbox.poll_interval.total_seconds():.0f}s"
    if not inbox.idle:
        report.good(f"imap: idle = false: {interval}")
    elif client.has_capability("IDLE"):
        report.good("imap: IDLE available: new mail is noticed within seconds")
    else:
        report.good(f"imap: the server has no IDLE: {interval}")
    if client.has_capability("MOVE"):
        report.good(f"imap: MOVE available: processed mail goes to {PROCESSED_FOLDER}")
    else:
        report.good(f"imap: no MOVE: processed mail gets the keyword {PROCESSED_FLAG}")


# -- SMTP ---------------------------------------------------------------------------------------


async def check_smtp(smtp: Smtp, report: Report, ssl_context: ssl.SSLContext | None, timeout: float) -> None:
    where = f"smtp {smtp.host}:{smtp.port} ({smtp.security})"
    if not resolves("smtp", smtp.host, smtp.port, report):
        return
    client = make_client(smtp, ssl_context, timeout)
    try:
        await client.connect()
    except (aiosmtplib.SMTPException, OSError) as exc:
        report.bad(f"{where}: cannot connect: {describe(exc)}",
                   *connect_hints("smtp", smtp.host, smtp.port, smtp.security, exc))
        return
    report.good(f"{where}: connected")
    try:
        await smtp_login(client, smtp, report)
    finally:
        try:
            await client.quit()
        except (aiosmtplib.SMTPException, OSError):
            client.close()


async def smtp_login(client: aiosmtplib.SMTP, smtp: Smtp, report: Report) -> None:
    hints = login_hints("smtp", smtp.host, smtp.username)
    if not smtp.username:
        if is_gmail(smtp.host, ""):
            report.bad("smtp: Gmail needs a login: set smtp.username and a password", *hints[1:])
        else:
            report.good("smtp: no smtp.username: sending without login")
        return
    if not smtp.password:
        report.bad("smtp: no password (smtp.password or MAILTICKET_SMTP_PASSWORD)", *hints[1:])
        return
    try:
        await client.login(smtp.username, smtp.password)
    except aiosmtplib.SMTPAuthenticationError as exc:
        report.bad(f"smtp: authentication failed for {smtp.username}: {exc.code} {exc.message}", *hints)
        return
    except (aiosmtplib.SMTPException, OSError) as exc:
        report.bad(f"smtp: login failed: {describe(exc)}",
                   "most servers offer AUTH only after STARTTLS: use security = \"starttls\" on port 587")
        return
    report.good(f"smtp: logged in as {smtp.username}")


# -- folders ------------------------------------------------------------------------------------


def check_folder(label: str, path: Path, report: Report, subdirs: tuple[str, ...] = ()) -> None:
    if path.exists() and not path.is_dir():
        report.bad(f"{label}: {path} is not a folder")
        return
    existing = path
    while not existing.exists():
        existing = existing.parent
    targets = [path, *(path / sub for sub in subdirs)] if path.exists() else [existing]
    for target in (t for t in targets if t.exists()):
        try:
            with tempfile.TemporaryFile(dir=target):
                pass
        except OSError as exc:
            report.bad(f"{label}: cannot write in {target}: {exc.strerror or exc}",
                       "the daemon's user needs write access to this folder")
            return
    if path.exists():
        report.good(f"{label}: {path} is writable")
    else:
        report.good(f"{label}: {path} does not exist yet; it will be created (in {existing}, writable)")


# -- shared -------------------------------------------------------------------------------------


def resolves(kind: str, host: str, port: int, report: Report) -> bool:
    try:
        addresses = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        report.bad(f"{kind}: cannot resolve {host!r}: {getattr(exc, 'strerror', None) or exc}",
                   f"check {'inbox' if kind == 'imap' else 'smtp'}.host and that this machine has DNS")
        return False
    report.good(f"{kind}: {host} resolves to {addresses[0][4][0]}")
    return True


def in_chain(exc: BaseException, kind: type[BaseException]) -> BaseException | None:
    """`exc` or the first error it was raised from that is a `kind`."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, kind):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


def describe(exc: BaseException) -> str:
    """The most telling part of an error: the certificate problem, the server's text, the OS error."""
    cert_error = in_chain(exc, ssl.SSLCertVerificationError)
    if cert_error is not None:
        return f"certificate not trusted: {cert_error.verify_message}"
    text = str(exc).strip() or type(exc).__name__
    if len(text) > 3 and text[:2] in ("b'", 'b"') and text[-1] == text[1]:  # imaplib's bytes repr
        text = text[2:-1]
    return text


def connect_hints(kind: str, host: str, port: int, security: str, exc: BaseException) -> list[str]:
    hints = []
    usual = USUAL[kind].get(port)
    if usual and usual != security and not (security == "none" and usual == "starttls"):
        hints.append(f"port {port} usually needs security = \"{usual}\", not \"{security}\"")
    text = describe(exc)
    if "certificate" in text:
        hints.append(f"the certificate of {host} is not trusted: check the host name and the system's CA "
                     "certificates (Debian: ca-certificates); is something intercepting TLS?")
    elif "WRONG_VERSION_NUMBER" in text or "wrong version number" in text.lower():
        hints.append("the server did not answer with TLS: the security setting does not match the port")
    elif "timed out" in text.lower() or in_chain(exc, TimeoutError):
        hints.append("no answer: a firewall, a wrong port, or TLS expected where the server waits for text "
                     "(or the other way round)")
    elif in_chain(exc, ConnectionRefusedError):
        hints.append(f"nothing listens on {host}:{port}: check the port")
    hints.append(PORTS_HINT[kind])
    return hints


def login_hints(kind: str, host: str, username: str) -> list[str]:
    section = "inbox" if kind == "imap" else "smtp"
    hints = [f"check {section}.username and the password ({section}.password or "
             f"MAILTICKET_{kind.upper()}_PASSWORD)"]
    if is_gmail(host, username):
        hints.append(GMAIL_LOGIN_HINT)
        if kind == "imap":
            hints.append(GMAIL_IMAP_HINT)
    return hints
