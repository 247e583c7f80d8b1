"""Stage `send` over SMTP (shell): outbox rows -> one SMTP connection per chunk -> accepted or why not.

`SmtpTransport.deliver(rows, settle)` sends each row's bytes exactly as stored, with the envelope
from the row (sender, recipients one per line), and hands each answer to `settle` before the next
row goes (send.py commits it there). The server's answer decides what happens next: 4xx and
network trouble are `TemporaryFailure` (tried again later), 5xx is `PermanentFailure` with the
server's own text, some recipients refused is `PartlyRefused` (sent, the refusals kept), and a
server that takes no more mail for now (Gmail's `550 5.4.5 Daily user sending limit exceeded`,
`421 4.7.0`, `454`) is `Throttled`: the rest of the chunk is not tried. When the connection dies
in the middle of a chunk, every row not yet answered is a TemporaryFailure.

A mail over 1 MiB (one carrying files) is not handed to aiosmtplib's `sendmail`, which copies it
about four times (line ends, dot-stuffing, SIZE); the same envelope is sent with its commands, and
after DATA the bytes go out in 64 KiB slices, each made CRLF and dot-stuffed on its own (`_wire`).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import re
import ssl
from collections.abc import Callable, Iterable, Iterator

import aiosmtplib
from aiosmtplib.email import parse_address

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
STREAM_OVER = 1 << 20  # bytes: a bigger mail is written in slices, not through sendmail
SLICE = 64 << 10
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
        options = _options(client, row, recipients)
        try:
            if len(row.data) > STREAM_OVER:
                refused = await _sendmail_sliced(client, row.sender, recipients, row.data, options)
            else:
                refused, _answer = await client.sendmail(row.sender, recipients, row.data,
                                                         mail_options=options)
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


async def _sendmail_sliced(client: aiosmtplib.SMTP, sender: str, recipients: list[str], data: bytes,
                           options: list[str]) -> dict[str, aiosmtplib.SMTPResponse]:
    """`client.sendmail` for a big mail, without copying it: the same commands, checks and
    exceptions (so `failure` reads them alike), the DATA written slice by slice.

    Returns the refused recipients (address -> answer); raises SMTPRecipientsRefused when all are."""
    for address in (sender, *recipients):  # as sendmail: no half-finished envelope for a bad address
        parse_address(address)
    await _greet(client)
    encoding = "utf-8" if "SMTPUTF8" in options else "ascii"
    if encoding == "utf-8" and not client.supports_extension("smtputf8"):
        raise aiosmtplib.SMTPNotSupported("SMTPUTF8 is not supported by this server")
    if client.supports_extension("size"):
        options = [f"size={_wire_size(data)}", *options]
    try:
        await client.mail(sender, options=options, encoding=encoding)
        refused: list[aiosmtplib.SMTPRecipientRefused] = []
        for address in recipients:
            try:
                await client.rcpt(address, encoding=encoding)
            except aiosmtplib.SMTPRecipientRefused as exc:
                refused.append(exc)
        if len(refused) == len(recipients):
            raise aiosmtplib.SMTPRecipientsRefused(refused)
        await _data_sliced(client, data)
    except (aiosmtplib.SMTPResponseException, aiosmtplib.SMTPRecipientsRefused):
        with contextlib.suppress(ConnectionError, aiosmtplib.SMTPResponseException):
            await client.rset()  # as sendmail: reset the envelope for the next mail
        raise
    return {exc.recipient: aiosmtplib.SMTPResponse(exc.code, exc.message) for exc in refused}


async def _greet(client: aiosmtplib.SMTP) -> None:
    """EHLO (HELO when refused) unless done: what sendmail does first, the extensions known after."""
    if client.is_ehlo_or_helo_needed:
        try:
            await client.ehlo()
        except aiosmtplib.SMTPHeloError:
            if not client.is_connected:
                raise
            await client.helo()


async def _data_sliced(client: aiosmtplib.SMTP, data: bytes) -> None:
    """DATA, the mail in slices (each written once the socket has taken the one before), the end."""
    start = await client.execute_command(b"DATA")
    if start.code != aiosmtplib.SMTPStatus.start_input:
        raise aiosmtplib.SMTPDataError(start.code, start.message)
    protocol = client.protocol
    assert protocol is not None  # execute_command raised otherwise
    try:
        for piece in _wire(data):
            protocol.write(piece)
            # aiosmtplib's protocol keeps asyncio's flow control (FlowControlMixin, the part of
            # StreamWriter.drain() that waits while the transport's buffer is over its high mark):
            # without it the transport would buffer the whole mail.
            await asyncio.wait_for(protocol._drain_helper(), client.timeout)  # noqa: SLF001
        protocol.write(b".\r\n")
        # An answer the server sent before the end is not kept by aiosmtplib (it reads only while a
        # reply is awaited): a server that stops a mail midway hangs up, or is timed out here.
        answer = await protocol.read_response(timeout=client.timeout)
    except (aiosmtplib.SMTPServerDisconnected, aiosmtplib.SMTPTimeoutError, ConnectionError):
        client.close()  # as SMTP.data: the session is in an unknown state
        raise
    except TimeoutError as exc:  # the server stopped reading the slices
        client.close()
        raise aiosmtplib.SMTPTimeoutError("Timed out writing the message") from exc
    if answer.code != aiosmtplib.SMTPStatus.completed:
        raise aiosmtplib.SMTPDataError(answer.code, answer.message)


_BARE_LINE_END = re.compile(rb"\r\n|\r|\n")  # aiosmtplib's LINE_ENDINGS_REGEX, the \r\n kept


def _wire(data: bytes, size: int = SLICE) -> Iterator[bytes]:
    """The mail as DATA carries it, in slices: every line end CRLF (a lone CR or LF too), a "." at
    the start of a line doubled, and a last CRLF if missing (the "." line follows). Byte for byte
    what aiosmtplib's execute_data_command sends before its ".\r\n", without a copy of the whole.

    At a slice boundary: a CR that ends a slice waits for the next (it may be half of a CRLF), and
    a "." that starts a slice is doubled when the slice before ended a line (or it is the first)."""
    view = memoryview(data)
    held = b""  # a CR from the end of the slice before
    line_start = True
    for offset in range(0, len(data), size):
        piece = held + view[offset:offset + size].tobytes()
        held = b""
        if piece.endswith(b"\r") and offset + size < len(data):
            piece, held = piece[:-1], b"\r"
        piece = _BARE_LINE_END.sub(b"\r\n", piece).replace(b"\n.", b"\n..")
        if line_start and piece.startswith(b"."):
            piece = b"." + piece
        if piece:
            line_start = piece.endswith(b"\n")
            yield piece
    if not data.endswith((b"\n", b"\r")):
        yield b"\r\n"


def _wire_size(data: bytes) -> int:
    """SIZE (RFC 1870): the octets as sent, CRLF line ends counted, before dot-stuffing."""
    crlf = data.count(b"\r\n")
    size = len(data) + (data.count(b"\n") - crlf) + (data.count(b"\r") - crlf)
    return size if data.endswith((b"\n", b"\r")) else size + 2


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
