"""Observations: `superseded_by`, the observation that replaced this one when a fact changed
("March 3" then "March 9", "allergic" then "not allergic"). The replaced one stays as history
and is no longer current; deleting its successor makes it current again (ON DELETE SET NULL).
Rows written before this are all current.

The pair's covering index for the in-memory cache check gains the column, and a partial index
serves the foreign key's lookups and the history of one observation.

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PAIR = ["workspace_id", "observer_id", "observed_id"]
OLD = "ix_observations_workspace_id_observer_id_observed_id_created_at"
FK = "fk_observations_superseded_by_observations"
SUPERSEDED = sa.text("superseded_by IS NOT NULL")


def upgrade() -> None:
    # SQLite rebuilds the table (batch mode) to add the foreign key; PostgreSQL alters it
    with op.batch_alter_table("observations") as batch:
        batch.add_column(sa.Column("superseded_by", sa.String(21), nullable=True))
        batch.create_foreign_key(FK, "observations", ["superseded_by"], ["id"], ondelete="SET NULL")
    op.create_index(
        "ix_observations_superseded_by",
        "observations",
        ["superseded_by"],
        sqlite_where=SUPERSEDED,
        postgresql_where=SUPERSEDED,
    )
    op.create_index(
        "ix_observations_pair_created_superseded",
        "observations",
        [*PAIR, "created_at", "superseded_by"],
    )
    op.drop_index(OLD, table_name="observations")


def downgrade() -> None:
    # History goes: only current observations were known before this revision.
    op.execute(sa.text("DELETE FROM observations WHERE superseded_by IS NOT NULL"))
    op.create_index(OLD, "observations", [*PAIR, "created_at"])
    op.drop_index("ix_observations_pair_created_superseded", table_name="observations")
    op.drop_index("ix_observations_superseded_by", table_name="observations")
    with op.batch_alter_table("observations") as batch:
        batch.drop_constraint(FK, type_="foreignkey")
        batch.drop_column("superseded_by")
