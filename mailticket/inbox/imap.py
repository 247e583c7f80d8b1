"""Stage `fetch` for IMAP (shell): new messages of one folder -> raw rows committed -> marked on the server.

`ImapInbox.fetch_new()` reads every message above the last UID it stored (per UIDVALIDITY) with
BODY.PEEK[] (never setting \\Seen), hands each batch with its checkpoint (UIDVALIDITY, last UID) to
the keep sink it was given, which commits both in one transaction, and only then marks the batch on
the server: MOVE to `mailticket/processed` where the server can, else the keyword `$MailticketProcessed`. The
database is the truth; the server mark is cosmetic, so a crash between commit and mark repeats
nothing (the leftovers are marked after the next connect). `wait()` sleeps in IDLE or polls.
Network and protocol errors reconnect with exponential backoff and jitter.
"""

from __future__ import annotations

import imaplib
import logging
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime

from imapclient import IMAPClient, SocketTimeout
from imapclient.exceptions import LoginError
from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_delay, wait_exponential_jitter

from mailticket.clock import Clock
from mailticket.config import Inbox
from mailticket.errors import SourceUnavailable
from mailticket.inbox.source import Checkpoint, Keep, LoadCheckpoint
from mailticket.types import RawMail

log = logging.getLogger("mailticket.imap")

BATCH_UIDS = 100  # UIDs per FETCH and per commit
BATCH_BYTES = 16 * 1024 * 1024  # and at most this much mail per commit (one message may exceed it)
SIZES_PER_FETCH = 500  # UIDs per FETCH RFC822.SIZE while planning the batches
PROCESSED_FOLDER = "mailticket/processed"  # "/" is replaced by the server's hierarchy delimiter
PROCESSED_FLAG = "$MailticketProcessed"
IDLE_RENEW = 29 * 60  # RFC 2177: re-issue IDLE at least every 29 minutes
# Some servers (Dovecot seen here) miss mail that arrives just as IDLE starts and announce it
# only when IDLE ends: leave and re-enter IDLE at these moments (seconds) after starting. Each
# re-entry is DONE, NOOP, IDLE: Dovecot pushes mail 0.5 s after it lands, so mail that landed in the
# last 0.5 s before a DONE would otherwise wait for the next re-entry (bench/latency.py
# --random-phase: p95 7.5 s before the NOOP).
IDLE_CONFIRM = (0.3, 1.0, 3.0, 10.0)
NETWORK_ERRORS = (OSError, imaplib.IMAP4.error)  # ssl and socket errors are OSErrors; abort is an error

ClientFactory = Callable[[Inbox], IMAPClient]
TokenProvider = Callable[[], str]


class ImapUnavailable(SourceUnavailable):
    """The server stayed unreachable for `retry_for` seconds, or refused the login; the cause is chained."""


class _Stopped(Exception):
    """The stop event was set between two attempts."""


def connect(settings: Inbox, ssl_context: ssl.SSLContext | None = None, timeout: float = 30.0,
            client_class: type[IMAPClient] = IMAPClient) -> IMAPClient:
    """An unauthenticated client per `settings.security`; certificates are verified by default."""
    context = ssl_context or ssl.create_default_context()
    implicit = settings.security == "ssl"
    client = client_class(settings.host, port=settings.port, ssl=implicit,
                        ssl_context=context if implicit else None,
                        timeout=SocketTimeout(connect=timeout, read=max(timeout, 60.0)))
    if settings.security == "starttls":
        client.starttls(context)
    _keepalive(client.socket())
    return client


