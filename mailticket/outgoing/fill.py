"""Stage `send` (shell): put the files a queued mail refers to into it, just before it is delivered.

A queued mail that carries files holds a reference to each (`core.filerefs`); the bytes are read
here from the raw message they came with, checked against their sha256 and written into the mail
in memory. The row keeps its references: the filled mail is set as the row object's committed
value, never written back, and emptied once delivered, so that one such mail at a time is held
filled (a 20 MB file: its base64 text, once).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator

from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from mailticket.core import filerefs
from mailticket.db import models
from mailticket.store import rawmail

log = logging.getLogger("mailticket.send")

Refuse = Callable[[models.Outbox, Exception], None]  # settle a row as failed


FILLED_AT_ONCE = 8 * 1024 * 1024  # bytes of filled mail held for one delivery call (one sync, one connection)


def runs(rows: list[models.Outbox],
         fill_one: Callable[[models.Outbox], bool]) -> Iterator[list[models.Outbox]]:
    """The rows in the runs to deliver: every row without files together first, then the rows with
    files, filled (`fill_one`; False: refused, skipped) just before they go, in runs of at most
    FILLED_AT_ONCE bytes (a big one alone) and emptied once delivered. The rows are read once."""
    with_files = [row for row in rows if filerefs.refs_in(row.data)]
    plain = [row for row in rows if row not in with_files]
    if plain:
        yield plain
    run: list[models.Outbox] = []
    size = 0
    for row in with_files:
        if not fill_one(row):
            continue
        run.append(row)
        size += len(row.data)
        if size >= FILLED_AT_ONCE:
            yield from _delivered(run)
            run, size = [], 0
    if run:
        yield from _delivered(run)


def _delivered(run: list[models.Outbox]) -> Iterator[list[models.Outbox]]:
    yield run
    for row in run:
        set_committed_value(row, "data", b"")  # delivered: let the filled mail go


def deliverable(session: Session, rows: list[models.Outbox],
                refuse: Refuse) -> tuple[list[models.Outbox], bool]:
    """The rows to deliver now, and whether more were left for the next chunk (PostgreSQL claims).

    Rows without files pass as they are; the first one with files ends the chunk (filled, when it
    is the first row). A row whose file is gone is refused (failed) and the rest go on."""
    for index, row in enumerate(rows):
        if not filerefs.refs_in(row.data):
            continue
        if index:
            return rows[:index], True
        if not fill_or_refuse(session, row, refuse):
            return [], True
        return [row], len(rows) > 1
    return rows, False


def fill_or_refuse(session: Session, row: models.Outbox, refuse: Refuse) -> bool:
    """Fill the row's files in; a file that is gone refuses the row (False)."""
    try:
        fill(session, row)
    except filerefs.FileGone as exc:
        log.error("stage=send outbox=%d kind=%s decision=failed error=%s", row.id, row.kind, exc)
        refuse(row, exc)
        return False
    return True


def fill(session: Session, row: models.Outbox) -> None:
    """Put the row's files into its mail (in memory only)."""
    refs = [ref for _span, ref in filerefs.refs_in(row.data)]
    files: dict[filerefs.Ref, bytes] = {}
    for raw_id in sorted({ref.raw_id for ref in refs}):
        wanted = [ref for ref in refs if ref.raw_id == raw_id]
        files.update(filerefs.take(rawmail.raw_bytes(session, raw_id), wanted))
    set_committed_value(row, "data", filerefs.fill(row.data, files))
