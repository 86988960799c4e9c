"""hardware: the definitive hardware store (models and items)

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "hardware_models",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=63), nullable=False),
        sa.Column("vendor", sa.String(length=200), nullable=False),
        sa.Column("model", sa.String(length=200), nullable=False),
        sa.Column("specification", sa.JSON(), nullable=False),
        sa.Column("minimum_stock", sa.Integer(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
    )
    op.create_table(
        "hardware_items",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("serial", sa.String(length=128), nullable=False),
        sa.Column("asset_tag", sa.String(length=64), nullable=True),
        sa.Column("model_id", sa.Integer(), nullable=False),
        sa.Column("build", sa.JSON(), nullable=False),
        sa.Column("store_location", sa.String(length=200), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("reserved_for_target_id", sa.Integer(), nullable=True),
        sa.Column("state_reason", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["model_id"], ["hardware_models.id"], ondelete="RESTRICT"),
        sa.ForeignKeyConstraint(["reserved_for_target_id"], ["targets.id"], ondelete="RESTRICT"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("serial"),
        sa.UniqueConstraint("asset_tag"),
    )
    op.create_index(op.f("ix_hardware_items_model_id"), "hardware_items", ["model_id"])
    op.create_index(op.f("ix_hardware_items_state"), "hardware_items", ["state"])
    op.create_index(
        op.f("ix_hardware_items_reserved_for_target_id"),
        "hardware_items",
        ["reserved_for_target_id"],
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_hardware_items_reserved_for_target_id"), table_name="hardware_items")
    op.drop_index(op.f("ix_hardware_items_state"), table_name="hardware_items")
    op.drop_index(op.f("ix_hardware_items_model_id"), table_name="hardware_items")
    op.drop_table("hardware_items")
    op.drop_table("hardware_models")
