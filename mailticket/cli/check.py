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
import ipaddress
import os
import socket
import ssl
import tempfile
from pathlib import Path

import aiosmtplib
from imapclient import IMAPClient
from imapclient.exceptions import LoginError

from mailticket.config import DEFAULT_RULES, DEFAULT_TEMPLATES, Inbox, Settings, Smtp
from mailticket.errors import ConfigError
from mailticket.inbox.imap import PROCESSED_FLAG, PROCESSED_FOLDER, connect, login
from mailticket.inbox.oauth import TokenError, token_provider
from mailticket.outgoing.smtp import make_client

USUAL = {"imap": {993: "ssl", 143: "starttls"}, "smtp": {465: "ssl", 587: "starttls", 25: "starttls"}}
PORTS_HINT = {"imap": "IMAP ports: 993 = ssl, 143 = starttls (or none)",
              "smtp": "SMTP ports: 465 = ssl, 587 = starttls (or none on a trusted relay)"}
GMAIL_LOGIN_HINT = ("Gmail refuses the normal account password: turn on 2-step verification and create an "
                    "app password (https://myaccount.google.com/apppasswords), or use OAuth2")
OAUTH2_HINT = ("the server refused the OAuth2 access token: run {section}.oauth2_token_command by hand; it "
               "must print a fresh token for this username with the scope https://mail.google.com/ "
               "(docs/operator.md, OAuth2 for Gmail)")
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

    def warn(self, text: str, *hints: str) -> None:
        """Worth fixing, but the daemon works: the exit status stays 0."""
        self.lines.append(f"WARN  {text}")
        self.lines.extend(f"      hint: {hint}" for hint in hints if hint)


def check(settings: Settings, ssl_context: ssl.SSLContext | None = None,
          timeout: float = 10.0) -> tuple[bool, list[str]]:
    """Try everything the daemon will need; ok is False when anything failed."""
    report = Report()
    report.good(f"config: {settings.source}")
    check_database(settings.database_url, report)
    check_rules(settings, report)
    check_templates(settings, report)
    if settings.inbox.kind == "imap":
        plain_password_warning("imap", settings.inbox.host, settings.inbox.security,
                               bool(settings.inbox.password and not settings.inbox.oauth2_token_command
                                    and not settings.inbox.oauth2_token_file), report)
        gmail_folder_warning(settings.inbox, report)
        check_imap(settings.inbox, report, ssl_context, timeout)
    elif settings.inbox.path.is_dir() or settings.inbox.create:
        check_folder("inbox (Maildir)", settings.inbox.path, report, ("cur", "new", "tmp"))
    else:
        report.bad(f"inbox (Maildir): {settings.inbox.path} does not exist; `run` refuses it",
                   "fix inbox.path, create the Maildir (cur/, new/, tmp/), or set [inbox] create = true")
    if settings.smtp.kind == "smtp":
        plain_password_warning("smtp", settings.smtp.host, settings.smtp.security,
                               bool(settings.smtp.username and settings.smtp.password
                                    and not settings.smtp.oauth2_token_command
                                    and not settings.smtp.oauth2_token_file), report)
        asyncio.run(check_smtp(settings.smtp, report, ssl_context, timeout))
    else:
        check_folder("outbox (directory)", settings.smtp.path, report)
    check_dmarc(settings, report)
    return report.ok, report.lines


# -- DMARC of the staff domains (issue 14 point 4) -------------------------------------------------

DMARC_HINT = ("without a DMARC policy (a TXT record v=DMARC1 at _dmarc.<domain>) the receiving server "
              "cannot vouch for the sender: staff mail from this domain passes only with an aligned DKIM "
              "signature, and otherwise changes nothing (the staff member is told why)")


def check_dmarc(settings: Settings, report: Report, lookup=None) -> None:
    """For each staff and coordinator domain: does `_dmarc.<domain>` publish a policy? Never fails the
    check: a domain without one is a warning; no network (or no DNS) says the check could not be done."""
    people = (*settings.staff.members, *settings.staff.coordinators)
    domains = sorted({p.email.rpartition("@")[2].lower() for p in people if "@" in p.email})
    lookup = lookup or dmarc_record
    for domain in domains:
        try:
            record = lookup(domain)
        except OSError as exc:
            report.warn(f"DMARC {domain}: could not check ({describe(exc)})")
            continue
        if record:
            report.good(f"DMARC {domain}: {record[:120]}")
        else:
            report.warn(f"DMARC {domain}: no policy at _dmarc.{domain}", DMARC_HINT)


