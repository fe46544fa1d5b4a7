"""Observations: facts peers hold about peers, with their embeddings.

The PostgreSQL HNSW index over the embeddings depends on the configured model's dimensions and
is created at start-up (parley.store.meta), like the one over message embeddings.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from parley.store.models import EmbeddingVector, UTCDateTime

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NAME = sa.String(length=512)


def _json() -> sa.types.TypeEngine:
    return sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "observations",
        sa.Column("id", sa.String(length=21), nullable=False),
        sa.Column("workspace_id", NAME, nullable=False),
        sa.Column("observer_id", NAME, nullable=False),
        sa.Column("observed_id", NAME, nullable=False),
        sa.Column("session_id", NAME, nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("level", sa.String(length=20), nullable=False),
        sa.Column("premises", _json(), nullable=False),
        sa.Column("message_ids", _json(), nullable=False),
        sa.Column("times_derived", sa.Integer(), nullable=False),
        sa.Column("embedding", EmbeddingVector(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id", "observer_id"],
            ["peers.workspace_id", "peers.id"],
            name=op.f("fk_observations_workspace_id_observer_id_peers"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id", "observed_id"],
            ["peers.workspace_id", "peers.id"],
            name=op.f("fk_observations_workspace_id_observed_id_peers"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id", "session_id"],
            ["sessions.workspace_id", "sessions.id"],
            name=op.f("fk_observations_workspace_id_session_id_sessions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_observations")),
    )
    for columns in (
        ["workspace_id", "observer_id", "observed_id"],
        ["workspace_id", "session_id"],
        ["workspace_id", "observed_id"],
    ):
        op.create_index(op.f(f"ix_observations_{'_'.join(columns)}"), "observations", columns)


def downgrade() -> None:
    op.drop_table("observations")  # the start-up HNSW index goes with it
