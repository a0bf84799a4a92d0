"""Create staff accounts.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "staff_accounts",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("name_key", sa.String(length=255), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("role IN ('agent', 'admin')", name="ck_staff_accounts_role"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_staff_accounts_name_key", "staff_accounts", ["name_key"], unique=True)
    op.create_index("ix_staff_accounts_token_hash", "staff_accounts", ["token_hash"], unique=True)


def downgrade():
    op.drop_index("ix_staff_accounts_token_hash", table_name="staff_accounts")
    op.drop_index("ix_staff_accounts_name_key", table_name="staff_accounts")
    op.drop_table("staff_accounts")
