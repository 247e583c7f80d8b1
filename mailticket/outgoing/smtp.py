"""Stage `send` over SMTP (shell): outbox rows -> one SMTP connection per chunk -> accepted or why not.

`SmtpTransport.deliver(rows, settle)` sends each row's bytes exactly as stored, with the envelope
from the row (sender, recipients one per line), and hands each answer to `settle` before the next
row goes (send.py commits it there). The server's answer decides what happens next: 4xx and
network trouble are `TemporaryFailure` (tried again later), 5xx is `PermanentFailure` with the
server's own text, some recipients refused is `PartlyRefused` (sent, the refusals kept), and a
server that takes no more mail for now (Gmail's `550 5.4.5 Daily user sending limit exceeded`,
`421 4.7.0`, `454`) is `Throttled`: the rest of the chunk is not tried. When the connection dies
in the middle of a chunk, every row not yet answered is a TemporaryFailure.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import ssl
from collections.abc import Callable, Iterable

import aiosmtplib

from mailticket.config import Smtp
from mailticket.db import models
from mailticket.outgoing.send import (
    PartlyRefused,
    PermanentFailure,
    Results,
    Settle,
    TemporaryFailure,
    Throttled,
)

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
        refused = {r.recipient: f"{r.code} {r.message}" for r in exc.recipients}
        text = "; ".join(f"{address}: {answer}" for address, answer in refused.items())
        throttled = [throttle(r.code, r.message) for r in exc.recipients]
        if all(throttled):
            return throttled[0]
        if all(r.code >= 500 for r in exc.recipients):
            return PermanentFailure(text, refused)
        return TemporaryFailure(text)
    if isinstance(exc, aiosmtplib.SMTPNotSupported):  # e.g. UTF-8 addresses, server without SMTPUTF8
        return PermanentFailure(str(exc))
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        text = f"{exc.code} {exc.message}"
        return throttle(exc.code, exc.message) or (PermanentFailure(text) if exc.code >= 500
                                                   else TemporaryFailure(text))
    return TemporaryFailure(f"{type(exc).__name__}: {exc}")


def throttle(code: int, message: str) -> Throttled | None:
    """Gmail's sending limits: temporary for the whole queue, whatever the first digit says."""
    text = f"{code} {message}"
    if code == 550 and ("5.4.5" in message or "sending limit" in message.lower()):
        return Throttled(text, daily=True)
    if code == 454 or (code == 421 and "4.7." in message):
        return Throttled(text, daily=False)
    return None


def _options(client: aiosmtplib.SMTP, row: models.Outbox, recipients: list[str]) -> list[str]:
    """MAIL FROM parameters the bytes need: 8BITMIME for 8-bit bodies, SMTPUTF8 for UTF-8 addresses."""
    options = []
    if not row.data.isascii() and client.supports_extension("8bitmime"):  # a scan, not a loop over 27 MB
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

    def deliver(self, rows: Iterable[models.Outbox], settle: Settle | None = None) -> Results:
        return asyncio.run(self._deliver(rows, settle))

    async def _deliver(self, rows: Iterable[models.Outbox], settle: Settle | None) -> Results:
        results: Results = {}

        def answer(row: models.Outbox, result: Exception | None) -> None:
            results[row.id] = result
            if settle is not None:
                settle(row, result)  # committed before the next row goes

        rows = iter(rows)
        first = next(rows, None)
        if first is None:  # nothing due: no connection
            return results
        client = self.client_factory(self.settings)
        try:
            stop = await self._open(client)
            for row in itertools.chain((first,), rows):
                answer(row, stop or await self._send(client, row))
                stop = stop or _stop_after(results[row.id], client)
        finally:
            await _quit(client)
        return results

    async def _open(self, client: aiosmtplib.SMTP) -> Exception | None:
        """Connect and log in; None when ready, else the failure every row of the chunk gets."""
        try:
            await client.connect()
            await self._login(client)
        except (aiosmtplib.SMTPException, *_CONNECTION_LOST) as exc:
            outcome = failure(exc)
            if not isinstance(outcome, Throttled):  # even a refused login is ours to fix: try again later
                outcome = TemporaryFailure(str(outcome))
            log.warning("stage=send smtp=%s:%d cannot deliver: %s", self.settings.host, self.settings.port,
                        outcome)
            return outcome
        return None

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
        if not refused:
            return None
        answers = {address: f"{answer.code} {answer.message}" for address, answer in refused.items()}
        for address, answer in answers.items():
            log.warning("stage=send outbox=%d recipient=%s refused: %s", row.id, address, answer)
        return PartlyRefused(answers)  # accepted for the others: sending again would repeat it


def _stop_after(result: Exception | None, client: aiosmtplib.SMTP) -> Exception | None:
    """Why the rest of the chunk is not tried: the server throttles us, or the connection is gone."""
    if isinstance(result, Throttled):
        return result
    if not client.is_connected:
        return TemporaryFailure("connection lost before this message was sent")
    return None


async def _quit(client: aiosmtplib.SMTP) -> None:
    if not client.is_connected:
        return
    try:
        await client.quit()
    except (aiosmtplib.SMTPException, *_CONNECTION_LOST):
        client.close()
