"""agent states: an index on updated_at for waiting check-ins

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-26 13:20:00
"""

from __future__ import annotations

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_agent_states_updated_at", "agent_states", ["updated_at"])


def downgrade() -> None:
    op.drop_index("ix_agent_states_updated_at", table_name="agent_states")
