"""SQL that differs between SQLite and PostgreSQL, in one place."""

from __future__ import annotations

from sqlalchemy.orm import Session


def is_postgres(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def insert(session: Session, table):
    """The dialect's INSERT, which knows ON CONFLICT; imported here, so SQLite never loads PostgreSQL's."""
    if is_postgres(session):
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert(table)
