"""Storage: the migrations build exactly the models' schema on both backends, and SQLite runs
with the settings the design relies on."""

from __future__ import annotations

import asyncio
import warnings
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import text
from sqlalchemy.engine import Connection

from parley.store import migrate
from parley.store.engine import create_database
from parley.store.models import Base

# Built by the migrations outside the models, on purpose: SQLite's FTS5 table (and the shadow
# tables it creates) and PostgreSQL's full-text expression index.
DIALECT_ONLY = ("messages_fts", "ix_messages_content_fts")


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
