"""Per-workspace counts of inserted and deleted message embeddings, kept by SQLite triggers.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SQLITE_TRIGGERS = [
    """CREATE TRIGGER message_embeddings_count_insert AFTER INSERT ON message_embeddings BEGIN
        INSERT INTO message_embedding_counts(workspace_id, inserted, deleted)
        VALUES (new.workspace_id, 1, 0)
        ON CONFLICT(workspace_id) DO UPDATE SET inserted = inserted + 1;
    END""",
    """CREATE TRIGGER message_embeddings_count_delete AFTER DELETE ON message_embeddings BEGIN
        INSERT INTO message_embedding_counts(workspace_id, inserted, deleted)
        VALUES (old.workspace_id, 0, 1)
        ON CONFLICT(workspace_id) DO UPDATE SET deleted = deleted + 1;
    END""",
    """INSERT INTO message_embedding_counts(workspace_id, inserted, deleted)
        SELECT workspace_id, count(*), 0 FROM message_embeddings GROUP BY workspace_id""",
]


def upgrade() -> None:
    op.create_table(
        "message_embedding_counts",
        sa.Column("workspace_id", sa.String(length=512), nullable=False),
        sa.Column("inserted", sa.BigInteger(), nullable=False),
        sa.Column("deleted", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("workspace_id", name=op.f("pk_message_embedding_counts")),
    )
    if op.get_bind().dialect.name == "sqlite":
        for statement in SQLITE_TRIGGERS:
            op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TRIGGER IF EXISTS message_embeddings_count_insert")
        op.execute("DROP TRIGGER IF EXISTS message_embeddings_count_delete")
    op.drop_table("message_embedding_counts")
