"""Record which API key owns a conversation.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade():
    # Existing conversations keep no owner: they stay readable as before.
    with op.batch_alter_table("conversations") as batch:
        batch.add_column(sa.Column("owner_key_id", sa.String(length=64), nullable=True))


def downgrade():
    with op.batch_alter_table("conversations") as batch:
        batch.drop_column("owner_key_id")
