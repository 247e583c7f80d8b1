"""Stage `outbox` (shell): turn an Outgoing into MIME bytes and queue it in the caller's transaction.

Queued rows are delivered by `send` only after this transaction commits, so nothing leaves
before the change that caused it is durable.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, tzinfo

from sqlalchemy.orm import Session

from mailticket.core.compose import compose
from mailticket.core.thread import make_message_id
from mailticket.db import models
from mailticket.store import tickets
from mailticket.store.unflushed import unflushed
from mailticket.types import Outgoing


@dataclass(frozen=True)
class Sender:
    """Who our mail is from, and the key that signs our Message-IDs."""

    name: str
    address: str
    domain: str
    secret: bytes
    tz: tzinfo  # our Date headers are in the helpdesk's local time


def queue(session: Session, sender: Sender, out: Outgoing, ticket: models.Ticket | None,
          now: datetime) -> models.Outbox:
    """Queue one mail; when it belongs to a ticket, record it there as an outgoing message."""
    message_id = make_message_id(ticket.number if ticket else None, sender.secret, sender.domain,
                                 uuid.uuid4().hex[:16])
    data = compose(out, from_name=sender.name, from_addr=sender.address, message_id=message_id,
                   date=now.astimezone(sender.tz))
    recipients = "\n".join(dict.fromkeys((*out.to, *out.cc)))
    row = models.Outbox(ticket=ticket, kind=out.kind, message_id=message_id, sender=sender.address,
                        recipients=recipients, data=data, status="queued", attempts=0,
                        created_at=now, next_attempt_at=now)
    session.add(row)
    unflushed(session).queued(row, recipients.split("\n"))
    if ticket is not None:
        tickets.add_message(session, models.Message(
            ticket=ticket, direction="out", kind=out.kind, sender=sender.address, recipients=recipients,
            subject=out.subject, date=now, message_id=message_id, text=out.text, outbox=row,
        ))
    return row