def _keepalive(sock: socket.socket) -> None:
    """Let the kernel notice a peer that vanished while we sit in IDLE (NAT timeouts, cable pulled)."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    for name, value in (("TCP_KEEPIDLE", 60), ("TCP_KEEPINTVL", 20), ("TCP_KEEPCNT", 3)):
        if hasattr(socket, name):
            sock.setsockopt(socket.IPPROTO_TCP, getattr(socket, name), value)


def _retryable(exc: BaseException) -> bool:
    """Network and protocol trouble passes; a refused login or an untrusted certificate does not."""
    return isinstance(exc, NETWORK_ERRORS) and not isinstance(exc, (LoginError, ssl.SSLCertVerificationError))


def _is_new_mail(response: tuple) -> bool:
    return len(response) > 1 and response[1] in (b"EXISTS", b"RECENT")


class ImapInbox:
    """One IMAP folder as a source of raw mail; see the module docstring for the guarantees."""

    def __init__(self, settings: Inbox, keep: Keep, load_checkpoint: LoadCheckpoint, clock: Clock,
                 client_factory: ClientFactory | None = None, *,
                 token_provider: Callable[[], str] | None = None,
                 processed_folder: str = PROCESSED_FOLDER, retry_for: float = 300.0,
                 backoff: tuple[float, float] = (1.0, 60.0), batch_size: int = BATCH_UIDS):
        self.settings, self.clock = settings, clock
        self.keep, self.load_checkpoint = keep, load_checkpoint
        self.client_factory = client_factory or connect
        self.token_provider = token_provider  # set: log in with XOAUTH2, a fresh token per connect
        self.processed_folder, self.batch_size = processed_folder, batch_size
        self.retry_for, self.backoff = retry_for, backoff  # seconds: give up after; first and longest pause
        self.idle_renew = IDLE_RENEW
        self.source = f"imap:{settings.username}@{settings.host}/{settings.folder}"
        self.state = "disconnected"
        self.last_ok: datetime | None = None
        self.state_since: datetime | None = None  # when `state` last changed (status: "retrying since")
        self.last_error = ""  # the last connection or login error, for status
        self.alert = ""  # the server's last [ALERT] or [OVERQUOTA] text (Gmail: act in the web interface)
        self.on_state: Callable[[], None] | None = None  # the daemon rewrites its status row (retries too)
        self._client: IMAPClient | None = None
        self._last_uid = 0
        self._uidvalidity = 0
        self._kept = 0
        self.fetched = 0  # messages read by the last fetch_new(), new or already kept
        self._processed: str | None = None
        self._tidy_needed = True
        self._mark_warned = ""

    # -- public -------------------------------------------------------------------------------

    def fetch_new(self, stop: threading.Event | None = None) -> int:
        """Keep every message that arrived since the last call; returns how many were new.

        Retries with backoff for `retry_for` seconds, then raises ImapUnavailable. Returns early
        (after the batch in hand) when `stop` is set.
        """
        stop = stop or threading.Event()
        self._kept = self.fetched = 0
        first, longest = self.backoff
        retrying = Retrying(
            retry=retry_if_exception(_retryable),
            wait=wait_exponential_jitter(multiplier=first, max=longest, jitter=first),
            stop=stop_after_delay(self.retry_for),
            sleep=stop.wait,  # a stop during the pause ends the next attempt at once
            before_sleep=self._log_retry,
            reraise=True,
        )
        try:
            retrying(self._attempt, stop)
        except _Stopped:
            pass
        except (LoginError, ssl.SSLCertVerificationError) as exc:
            self._set_state("failed", f"{type(exc).__name__}: {exc}")
            raise ImapUnavailable(f"{self.source}: {exc}") from exc
        except NETWORK_ERRORS as exc:
            self._set_state("failed", f"gave up after {self.retry_for:.0f}s: {exc}")
            raise ImapUnavailable(f"{self.source}: {exc}") from exc
        return self._kept

    def wait(self, timeout: float, stop: threading.Event) -> None:
        """Return when new mail may be there, `timeout` seconds passed, or `stop` is set."""
        if stop.is_set() or timeout <= 0:
            return
        deadline = time.monotonic() + timeout
        client = self._client
        try:
            if client is not None and self.settings.idle and client.has_capability("IDLE"):
                if not self._has_new(client):
                    self._idle(client, deadline, stop)
                return
        except NETWORK_ERRORS as exc:
            self._drop(exc)
            return
        stop.wait(min(timeout, self.settings.poll_interval.total_seconds()))

    def close(self) -> None:
        """Log out; errors are ignored (the connection may be gone already)."""
        client, self._client = self._client, None
        if client is not None:
            try:
                client.socket().settimeout(5)
                client.logout()
            except (*NETWORK_ERRORS, ValueError):
                pass
        self._set_state("closed", "logged out")

    # -- connection ---------------------------------------------------------------------------

    def _connected(self) -> IMAPClient:
        if self._client is None:
            client = self.client_factory(self.settings)
            try:
                login(client, self.settings, self.token_provider)
            except BaseException:
                shutdown(client)
                raise
            self._client, self._processed, self._tidy_needed = client, None, True
            self._server_notes(client)
            where = self.settings
            self._set_state("connected", f"{where.host}:{where.port} ({where.security})")
        return self._client

    def _drop(self, reason: BaseException) -> None:
        client, self._client = self._client, None
        if client is not None:
            shutdown(client)
            self._set_state("disconnected", f"{type(reason).__name__}: {reason}")

    def _set_state(self, state: str, detail: str) -> None:
        if state in ("failed", "disconnected"):
            self.last_error = detail
        if state == self.state:
            return
        self.state, self.state_since = state, self.clock.now()
        self._tell()
        level = logging.INFO if state in ("connected", "closed") else logging.WARNING
        log.log(level, "stage=fetch source=%s state=%s %s", self.source, state, detail)

    def _log_retry(self, retry_state: RetryCallState) -> None:
        exc = retry_state.outcome.exception() if retry_state.outcome else None
        pause = retry_state.next_action.sleep if retry_state.next_action else 0
        if self.state != "retrying":
            self.state, self.state_since = "retrying", self.clock.now()
        self.last_error = f"{type(exc).__name__}: {exc}"
        self._note_alert(str(exc))
        self._tell()
        log.warning("stage=fetch source=%s state=retrying in %.0fs (attempt %d): %s: %s", self.source, pause,
                    retry_state.attempt_number, type(exc).__name__, exc)

    def _ok(self) -> None:
        self.last_ok = self.clock.now()

    def _tell(self) -> None:
        if self.on_state is not None:
            try:
                self.on_state()
            except Exception:  # noqa: BLE001 - status is best effort, never the fetch's failure
                log.debug("on_state failed", exc_info=True)

    def _server_notes(self, client: IMAPClient) -> None:
        """Log and keep the server's [ALERT]/[OVERQUOTA] texts (RFC 3501 says a client must show ALERT)."""
        untagged = getattr(getattr(client, "_imap", None), "untagged_responses", None) or {}
        for kind in ("OK", "NO", "BAD", "BYE"):
            for line in untagged.get(kind, ()):
                self._note_alert(line.decode("utf-8", "replace") if isinstance(line, bytes) else str(line))

    def _note_alert(self, text: str) -> None:
        upper = text.upper()
        if "[ALERT]" not in upper and "[OVERQUOTA]" not in upper:
            return
        text = " ".join(text.split())[:300]
        if text != self.alert:
            log.warning("stage=fetch source=%s server says: %s", self.source, text)
        self.alert = text

    # -- fetch --------------------------------------------------------------------------------

    def _attempt(self, stop: threading.Event) -> None:
        if stop.is_set():
            raise _Stopped
        try:
            self._fetch_once(stop)
        except NETWORK_ERRORS as exc:
            self._drop(exc)
            raise

    def _fetch_once(self, stop: threading.Event) -> None:
        client = self._connected()
        selected = client.select_folder(self.settings.folder)
        self._server_notes(client)
        uidvalidity = int(selected[b"UIDVALIDITY"])
        self._last_uid = self._start_uid(uidvalidity)
        self._uidvalidity = uidvalidity
        if self._tidy_needed:
            self._tidy(client)
        for batch in self._batches(client, selected):
            if stop.is_set():
                return
            raws = self._download(client, batch)
            self._kept += self._keep(raws, uidvalidity, batch[-1])
            self._last_uid = batch[-1]
            self._mark(client, batch)
        uidnext = int(selected.get(b"UIDNEXT") or 0)
        if uidnext - 1 > self._last_uid:  # the UIDs below UIDNEXT we did not see were expunged
            self.keep([], Checkpoint(self.source, uidvalidity, uidnext - 1))
            self._last_uid = uidnext - 1
        self._ok()

    def _start_uid(self, uidvalidity: int) -> int:
        """The last UID stored for this folder; 0 (read everything again) when UIDVALIDITY changed."""
        stored = self.load_checkpoint(self.source)
        if stored is not None and stored.uidvalidity == uidvalidity:
            return stored.last_uid
        if stored is not None:
            log.warning("stage=fetch source=%s UIDVALIDITY %d -> %d: reading the folder again from UID 1 "
                        "(messages kept before are recognised by their bytes)",
                        self.source, stored.uidvalidity, uidvalidity)
        self.keep([], Checkpoint(self.source, uidvalidity, 0))
        return 0

    def _batches(self, client: IMAPClient, selected: dict) -> Iterator[list[int]]:
        """UIDs above the last one stored, in batches bounded in count and bytes."""
        uidnext = selected.get(b"UIDNEXT")
        if not selected.get(b"EXISTS") or (uidnext and int(uidnext) <= self._last_uid + 1):
            return
        # "n:*" always matches the highest UID, even when it is below n
        found = client.search(["UID", f"{self._last_uid + 1}:*"])
        uids = sorted(uid for uid in found if uid > self._last_uid)
        batch: list[int] = []
        total = 0
        for start in range(0, len(uids), SIZES_PER_FETCH):
            chunk = uids[start:start + SIZES_PER_FETCH]
            sizes = client.fetch(chunk, ["RFC822.SIZE"])
            for uid in chunk:
                size = int(sizes.get(uid, {}).get(b"RFC822.SIZE", 0))
                if batch and (len(batch) >= self.batch_size or total + size > BATCH_BYTES):
                    yield batch
                    batch, total = [], 0
                batch.append(uid)
                total += size
        if batch:
            yield batch

    def _download(self, client: IMAPClient, batch: list[int]) -> list[RawMail]:
        response = client.fetch(batch, ["BODY.PEEK[]"])
        raws = []
        for uid in batch:
            data = response.get(uid, {}).get(b"BODY[]")
            if data is None:
                log.warning("stage=fetch source=%s uid=%d expunged before it could be read", self.source, uid)
                continue
            raws.append(RawMail(bytes(data), self.source, str(uid)))
        return raws

    def _keep(self, raws: list[RawMail], uidvalidity: int, last_uid: int) -> int:
        """One transaction: the raw bytes and how far we got; committed before any server mark."""
        kept = self.keep(raws, Checkpoint(self.source, uidvalidity, last_uid))
        self.fetched += len(raws)
        log.info("stage=fetch source=%s up_to_uid=%d fetched=%d new=%d", self.source, last_uid,
                 len(raws), kept)
        return kept

    # -- server-side marks (cosmetic) ---------------------------------------------------------

    def _mark(self, client: IMAPClient, uids: list[int]) -> None:
        """MOVE to the processed folder, else flag; a refusal is logged once and ignored."""
        try:
            if client.has_capability("MOVE"):
                client.move(uids, self._processed_name(client))
            else:
                client.add_flags(uids, [PROCESSED_FLAG], silent=True)
        except imaplib.IMAP4.abort:
            self._tidy_needed = True
            raise
        except imaplib.IMAP4.error as exc:
            self._tidy_needed = True
            if str(exc) != self._mark_warned:
                self._mark_warned = str(exc)
                log.warning("stage=fetch source=%s cannot mark messages on the server (they are kept): %s",
                            self.source, exc)

    def _processed_name(self, client: IMAPClient) -> str:
        if self._processed is None:
            delimiter = _delimiter(client)
            name = self.processed_folder.replace("/", delimiter)
            if not client.folder_exists(name):
                try:
                    client.create_folder(name)
                except imaplib.IMAP4.error:
                    if not client.folder_exists(name):  # else: created meanwhile by someone else
                        raise
                log.info("stage=fetch source=%s created folder %s", self.source, name)
            self._processed = name
        return self._processed

    def _tidy(self, client: IMAPClient) -> None:
        """Mark what was committed but not marked (a crash or a drop right after the commit)."""
        if self._last_uid:
            criteria = ["UID", f"1:{self._last_uid}"]
            if not client.has_capability("MOVE"):
                criteria += ["UNKEYWORD", PROCESSED_FLAG]
            left = sorted(uid for uid in client.search(criteria) if uid <= self._last_uid)
            for start in range(0, len(left), self.batch_size):
                self._mark(client, left[start:start + self.batch_size])
            if left:
                log.info("stage=fetch source=%s marked %d messages kept earlier", self.source, len(left))
        self._tidy_needed = False

    # -- waiting ------------------------------------------------------------------------------

    def _has_new(self, client: IMAPClient) -> bool:
        """SELECT again: mail announced during the last fetch would not be announced again in IDLE."""
        selected = client.select_folder(self.settings.folder)
        if int(selected[b"UIDVALIDITY"]) != self._uidvalidity:
            return True
        if b"UIDNEXT" in selected:  # required by RFC 3501
            return int(selected[b"UIDNEXT"]) > self._last_uid + 1
        return any(uid > self._last_uid for uid in client.search(["UID", f"{self._last_uid + 1}:*"]))

    def _idle(self, client: IMAPClient, deadline: float, stop: threading.Event) -> None:
        client.idle()
        self._ok()
        started = time.monotonic()
        confirms = [started + after for after in IDLE_CONFIRM]  # early re-entries catch mail IDLE missed
        renew_at = confirms.pop(0)
        while not stop.is_set():
            now = time.monotonic()
            if now >= deadline:
                break
            if now >= renew_at:
                if self._renew_idle(client):
                    return
                renew_at = confirms.pop(0) if confirms else now + self.idle_renew
            step = min(1.0, deadline - now, max(0.05, renew_at - now))
            responses = client.idle_check(timeout=step)
            if responses:
                self._ok()
                if any(_is_new_mail(r) for r in responses):
                    break
            elif time.monotonic() - now < step / 2 and self._renew_idle(client):
                # imapclient returns [] at once on EOF: leaving IDLE tells a dead connection apart
                return
        client.idle_done()

    def _renew_idle(self, client: IMAPClient) -> bool:
        """Leave and re-enter IDLE; True (and out of IDLE) when the server announced new mail on leaving."""
        _text, responses = client.idle_done()
        if any(_is_new_mail(r) for r in responses):
            return True
        # Dovecot pushes new mail 0.5 s after it lands; mail that landed in the last 0.5 s of the IDLE
        # we just left is announced by neither IDLE (the next one starts after it). NOOP syncs now.
        _text, responses = client.noop()
        if any(_is_new_mail(r) for r in responses):
            return True
        client.idle()
        self._ok()
        return False


def _delimiter(client: IMAPClient) -> str:
    """The hierarchy delimiter (LIST "" "" answers with it); "/" when the server has none."""
    for _flags, delimiter, _name in client.list_folders("", ""):
        if delimiter:
            return delimiter.decode() if isinstance(delimiter, bytes) else delimiter
    return "/"


def login(client: IMAPClient, settings: Inbox, token_provider: TokenProvider | None) -> None:
    """XOAUTH2 with a fresh token when a provider is configured, else the password."""
    if token_provider is not None:
        client.oauth2_login(settings.username, token_provider())
    else:
        client.login(settings.username, settings.password)


def shutdown(client: IMAPClient) -> None:
    """Close the connection without a goodbye; one that is gone already is no error."""
    try:
        client.shutdown()
    except (*NETWORK_ERRORS, ValueError):
        pass

