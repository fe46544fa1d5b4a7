"""Storage: the migrations build exactly the models' schema on both backends, and SQLite runs
with the settings the design relies on."""

from __future__ import annotations

import asyncio
import warnings
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import text
from sqlalchemy.engine import Connection

from parley.store import migrate
from parley.store.engine import create_database
from parley.store.models import Base

# Built by the migrations outside the models, on purpose: SQLite's FTS5 table (and the shadow
# tables it creates); PostgreSQL's stored tsvector column, its GIN index, and the embeddings'
# scope indexes (SQLite searches vectors in memory).
DIALECT_ONLY = (
    "messages_fts",
    "ix_messages_content_fts",
    "content_fts",
    "ix_message_embeddings_workspace_id_session_id",
    "ix_message_embeddings_workspace_id_peer_id",
)


def _include_name(name: str | None, type_: str, _parent: Any) -> bool:
    return not (name or "").startswith(DIALECT_ONLY)


def _diff(sync_conn: Connection) -> list[Any]:
    opts = {"compare_type": True, "include_name": _include_name}
    with warnings.catch_warnings():
        # alembic cannot reflect expression indexes and says so; they are excluded above
        warnings.filterwarnings("ignore", "Skipped unsupported reflection of expression-based")
        return compare_metadata(MigrationContext.configure(sync_conn, opts=opts), Base.metadata)


def test_migrations_match_models(database_url: str) -> None:
    migrate.upgrade(database_url)  # a no-op on the already-migrated PostgreSQL template clone

    async def check() -> tuple[list[Any], str | None]:
        database = create_database(database_url)
        try:
            async with database.engine.connect() as conn:
                return await conn.run_sync(_diff), await migrate.current_revision(database_url)
        finally:
            await database.dispose()

    diff, revision = asyncio.run(check())
    assert diff == []
    assert revision == migrate.head_revision()


def test_sqlite_runs_in_wal_with_foreign_keys(tmp_path: Any) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'p.db'}"
    migrate.upgrade(url)

    async def pragmas() -> tuple[str, int, int]:
        database = create_database(url)
        try:
            async with database.read() as db:
                mode = (await db.execute(text("PRAGMA journal_mode"))).scalar_one()
                fks = (await db.execute(text("PRAGMA foreign_keys"))).scalar_one()
                lowered = (await db.execute(text("SELECT lower('ÄÖÜ ÉCOLE')"))).scalar_one()
                assert lowered == "äöü école"
                timeout = (await db.execute(text("PRAGMA busy_timeout"))).scalar_one()
                return mode, fks, timeout
        finally:
            await database.dispose()

    assert asyncio.run(pragmas()) == ("wal", 1, 30_000)


# --- migration 0011 on existing data (PostgreSQL) ------------------------------------------

SEARCH_INDEXES = (
    "SELECT indexdef FROM pg_indexes WHERE indexname IN ('ix_messages_content_fts', "
    "'ix_message_embeddings_workspace_id_session_id', "
    "'ix_message_embeddings_workspace_id_peer_id') ORDER BY indexname"
)
STORED = "SELECT content_fts::text FROM messages WHERE id = :id"
COMPUTED = "SELECT to_tsvector('english', :content)::text"


def _insert_message(message_id: str, content: str) -> Any:
    return text(
        "INSERT INTO messages (id, workspace_id, session_id, peer_id, content, metadata, "
        "internal_metadata, token_count, created_at) "
        "VALUES (:id, 'w', 's', 'p', :content, '{}', '{}', 2, now())"
    ).bindparams(id=message_id, content=content)


