"""Report, survey and auto-close: tickets.rating, rating_comment, reminded_for_waiting; read-path
indexes; first_response_at backfilled from the messages

- `rating` (1-4, NULL when the reporter gave none) and `rating_comment`: the satisfaction survey's
  answer (IKM, Permenpan RB 14/2017); a second answer replaces the first.
- `reminded_for_waiting`: the `waiting_since` the auto-close reminder was sent for, so that each
  wait gets one reminder, across restarts and instances (like warned_for_due).
- Indexes: `(status, due_at)` on tickets for `tickets list --overdue` and the SLA check,
  `raw_mail.kind` for `mail list`.
- `first_response_at` of tickets that have none: the date of their first outgoing relay or closing.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

import mailticket.db.models

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

BACKFILL = sa.text(
    "UPDATE tickets SET first_response_at = ("
    " SELECT min(m.date) FROM messages m WHERE m.ticket_id = tickets.id"
    " AND m.direction = 'out' AND m.kind IN ('relay', 'closing'))"
    " WHERE first_response_at IS NULL")


def upgrade() -> None:
    with op.batch_alter_table("tickets") as batch_op:
        batch_op.add_column(sa.Column("rating", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("rating_comment", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("reminded_for_waiting", mailticket.db.models.UTCDateTime(),
                                      nullable=True))
        batch_op.create_index("ix_tickets_status_due", ["status", "due_at"])
    with op.batch_alter_table("raw_mail") as batch_op:
        batch_op.create_index("ix_raw_mail_kind", ["kind"])
    op.execute(BACKFILL)


def downgrade() -> None:
    with op.batch_alter_table("raw_mail") as batch_op:
        batch_op.drop_index("ix_raw_mail_kind")
    with op.batch_alter_table("tickets") as batch_op:
        batch_op.drop_index("ix_tickets_status_due")
        batch_op.drop_column("reminded_for_waiting")
        batch_op.drop_column("rating_comment")
        batch_op.drop_column("rating")
