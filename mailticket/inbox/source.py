"""What an inbox source hands over (protocol): batches of raw mail and how far it got.

A source reads raw messages and hands them, batch by batch, to a `Keep` sink together with its
`Checkpoint`; the sink commits both in one transaction and returns how many messages were new.
Only after that does the source mark the messages done at their origin (IMAP MOVE or keyword,
Maildir cur/), so the database stays the truth. The sink and `LoadCheckpoint` are built on the
store side (`mailticket.store.fetchstate`) and passed to the source: sources never import the store.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from mailticket.types import RawMail


@dataclass(frozen=True)
class Checkpoint:
    """Where reading a mailbox got to: IMAP keeps its UIDVALIDITY and the last UID stored."""

    source: str
    uidvalidity: int
    last_uid: int


# keep(raws, checkpoint) -> new messages: raw bytes and the checkpoint (None: the source has
# none) in one committed transaction; an empty batch with a checkpoint moves only the checkpoint
Keep = Callable[[list[RawMail], Checkpoint | None], int]
# checkpoint(source) -> the one stored for this source string, or None
LoadCheckpoint = Callable[[str], Checkpoint | None]