def test_stored_tsvector_is_filled_on_upgrade_and_kept_in_step(postgres: Any) -> None:
    """Migration 0011 fills `messages.content_fts` for rows written before it, new rows and
    edited content get theirs from the database itself, the GIN index covers the column and
    the embeddings get their scope indexes; the downgrade puts 0002's expression index back."""
    url = postgres.new_database(migrated=False)
    try:
        migrate.upgrade(url, "0010")

        async def before() -> None:
            database = create_database(url)
            try:
                async with database.write() as db:
                    for row in (
                        "INSERT INTO workspaces (id, metadata, configuration, created_at) "
                        "VALUES ('w', '{}', '{}', now())",
                        "INSERT INTO sessions (workspace_id, id, is_active, metadata, "
                        "configuration, created_at) VALUES ('w', 's', true, '{}', '{}', now())",
                        "INSERT INTO peers (workspace_id, id, metadata, configuration, "
                        "created_at) VALUES ('w', 'p', '{}', '{}', now())",
                    ):
                        await db.execute(text(row))
                    await db.execute(_insert_message("old", "Golden puppies were running"))
            finally:
                await database.dispose()

        async def after() -> dict[str, Any]:
            database = create_database(url)
            try:
                async with database.write() as db:
                    found: dict[str, Any] = {}
                    found["indexes"] = (await db.execute(text(SEARCH_INDEXES))).scalars().all()
                    found["old"] = (await db.execute(text(STORED), {"id": "old"})).scalar_one()
                    await db.execute(_insert_message("new", "The cellist rehearses daily"))
                    found["new"] = (await db.execute(text(STORED), {"id": "new"})).scalar_one()
                    await db.execute(
                        text("UPDATE messages SET content = 'Lisbon trams' WHERE id = 'old'")
                    )
                    found["edited"] = (await db.execute(text(STORED), {"id": "old"})).scalar_one()
                    found["matches"] = (
                        (
                            await db.execute(
                                text(
                                    "SELECT id FROM messages WHERE content_fts @@ "
                                    "to_tsquery('english', 'tram | rehearse') ORDER BY id"
                                )
                            )
                        )
                        .scalars()
                        .all()
                    )
                    return found
            finally:
                await database.dispose()

        async def expected(content: str) -> str:
            database = create_database(url)
            try:
                async with database.read() as db:
                    return str(
                        (await db.execute(text(COMPUTED), {"content": content})).scalar_one()
                    )
            finally:
                await database.dispose()

        asyncio.run(before())
        migrate.upgrade(url)
        found = asyncio.run(after())
        assert found["old"] == "'golden':1 'puppi':2 'run':4"
        assert found["old"] == asyncio.run(expected("Golden puppies were running"))
        assert found["new"] == "'cellist':2 'daili':4 'rehears':3"
        assert found["edited"] == "'lisbon':1 'tram':2"
        assert found["matches"] == ["new", "old"]
        assert found["indexes"] == [
            "CREATE INDEX ix_message_embeddings_workspace_id_peer_id ON public.message_embeddings "
            "USING btree (workspace_id, peer_id)",
            "CREATE INDEX ix_message_embeddings_workspace_id_session_id ON "
            "public.message_embeddings USING btree (workspace_id, session_id)",
            "CREATE INDEX ix_messages_content_fts ON public.messages USING gin (content_fts)",
        ]

        command.downgrade(migrate.alembic_config(url), "0010")

        async def downgraded() -> tuple[list[str], list[str]]:
            database = create_database(url)
            try:
                async with database.read() as db:
                    indexes = (await db.execute(text(SEARCH_INDEXES))).scalars().all()
                    columns = await db.execute(
                        text(
                            "SELECT column_name FROM information_schema.columns "
                            "WHERE table_name = 'messages' AND column_name = 'content_fts'"
                        )
                    )
                    return list(indexes), list(columns.scalars().all())
            finally:
                await database.dispose()

        assert asyncio.run(downgraded()) == (
            [
                "CREATE INDEX ix_messages_content_fts ON public.messages "
                "USING gin (to_tsvector('english'::regconfig, content))"
            ],
            [],
        )
    finally:
        postgres.drop_database(url)


# --- migration 0012: a representation's candidates come in index order (SQLite) -------------


