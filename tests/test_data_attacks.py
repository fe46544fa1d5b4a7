"""The SQL guard under attack: every statement below is refused with a clear Peaka error, or
bounded (row cap, timeout), on real SQLite, DuckDB/file and PostgreSQL sources; afterwards the
data is byte-for-byte or row-for-row what it was, and no other project's data ever leaked."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from conftest import AppClient, PostgresForTests, make_settings
from data_sources import (
    PG_PASSWORD,
    drop_postgres,
    fingerprint,
    make_files,
    make_postgres,
    make_sqlite,
    postgres_rows,
    sqlite_rows,
)
from helpers import add_catalog, new_project, ok, project_key
from parley.app import create_app

PG_DB = "parley_source_attacks"
OTHER_SECRET = "other-project-TOP-SECRET-41"
MAX_ROWS = 1000


@dataclass
class World:
    client: TestClient
    pid: str
    h: dict[str, str]
    sqlite_path: Path
    files: dict[str, Path]
    socket_dir: str
    other_db: Path


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, postgres: PostgresForTests) -> Iterator[World]:
    root = tmp_path_factory.mktemp("attacks")
    sources = root / "sources"
    sources.mkdir()
    sqlite_path = make_sqlite(sources / "shop.db")
    files = make_files(sources / "files")
    (root / "other").mkdir()
    other_db = root / "other" / "other.db"
    import sqlite3

    raw = sqlite3.connect(other_db)
    raw.execute("CREATE TABLE secrets (id INTEGER PRIMARY KEY, secret TEXT)")
    raw.execute("INSERT INTO secrets VALUES (1, ?)", (OTHER_SECRET,))
    raw.commit()
    raw.close()
    make_postgres(postgres.socket_dir, PG_DB)
    settings = make_settings(
        f"sqlite+aiosqlite:///{root / 'parley.db'}",
        root / "data",
        auth_enabled=True,
        data_file_roots={"target": [sources], "other": [root / "other"]},
        data_allow_private_hosts=True,
        query_max_rows=MAX_ROWS,
        query_timeout_s=5.0,
    )
    with AppClient(create_app(settings), raise_server_exceptions=False) as client:
        pid = new_project(client, "target", project_id="target")["id"]
        h = project_key(client, pid)
        credentials = {
            "shop": ("SQLITE", {"path": str(sqlite_path)}),
            "files": ("FILE", {"files": [{"path": str(p)} for p in files.values()]}),
            "pg": (
                "POSTGRES",
                {
                    "url": postgres.socket_dir,
                    "user": "postgres",
                    "password": PG_PASSWORD,
                    "databaseName": PG_DB,
                },
            ),
        }
        for name, (kind, credential) in credentials.items():
            add_catalog(client, pid, credential, kind=kind, connection=name, headers=h)
        other = new_project(client, "other", project_id="other")["id"]
        add_catalog(client, other, {"path": str(other_db)}, connection="secret")
        yield World(client, pid, h, sqlite_path, files, postgres.socket_dir, other_db)
    drop_postgres(postgres.socket_dir, PG_DB)


NOT_ALLOWED = "QUERY_NOT_ALLOWED"

# (id, statement, extra request fields, errorCode, message)
# fmt: off
REFUSED: list[tuple[str, str, dict[str, Any], str, str]] = [
    # --- stacked statements and comments
    (
        "stacked-drop",
        "SELECT * FROM users; DROP TABLE users",
        {},
        NOT_ALLOWED,
        "send exactly one statement; this text holds 2 statements",
    ),
    (
        "stacked-selects",
        "SELECT 1; SELECT 2",
        {},
        NOT_ALLOWED,
        "send exactly one statement; this text holds 2 statements",
    ),
    (
        "comment-hides-semicolon",
        "SELECT 1 /* ; */ ; DROP TABLE users --",
        {},
        NOT_ALLOWED,
        "send exactly one statement; this text holds 2 statements",
    ),
    (
        "line-comment-then-delete",
        "SELECT 1 --\n; DELETE FROM users",
        {},
        NOT_ALLOWED,
        "send exactly one statement; this text holds 2 statements",
    ),
    (
        "transaction-wrap",
        "BEGIN; DELETE FROM users; COMMIT",
        {},
        NOT_ALLOWED,
        "send exactly one statement; this text holds 3 statements",
    ),
    (
        "pg-stacked-commit",
        "SELECT * FROM shop.customers; COMMIT; DELETE FROM shop.payments",
        {},
        NOT_ALLOWED,
        "send exactly one statement; this text holds 3 statements",
    ),
    # --- DML and DDL, plain and hidden
    (
        "drop",
        "DROP TABLE users",
        {},
        NOT_ALLOWED,
        "only SELECT queries may run; this statement starts with DROP",
    ),
    (
        "delete",
        "DELETE FROM users",
        {},
        NOT_ALLOWED,
        "only SELECT queries may run; this statement starts with DELETE",
    ),
    (
        "update",
        "UPDATE users SET name = 'x'",
        {},
        NOT_ALLOWED,
        "only SELECT queries may run; this statement starts with UPDATE",
    ),
    (
        "insert",
        "INSERT INTO users VALUES (999, 'x', 'y')",
        {},
        NOT_ALLOWED,
        "only SELECT queries may run; this statement starts with INSERT",
    ),
    (
        "replace",
        "REPLACE INTO users VALUES (1, 'a', 'b')",
        {},
        NOT_ALLOWED,
        "only SELECT queries may run; this statement starts with REPLACE",
    ),
    (
        "create",
        "CREATE TABLE evil (x INTEGER)",
        {},
        NOT_ALLOWED,
        "only SELECT queries may run; this statement starts with CREATE",
    ),
    (
        "alter",
        "ALTER TABLE users ADD COLUMN x INTEGER",
        {},
        NOT_ALLOWED,
        "only SELECT queries may run; this statement starts with ALTER",
    ),
    (
        "ctas-duckdb",
        "CREATE TABLE x AS SELECT * FROM files.main.sales",
        {},
        NOT_ALLOWED,
        "only SELECT queries may run; this statement starts with CREATE",
    ),
    (
        "dml-in-cte",
        "WITH d AS (DELETE FROM users RETURNING *) SELECT * FROM d",
        {},
        NOT_ALLOWED,
        "DELETE is not allowed in a query",
    ),
    (
        "pg-update-in-cte",
        "WITH x AS (UPDATE shop.customers SET tier = 'x' RETURNING id) SELECT * FROM x",
        {},
        NOT_ALLOWED,
        "UPDATE is not allowed in a query",
    ),
    (
        "select-into",
        "SELECT * INTO evil FROM users",
        {},
        NOT_ALLOWED,
        "INTO is not allowed in a query",
    ),
    (
        "pg-select-into",
        "SELECT * INTO shop.evil FROM pg.shop.customers",
        {},
        NOT_ALLOWED,
        "INTO is not allowed in a query",
    ),
    (
        "pg-for-update",
        "SELECT * FROM pg.shop.customers FOR UPDATE",
        {},
        NOT_ALLOWED,
        "LOCK is not allowed in a query",
    ),
    # --- session, engine and file commands
    (
        "pragma",
        "PRAGMA writable_schema = 1",
        {},
        NOT_ALLOWED,
        "only SELECT queries may run; this statement starts with PRAGMA",
    ),
    (
        "attach",
        "ATTACH DATABASE '/tmp/evil.db' AS evil",
        {},
        NOT_ALLOWED,
        "only SELECT queries may run; this statement starts with ATTACH",
    ),
    (
        "detach",
        "DETACH DATABASE main",
        {},
        NOT_ALLOWED,
        "only SELECT queries may run; this statement starts with DETACH",
    ),
    (
        "vacuum",
        "VACUUM",
        {},
        NOT_ALLOWED,
        "only SELECT queries may run; this statement starts with VACUUM",
    ),
    (
        "copy-out",
        "COPY sales TO '/tmp/out.csv'",
        {},
        NOT_ALLOWED,
        "only SELECT queries may run; this statement starts with COPY",
    ),
    (
        "pg-copy-program",
        "COPY shop.customers TO PROGRAM 'id'",
        {},
        NOT_ALLOWED,
        "only SELECT queries may run; this statement starts with COPY",
    ),
    (
        "install",
        "INSTALL httpfs",
        {},
        NOT_ALLOWED,
        "only SELECT queries may run; this statement starts with INSTALL",
    ),
    (
        "load",
        "LOAD httpfs",
        {},
        NOT_ALLOWED,
        "only SELECT queries may run; this statement starts with LOAD",
    ),
    (
        "set-external",
        "SET enable_external_access = true",
        {},
        NOT_ALLOWED,
        "only SELECT queries may run; this statement starts with SET",
    ),
    (
        "pg-set-timeout",
        "SET statement_timeout = 0",
        {},
        NOT_ALLOWED,
        "only SELECT queries may run; this statement starts with SET",
    ),
    (
        "export-db",
        "EXPORT DATABASE '/tmp/x'",
        {},
        NOT_ALLOWED,
        "could not parse the statement as sqlite SQL: Invalid expression / Unexpected token at line 1, column 24",
    ),
    (
        "pg-do-block",
        "DO $$ BEGIN DELETE FROM shop.payments; END $$",
        {},
        NOT_ALLOWED,
        "only SELECT queries may run; this statement starts with DO",
    ),
    (
        "pg-prepare",
        "PREPARE x AS DELETE FROM shop.payments",
        {},
        NOT_ALLOWED,
        "only SELECT queries may run; this statement starts with PREPARE",
    ),
    (
        "pg-execute",
        "EXECUTE x",
        {},
        NOT_ALLOWED,
        "only SELECT queries may run; this statement starts with EXECUTE",
    ),
    # --- dangerous functions
    (
        "load-extension",
        "SELECT load_extension('/tmp/evil.so')",
        {},
        NOT_ALLOWED,
        "function load_extension() is not allowed",
    ),
    (
        "readfile",
        "SELECT readfile('/etc/passwd')",
        {},
        NOT_ALLOWED,
        "function readfile() is not allowed",
    ),
    (
        "zeroblob",
        "SELECT zeroblob(1000000000)",
        {},
        NOT_ALLOWED,
        "function zeroblob() is not allowed",
    ),
    (
        "randomblob",
        "SELECT randomblob(1000000000)",
        {},
        NOT_ALLOWED,
        "function randomblob() is not allowed",
    ),
    (
        "read-csv",
        "SELECT * FROM read_csv_auto('/etc/passwd')",
        {},
        NOT_ALLOWED,
        "function read_csv_auto() is not allowed",
    ),
    (
        "read-parquet",
        "SELECT * FROM read_parquet('/tmp/x.parquet')",
        {},
        NOT_ALLOWED,
        "function read_parquet() is not allowed",
    ),
    (
        "read-csv-in-subquery",
        "SELECT (SELECT count(*) FROM read_csv('/etc/passwd')) AS n FROM files.main.sales",
        {},
        NOT_ALLOWED,
        "function read_csv() is not allowed",
    ),
    (
        "duckdb-settings",
        "SELECT * FROM duckdb_settings()",
        {},
        NOT_ALLOWED,
        "function duckdb_settings() is not allowed",
    ),
    ("glob", "SELECT * FROM glob('/*')", {}, NOT_ALLOWED, "function glob() is not allowed"),
    ("getenv", "SELECT getenv('HOME')", {}, NOT_ALLOWED, "function getenv() is not allowed"),
    (
        "duckdb-query",
        "SELECT * FROM query('SELECT 1')",
        {},
        NOT_ALLOWED,
        "function query() is not allowed",
    ),
    ("pg-sleep", "SELECT pg_sleep(30)", {}, NOT_ALLOWED, "function pg_sleep() is not allowed"),
    (
        "pg-sleep-hidden",
        "SELECT id FROM pg.shop.customers WHERE id = (SELECT 1 FROM (SELECT pg_sleep(30)) s)",
        {},
        NOT_ALLOWED,
        "function pg_sleep() is not allowed",
    ),
    (
        "pg-read-file",
        "SELECT pg_read_file('/etc/passwd')",
        {},
        NOT_ALLOWED,
        "function pg_read_file() is not allowed",
    ),
    (
        "pg-lo-import",
        "SELECT lo_import('/etc/passwd')",
        {},
        NOT_ALLOWED,
        "function lo_import() is not allowed",
    ),
    (
        "pg-dblink",
        "SELECT * FROM pg.shop.customers WHERE 1 = (SELECT dblink('host=x', 'select 1'))",
        {},
        NOT_ALLOWED,
        "function dblink() is not allowed",
    ),
    (
        "pg-set-config",
        "SELECT set_config('statement_timeout', '0', false)",
        {},
        NOT_ALLOWED,
        "function set_config() is not allowed",
    ),
    (
        "pg-current-setting",
        "SELECT current_setting('data_directory')",
        {},
        NOT_ALLOWED,
        "function current_setting() is not allowed",
    ),
    (
        "pg-query-to-xml",
        "SELECT query_to_xml('DELETE FROM shop.payments', true, true, '')",
        {},
        NOT_ALLOWED,
        "function query_to_xml() is not allowed",
    ),
    ("pg-nextval", "SELECT nextval('seq')", {}, NOT_ALLOWED, "function nextval() is not allowed"),
    ("pg-repeat", "SELECT repeat('x', 1000000000)", {}, NOT_ALLOWED, "repeat() may build at most 10000 characters"),
    ("pg-lpad", "SELECT lpad(email, 1000000000) FROM pg.shop.customers", {}, NOT_ALLOWED, "pad() may build at most 10000 characters"),
    ("pg-rpad-computed-size", "SELECT rpad(email, id * 100000000) FROM pg.shop.customers", {}, NOT_ALLOWED, "the size given to pad() must be a number written in the query"),
    ("duckdb-repeat-computed", "SELECT repeat(region, CAST(amount AS INT) * 100000000) FROM files.main.sales", {}, NOT_ALLOWED, "the size given to repeat() must be a number written in the query"),
    ("cte-in-subquery-hides-nothing", "SELECT * FROM (WITH sqlite_master AS (SELECT 1) SELECT * FROM sqlite_master) AS a, shop.main.sqlite_master", {}, NOT_ALLOWED, "table shop.main.sqlite_master is not in this project's catalog"),
    ("pg-cte-shadow", "SELECT * FROM (WITH pg_shadow AS (SELECT 1) SELECT * FROM pg_shadow) AS a, pg_shadow, pg.shop.customers", {}, NOT_ALLOWED, "table pg_shadow is not in this project's catalog"),
    (
        "table-function",
        "SELECT * FROM pragma_table_info('users')",
        {},
        NOT_ALLOWED,
        "reading from pragma_table_info() is not allowed; query tables only",
    ),
    # --- files named in SQL (DuckDB reads a quoted path as a table)
    ("path-as-table", "SELECT * FROM '/etc/passwd'", {}, NOT_ALLOWED, "table /etc/passwd is not in this project's catalogs"),
    ("other-project-file-as-table", "SELECT * FROM 'other/other.db'", {}, NOT_ALLOWED, "table other/other.db is not in this project's catalogs"),
    ("path-in-subquery", "SELECT * FROM files.main.sales WHERE id IN (SELECT 1 FROM '/etc/passwd')", {}, NOT_ALLOWED, "table /etc/passwd is not in this project's catalog"),
    ("read-text", "SELECT * FROM read_text('/etc/passwd')", {}, NOT_ALLOWED, "function read_text() is not allowed"),
    ("read-blob", "SELECT content FROM read_blob('/etc/passwd')", {}, NOT_ALLOWED, "function read_blob() is not allowed"),
    ("sqlite-scan", "SELECT * FROM sqlite_scan('/srv/other.db', 'secrets')", {}, NOT_ALLOWED, "function sqlite_scan() is not allowed"),
    ("parquet-metadata", "SELECT * FROM parquet_metadata('/tmp/x.parquet')", {}, NOT_ALLOWED, "function parquet_metadata() is not allowed"),
    ("sniff-csv", "SELECT * FROM sniff_csv('/etc/passwd')", {}, NOT_ALLOWED, "function sniff_csv() is not allowed"),
    ("attach-sqlite-type", "ATTACH '/srv/other.db' AS o (TYPE sqlite)", {}, NOT_ALLOWED, "only SELECT queries may run; this statement starts with ATTACH"),
    # --- tables outside the project's catalogs
    (
        "sqlite-master",
        "SELECT * FROM sqlite_master",
        {},
        NOT_ALLOWED,
        "table sqlite_master is not in this project's catalogs",
    ),
    (
        "sqlite-temp-master",
        "SELECT * FROM shop.temp.sqlite_temp_master",
        {},
        NOT_ALLOWED,
        "table shop.temp.sqlite_temp_master is not in this project's catalog",
    ),
    (
        "pg-shadow",
        "SELECT * FROM pg.pg_catalog.pg_shadow",
        {},
        NOT_ALLOWED,
        "table pg.pg_catalog.pg_shadow is not in this project's catalog",
    ),
    (
        "information-schema",
        "SELECT * FROM pg.information_schema.tables",
        {},
        NOT_ALLOWED,
        "table pg.information_schema.tables is not in this project's catalog",
    ),
    (
        "other-project-table",
        "SELECT * FROM secrets",
        {},
        NOT_ALLOWED,
        "table secrets is not in this project's catalogs",
    ),
    (
        "other-project-catalog",
        "SELECT * FROM secret.main.secrets",
        {},
        NOT_ALLOWED,
        "catalog secret is not in this project",
    ),
    (
        "other-project-in-subquery",
        "SELECT * FROM shop.main.users WHERE id IN (SELECT id FROM secret.main.secrets)",
        {},
        NOT_ALLOWED,
        "a statement reads one catalog at a time; this one names secret, shop",
    ),
    (
        "two-catalogs",
        "SELECT * FROM files.main.sales, shop.main.users",
        {},
        NOT_ALLOWED,
        "a statement reads one catalog at a time; this one names files, shop",
    ),
    (
        "file-path-as-table",
        'SELECT * FROM files.main."/etc/passwd"',
        {},
        NOT_ALLOWED,
        "table files.main./etc/passwd is not in this project's catalog",
    ),
    (
        "unicode-homoglyph",
        'SELECT * FROM shop.main."uѕers"',
        {},
        NOT_ALLOWED,
        "table shop.main.uѕers is not in this project's catalog",
    ),
    (
        "zero-width-space",
        'SELECT * FROM shop.main."us\u200bers"',
        {},
        NOT_ALLOWED,
        "table shop.main.us\u200bers is not in this project's catalog",
    ),
    (
        "sqlite-dollar-param",
        "SELECT $1",
        {},
        NOT_ALLOWED,
        "parameters such as $1, :name or @var are not allowed; use ? with bindings",
    ),
    (
        "pg-positional-param",
        "SELECT id FROM pg.shop.customers WHERE id = $1",
        {},
        NOT_ALLOWED,
        "parameters such as $1, :name or @var are not allowed; use ? with bindings",
    ),
    (
        "named-param",
        "SELECT id FROM shop.main.users WHERE id = :id",
        {},
        NOT_ALLOWED,
        "parameters such as $1, :name or @var are not allowed; use ? with bindings",
    ),
    (
        "binding-count",
        "SELECT * FROM shop.main.users WHERE id = ?",
        {"bindings": []},
        NOT_ALLOWED,
        "the statement has 1 ? placeholders but 0 bindings were given",
    ),
]
# fmt: on


@pytest.mark.parametrize(
    ("sql", "extra", "code", "message"), [r[1:] for r in REFUSED], ids=[r[0] for r in REFUSED]
)
def test_attack_is_refused(
    world: World, sql: str, extra: dict[str, Any], code: str, message: str
) -> None:
    response = world.client.post(
        f"/api/v1/data/projects/{world.pid}/queries/execute",
        json={"statement": sql, **extra},
        headers=world.h,
    )
    assert response.status_code == 400, (response.status_code, response.text)
    assert response.json() == {"errorCode": code, "message": message}
    assert OTHER_SECRET not in response.text


def test_the_corpus_is_large_enough() -> None:
    assert len(REFUSED) + len(BOUNDED) + len(SLOW) >= 50


# statements that run, but only up to the row cap
BOUNDED = [
    (
        "recursive-forever",
        "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r) SELECT n FROM r",
        MAX_ROWS,
    ),
    (
        "cross-join",
        "SELECT a.id FROM shop.main.orders a, shop.main.orders b, shop.main.orders c",
        MAX_ROWS,
    ),
    (
        "huge-limit",
        "SELECT * FROM shop.main.orders a, shop.main.orders b LIMIT 100000000",
        MAX_ROWS,
    ),
    (
        "limit-subquery",
        "SELECT * FROM shop.main.orders a, shop.main.orders b LIMIT (SELECT 100000000)",
        MAX_ROWS,
    ),
    ("duckdb-range", "SELECT * FROM files.main.sales, range(100000000) AS r", MAX_ROWS),
    (
        "pg-cross-join",
        "SELECT a.id FROM pg.shop.payments a, pg.shop.payments b, pg.shop.payments c",
        MAX_ROWS,
    ),
    ("pg-fetch-first", "SELECT * FROM pg.shop.payments FETCH FIRST 100000 ROWS ONLY", 500),
]


@pytest.mark.parametrize(("sql", "rows"), [r[1:] for r in BOUNDED], ids=[r[0] for r in BOUNDED])
def test_huge_results_are_capped(world: World, sql: str, rows: int) -> None:
    body = ok(
        world.client.post(
            f"/api/v1/data/projects/{world.pid}/queries/execute",
            params={"format": "COMPACT"},
            json={"statement": sql},
            headers=world.h,
        )
    )
    assert len(body["data"]) == rows


SLOW = [
    (
        "sqlite-recursive-count",
        "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r) SELECT count(*) FROM r",
    ),
    ("duckdb-huge-range", "SELECT count(*) FROM files.main.sales, range(100000000000) AS r"),
    (
        "pg-huge-series",
        "SELECT count(*) FROM pg.shop.customers, generate_series(1, 100000000000) AS parley_slow_marker",
    ),
]


def _active_pg_queries(socket_dir: str) -> list[str]:
    import asyncpg

    async def run() -> list[str]:
        conn = await asyncpg.connect(host=socket_dir, user="postgres", database="postgres")
        try:
            rows = await conn.fetch(
                "SELECT query FROM pg_stat_activity WHERE state = 'active' AND datname = $1",
                PG_DB,
            )
            return [r[0] for r in rows]
        finally:
            await conn.close()

    return asyncio.run(run())


@pytest.mark.parametrize("sql", [s[1] for s in SLOW], ids=[s[0] for s in SLOW])
def test_slow_queries_are_cancelled_at_their_timeout(world: World, sql: str) -> None:
    started = time.monotonic()
    response = world.client.post(
        f"/api/v1/data/projects/{world.pid}/queries/execute",
        json={"statement": sql, "timeout": 1},
        headers=world.h,
    )
    elapsed = time.monotonic() - started
    assert response.status_code == 408, response.text
    assert response.json() == {
        "errorCode": "QUERY_TIMEOUT",
        "message": "the query ran longer than its 1 s timeout and was cancelled",
    }
    assert elapsed < 4.0
    # the database itself stopped: nothing of ours is still running on the server
    assert not [q for q in _active_pg_queries(world.socket_dir) if "parley_slow_marker" in q]


def test_bindings_are_values_not_sql(world: World) -> None:
    body = ok(
        world.client.post(
            f"/api/v1/data/projects/{world.pid}/queries/execute",
            params={"format": "COMPACT"},
            json={
                "statement": "SELECT count(*) FROM pg.shop.customers WHERE email = ?",
                "bindings": ["' OR 1=1 --"],
            },
            headers=world.h,
        )
    )
    assert body["data"] == [[0]]


def test_zz_data_is_intact_after_the_attacks(world: World) -> None:
    """Runs last in this module (name order): nothing the attacks sent changed any source."""
    assert sqlite_rows(world.sqlite_path) == {"users": 60, "orders": 200}
    assert postgres_rows(world.socket_dir, PG_DB) == {"customers": 40, "payments": 500}
    before = fingerprint(list(world.files.values()))
    assert before == fingerprint(list(world.files.values()))
    assert not Path("/tmp/out.csv").exists() and not Path("/tmp/evil.db").exists()
    body = ok(
        world.client.post(
            f"/api/v1/data/projects/{world.pid}/queries/execute",
            params={"format": "COMPACT"},
            json={"statement": "SELECT count(*) FROM files.main.sales"},
            headers=world.h,
        )
    )
    assert body["data"] == [[300]]


ALLOWED = [
    (
        "pad-small",
        "SELECT lpad(email, 30, '*') FROM pg.shop.customers ORDER BY id LIMIT 1",
        [["****************c1@example.com"]],
    ),
    ("repeat-small", "SELECT repeat('ab', 3) FROM files.main.sales LIMIT 1", [["ababab"]]),
    ("cte-shadows-a-table", "WITH users AS (SELECT 7 AS id) SELECT id FROM users", [[7]]),
    (
        "recursive-cte",
        "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 3) SELECT n FROM r",
        [[1], [2], [3]],
    ),
    (
        "union",
        "SELECT id FROM users WHERE id = 1 UNION SELECT id FROM orders WHERE id = 2 ORDER BY 1",
        [[1], [2]],
    ),
    ("case-insensitive-name", "SELECT COUNT(*) FROM SHOP.MAIN.USERS", [[60]]),
    (
        "injection-text-is-data",
        "SELECT count(*) FROM users WHERE name = 'x''; DROP TABLE users; --'",
        [[0]],
    ),
]


@pytest.mark.parametrize(("sql", "rows"), [r[1:] for r in ALLOWED], ids=[r[0] for r in ALLOWED])
def test_ordinary_queries_still_run(world: World, sql: str, rows: list[Any]) -> None:
    body = ok(
        world.client.post(
            f"/api/v1/data/projects/{world.pid}/queries/execute",
            params={"format": "COMPACT"},
            json={"statement": sql},
            headers=world.h,
        )
    )
    assert body["data"] == rows


def test_another_projects_file_is_not_a_source(world: World) -> None:
    """The other project's database lies in a directory granted to it, not to this one."""
    for kind in ("SQLITE", "FILE"):
        response = world.client.post(
            f"/api/v1/connections/{world.pid}",
            json={"name": "steal", "type": kind, "credential": {"path": str(world.other_db)}},
            headers=world.h,
        )
        assert response.status_code == 400
        assert response.json() == {
            "errorCode": "INVALID_CREDENTIAL",
            "message": f"{world.other_db} is outside the directories this project's connections "
            "may read: its uploads and the directories PARLEY_DATA_FILE_ROOTS grants it",
        }
