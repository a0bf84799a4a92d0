"""Keep the FAQ knowledge base in the database, versioned; record which entry answered (hit history).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade():
    # Empty tables: the app seeds them from FAQ_FILE on first use (exactly one process does).
    op.create_table(
        "faq_entries",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("answer", sa.Text(), nullable=False),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("from_message_id", sa.Integer(), nullable=True),
        sa.Column("from_conversation_id", sa.String(length=36), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["from_message_id"], ["messages.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["from_conversation_id"], ["conversations.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_faq_entries_from_message_id", "faq_entries", ["from_message_id"])
    op.create_index("ix_faq_entries_from_conversation_id", "faq_entries", ["from_conversation_id"])
    op.create_table(
        "faq_phrasings",
        sa.Column("entry_id", sa.String(length=64), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["entry_id"], ["faq_entries.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("entry_id", "position"),
    )
    op.create_table(
        "faq_concepts",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("phrases", sa.JSON(), nullable=False),
        sa.Column("aspect", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    op.create_table(
        "knowledge_base_version",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("id = 1", name="ck_knowledge_base_version_single_row"),
        sa.PrimaryKeyConstraint("id"),
    )
    # Answers stored before this revision name no entry: their hits are not counted.
    with op.batch_alter_table("messages") as batch:
        batch.add_column(sa.Column("faq_id", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("faq_score", sa.Float(), nullable=True))
    op.create_index("ix_messages_faq_id_created_at", "messages", ["faq_id", "created_at"])


def downgrade():
    op.drop_index("ix_messages_faq_id_created_at", table_name="messages")
    with op.batch_alter_table("messages") as batch:
        batch.drop_column("faq_score")
        batch.drop_column("faq_id")
    op.drop_table("knowledge_base_version")
    op.drop_table("faq_concepts")
    op.drop_table("faq_phrasings")
    op.drop_index("ix_faq_entries_from_conversation_id", table_name="faq_entries")
    op.drop_index("ix_faq_entries_from_message_id", table_name="faq_entries")
    op.drop_table("faq_entries")
