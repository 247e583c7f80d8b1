"""Meta rows (shell): the Message-ID key and once-only claims shared by instances."""

from __future__ import annotations

import secrets

from sqlalchemy.orm import Session

from mailticket.db import models
from mailticket.store.dialect import insert as dialect_insert

SEND_PAUSED_UNTIL = "send:paused_until"  # the queue waits until then (a throttling server)


def secret(session: Session, configured: str) -> bytes:
    """The key for our Message-IDs: from the config, else generated once into the database."""
    if configured:
        return configured.encode()
    stmt = dialect_insert(session, models.Meta).on_conflict_do_nothing()
    session.execute(stmt, {"key": "message_id_secret", "value": secrets.token_hex(32)})
    return session.get(models.Meta, "message_id_secret").value.encode()


def claim_later(session: Session, key: str, value: str) -> bool:
    """Set meta `key` to `value` if it is unset or sorts lower; True when this call did so.

    Atomic across instances (INSERT … ON CONFLICT DO UPDATE … WHERE): of two racing for the same
    value, one wins and the other waits for it and then finds nothing to do.
    """
    stmt = dialect_insert(session, models.Meta).values(key=key, value=value)
    stmt = stmt.on_conflict_do_update(index_elements=["key"], set_={"value": stmt.excluded.value},
                                      where=models.Meta.value < stmt.excluded.value)
    return session.execute(stmt.returning(models.Meta.key)).first() is not None


def put(session: Session, key: str, value: str) -> None:
    """Set meta `key` to `value`, atomically: two instances writing the same key at once (two daemons
    on one host stopping together) both succeed, the later value stays."""
    stmt = dialect_insert(session, models.Meta).values(key=key, value=value)
    session.execute(stmt.on_conflict_do_update(index_elements=["key"], set_={"value": stmt.excluded.value}))
