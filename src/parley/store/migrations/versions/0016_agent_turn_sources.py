"""Agent turn sources: what each stored turn copied from memory, golden SQLs, catalogs and its
own memory messages, so that a delete of any of them finds the turns to redact.

Turns stored before this revision get their sources from what their state shows (see
`_backfill`): the catalogs by id, golden SQLs and memory lines by their text, the question
and answer by the thread session's messages.

Revision ID: 0016
Revises: 0013
Create Date: 2026-11-24
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "agent_turn_sources",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("turn_id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.String(length=512), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("ref", sa.Text(), nullable=False),
        sa.Column("entry", sa.Text(), nullable=True),
        sa.Column("derived", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["turn_id"],
            ["agent_turns.id"],
            name=op.f("fk_agent_turn_sources_turn_id_agent_turns"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agent_turn_sources")),
    )
    op.create_index(
        op.f("ix_agent_turn_sources_project_id_kind_ref"),
        "agent_turn_sources",
        ["project_id", "kind", "ref"],
    )
    op.create_index(op.f("ix_agent_turn_sources_turn_id"), "agent_turn_sources", ["turn_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_agent_turn_sources_turn_id"), table_name="agent_turn_sources")
    op.drop_index(
        op.f("ix_agent_turn_sources_project_id_kind_ref"), table_name="agent_turn_sources"
    )
    op.drop_table("agent_turn_sources")
