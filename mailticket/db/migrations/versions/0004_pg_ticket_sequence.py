"""PostgreSQL: ticket numbers from the sequence ticket_number_seq; SQLite keeps the counters row

Instances on one PostgreSQL database draw ticket numbers from a sequence: no row lock is held
until the end of a batch, so their pipelines run side by side. The sequence goes on from where
the counters row (or the highest ticket number) got to. On SQLite this revision does nothing.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25
"""

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

SEQUENCE = "ticket_number_seq"  # store.TICKET_SEQUENCE


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(f"CREATE SEQUENCE {SEQUENCE} AS bigint MINVALUE 1 START 1")
    op.execute(f"""
        SELECT setval('{SEQUENCE}', n) FROM (
            SELECT GREATEST((SELECT coalesce(max(value), 0) FROM counters WHERE name = 'ticket'),
                            (SELECT coalesce(max(number), 0) FROM tickets)) AS n) AS taken
        WHERE n > 0""")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    # the older code counts with the counters row: hand it the sequence's position
    op.execute(f"""
        INSERT INTO counters (name, value) SELECT 'ticket', last_value FROM {SEQUENCE} WHERE is_called
        ON CONFLICT (name) DO UPDATE SET value = greatest(counters.value, excluded.value)""")
    op.execute(f"DROP SEQUENCE {SEQUENCE}")
