"""SQLite full text with scope tokens: search within a peer or a session without walking the
whole workspace's matches.

The FTS5 table becomes contentless with two columns: `content` and `scope`, whose tokens name
the message's workspace, session and peer (`w`/`s`/`p` + hex of the id + `x`, so the tokenizer
keeps each as one token and the stemmer leaves it alone). A scoped query ANDs the scope token
into MATCH, and FTS5 intersects its lists instead of SQL filtering every match. PostgreSQL is
unchanged.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-23
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCOPE = (
    "'w' || lower(hex({row}.workspace_id)) || 'x s' || lower(hex({row}.session_id)) "
    "|| 'x p' || lower(hex({row}.peer_id)) || 'x'"
)
OLD_TRIGGERS = ("messages_fts_insert", "messages_fts_delete", "messages_fts_update")

SCOPED = [
    """CREATE VIRTUAL TABLE messages_fts USING fts5(
        content, scope, content='', tokenize='porter unicode61 remove_diacritics 2')""",
    f"""CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages BEGIN
        INSERT INTO messages_fts(rowid, content, scope)
        VALUES (new.seq, new.content, {SCOPE.format(row="new")});
    END""",
    f"""CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages BEGIN
        INSERT INTO messages_fts(messages_fts, rowid, content, scope)
        VALUES ('delete', old.seq, old.content, {SCOPE.format(row="old")});
    END""",
    f"""CREATE TRIGGER messages_fts_update AFTER UPDATE OF content ON messages BEGIN
        INSERT INTO messages_fts(messages_fts, rowid, content, scope)
        VALUES ('delete', old.seq, old.content, {SCOPE.format(row="old")});
        INSERT INTO messages_fts(rowid, content, scope)
        VALUES (new.seq, new.content, {SCOPE.format(row="new")});
    END""",
    f"""INSERT INTO messages_fts(rowid, content, scope)
        SELECT seq, content, {SCOPE.format(row="messages")} FROM messages""",
]

UNSCOPED = [
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


def _replace(statements: list[str]) -> None:
    for name in OLD_TRIGGERS:
        op.execute(f"DROP TRIGGER IF EXISTS {name}")
    op.execute("DROP TABLE IF EXISTS messages_fts")
    for statement in statements:
        op.execute(statement)


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        _replace(SCOPED)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        _replace(UNSCOPED)