def dmarc_record(domain: str, timeout: float = 3.0) -> str:
    """The v=DMARC1 TXT record of `domain` ("" when there is none); OSError when DNS cannot be asked.

    Plain UDP queries to the first nameserver of /etc/resolv.conf: the standard library has no TXT
    lookup. When `_dmarc.<domain>` has no record, the domain itself must exist: a resolver that
    answers "no such name" for everything (no network) says nothing about the policy."""
    found = _txt(f"_dmarc.{domain}", timeout)
    record = next((t for t in found or () if t.lower().startswith("v=dmarc1")), "")
    if not record and _txt(domain, timeout) is None:
        raise OSError(f"the domain {domain} itself does not resolve here")
    return record


def _txt(name: str, timeout: float) -> list[str] | None:
    """The TXT strings of `name`; None when it does not exist (NXDOMAIN)."""
    server = _nameserver()
    query_id = int.from_bytes(os.urandom(2), "big")
    labels = [label for label in name.split(".") if label]
    encoded = b"".join(bytes([len(label)]) + label.encode("idna") for label in labels)
    header = query_id.to_bytes(2, "big") + b"\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00"  # RD, 1 question
    packet = header + encoded + b"\x00\x00\x10\x00\x01"  # end of name, type TXT, class IN
    family = socket.AF_INET6 if ":" in server else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        sock.sendto(packet, (server, 53))
        data = sock.recv(4096)
    return _txt_from_answer(data, query_id)


def _nameserver() -> str:
    try:
        for line in Path("/etc/resolv.conf").read_text().splitlines():
            parts = line.split()
            if len(parts) >= 2 and parts[0] == "nameserver":
                return parts[1].split("%")[0]
    except OSError:
        pass
    raise OSError("no nameserver in /etc/resolv.conf")


def _txt_from_answer(data: bytes, query_id: int) -> list[str] | None:
    if len(data) < 12 or int.from_bytes(data[:2], "big") != query_id:
        raise OSError("unexpected DNS answer")
    rcode = data[3] & 0x0F
    if rcode == 3:
        return None  # NXDOMAIN
    if rcode != 0:
        raise OSError(f"DNS error code {rcode}")
    count_q, count_a = int.from_bytes(data[4:6], "big"), int.from_bytes(data[6:8], "big")
    at, found = 12, []
    for _ in range(count_q):
        at = _skip_name(data, at) + 4
    for _ in range(count_a):
        at = _skip_name(data, at)
        rtype, length = int.from_bytes(data[at:at + 2], "big"), int.from_bytes(data[at + 8:at + 10], "big")
        rdata, at = data[at + 10:at + 10 + length], at + 10 + length
        if rtype != 16:
            continue
        chunks, i = [], 0
        while i < len(rdata):
            chunks.append(rdata[i + 1:i + 1 + rdata[i]])
            i += 1 + rdata[i]
        found.append(b"".join(chunks).decode("ascii", "replace"))
    return found


def _skip_name(data: bytes, at: int) -> int:
    while at < len(data):
        length = data[at]
        if length == 0:
            return at + 1
        if length & 0xC0 == 0xC0:
            return at + 2
        at += 1 + length
    raise OSError("truncated DNS answer")


# -- database, rules, templates -------------------------------------------------------------------


