"""partner_forwards and tickets.waiting_on: the other service owners (#teruskan, issue 19)

- `partner_forwards`: one row per #teruskan of a ticket to a partner of [partners] (partner name,
  when, by whom, the staff member's text), `remind_at` (remind_after on the SLA calendar),
  `answered_at` (the partner's first answer after it) and `reminded_at` (the one reminder to the
  assignee went out; claimed with FOR UPDATE SKIP LOCKED, so once across restarts and instances).
- `tickets.waiting_on`: the partner whose answer the ticket waits for (NULL: none).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

import mailticket.db.models

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "partner_forwards",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("ticket_id", sa.Integer(), sa.ForeignKey("tickets.id"), nullable=False),
        sa.Column("partner", sa.String(64), nullable=False),
        sa.Column("at", mailticket.db.models.UTCDateTime(), nullable=False),
        sa.Column("by", sa.String(320), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("remind_at", mailticket.db.models.UTCDateTime(), nullable=False),
        sa.Column("answered_at", mailticket.db.models.UTCDateTime(), nullable=True),
        sa.Column("reminded_at", mailticket.db.models.UTCDateTime(), nullable=True),
    )
    op.create_index("ix_partner_forwards_ticket_id", "partner_forwards", ["ticket_id"])
    op.create_index("ix_partner_forwards_partner", "partner_forwards", ["partner"])
    op.create_index("ix_partner_forwards_remind_at", "partner_forwards", ["remind_at"])
    with op.batch_alter_table("tickets") as batch_op:
        batch_op.add_column(sa.Column("waiting_on", sa.String(64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("tickets") as batch_op:
        batch_op.drop_column("waiting_on")
    op.drop_index("ix_partner_forwards_remind_at", table_name="partner_forwards")
    op.drop_index("ix_partner_forwards_partner", table_name="partner_forwards")
    op.drop_index("ix_partner_forwards_ticket_id", table_name="partner_forwards")
    op.drop_table("partner_forwards")
