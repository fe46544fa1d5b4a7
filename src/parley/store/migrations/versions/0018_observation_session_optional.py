"""Observations: `session_id` may be null. Honcho 3 creates a conclusion without a session
(`POST /v3/workspaces/{w}/conclusions` with no `session_id`); such a row belongs to its
observer/observed pair only, and no session scope (a session context, a session's
representation) shows it. Rows written before this all have a session.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # SQLite rebuilds the table (batch mode); PostgreSQL drops the constraint in place
    with op.batch_alter_table("observations") as batch:
        batch.alter_column("session_id", existing_type=sa.String(512), nullable=True)


def downgrade() -> None:
    # Sessionless conclusions go: every observation had a session before this revision.
    op.execute(sa.text("DELETE FROM observations WHERE session_id IS NULL"))
    with op.batch_alter_table("observations") as batch:
        batch.alter_column("session_id", existing_type=sa.String(512), nullable=False)
