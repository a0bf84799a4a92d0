"""Human handoff (conversation state, the agent holding it, event and agent messages) and customers' feedback.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade():
    # Every existing conversation is the bot's: the state starts as 'bot'.
    with op.batch_alter_table("conversations") as batch:
        batch.add_column(sa.Column("state", sa.String(length=16), server_default="bot", nullable=False))
        batch.add_column(sa.Column("agent_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("waiting_since", sa.DateTime(timezone=True), nullable=True))
        batch.create_check_constraint("ck_conversations_state", "state IN ('bot', 'waiting', 'agent', 'closed')")
        batch.create_foreign_key(
            "fk_conversations_agent_id_staff_accounts", "staff_accounts", ["agent_id"], ["id"], ondelete="SET NULL"
        )
    op.create_index("ix_conversations_state_waiting_since", "conversations", ["state", "waiting_since"])
    op.create_index("ix_conversations_agent_id", "conversations", ["agent_id"])
    with op.batch_alter_table("messages") as batch:
        batch.add_column(sa.Column("author", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("staff_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("event", sa.String(length=16), nullable=True))
        batch.add_column(sa.Column("state", sa.String(length=16), nullable=True))
        batch.add_column(sa.Column("trigger", sa.String(length=32), nullable=True))
        batch.add_column(sa.Column("detail", sa.Text(), nullable=True))
        batch.create_foreign_key(
            "fk_messages_staff_id_staff_accounts", "staff_accounts", ["staff_id"], ["id"], ondelete="SET NULL"
        )
    op.create_index("ix_messages_created_at", "messages", ["created_at"])
    op.create_table(
        "message_feedback",
        sa.Column("message_id", sa.Integer(), nullable=False),
        sa.Column("conversation_id", sa.String(length=36), nullable=False),
        sa.Column("rating", sa.String(length=8), nullable=False),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("rating IN ('up', 'down')", name="ck_message_feedback_rating"),
        sa.ForeignKeyConstraint(["message_id"], ["messages.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["conversation_id"], ["conversations.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("message_id"),
    )
    op.create_index("ix_message_feedback_conversation_id", "message_feedback", ["conversation_id"])
    op.create_index("ix_message_feedback_rating_updated_at", "message_feedback", ["rating", "updated_at"])


def downgrade():
    op.drop_index("ix_message_feedback_rating_updated_at", table_name="message_feedback")
    op.drop_index("ix_message_feedback_conversation_id", table_name="message_feedback")
    op.drop_table("message_feedback")
    op.drop_index("ix_messages_created_at", table_name="messages")
    with op.batch_alter_table("messages") as batch:
        batch.drop_constraint("fk_messages_staff_id_staff_accounts", type_="foreignkey")
        for column in ("detail", "trigger", "state", "event", "staff_id", "author"):
            batch.drop_column(column)
    op.drop_index("ix_conversations_agent_id", table_name="conversations")
    op.drop_index("ix_conversations_state_waiting_since", table_name="conversations")
    with op.batch_alter_table("conversations") as batch:
        batch.drop_constraint("fk_conversations_agent_id_staff_accounts", type_="foreignkey")
        batch.drop_constraint("ck_conversations_state", type_="check")
        for column in ("waiting_since", "agent_id", "state"):
            batch.drop_column(column)
