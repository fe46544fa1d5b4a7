"""SQLite full text: session and peer tokens that name their workspace too.

Migration 0007 gave each message three scope tokens: its workspace (`w<hex>x`), session
(`s<hex>x`) and peer (`p<hex>x`). A session or peer id is unique only within its workspace, so
a session search had to AND the workspace token in as well, and bm25 reads the whole posting
list of every query term once per query: about 12 ms for a workspace of 100k messages, on every
session or peer search. Now the session token is `s<hex workspace>y<hex session>x` and the
peer token `p<hex workspace>y<hex peer>x` (`y` is no hex digit, so the pair is unambiguous):
each is unique, and a scoped query needs only its own, short list. Still three tokens per row,
so bm25's document lengths, and every score, stay the same. PostgreSQL is unchanged.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-23
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

HEX = "lower(hex({row}.{column}))"
WORKSPACE = HEX.format(row="{row}", column="workspace_id")
UNIQUE = (
    f"'w' || {WORKSPACE} || 'x s' || {WORKSPACE} || 'y' || "
    + HEX.format(row="{row}", column="session_id")
    + f" || 'x p' || {WORKSPACE} || 'y' || "
    + HEX.format(row="{row}", column="peer_id")
    + " || 'x'"
)
PER_WORKSPACE = (  # migration 0007's tokens
    "'w' || lower(hex({row}.workspace_id)) || 'x s' || lower(hex({row}.session_id)) "
    "|| 'x p' || lower(hex({row}.peer_id)) || 'x'"
)
TRIGGERS = ("messages_fts_insert", "messages_fts_delete", "messages_fts_update")


def _statements(scope: str) -> list[str]:
    return [
        """CREATE VIRTUAL TABLE messages_fts USING fts5(
            content, scope, content='', tokenize='porter unicode61 remove_diacritics 2')""",
        f"""CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages BEGIN
            INSERT INTO messages_fts(rowid, content, scope)
            VALUES (new.seq, new.content, {scope.format(row="new")});
        END""",
        f"""CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages BEGIN
            INSERT INTO messages_fts(messages_fts, rowid, content, scope)
            VALUES ('delete', old.seq, old.content, {scope.format(row="old")});
        END""",
        f"""CREATE TRIGGER messages_fts_update AFTER UPDATE OF content ON messages BEGIN
            INSERT INTO messages_fts(messages_fts, rowid, content, scope)
            VALUES ('delete', old.seq, old.content, {scope.format(row="old")});
            INSERT INTO messages_fts(rowid, content, scope)
            VALUES (new.seq, new.content, {scope.format(row="new")});
        END""",
        f"""INSERT INTO messages_fts(rowid, content, scope)
            SELECT seq, content, {scope.format(row="messages")} FROM messages""",
    ]


def _replace(scope: str) -> None:
    for name in TRIGGERS:
        op.execute(f"DROP TRIGGER IF EXISTS {name}")
    op.execute("DROP TABLE IF EXISTS messages_fts")
    for statement in _statements(scope):
        op.execute(statement)


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        _replace(UNIQUE)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        _replace(PER_WORKSPACE)
