"""A column's categorical values remember who chose them: NULL automatic (a refresh decides from
the data), N > 0 generated on request with limit N (a refresh recomputes them with N), 0 turned
off on request (a refresh leaves them off).

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("data_columns") as batch:
        batch.add_column(sa.Column("categorical_limit", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("data_columns") as batch:
        batch.drop_column("categorical_limit")
