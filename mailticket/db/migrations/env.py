"""Alembic environment: runs on the engine mailticket hands over (or alembic.ini's URL)."""

from alembic import context
from sqlalchemy import create_engine

from mailticket.db.models import Base

config = context.config
target_metadata = Base.metadata


def run_migrations_online() -> None:
    engine = config.attributes.get("engine") or create_engine(config.get_main_option("sqlalchemy.url"))
    with engine.connect() as connection:
        sqlite = connection.dialect.name == "sqlite"
        if sqlite:
            # Batch mode rebuilds a table and drops the old one; with foreign keys enforced, SQLite
            # checks every child table once per dropped row (a 100,000-ticket database took hours).
            # The switch only works outside a transaction, hence on the driver's connection.
            _foreign_keys(connection, "OFF")
        try:
            context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=sqlite)
            with context.begin_transaction():
                context.run_migrations()
                if sqlite:
                    _check_foreign_keys(connection)
            connection.commit()
        finally:
            if sqlite:
                _foreign_keys(connection, "ON")


def _foreign_keys(connection, state: str) -> None:
    connection.connection.driver_connection.execute(f"PRAGMA foreign_keys={state}")


def _check_foreign_keys(connection) -> None:
    """What enforcement would have refused, had it been on: refuse it now, before the commit."""
    broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
    if broken:
        raise RuntimeError(f"the migration broke {len(broken)} foreign key(s), e.g. {broken[0]}")


run_migrations_online()
