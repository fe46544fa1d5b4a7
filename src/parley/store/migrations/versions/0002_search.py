"""Search: message embeddings, full-text indexes, and the meta table.

SQLite gets an FTS5 table over messages.content (external content, kept in step by triggers);
PostgreSQL gets a GIN index over to_tsvector('english', content). The HNSW index over the
embeddings depends on the configured model's dimensions and is created at start-up.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from parley.store.models import EmbeddingVector

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NAME = sa.String(length=512)

SQLITE_FTS = [
    """CREATE VIRTUAL TABLE messages_fts USING fts5(
        content, content='messages', content_rowid='seq',
        tokenize='porter unicode61 remove_diacritics 2')""",
    """CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages BEGIN
        INSERT INTO messages_fts(rowid, content) VALUES (new.seq, new.content);
    END""",
    """CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages BEGIN
        INSERT INTO messages_fts(messages_fts, rowid, content)
        VALUES ('delete', old.seq, old.content);
    END""",
    """CREATE TRIGGER messages_fts_update AFTER UPDATE OF content ON messages BEGIN
        INSERT INTO messages_fts(messages_fts, rowid, content)
        VALUES ('delete', old.seq, old.content);
        INSERT INTO messages_fts(rowid, content) VALUES (new.seq, new.content);
    END""",
    "INSERT INTO messages_fts(messages_fts) VALUES ('rebuild')",
]


def upgrade() -> None:
    op.create_table(
        "message_embeddings",
        sa.Column("seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("workspace_id", NAME, nullable=False),
        sa.Column("session_id", NAME, nullable=False),
        sa.Column("peer_id", NAME, nullable=False),
        sa.Column("embedding", EmbeddingVector(), nullable=False),
        sa.ForeignKeyConstraint(
            ["seq"],
            ["messages.seq"],
            name=op.f("fk_message_embeddings_seq_messages"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_message_embeddings")),
    )
    op.create_index(
        op.f("ix_message_embeddings_workspace_id_seq"),
        "message_embeddings",
        ["workspace_id", "seq"],
    )
    op.create_table(
        "parley_meta",
        sa.Column("key", sa.String(length=100), nullable=False),
        sa.Column(
            "value", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False
        ),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_parley_meta")),
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute("CREATE EXTENSION IF NOT EXISTS vector")
        op.execute(
            "CREATE INDEX ix_messages_content_fts ON messages "
            "USING gin (to_tsvector('english', content))"
        )
    else:
        for statement in SQLITE_FTS:
            op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_messages_content_fts")
    else:
        for name in ("messages_fts_insert", "messages_fts_delete", "messages_fts_update"):
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
        op.execute("DROP TABLE IF EXISTS messages_fts")
    op.drop_table("parley_meta")
    op.drop_table("message_embeddings")
