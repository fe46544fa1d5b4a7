"""Each connector refuses writes and file access by itself, without the guard in front of it
(defence in depth), and stops a statement at its timeout."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import PostgresForTests
from data_sources import (
    drop_postgres,
    fingerprint,
    make_files,
    make_postgres,
    make_sqlite,
    postgres_rows,
    sqlite_rows,
)
from parley.data.connectors.base import (
    ConnectorEnv,
    QueryFailed,
    QueryTimeout,
    run_interruptible,
)
from parley.data.connectors.files import FileConnector
from parley.data.connectors.postgres import PostgresConnector
from parley.data.connectors.results import ResultCaps, ResultSet
from parley.data.connectors.sqlite import SqliteConnector
from parley.data.file_roots import FileRoots

PG_DB = "parley_source_connectors"


def run(coro):  # type: ignore[no-untyped-def]
    return asyncio.run(coro)


async def _refused(connector, sql: str, timeout_s: float = 5.0) -> str:  # type: ignore[no-untyped-def]
    try:
        await connector.run(sql, timeout_s=timeout_s, caps=ResultCaps(rows=10))
    except (QueryFailed, QueryTimeout) as err:
        return f"{type(err).__name__}: {err.detail}"
    finally:
        await connector.close()
    raise AssertionError(f"ran: {sql}")


@pytest.mark.parametrize(
    ("sql", "outcome"),
    [
        ("DELETE FROM users", "QueryFailed: SQLite error: not authorized"),
        ("INSERT INTO users VALUES (999, 'x', 'y')", "QueryFailed: SQLite error: not authorized"),
        ("DROP TABLE orders", "QueryFailed: SQLite error: not authorized"),
        ("CREATE TABLE t (x)", "QueryFailed: SQLite error: not authorized"),
        ("ATTACH DATABASE ':memory:' AS x", "QueryFailed: SQLite error: not authorized"),
        ("PRAGMA query_only = 0", "QueryFailed: SQLite error: not authorized"),
        (
            "SELECT load_extension('x')",
            "QueryFailed: SQLite error: not authorized to use function: load_extension",
        ),
        (
            "SELECT length(zeroblob(100000000))",
            "QueryFailed: SQLite error: not authorized to use function: zeroblob",
        ),
        (
            "WITH RECURSIVE s(x) AS (SELECT 'xxxxxxxxxxxxxxxx' UNION ALL SELECT x || x FROM s "
            "WHERE length(x) < 100000000) SELECT max(length(x)) FROM s",
            "QueryFailed: SQLite error: string or blob too big",
        ),
        (
            "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r) SELECT count(*) FROM r",
            "QueryTimeout: the query ran longer than its 0.5 s timeout and was cancelled",
        ),
    ],
)
def test_sqlite_connector_is_read_only(tmp_path: Path, sql: str, outcome: str) -> None:
    path = make_sqlite(tmp_path / "s.db")
    connector = SqliteConnector.open(
        {"path": str(path)}, ConnectorEnv(file_roots=FileRoots({"*": (str(tmp_path),)}))
    )
    # the runaway query needs a short timeout; the others a long one, or on a loaded box
    # building the 16 MB string that SQLite refuses can take longer than the short one
    timeout_s = 0.5 if outcome.startswith("QueryTimeout") else 20.0
    assert run(_refused(connector, sql, timeout_s=timeout_s)) == outcome
    assert sqlite_rows(path) == {"users": 60, "orders": 200}


@pytest.mark.parametrize(
    ("sql", "outcome"),
    [
        (
            "DROP VIEW sales",
            'QueryFailed: DuckDB error: Invalid Input Error: Cannot execute statement of type "DROP" on database "views" which is attached in read-only mode!',
        ),
        (
            "CREATE TABLE t AS SELECT 1",
            'QueryFailed: DuckDB error: Invalid Input Error: Cannot execute statement of type "CREATE" on database "views" which is attached in read-only mode!',
        ),
        (
            "SELECT * FROM read_csv_auto('/etc/passwd')",
            'QueryFailed: DuckDB error: Permission Error: Cannot access file "/etc/passwd" - file system operations are disabled by configuration',
        ),
        (
            "SET enable_external_access = true",
            'QueryFailed: DuckDB error: Invalid Input Error: Cannot change configuration option ""enable_external_access"" - the configuration has been locked',
        ),
        (
            "SELECT count(*) FROM range(100000000000) a",
            "QueryTimeout: the query ran longer than its 0.5 s timeout and was cancelled",
        ),
    ],
)
def test_duckdb_connector_is_read_only(tmp_path: Path, sql: str, outcome: str) -> None:
    files = make_files(tmp_path / "files")
    before = fingerprint(list(files.values()))
    connector = FileConnector.open(
        {"path": str(files["csv"])}, ConnectorEnv(file_roots=FileRoots({"*": (str(tmp_path),)}))
    )
    got = run(_refused(connector, sql, timeout_s=0.5))
    # DuckDB 2 quotes option names once where 1.x doubled the quotes
    assert got.split("\n")[0].replace('""', '"') == outcome.replace('""', '"')
    assert fingerprint(list(files.values())) == before


@pytest.fixture(scope="module")
def pg_source(postgres: PostgresForTests) -> Iterator[str]:
    make_postgres(postgres.socket_dir, PG_DB)
    yield postgres.socket_dir
    drop_postgres(postgres.socket_dir, PG_DB)


@pytest.mark.parametrize(
    ("sql", "outcome"),
    [
        (
            "DELETE FROM shop.payments",
            "QueryFailed: PostgreSQL error: cannot execute DELETE in a read-only transaction",
        ),
        (
            "CREATE TABLE shop.evil (x int)",
            "QueryFailed: PostgreSQL error: cannot execute CREATE TABLE in a read-only transaction",
        ),
        (
            "SELECT 1; DELETE FROM shop.payments",
            "QueryFailed: PostgreSQL error: cannot insert multiple commands into a prepared statement",
        ),
        (
            "SELECT pg_sleep(30)",
            "QueryTimeout: the query ran longer than its 0.5 s timeout and was cancelled",
        ),
    ],
)
def test_postgres_connector_is_read_only(pg_source: str, sql: str, outcome: str) -> None:
    credential = {"url": pg_source, "user": "postgres", "databaseName": PG_DB}
    connector = PostgresConnector.open(credential, ConnectorEnv(allow_private_hosts=True))
    assert run(_refused(connector, sql, timeout_s=0.5)) == outcome
    assert postgres_rows(pg_source, PG_DB) == {"customers": 40, "payments": 500}


def test_postgres_session_settings_do_not_outlive_a_statement(pg_source: str) -> None:
    credential = {"url": pg_source, "user": "postgres", "databaseName": PG_DB}

    async def attempt() -> str:
        connector = PostgresConnector.open(credential, ConnectorEnv(allow_private_hosts=True))
        try:
            one = ResultCaps(rows=1)
            await connector.run("SET default_transaction_read_only = off", timeout_s=5, caps=one)
            try:
                await connector.run("DELETE FROM shop.payments", timeout_s=5, caps=one)
            except QueryFailed as err:
                return err.detail
            return "deleted"
        finally:
            await connector.close()

    assert run(attempt()) == "PostgreSQL error: cannot execute DELETE in a read-only transaction"
    assert postgres_rows(pg_source, PG_DB) == {"customers": 40, "payments": 500}


class SlowHandle:
    """A handle whose opening takes `open_s` and whose statement runs `run_s` unless
    interrupted (then it fails like an engine does)."""

    def __init__(self) -> None:
        self.stop = threading.Event()
        self.closed = False

    def interrupt(self) -> None:
        self.stop.set()

    def close(self) -> None:
        self.closed = True

    def statement(self, run_s: float) -> ResultSet:
        if self.stop.wait(run_s):
            raise RuntimeError("interrupted")
        return ResultSet(columns=[("x", "integer")], rows=[[1]])


def _timed(
    open_s: float, run_s: float, timeout_s: float
) -> tuple[str, SlowHandle, list[SlowHandle]]:
    handle, given_back = SlowHandle(), list[SlowHandle]()

    def take() -> SlowHandle:
        time.sleep(open_s)
        return handle

    async def go() -> str:
        try:
            result = await run_interruptible(
                take=take,
                run=lambda h: h.statement(run_s),
                give_back=given_back.append,
                timeout_s=timeout_s,
                errors=RuntimeError,
                label="Test",
            )
        except (QueryTimeout, QueryFailed) as err:
            return f"{type(err).__name__}: {err}"
        return f"rows {result.rows}"

    return asyncio.run(go()), handle, given_back


def test_the_timeout_counts_from_the_statement_not_from_opening_the_connection() -> None:
    outcome, handle, given_back = _timed(open_s=0.6, run_s=0.05, timeout_s=0.3)
    assert (outcome, handle.stop.is_set(), handle.closed, given_back) == (
        "rows [[1]]",
        False,
        False,
        [handle],
    )


def test_a_statement_past_its_timeout_is_interrupted_and_its_handle_closed() -> None:
    outcome, handle, given_back = _timed(open_s=0.0, run_s=30.0, timeout_s=0.3)
    assert (outcome, handle.stop.is_set(), handle.closed, given_back) == (
        "QueryTimeout: the query ran longer than its 0.3 s timeout and was cancelled",
        True,
        True,
        [],
    )
