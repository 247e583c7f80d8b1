"""SLA marks: tickets.first_response_at, warned_for_due, breached_for_due

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

import mailticket.db.models

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

COLUMNS = ("first_response_at", "warned_for_due", "breached_for_due")


def upgrade() -> None:
    with op.batch_alter_table("tickets") as batch_op:
        for name in COLUMNS:
            batch_op.add_column(sa.Column(name, mailticket.db.models.UTCDateTime(), nullable=True))
        batch_op.create_index("ix_tickets_due_at", ["due_at"])


def downgrade() -> None:
    with op.batch_alter_table("tickets") as batch_op:
        batch_op.drop_index("ix_tickets_due_at")
        for name in reversed(COLUMNS):
            batch_op.drop_column(name)
