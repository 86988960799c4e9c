"""webhooks: the previous secret, still signing until a moment, after a rotation

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-26 16:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("webhooks") as table:
        table.add_column(sa.Column("previous_secret_sealed", sa.Text(), nullable=True))
        table.add_column(
            sa.Column("previous_secret_until", sa.DateTime(timezone=True), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("webhooks") as table:
        table.drop_column("previous_secret_until")
        table.drop_column("previous_secret_sealed")
