"""The acknowledgement limit's index covers acks only (`WHERE kind = 'ack'`): an ack has one recipient,
while a relay or notification lists every Cc or staff member, and on PostgreSQL a B-tree entry over
~2.7 kB fails the INSERT (a relay to a reporter with a hundred Cc addresses was quarantined).

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

ACKS = sa.text("kind = 'ack'")


def upgrade() -> None:
    op.drop_index("ix_outbox_recipients_created", table_name="outbox")
    op.create_index("ix_outbox_ack_recipients_created", "outbox", ["recipients", "created_at"],
                    postgresql_where=ACKS, sqlite_where=ACKS)


def downgrade() -> None:
    op.drop_index("ix_outbox_ack_recipients_created", table_name="outbox")
    op.create_index("ix_outbox_recipients_created", "outbox", ["recipients", "created_at"])
