"""outbox.refused: the recipients the server refused for a row, each with its answer (JSON)

A mail accepted for some recipients is sent; the ones refused were only in the log. They are
kept on the row now, as a JSON object {address: "550 5.1.1 …"}, for `tickets show` and `status`.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("outbox") as batch_op:
        batch_op.add_column(sa.Column("refused", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("outbox") as batch_op:
        batch_op.drop_column("refused")
