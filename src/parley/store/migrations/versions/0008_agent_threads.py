"""The data agent's threads and turns.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from parley.store.models import UTCDateTime

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "agent_threads",
        sa.Column("project_id", sa.String(length=512), nullable=False),
        sa.Column("id", sa.String(length=512), nullable=False),
        sa.Column("user_peer_id", sa.String(length=512), nullable=False),
        sa.Column("display_name", sa.Text(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["workspaces.id"],
            name=op.f("fk_agent_threads_project_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("project_id", "id", name=op.f("pk_agent_threads")),
    )
    op.create_index(
        op.f("ix_agent_threads_project_id_updated_at"),
        "agent_threads",
        ["project_id", "updated_at"],
        unique=False,
    )
    op.create_table(
        "agent_turns",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("project_id", sa.String(length=512), nullable=False),
        sa.Column("thread_id", sa.String(length=512), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("question", sa.Text(), nullable=False),
        sa.Column("answer", sa.Text(), nullable=False),
        sa.Column("state", JSON, nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id", "thread_id"],
            ["agent_threads.project_id", "agent_threads.id"],
            name=op.f("fk_agent_turns_project_id_thread_id_agent_threads"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agent_turns")),
        sa.UniqueConstraint(
            "project_id", "thread_id", "seq", name=op.f("uq_agent_turns_project_id_thread_id_seq")
        ),
    )


def downgrade() -> None:
    op.drop_table("agent_turns")
    op.drop_index(op.f("ix_agent_threads_project_id_updated_at"), table_name="agent_threads")
    op.drop_table("agent_threads")
