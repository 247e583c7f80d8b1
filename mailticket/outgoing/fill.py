"""Stage `send` (shell): put the files a queued mail refers to into it, just before it is delivered.

A queued mail that carries files holds a reference to each (`core.filerefs`); the bytes are read
here from the raw message they came with, checked against their sha256 and written into the mail
in memory. The row keeps its references: the filled mail is set as the row object's committed
value, never written back. A chunk of rows is cut before a second mail with files, so that one such
mail at a time is held filled (a 20 MB file: its base64 text, once).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from mailticket.core import filerefs
from mailticket.db import models
from mailticket.store import rawmail

log = logging.getLogger("mailticket.send")

Refuse = Callable[[models.Outbox, Exception], None]  # settle a row as failed


def deliverable(session: Session, rows: list[models.Outbox],
                refuse: Refuse) -> tuple[list[models.Outbox], bool]:
    """The rows to deliver now, and whether more were left for the next chunk.

    Rows without files pass as they are; the first one with files ends the chunk (filled, when it
    is the first row). A row whose file is gone is refused (failed) and the rest go on."""
    for index, row in enumerate(rows):
        if not filerefs.refs_in(row.data):
            continue
        if index:
            return rows[:index], True
        try:
            fill(session, row)
        except filerefs.FileGone as exc:
            log.error("stage=send outbox=%d kind=%s decision=failed error=%s", row.id, row.kind, exc)
            refuse(row, exc)
            return [], True
        return [row], len(rows) > 1
    return rows, False


def fill(session: Session, row: models.Outbox) -> None:
    """Put the row's files into its mail (in memory only)."""
    refs = [ref for _span, ref in filerefs.refs_in(row.data)]
    files: dict[filerefs.Ref, bytes] = {}
    for raw_id in sorted({ref.raw_id for ref in refs}):
        wanted = [ref for ref in refs if ref.raw_id == raw_id]
        files.update(filerefs.take(rawmail.raw_bytes(session, raw_id), wanted))
    set_committed_value(row, "data", filerefs.fill(row.data, files))
