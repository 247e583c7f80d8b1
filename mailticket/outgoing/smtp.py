"""Stage `send` over SMTP (shell): outbox rows -> one SMTP connection per batch -> accepted or why not.

`SmtpTransport.deliver(rows)` sends each row's bytes exactly as stored, with the envelope from
the row (sender, recipients one per line). The server's answer decides what `send.py` does
next: 4xx and network trouble are `TemporaryFailure` (tried again later), 5xx is
`PermanentFailure` with the server's own text. When the connection dies in the middle of a
batch, every row not yet answered is a TemporaryFailure.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Callable

import aiosmtplib

from mailticket.config import Smtp
from mailticket.db import models
from mailticket.outgoing.send import PermanentFailure, TemporaryFailure

log = logging.getLogger("mailticket.smtp")
TIMEOUT = 30.0
ClientFactory = Callable[[Smtp], aiosmtplib.SMTP]
_CONNECTION_LOST = (aiosmtplib.SMTPServerDisconnected, aiosmtplib.SMTPConnectError,
                    aiosmtplib.SMTPTimeoutError, OSError)  # ssl errors, ConnectionError and TimeoutError too


def make_client(settings: Smtp, ssl_context: ssl.SSLContext | None = None,
                timeout: float = TIMEOUT) -> aiosmtplib.SMTP:
    """An unconnected client per `settings.security`; certificates are verified by default."""
    return aiosmtplib.SMTP(
        hostname=settings.host, port=settings.port, timeout=timeout,
        use_tls=settings.security == "ssl",
        start_tls=settings.security == "starttls",  # required when asked for; never tried with "none"
        tls_context=ssl_context or ssl.create_default_context(),
        local_hostname=_local_hostname(settings),
    )


def _local_hostname(settings: Smtp) -> str:
    """What we say in EHLO: the domain of our login, not socket.getfqdn() (slow without DNS)."""
    domain = settings.username.rpartition("@")[2]
    return domain or "localhost"


def failure(exc: BaseException) -> TemporaryFailure | PermanentFailure:
    """The server's answer (or the lack of one) as a send outcome."""
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        codes = [r.code for r in exc.recipients]
        text = "; ".join(f"{r.recipient}: {r.code} {r.message}" for r in exc.recipients)
        return PermanentFailure(text) if all(code >= 500 for code in codes) else TemporaryFailure(text)
    if isinstance(exc, aiosmtplib.SMTPNotSupported):  # e.g. UTF-8 addresses, server without SMTPUTF8
        return PermanentFailure(str(exc))
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        text = f"{exc.code} {exc.message}"
        return PermanentFailure(text) if exc.code >= 500 else TemporaryFailure(text)
    return TemporaryFailure(f"{type(exc).__name__}: {exc}")


def _options(client: aiosmtplib.SMTP, row: models.Outbox, recipients: list[str]) -> list[str]:
    """MAIL FROM parameters the bytes need: 8BITMIME for 8-bit bodies, SMTPUTF8 for UTF-8 addresses."""
    options = []
    if any(byte > 127 for byte in row.data) and client.supports_extension("8bitmime"):
        options.append("BODY=8BITMIME")
    if not all(address.isascii() for address in (row.sender, *recipients)):
        options.append("SMTPUTF8")
    return options


class SmtpTransport:
    """Delivers outbox rows through one SMTP server (Gmail: smtp.gmail.com:587 starttls)."""

    def __init__(self, settings: Smtp, client_factory: ClientFactory | None = None, *,
                 token_provider: Callable[[], str] | None = None):
        self.settings = settings
        self.client_factory = client_factory or make_client
        self.token_provider = token_provider  # set: log in with XOAUTH2 instead of the password

    def deliver(self, rows: list[models.Outbox]) -> dict[int, Exception | None]:
        if not rows:
            return {}
        return asyncio.run(self._deliver(rows))

    async def _deliver(self, rows: list[models.Outbox]) -> dict[int, Exception | None]:
        client = self.client_factory(self.settings)
        try:
            try:
                await client.connect()
                await self._login(client)
            except (aiosmtplib.SMTPException, *_CONNECTION_LOST) as exc:
                reason = str(failure(exc))  # even a refused login is ours to fix: try again later
                log.warning("stage=send smtp=%s:%d cannot deliver %d rows: %s", self.settings.host,
                            self.settings.port, len(rows), reason)
                return {row.id: TemporaryFailure(reason) for row in rows}
            results: dict[int, Exception | None] = {}
            for row in rows:
                results[row.id] = await self._send(client, row)
                if not client.is_connected:
                    break
        finally:
            await _quit(client)
        return {row.id: results[row.id] if row.id in results
                else TemporaryFailure("connection lost before this message was sent") for row in rows}

    async def _login(self, client: aiosmtplib.SMTP) -> None:
        if not self.settings.username:
            return
        if self.token_provider is not None:
            await client.auth_xoauth2(self.settings.username, self.token_provider())
        else:
            await client.login(self.settings.username, self.settings.password)

    async def _send(self, client: aiosmtplib.SMTP, row: models.Outbox) -> Exception | None:
        recipients = [line.strip() for line in row.recipients.splitlines() if line.strip()]
        if not recipients:
            return PermanentFailure("no recipients")
        try:
            refused, _answer = await client.sendmail(row.sender, recipients, row.data,
                                                     mail_options=_options(client, row, recipients))
        except (aiosmtplib.SMTPException, ValueError, *_CONNECTION_LOST) as exc:
            if isinstance(exc, ValueError):  # an address aiosmtplib will not put on the wire
                return PermanentFailure(f"invalid address: {exc}")
            if isinstance(exc, _CONNECTION_LOST):  # after a timeout the session is in an unknown state
                client.close()
            return failure(exc)
        for address, answer in refused.items():  # accepted for the others: sending again would repeat it
            log.warning("stage=send outbox=%d recipient=%s refused: %s %s", row.id, address, answer.code,
                        answer.message)
        return None


async def _quit(client: aiosmtplib.SMTP) -> None:
    if not client.is_connected:
        return
    try:
        await client.quit()
    except (aiosmtplib.SMTPException, *_CONNECTION_LOST):
        client.close()
