"""PostgreSQL search: a stored tsvector column, and scope indexes for message embeddings.

Migration 0002 indexed the expression to_tsvector('english', content), so the index found
matches, but every read of a match parsed and stemmed its content again: the filter of a
newest-first scan, the recheck of a bitmap scan and ts_rank_cd each called to_tsvector (about
50 us a row on the benchmark box, 450 ms for one workspace search over 100k messages). Now
`messages.content_fts` is a generated column, STORED, computed once when a row is written (and
when its content changes), and the GIN index `ix_messages_content_fts` covers the column.
Adding the column rewrites `messages` under an exclusive lock (about 15 s per 100k rows).

The vector side filters a session or peer search on `message_embeddings`' own copy of the
scope instead of joining `messages` per HNSW candidate; its indexes on (workspace_id,
session_id) and (workspace_id, peer_id) let the planner scan a small session or peer exactly
rather than walk HNSW (or every embedding) for a few matches.

SQLite is unchanged: FTS5, and vectors searched in memory per workspace.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-23
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DOCUMENT = "to_tsvector('english'::regconfig, content)"
SCOPE_INDEXES = {
    "ix_message_embeddings_workspace_id_session_id": "(workspace_id, session_id)",
    "ix_message_embeddings_workspace_id_peer_id": "(workspace_id, peer_id)",
}


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP INDEX IF EXISTS ix_messages_content_fts")
    op.execute(
        f"ALTER TABLE messages ADD COLUMN content_fts tsvector GENERATED ALWAYS AS ({DOCUMENT}) "
        "STORED"
    )
    op.execute("CREATE INDEX ix_messages_content_fts ON messages USING gin (content_fts)")
    for name, columns in SCOPE_INDEXES.items():
        op.execute(f"CREATE INDEX {name} ON message_embeddings {columns}")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for name in SCOPE_INDEXES:
        op.execute(f"DROP INDEX IF EXISTS {name}")
    op.execute("DROP INDEX IF EXISTS ix_messages_content_fts")
    op.execute("ALTER TABLE messages DROP COLUMN content_fts")
    op.execute(f"CREATE INDEX ix_messages_content_fts ON messages USING gin ({DOCUMENT})")
