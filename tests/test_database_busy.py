"""A request the database rolled back for a conflict (a PostgreSQL deadlock, SQLite locked past
its busy timeout) answers 503 with Retry-After in its family's shape, not a 500: nothing of it
was stored, and the SDKs send it again on their own."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import create_async_engine

from conftest import AppClient, PostgresForTests, make_settings
from parley.api.errors import is_retryable
from parley.app import create_app


async def _deadlock(url: str) -> DBAPIError:
    """Two transactions that each wait for the other's row: PostgreSQL ends one of them."""
    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.execute(text("CREATE TABLE pair (id int PRIMARY KEY, n int)"))
            await conn.execute(text("INSERT INTO pair VALUES (1, 0), (2, 0)"))
        first_locked, second_locked = asyncio.Event(), asyncio.Event()

        async def cross(
            mine: int, theirs: int, locked: asyncio.Event, other: asyncio.Event
        ) -> None:
            async with engine.begin() as conn:
                await conn.execute(text(f"UPDATE pair SET n = 1 WHERE id = {mine}"))
                locked.set()
                await other.wait()
                await conn.execute(text(f"UPDATE pair SET n = 1 WHERE id = {theirs}"))

        outcomes = await asyncio.gather(
            cross(1, 2, first_locked, second_locked),
            cross(2, 1, second_locked, first_locked),
            return_exceptions=True,
        )
    finally:
        await engine.dispose()
    errors = [o for o in outcomes if isinstance(o, BaseException)]
    assert len(errors) == 1, outcomes
    assert isinstance(errors[0], DBAPIError)
    return errors[0]


async def _locked(path: Path) -> DBAPIError:
    """A write while another connection holds SQLite's write lock, past a short busy timeout."""
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("CREATE TABLE t (x)")
    holder.execute("BEGIN IMMEDIATE")
    engine = create_async_engine(f"sqlite+aiosqlite:///{path}", connect_args={"timeout": 0.05})
    try:
        async with engine.begin() as conn:
            await conn.execute(text("INSERT INTO t VALUES (1)"))
    except DBAPIError as err:
        return err
    finally:
        await engine.dispose()
        holder.rollback()
        holder.close()
    raise AssertionError("the insert did not wait for the lock")


async def _unique_violation(url: str) -> DBAPIError:
    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.execute(text("CREATE TABLE one (id int PRIMARY KEY)"))
            await conn.execute(text("INSERT INTO one VALUES (1)"))
            await conn.execute(text("INSERT INTO one VALUES (1)"))
    except DBAPIError as err:
        return err
    finally:
        await engine.dispose()
    raise AssertionError("the duplicate was stored")


def test_deadlocks_and_locked_databases_are_retryable_and_other_errors_are_not(
    postgres: PostgresForTests, tmp_path: Path
) -> None:
    deadlock = asyncio.run(_deadlock(postgres.new_database(migrated=False)))
    assert deadlock.orig.sqlstate == "40P01"  # type: ignore[union-attr]
    assert is_retryable(deadlock)
    locked = asyncio.run(_locked(tmp_path / "locked.db"))
    assert "database is locked" in str(locked.orig)
    assert is_retryable(locked)
    duplicate = asyncio.run(_unique_violation(postgres.new_database(migrated=False)))
    assert duplicate.orig.sqlstate == "23505"  # type: ignore[union-attr]
    assert not is_retryable(duplicate)
    assert not is_retryable(ValueError("database is locked"))


@pytest.fixture
def raising_client(tmp_path: Path) -> Any:
    """The app, with two routes that raise a real SQLite lock error, one per API family."""
    error = asyncio.run(_locked(tmp_path / "locked.db"))
    settings = make_settings(f"sqlite+aiosqlite:///{tmp_path / 'parley.db'}", tmp_path / "data")
    app = create_app(settings)

    async def busy() -> None:
        raise error

    app.add_api_route("/v2/busy-for-test", busy, methods=["POST"])
    app.add_api_route("/api/v1/busy-for-test", busy, methods=["POST"])
    with AppClient(app, raise_server_exceptions=False) as client:
        yield client


def test_a_retryable_database_error_answers_503_in_each_family(raising_client: TestClient) -> None:
    honcho = raising_client.post("/v2/busy-for-test")
    assert honcho.status_code == 503
    assert honcho.headers["retry-after"] == "1"
    assert honcho.json() == {
        "detail": "The database was busy with a conflicting change; nothing of this request "
        "was stored. Send it again."
    }
    peaka = raising_client.post("/api/v1/busy-for-test")
    assert peaka.status_code == 503
    assert peaka.headers["retry-after"] == "1"
    assert peaka.json() == {
        "errorCode": "DATABASE_BUSY",
        "message": "The database was busy with a conflicting change; nothing of this request "
        "was stored. Send it again.",
    }
