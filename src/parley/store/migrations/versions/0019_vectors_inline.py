"""PostgreSQL: embeddings are kept in their row (`SET STORAGE MAIN`), not in the TOAST table.

pgvector's `vector` type is stored `EXTERNAL`: a value over about 2 KB (anything above 508
dimensions) goes out of line, so every distance computed from the heap first reads the
vector's chunks through the TOAST index. An exact scan of a session's or peer's rows, which
0011's scope indexes serve, spends most of its time there: over 500 rows of 1,536 dimensions
2.7 ms out of line against 0.4 ms inline, over 5,000 rows 44 ms against 12-22 ms
(PostgreSQL 18, pgvector 0.8, this machine). `MAIN` keeps a value in its row whenever the row
fits a page, which a vector up to about 2,000 dimensions does, and still moves a larger one out
of line (`PLAIN` would refuse it). Only rows written from now on are inline; rows already
stored stay where they are until they are written again.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-02
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# every EmbeddingVector column
VECTOR_COLUMNS = (
    ("message_embeddings", "embedding"),
    ("observations", "embedding"),
    ("golden_sqls", "embedding"),
    ("data_tables", "embedding"),
)


def _set_storage(storage: str) -> None:
    if op.get_bind().dialect.name != "postgresql":
        return  # SQLite stores a BLOB in its row already
    for table, column in VECTOR_COLUMNS:
        op.execute(f"ALTER TABLE {table} ALTER COLUMN {column} SET STORAGE {storage}")


def upgrade() -> None:
    _set_storage("MAIN")


def downgrade() -> None:
    _set_storage("EXTERNAL")  # pgvector's own choice for its type
