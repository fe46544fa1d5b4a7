"""PostgreSQL full text: a stored tsvector column instead of recomputing it per row.

Migration 0002 indexed the expression to_tsvector('english', content), so the index found
matches, but every read of a match parsed and stemmed its content again: the filter of a
newest-first scan, the recheck of a bitmap scan and ts_rank_cd each called to_tsvector (about
50 us a row on the benchmark box, 450 ms for one workspace search over 100k messages). Now
`messages.content_fts` is a generated column, STORED, computed once when a row is written (and
when its content changes), and the GIN index `ix_messages_content_fts` covers the column.
Adding the column rewrites `messages` under an exclusive lock (about 15 s per 100k rows).
SQLite is unchanged (FTS5).

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-23
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DOCUMENT = "to_tsvector('english'::regconfig, content)"


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP INDEX IF EXISTS ix_messages_content_fts")
    op.execute(
        f"ALTER TABLE messages ADD COLUMN content_fts tsvector GENERATED ALWAYS AS ({DOCUMENT}) "
        "STORED"
    )
    op.execute("CREATE INDEX ix_messages_content_fts ON messages USING gin (content_fts)")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP INDEX IF EXISTS ix_messages_content_fts")
    op.execute("ALTER TABLE messages DROP COLUMN content_fts")
    op.execute(f"CREATE INDEX ix_messages_content_fts ON messages USING gin ({DOCUMENT})")
