"""Engines and database sessions for SQLite (embedded default) and PostgreSQL.

SQLite runs in WAL mode with foreign keys on. Transactions that write begin with
`BEGIN IMMEDIATE`, so two writers queue on the busy timeout instead of failing with
"database is locked" when a read snapshot would have to be upgraded.
"""

from __future__ import annotations

import asyncio
import math
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, create_async_engine

from parley.store import aiosqlite_fixes

SQLITE_BUSY_TIMEOUT_MS = 30_000


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    # aiosqlite's adapter exposes the sqlite3 connection's API synchronously here.
    dbapi_connection.isolation_level = None  # we emit BEGIN ourselves (see _sqlite_begin)
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()
    # Unicode-aware lower() so `icontains` filters match PostgreSQL's results.
    dbapi_connection.create_function("lower", 1, _py_lower, deterministic=True)
    if not _sqlite_has_ln():  # full-text ranking divides by ln(length) (memory.search)
        dbapi_connection.create_function("ln", 1, math.log, deterministic=True)


@cache
def _sqlite_has_ln() -> bool:
    """Whether this SQLite library has its math functions (an optional compile flag)."""
    probe = sqlite3.connect(":memory:")
    try:
        probe.execute("SELECT ln(1)")
    except sqlite3.OperationalError:
        return False
    finally:
        probe.close()
    return True


def _py_lower(value: Any) -> Any:
    """Lower-case like PostgreSQL: character by character (no final-sigma rule), and the
    dotted capital I becomes a plain i, not i + combining dot."""
    if not isinstance(value, str):
        return value
    if value.isascii():
        return value.lower()
    return "".join("i" if c == "\u0130" else c.lower() for c in value)


def _sqlite_begin(conn: Any) -> None:
    mode = conn.get_execution_options().get("sqlite_begin", "DEFERRED")
    conn.exec_driver_sql(f"BEGIN {mode}")


@dataclass(frozen=True)
class Database:
    engine: AsyncEngine
    write_engine: AsyncEngine  # same pool; on SQLite its transactions BEGIN IMMEDIATE
    # SQLite has one writer at a time. Queuing this process's writers first come, first served
    # beats SQLite's busy handler, which polls with sleeps and starves unlucky waiters. Not
    # reentrant: code holding a write session must not open another.
    write_lock: asyncio.Lock | None = None

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        async with AsyncSession(self.engine, expire_on_commit=False) as session:
            yield session

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncSession]:
        """A session whose transaction is committed on success and rolled back on error."""
        if self.write_lock is None:
            async with self._write_session() as session:
                yield session
        else:
            async with self.write_lock, self._write_session() as session:
                yield session

    @asynccontextmanager
    async def _write_session(self) -> AsyncIterator[AsyncSession]:
        async with AsyncSession(self.write_engine, expire_on_commit=False) as session:
            try:
                yield session
                await session.commit()
            except BaseException:
                await session.rollback()
                raise

    async def dispose(self) -> None:
        await self.engine.dispose()


def create_database(url: str) -> Database:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        aiosqlite_fixes.install()  # else a cancelled close can hang the shutdown
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url, pool_size=8, max_overflow=8)
        event.listen(engine.sync_engine, "connect", _sqlite_on_connect)
        event.listen(engine.sync_engine, "begin", _sqlite_begin)
        return Database(
            engine, engine.execution_options(sqlite_begin="IMMEDIATE"), write_lock=asyncio.Lock()
        )
    if parsed.get_backend_name() == "postgresql" and parsed.get_driver_name() == "asyncpg":
        from parley.store import pg_pool, pgvector_codec

        # pg_pool checks a connection at checkout without pool_pre_ping's three round trips
        engine = create_async_engine(url, pool_size=10, max_overflow=10)
        event.listen(engine.sync_engine, "connect", pgvector_codec.on_connect)
        pg_pool.install(engine)
    else:
        engine = create_async_engine(url, pool_size=10, max_overflow=10, pool_pre_ping=True)
    return Database(engine, engine)
