"""Session peers: `left_at`, so a peer that leaves a session keeps its membership row (as in
Honcho 2.5.1). Search's `peer_perspective` still finds the session's messages sent while the
peer was in it, and rejoining clears the column. Rows written before this are all members.

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-24
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from parley.store.models import UTCDateTime

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("session_peers", sa.Column("left_at", UTCDateTime(), nullable=True))


def downgrade() -> None:
    # Memberships that had ended go, as they did before this revision.
    op.execute(sa.text("DELETE FROM session_peers WHERE left_at IS NOT NULL"))
    with op.batch_alter_table("session_peers") as batch:
        batch.drop_column("left_at")
