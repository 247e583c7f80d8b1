"""Raw mail (shell): kept bytes first, then claimed, read and marked by the pipeline.

Raw mail is kept with `keep_raw` and committed before anything else reads it. Several instances
on one PostgreSQL database share the work through row locks: `pending_raw_ids` claims rows with
FOR UPDATE SKIP LOCKED for the caller's transaction.

Deferral rule (PostgreSQL): a claimed message whose In-Reply-To or References names an older raw
message that is still pending and not in this batch (another instance holds it, or it was
committed after we looked), or one deferred in this batch, is left pending for a later round, so
that a reply is never processed before the report it answers.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Iterable, Sequence
from datetime import datetime

from sqlalchemy import LargeBinary, bindparam, case, exists, func, insert, select
from sqlalchemy.orm import Session, aliased

from mailticket.db import models
from mailticket.store import blobs
from mailticket.store.dialect import insert as dialect_insert
from mailticket.store.dialect import is_postgres
from mailticket.store.unflushed import unflushed
from mailticket.types import Mail, RawMail

log = logging.getLogger("mailticket.store")

_MESSAGE_ID_HEAD = 16384  # bytes of header we search for a Message-ID when keeping raw mail
_MSG_ID = re.compile(rb"<[^<>\s]{1,996}>")
_FOLD = re.compile(rb"\r?\n[ \t]+")
_REFERENCES_USED = 20  # In-Reply-To and the newest References looked at for the deferral rule


def _head(data: bytes) -> bytes:
    return data[:_MESSAGE_ID_HEAD].split(b"\n\n", 1)[0].split(b"\r\n\r\n", 1)[0]


def sniff_message_id(data: bytes) -> str:
    """The Message-ID from the header block, cheaply, before the message is parsed."""
    head = _head(data)
    for line in head.splitlines():
        if line[:11].lower() == b"message-id:":
            return line[11:].strip().decode("ascii", "replace")[:998]
    return ""


def keep_raw(session: Session, raws: Iterable[RawMail], now: datetime) -> int:
    """Insert received messages as pending raw rows; the same bytes twice are kept once.

    Returns how many were new.
    """
    by_digest = {hashlib.sha256(raw.data).hexdigest(): raw for raw in raws}
    if not by_digest:
        return 0
    known = set(session.scalars(select(models.RawMail.sha256).where(models.RawMail.sha256.in_(by_digest))))
    rows = [{"sha256": digest, "message_id": sniff_message_id(raw.data), "source": raw.source[:500],
             "size": len(raw.data), "received_at": now, "state": "pending"}
            for digest, raw in by_digest.items() if digest not in known]
    if not rows:
        return 0
    # ON CONFLICT: another instance may have kept the same bytes since we looked; those rows come
    # back from RETURNING only when this statement inserted them
    stmt = dialect_insert(session, models.RawMail).on_conflict_do_nothing(index_elements=["sha256"])
    inserted = session.execute(stmt.returning(models.RawMail.id, models.RawMail.sha256), rows).all()
    connection = session.connection()
    small = [{"raw_id": raw_id, "data": by_digest[digest].data} for raw_id, digest in inserted
             if not blobs.is_big(connection, by_digest[digest].data)]
    if small:
        session.execute(insert(models.RawData), small)
    for raw_id, digest in inserted:
        if blobs.is_big(connection, by_digest[digest].data):  # a big one is written in slices
            blobs.keep(session, raw_id, by_digest[digest].data)
    return len(inserted)


def sniff_references(data: bytes) -> list[str]:
    """In-Reply-To, then References newest first, from the raw header block (unfolded)."""
    in_reply_to: list[bytes] = []
    references: list[bytes] = []
    for line in _FOLD.sub(b" ", _head(data)).splitlines():
        name = line[:12].lower()
        if name.startswith(b"in-reply-to:"):
            in_reply_to += _MSG_ID.findall(line, 12)
        elif name.startswith(b"references:"):
            references += _MSG_ID.findall(line, 11)
    found = dict.fromkeys(ref.decode("ascii", "replace") for ref in [*in_reply_to, *reversed(references)])
    return list(found)[:_REFERENCES_USED]


def pending_raw_ids(session: Session, limit: int) -> list[int]:
    """Raw messages to process now, oldest first, so a report precedes its replies.

    PostgreSQL: claimed for the caller's transaction (other instances skip them), minus the
    deferred ones (see the module docstring); they stay pending and come back in a later round.
    """
    raw = models.RawMail
    stmt = select(raw.id).where(raw.state == "pending").order_by(raw.id).limit(limit)
    if not is_postgres(session):
        return list(session.scalars(stmt))
    # the header block only: the batch loads each message's bytes when it gets to it
    head = select(func.substr(models.RawData.data, 1, _MESSAGE_ID_HEAD)).where(
        models.RawData.raw_id == raw.id).scalar_subquery()
    stmt = stmt.add_columns(head).with_for_update(of=raw, skip_locked=True)
    heads = {raw_id: bytes(head) for raw_id, head in session.execute(stmt)}
    deferred = _deferred(session, heads)
    return [raw_id for raw_id in heads if raw_id not in deferred]


def claim_raw_ids(session: Session, ids: Sequence[int]) -> list[int]:
    """Of the given raw ids, those still pending that this transaction now holds (quarantine retry)."""
    if not ids:
        return []
    stmt = (select(models.RawMail.id).where(models.RawMail.id.in_(ids), models.RawMail.state == "pending")
            .order_by(models.RawMail.id))
    if is_postgres(session):
        stmt = stmt.with_for_update(skip_locked=True)
    return list(session.scalars(stmt))


SMALL_MAIL = 64 * 1024  # bytes: mail this size or smaller comes with its row (most mail: a few KiB)


def raw_rows(session: Session, ids: Sequence[int]) -> list[tuple[models.RawMail, bytes | None]]:
    """These raw messages, oldest first, in one query; each with its bytes if it is small (else None:
    `raw_bytes` reads a big one when it is its turn, so a batch never holds many big ones at once)."""
    raw, data = models.RawMail, models.RawData
    small = case((raw.size <= SMALL_MAIL, data.data), else_=None)
    stmt = select(raw, small).join(data, data.raw_id == raw.id).where(raw.id.in_(ids)).order_by(raw.id)
    return [(row, None if head is None else bytes(head)) for row, head in session.execute(stmt)]


_RAW_BYTES = select(models.RawData.data).where(models.RawData.raw_id == bindparam("id"))
_RAW_HEAD = select(func.substr(models.RawData.data, 1, bindparam("limit"), type_=LargeBinary)).where(
    models.RawData.raw_id == bindparam("id"))


def raw_bytes(session: Session, raw_id: int, limit: int | None = None) -> bytes:
    """A raw message's bytes (or its first `limit`), read when needed, so that a batch holds one
    message's bytes at a time and a huge message is never read whole."""
    connection = session.connection()
    if limit is None and blobs.is_sqlite(connection):
        return blobs.read(session, raw_id)  # one copy, not SQLite's and then Python's
    stmt = _RAW_BYTES if limit is None else _RAW_HEAD
    return bytes(connection.execute(stmt, {"id": raw_id, "limit": limit}).scalar_one())


