"""blocked_senders: the block list (`#spam`, `mailticket block add|remove|list`)

One row per blocked address or "@domain" (lower case): mail from it is kept with kind `blocked`,
no ticket, no reply. `why` says why (the `#spam` ticket, or the operator's text), `by` who
blocked it. Limits (acks per address, mails per ticket and address, tickets per sender) are
counted with queries on outbox, tickets and events, not with new columns; the index on
outbox.created_at keeps those queries on the last hour.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-08
"""

import sqlalchemy as sa
from alembic import op

import mailticket.db.models

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "blocked_senders",
        sa.Column("address", sa.String(320), primary_key=True),
        sa.Column("why", sa.Text(), nullable=False, server_default=""),
        sa.Column("by", sa.String(320), nullable=False, server_default=""),
        sa.Column("created_at", mailticket.db.models.UTCDateTime(), nullable=False),
    )
    with op.batch_alter_table("outbox") as batch_op:
        batch_op.create_index("ix_outbox_created_at", ["created_at"])


def downgrade() -> None:
    with op.batch_alter_table("outbox") as batch_op:
        batch_op.drop_index("ix_outbox_created_at")
    op.drop_table("blocked_senders")
