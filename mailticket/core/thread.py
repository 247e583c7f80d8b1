"""Stage thread: Mail -> ThreadKey, and the ticket names we put in subjects and Message-IDs.

In: a parsed `Mail`, the token prefix from the config ("LPSE") and the secret that signs our
Message-IDs. Out: a `ThreadKey` (ticket number from the subject token, ticket number from one
of our own signed Message-IDs in In-Reply-To/References, and those references newest first).
Pure: no I/O, no clock.

Our Message-IDs look like `<mt.12.k3j4h5g6f7.UNIQUE@domain>` (`<mt.k3j4h5g6f7.UNIQUE@domain>`
when no ticket is named): the ticket number, ten base32 characters of HMAC-SHA256 over number
and UNIQUE, and the caller's unique part. A reply keeps the id in its References even when the
sender edits the subject; the HMAC stops anyone from naming a ticket by forging an id.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import re

from mailticket.types import Mail, ThreadKey, ticket_token

_MAX_NUMBER = 10**9  # at most 9 digits: a number never looks like the 10-character hash
_MAC_LEN = 10
_OWN_ID = re.compile(r"<mt\.(?:([0-9]{1,9})\.)?([a-z2-7]{10})\.([A-Za-z0-9_.-]+)@[^<>@\s]+>", re.IGNORECASE)
_UNIQUE = re.compile(r"[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*")
_DOMAIN = re.compile(r"[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*")
# Reply/forward prefixes of common clients: English, Indonesian Outlook (BLS, TRS), Yahoo
# Indonesia (Balas), French (TR), German (AW, WG), Dutch (Antw), Nordic (SV, VS), Spanish (RV, ENC).
_REPLY_PREFIX = re.compile(
    r"^(?:\s*(?:re|fwd?|bls|balas|tr|trs|aw|wg|antw|sv|vs|rv|enc)\s*(?:\[\d+\]|\(\d+\))?\s*[:：])+\s*",
    re.IGNORECASE,
)


def token(prefix: str, number: int) -> str:
    """The subject token of a ticket: token("LPSE", 12) == "[LPSE#12]"."""
    return f"[{ticket_token(prefix, number)}]"


@functools.lru_cache(maxsize=16)
def _token_re(prefix: str) -> re.Pattern[str]:
    # Clients and people add spaces and change case: "[lpse # 12]" is the same ticket.
    return re.compile(r"\[\s*" + re.escape(prefix) + r"\s*#\s*([0-9]{1,9})\s*\]", re.IGNORECASE)


def find_token(subject: str, prefix: str) -> int | None:
    """The ticket number of the first token in the subject, or None."""
    found = _token_re(prefix).search(subject)
    return int(found.group(1)) if found else None


def strip_subject(subject: str, prefix: str) -> str:
    """The subject for display: without reply/forward prefixes and without our token."""
    text = _token_re(prefix).sub(" ", subject)
    text = " ".join(text.split())
    return _REPLY_PREFIX.sub("", text).strip()


def _mac(secret: bytes, number: int | None, unique: str) -> str:
    message = f"{'-' if number is None else number}:{unique}".encode()
    digest = hmac.new(secret, message, hashlib.sha256).digest()
    return base64.b32encode(digest).decode("ascii")[:_MAC_LEN].lower()


def make_message_id(number: int | None, secret: bytes, domain: str, unique: str) -> str:
    """A Message-ID for mail we send, naming the ticket `number` (None: no ticket)."""
    if number is not None and not 0 <= number < _MAX_NUMBER:
        raise ValueError(f"ticket number out of range: {number}")
    if not _UNIQUE.fullmatch(unique):
        raise ValueError(f"unique part must be letters, digits, '-', '_' and dots: {unique!r}")
    if not _DOMAIN.fullmatch(domain):
        raise ValueError(f"not a domain: {domain!r}")
    middle = "" if number is None else f"{number}."
    return f"<mt.{middle}{_mac(secret, number, unique)}.{unique}@{domain}>"


def own_ticket(message_id: str, secret: bytes) -> int | None:
    """The ticket named by one of our Message-IDs, None if it is not ours or the hash fails."""
    found = _OWN_ID.fullmatch(message_id.strip())
    if not found or found.group(1) is None:
        return None
    number = int(found.group(1))
    expected = _mac(secret, number, found.group(3))
    if not hmac.compare_digest(expected, found.group(2).lower()):
        return None
    return number


def _newest_first(mail: Mail) -> tuple[str, ...]:
    seen: dict[str, None] = {}
    for ref in (*mail.in_reply_to, *reversed(mail.references)):
        seen.setdefault(ref, None)
    return tuple(seen)


def thread_key(mail: Mail, prefix: str, secret: bytes) -> ThreadKey:
    """How `mail` may belong to an existing ticket."""
    references = _newest_first(mail)
    if mail.returned_message_id and mail.returned_message_id not in references:
        references += (mail.returned_message_id,)
    own_number = next((n for ref in references if (n := own_ticket(ref, secret)) is not None), None)
    number = find_token(mail.subject, prefix)
    if number is None and mail.returned_subject:
        number = find_token(mail.returned_subject, prefix)
    return ThreadKey(number=number, own_number=own_number, references=references)
