"""Observations: indexes that hand a pair's most derived and a session's newest observations
over in order, so a representation reads its 20 or 40 rows instead of sorting the pair's.

At 5,000 observations in a pair (SQLite): the most derived 2.5 -> 0.04 ms, a session's
newest 4.0 -> 0.13 ms (the session was checked row by row through the table, whose rows carry
their embeddings). The (pair, times_derived) index is replaced by the one with created_at.

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-23
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PAIR = ["workspace_id", "observer_id", "observed_id"]
OLD = "ix_observations_workspace_id_observer_id_observed_id_times_derived"


def upgrade() -> None:
    op.create_index(
        "ix_observations_pair_times_derived", "observations", [*PAIR, "times_derived", "created_at"]
    )
    op.create_index(
        "ix_observations_pair_session", "observations", [*PAIR, "session_id", "created_at"]
    )
    op.drop_index(op.f(OLD), table_name="observations")


def downgrade() -> None:
    op.create_index(op.f(OLD), "observations", [*PAIR, "times_derived"])
    op.drop_index("ix_observations_pair_session", table_name="observations")
    op.drop_index("ix_observations_pair_times_derived", table_name="observations")
