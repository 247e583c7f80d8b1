"""tickets.merged_into: the number of the ticket this one was merged into (#gabung), else NULL

A merged ticket is closed and keeps its number; replies to its token or to its messages land on
the ticket it was merged into.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-14
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("tickets") as batch_op:
        batch_op.add_column(sa.Column("merged_into", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("tickets") as batch_op:
        batch_op.drop_column("merged_into")