def test_representation_candidates_read_in_index_order(tmp_path: Any) -> None:
    """The most derived and a session's newest observations are read from the indexes of
    migration 0012 in order: no sort of the pair's rows (a temp b-tree in the plan)."""
    from sqlalchemy import event

    from parley.memory.representation import RepresentationRequest, ranked_candidates

    url = f"sqlite+aiosqlite:///{tmp_path / 'p.db'}"
    migrate.upgrade(url)
    issued: list[tuple[str, Any]] = []

    def capture(_conn: Any, _cursor: Any, statement: str, params: Any, *_: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            issued.append((statement, params))

    async def plans() -> list[str]:
        database = create_database(url)
        event.listen(database.engine.sync_engine, "before_cursor_execute", capture)
        try:
            async with database.read() as db:
                request = RepresentationRequest(
                    observer="a", observed="b", session_id="s", include_most_derived=True
                )
                chosen = await ranked_candidates(
                    db, workspace_id="w", request=request, semantic=True
                )
                assert chosen == []
                conn = await db.connection()
                found = []
                for statement, params in issued:
                    rows = await conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", params)
                    found.append(" | ".join(row[3] for row in rows))
                return found
        finally:
            await database.dispose()

    most_derived, newest = asyncio.run(plans())
    assert "USING INDEX ix_observations_pair_times_derived" in most_derived
    assert "USING INDEX ix_observations_pair_session" in newest
    assert "TEMP B-TREE" not in most_derived


# --- migration 0013: session peers that left keep their row (both backends) ----------------


def _fresh_url(backend: str, tmp_path: Any, request: Any) -> str:
    if backend == "postgres":
        server = request.getfixturevalue("postgres")
        url = str(server.new_database(migrated=False))
        request.addfinalizer(lambda: server.drop_database(url))
        return url
    return f"sqlite+aiosqlite:///{tmp_path / 'p.db'}"


def test_left_at_upgrade_keeps_members_and_downgrade_drops_those_that_left(
    backend: str, tmp_path: Any, request: Any
) -> None:
    """Memberships written before 0013 are all members (left_at NULL); the downgrade deletes
    the rows of peers that had left (before 0013 leaving deleted the row) and the column."""
    from datetime import UTC, datetime

    import sqlalchemy as sa

    from parley.memory.sessions import is_member
    from parley.store.models import UTCDateTime

    url = _fresh_url(backend, tmp_path, request)
    migrate.upgrade(url, "0012")
    joined = datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)
    rows = sa.table(
        "session_peers",
        sa.column("workspace_id"),
        sa.column("session_id"),
        sa.column("peer_id"),
        sa.column("joined_at", UTCDateTime()),
    )

    async def run(step: Any) -> Any:
        database = create_database(url)
        try:
            async with database.write() as db:
                return await step(db)
        finally:
            await database.dispose()

    async def seed(db: Any) -> None:
        await db.execute(
            text(
                "INSERT INTO workspaces (id, metadata, configuration, created_at) "
                "VALUES ('w', '{}', '{}', CURRENT_TIMESTAMP)"
            )
        )
        await db.execute(
            text(
                "INSERT INTO sessions (workspace_id, id, is_active, metadata, configuration, "
                "created_at) VALUES ('w', 's', true, '{}', '{}', CURRENT_TIMESTAMP)"
            )
        )
        for peer in ("alice", "bob"):
            await db.execute(
                text(
                    "INSERT INTO peers (workspace_id, id, metadata, configuration, created_at) "
                    "VALUES ('w', :p, '{}', '{}', CURRENT_TIMESTAMP)"
                ),
                {"p": peer},
            )
            await db.execute(
                rows.insert().values(
                    workspace_id="w", session_id="s", peer_id=peer, joined_at=joined
                )
            )

    async def upgraded(db: Any) -> Any:
        found = (await db.execute(text("SELECT peer_id, left_at FROM session_peers"))).all()
        member = await is_member(db=db, workspace_id="w", session_id="s", peer_id="alice")
        await db.execute(text("UPDATE session_peers SET left_at = joined_at WHERE peer_id = 'bob'"))
        return sorted(tuple(r) for r in found), member

    async def downgraded(db: Any) -> Any:
        found = (await db.execute(sa.select(rows.c.peer_id, rows.c.joined_at))).all()
        conn = await db.connection()
        columns = await conn.run_sync(
            lambda sync: [c["name"] for c in sa.inspect(sync).get_columns("session_peers")]
        )
        return [tuple(r) for r in found], "left_at" in columns

    asyncio.run(run(seed))
    migrate.upgrade(url)
    assert asyncio.run(run(upgraded)) == ([("alice", None), ("bob", None)], True)
    command.downgrade(migrate.alembic_config(url), "0012")
    assert asyncio.run(run(downgraded)) == ([("alice", joined)], False)
    assert migrate.current_revision_blocking(url) == "0012"
    migrate.upgrade(url)

    async def diff() -> list[Any]:
        database = create_database(url)
        try:
            async with database.engine.connect() as conn:
                return await conn.run_sync(_diff)
        finally:
            await database.dispose()

    assert asyncio.run(diff()) == []


# --- migration 0019: vectors in their rows (PostgreSQL) ------------------------------------


@pytest.mark.parametrize("backend", ["postgres"])  # SQLite keeps a BLOB in its row anyway
def test_vectors_are_stored_in_their_rows(database_url: str) -> None:
    """`m` (MAIN) on PostgreSQL, for every vector column the models have; pgvector's own
    default is `e` (EXTERNAL), which puts a 1,536-d vector in the TOAST table."""
    vector_columns = sorted(
        (table.name, column.name)
        for table in Base.metadata.tables.values()
        for column in table.columns
        if type(column.type).__name__ == "EmbeddingVector"
    )

    async def storage() -> tuple[dict[tuple[str, str], str], str]:
        database = create_database(database_url)
        try:
            async with database.read() as db:
                rows = await db.execute(
                    text(
                        "SELECT c.relname, a.attname, a.attstorage::text FROM pg_attribute a "
                        "JOIN pg_class c ON c.oid = a.attrelid "
                        "WHERE a.atttypid = 'vector'::regtype AND c.relkind = 'r' "
                        "AND a.attnum > 0 AND NOT a.attisdropped"
                    )
                )
                default = await db.scalar(
                    text("SELECT typstorage::text FROM pg_type WHERE oid = 'vector'::regtype")
                )
                return {(r[0], r[1]): r[2] for r in rows}, str(default)
        finally:
            await database.dispose()

    columns, default = asyncio.run(storage())
    assert sorted(columns) == vector_columns
    assert set(columns.values()) == {"m"}
    assert default == "e"  # what the downgrade goes back to
