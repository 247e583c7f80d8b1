"""An index on outbox (recipients, created_at): the acknowledgement limit counts the acks one address
received within the hour; without it that count read every mail of the hour.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07
"""

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_outbox_recipients_created", "outbox", ["recipients", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_outbox_recipients_created", table_name="outbox")
