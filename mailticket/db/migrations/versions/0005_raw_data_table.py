"""Raw bytes in their own table, raw_data, apart from the raw_mail row that processing updates

SQLite rewrites a whole row on UPDATE, blob included: marking a 20 KB message processed wrote it
to the log a second time. The bytes now sit in raw_data (one row per raw_mail row, written once
with it, never updated); raw_mail keeps what changes.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "raw_data",
        sa.Column("raw_id", sa.Integer(), sa.ForeignKey("raw_mail.id"), primary_key=True),
        sa.Column("data", sa.LargeBinary(), nullable=False),
    )
    op.execute("INSERT INTO raw_data (raw_id, data) SELECT id, data FROM raw_mail")
    with op.batch_alter_table("raw_mail") as batch_op:
        batch_op.drop_column("data")


def downgrade() -> None:
    with op.batch_alter_table("raw_mail") as batch_op:
        batch_op.add_column(sa.Column("data", sa.LargeBinary(), nullable=True))
    op.execute("UPDATE raw_mail SET data = (SELECT data FROM raw_data WHERE raw_data.raw_id = raw_mail.id)")
    with op.batch_alter_table("raw_mail") as batch_op:
        batch_op.alter_column("data", existing_type=sa.LargeBinary(), nullable=False)
    op.drop_table("raw_data")
