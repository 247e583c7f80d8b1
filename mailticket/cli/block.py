"""`mailticket block add|remove|list` and `mailticket mail open ID` (cli/main.py wires them): the block
list, and a kept mail made a ticket after all (a false positive of the filter, block list or flood limit).

Blocked senders' mail is kept as `blocked`: no ticket, no reply. Staff and coordinator addresses and our
own cannot be blocked (their mail steers tickets; a staff auto-responder is stopped by the filter and
the per-address limit instead); a blocked "@domain" never stops a staff member of that domain either.
`mail open ID` runs the kept mail through the pipeline again with the filter's verdict set to report,
no block and no flood limit: it opens (or, in a ticket's thread, follows up) as any report does, with
its acknowledgement.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session, sessionmaker

from mailticket.config import Settings
from mailticket.db import models
from mailticket.db.session import transaction
from mailticket.enums import Kind
from mailticket.store import trust
from mailticket.types import Verdict


def checked(entry: str, settings: Settings) -> str:
    """The entry as the list keeps it; ValueError (said in one line) when it is no address or
    @domain, or a staff, coordinator or our own address."""
    entry = trust.normalise(entry)
    _local, at, domain = entry.rpartition("@")
    if not at or "." not in domain or " " in entry:
        raise ValueError(f"not an address or @domain: {entry!r}")
    staff = settings.staff
    protected = {p.email.lower() for p in (*staff.members, *staff.coordinators)} | {settings.helpdesk.address}
    if entry in protected:
        raise ValueError(f"{entry} is a staff, coordinator or our own address: it cannot be blocked")
    return entry


def add(factory: sessionmaker[Session], settings: Settings, entry: str, why: str, now: datetime) -> str:
    entry = checked(entry, settings)
    with transaction(factory) as session:
        added = trust.block(session, entry, why, "cli", now)
    return f"blocked {entry}" if added else f"{entry} was blocked already"


def remove(factory: sessionmaker[Session], entry: str) -> tuple[bool, str]:
    entry = trust.normalise(entry)
    with transaction(factory) as session:
        removed = trust.unblock(session, entry)
    return removed, f"unblocked {entry}" if removed else f"{entry} is not blocked"


def listed(factory: sessionmaker[Session], settings: Settings) -> list[dict]:
    tz = settings.helpdesk.tz
    with transaction(factory) as session:
        return [{"address": r.address, "why": r.why, "by": r.by,
                 "created_at": r.created_at.astimezone(tz).isoformat()} for r in trust.blocked_list(session)]


def open_kept(app, raw_id: int) -> tuple[bool, str]:
    """Run kept mail `raw_id` through the pipeline as a report; (opened a ticket, what to print)."""
    with transaction(app.factory) as session:
        raw = session.get(models.RawMail, raw_id)
        if raw is None or raw.state != "kept":
            raise ValueError(f"no kept mail {raw_id} (see mailticket mail list)")
        was = f"{raw.kind}: {raw.reason or ''}".strip()
        raw.state, raw.kind, raw.reason = "pending", None, None
    app.pipeline.forced[raw_id] = Verdict(Kind.REPORT, f"opened by `mail open` (was {was})"[:500])
    outcomes = app.pipeline.process_pending(only=[raw_id])
    app.send()
    outcome = outcomes[0] if outcomes else None
    if outcome is None or outcome.state != "ticket":
        return False, f"mail {raw_id}: {outcome.decision if outcome else 'not processed'}"
    return True, f"mail {raw_id}: {outcome.decision} {outcome.token}"