def _deferred(session: Session, heads: dict[int, bytes]) -> set[int]:
    """Ids of claimed rows (id -> header bytes, oldest first) that must wait for an older message."""
    refs = {raw_id: sniff_references(head) for raw_id, head in heads.items()}
    wanted = sorted({ref for found in refs.values() for ref in found})
    if not wanted:
        return set()
    pending: dict[str, list[int]] = {}
    stmt = select(models.RawMail.message_id, models.RawMail.id).where(
        models.RawMail.message_id.in_(wanted), models.RawMail.state == "pending")
    for message_id, raw_id in session.execute(stmt):
        pending.setdefault(message_id, []).append(raw_id)
    deferred: set[int] = set()
    for raw_id, found in refs.items():  # oldest first: a deferred parent defers its replies too
        waits_for = [earlier for ref in found for earlier in pending.get(ref, ())
                     if earlier < raw_id and (earlier not in heads or earlier in deferred)]
        if waits_for:
            deferred.add(raw_id)
            log.info("stage=store raw=%d decision=deferred waits_for=raw:%d (still pending)", raw_id,
                     min(waits_for))
    return deferred



def mark_raw(session: Session, raw: models.RawMail, mail: Mail, state: str, kind: str | None, reason: str,
             ticket: models.Ticket | None = None) -> None:
    """Record what became of a raw message, with its sender and subject for listings."""
    raw.state, raw.kind, raw.reason = state, kind, reason
    raw.sender = (mail.sender.email if mail.sender else "")[:320]
    raw.subject = mail.subject
    if ticket is not None:
        raw.ticket = ticket
    if state == "kept":
        unflushed(session).kept[raw.sender, kind] += 1


def shared_message_ids(session: Session, raw_ids: Sequence[int]) -> set[str]:
    """Message-IDs of these raw messages that another raw message carries too."""
    r, other = models.RawMail, aliased(models.RawMail)
    stmt = select(r.message_id).where(r.id.in_(raw_ids), r.message_id != "", exists().where(
        other.message_id == r.message_id, other.id != r.id))
    return set(session.scalars(stmt))


def copy_of(session: Session, mail: Mail) -> int | None:
    """The raw id of a message already recorded with this Message-ID, sender and subject, if any."""
    if not mail.message_id:
        return None
    sender = mail.sender.email if mail.sender else ""
    raw_id = unflushed(session).received.get((mail.message_id, sender, mail.subject))
    if raw_id is not None:
        return raw_id
    m = models.Message
    stmt = select(m.raw_id).where(m.message_id == mail.message_id, m.direction == "in", m.sender == sender,
                                  m.subject == mail.subject).limit(1)
    with session.no_autoflush:
        return session.scalar(stmt)