def check_database(url: str, report: Report) -> None:
    """Open the database (a SQLite file that does not exist yet is not made), and compare its schema."""
    from mailticket.db.session import SCHEMA_HEAD, current_revision, failure_line, make_engine, safe_url

    if url.startswith("sqlite"):
        path = Path(url.split(":///", 1)[1])
        what = f"SQLite file {path}"
        if not path.exists():
            existing = path.parent
            while not existing.exists():
                existing = existing.parent
            if not os.access(existing, os.W_OK | os.X_OK):
                report.bad(f"database: {what} cannot be created: {existing} is not writable by this user",
                           "database.url must name a file in a folder the daemon's user can write "
                           "(under systemd: sqlite:////var/lib/mailticket/mailticket.db)")
            else:
                report.good(f"database: {what} does not exist yet; `mailticket db upgrade` creates it")
            return
        if not os.access(path, os.R_OK | os.W_OK) or not os.access(path.parent, os.W_OK | os.X_OK):
            report.bad(f"database: {what} or its folder is not writable by this user",
                       "the daemon's user must be able to write the database file and its folder (WAL)")
            return
    else:
        what = f"PostgreSQL {safe_url(url)}"
    engine = None
    try:
        engine = make_engine(url)
        revision = current_revision(engine)
    except Exception as exc:  # noqa: BLE001 - any failure to open it is the finding
        line = failure_line(exc, url) or f"database.url {safe_url(url)}: {type(exc).__name__}: {exc}"
        problem, _sep, hint = line.partition("; hint: ")
        report.bad(f"database: {problem}", hint)
        return
    finally:
        if engine is not None:
            engine.dispose()
    if revision == SCHEMA_HEAD:
        report.good(f"database: {what}, schema {revision} (current)")
    elif revision is None:
        report.warn(f"database: {what} has no schema yet",
                    "run `mailticket db upgrade` (the daemon also creates it in an empty database)")
    else:
        report.bad(f"database: {what}: schema at revision {revision}, this version needs {SCHEMA_HEAD}",
                   "run `mailticket db upgrade`")


def check_rules(settings: Settings, report: Report) -> None:
    from mailticket.app.context import load_rules

    try:
        load_rules(settings)
    except ConfigError as exc:
        report.bad(f"rules: {exc}", "fix the file, or remove classifier.rules to use the shipped rules")
        return
    shipped = " (shipped)" if settings.rules_path == DEFAULT_RULES else ""
    report.good(f"rules: {settings.rules_path}{shipped} compiles")


def check_templates(settings: Settings, report: Report) -> None:
    from mailticket.outgoing.render import Renderer

    renderer = Renderer.from_settings(settings)
    try:
        renderer.preload()
    except ConfigError as exc:
        report.bad(f"templates: {exc}", "fix the template, or remove templates.path to use the shipped ones")
        return
    count = len(renderer.env.list_templates(extensions=("txt", "html")))
    shipped = " (shipped)" if settings.templates_path == DEFAULT_TEMPLATES else ""
    report.good(f"templates: {settings.templates_path}{shipped}: {count} templates compile")


def is_loopback(host: str) -> bool:
    if host.lower() in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def plain_password_warning(kind: str, host: str, security: str, has_password: bool, report: Report) -> None:
    section = "inbox" if kind == "imap" else "smtp"
    if security == "none" and has_password and not is_loopback(host):
        report.warn(f"{kind}: the password would go unencrypted to {host} ({section}.security = \"none\")",
                    f"use security = \"ssl\" or \"starttls\"; {PORTS_HINT[kind]}")


def gmail_folder_warning(inbox: Inbox, report: Report) -> None:
    if is_gmail(inbox.host, inbox.username) and inbox.folder.upper() != "INBOX":
        report.warn(f"imap: Gmail folder is {inbox.folder!r}, not INBOX",
                    "\"[Gmail]/All Mail\" also holds sent and archived mail (our own replies would be read "
                    "as reports); a label holds only mail a Gmail filter labels: use folder = \"INBOX\"")


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
    if provider is not None:
        hints = [OAUTH2_HINT.format(section="inbox")]
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
    provider = token_provider(smtp.oauth2_token_command, smtp.oauth2_token_file)
    if provider is not None:
        hints = [OAUTH2_HINT.format(section="smtp")]
    if not smtp.password and provider is None:
        report.bad("smtp: no password (smtp.password or MAILTICKET_SMTP_PASSWORD, "
                   "or smtp.oauth2_token_command)", *hints[1:])
        return
    try:
        if provider is not None:
            await client.auth_xoauth2(smtp.username, provider())
        else:
            await client.login(smtp.username, smtp.password)
    except TokenError as exc:
        report.bad(f"smtp: no OAuth2 access token: {exc}", "run smtp.oauth2_token_command by hand to see why")
        return
    except aiosmtplib.SMTPAuthenticationError as exc:
        report.bad(f"smtp: authentication failed for {smtp.username}: {exc.code} {exc.message}", *hints)
        return
    except (aiosmtplib.SMTPException, OSError) as exc:
        report.bad(f"smtp: login failed: {describe(exc)}",
                   "most servers offer AUTH only after STARTTLS: use security = \"starttls\" on port 587")
        return
    report.good(f"smtp: logged in as {smtp.username}" + (" (OAuth2)" if provider is not None else ""))


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
