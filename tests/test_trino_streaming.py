"""The SQL endpoint's streaming, cancelling and session statements, with the real `trino` client
over real HTTP, against an app served in this process (uvicorn on a thread), so the tests can
look at the query registry and the source's connections: a big result is read over many pages
with only a few of them held at any time; a cancelled or abandoned query is freed at once, its
source connection back among the idle ones; parameters (EXECUTE IMMEDIATE, and PREPARE /
EXECUTE / DEALLOCATE in the client's legacy mode) arrive as data, never as SQL; SET SESSION /
RESET SESSION travel in the session headers. Both backends of Parley's own database."""

from __future__ import annotations

import asyncio
import datetime as dt
import sqlite3
import threading
import time
from collections.abc import Callable, Coroutine, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

import duckdb
import httpx
import pytest
import trino
import uvicorn
from peaka.dbapi import connect as peaka_connect
from trino.exceptions import TrinoQueryError, TrinoUserError

from conftest import BACKENDS, PostgresForTests, _free_port, make_settings, migrated_database
from data_sources import PG_PASSWORD, _pg
from parley.api.state import AppState
from parley.app import create_app
from parley.data.connectors.files import FileConnector
from parley.data.connectors.postgres import MAX_SESSIONS, PostgresConnector
from parley.data.connectors.sqlite import SqliteConnector
from parley.data.sql_guard import CatalogScope, TableName, guard
from parley.trino.commands import (
    Deallocate,
    ExecuteImmediate,
    Prepare,
    ResetSession,
    SetSession,
    read_command,
)
from parley.trino.errors import TrinoError
from parley.trino.queries import PAGES_AHEAD
from parley.trino.statement import _bind, _marked, parse

BIG = 6_000  # rows of `big`: 60 pages of PAGE_ROWS
PAGE_ROWS = 100
TTL_S = 2.0
SLOW = "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r) SELECT count(*) FROM r"
MOST_HELD = PAGES_AHEAD + 2  # unread pages, the batch held to look ahead, the last answered
T = TypeVar("T")


class Served:
    """An app served by uvicorn on a thread of its own, with its event loop reachable."""

    def __init__(self, app: Any, backend: str) -> None:
        self.app = app
        self.backend = backend
        self.port = _free_port()
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning")
        self.server = uvicorn.Server(config)
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        self.loop.run_until_complete(self.server.serve())

    def __enter__(self) -> Served:
        self.thread.start()
        deadline = time.monotonic() + 60
        while not self.server.started:
            assert self.thread.is_alive() and time.monotonic() < deadline, "no server"
            time.sleep(0.02)
        return self

    def __exit__(self, *_: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)
        self.loop.close()

    @property
    def state(self) -> AppState:
        state: AppState = self.app.state.parley
        return state

    def on_loop(self, work: Callable[[], T]) -> T:
        """`work()` run on the server's loop (its objects are not shared with this thread)."""

        async def call() -> T:
            return work()

        done: Coroutine[Any, Any, T] = call()
        return asyncio.run_coroutine_threadsafe(done, self.loop).result(timeout=10)

    def held(self) -> tuple[int, int]:
        """Queries held, and pages held over all of them."""
        registry = self.state.statements
        return self.on_loop(lambda: (len(registry), registry.held_pages()))

    def maker_waits(self) -> bool:
        """One query holds all it may, and its task waits to put the next page (not inside a
        step of the source: a query dropped during a step has its connection interrupted and
        closed, not given back, which is right but not what these tests look at)."""
        registry = self.state.statements

        def waiting() -> bool:
            queries = list(registry._held.values())
            return (
                len(queries) == 1
                and registry.held_pages() == MOST_HELD
                and len(queries[0].pages._putters) == 1  # type: ignore[attr-defined]
            )

        return self.on_loop(waiting)

    def idle_sqlite(self) -> int:
        """Connections idle in the open SQLite connectors (all are idle when none runs)."""

        def count() -> int:
            pool = self.state.data.pool
            connectors = [c for _, c in pool._open.values() if isinstance(c, SqliteConnector)]
            return sum(len(c._idle) for c in connectors)

        return self.on_loop(count)

    def idle_duckdb(self) -> int:
        def count() -> int:
            pool = self.state.data.pool
            found = [c for _, c in pool._open.values() if isinstance(c, FileConnector)]
            return sum(len(c._idle) for c in found)

        return self.on_loop(count)

    def postgres_sessions(self) -> tuple[int, int]:
        """Of the open PostgreSQL connectors: sessions free to take (of MAX_SESSIONS each),
        and sessions idle."""

        def count() -> tuple[int, int]:
            pool = self.state.data.pool
            found = [c for _, c in pool._open.values() if isinstance(c, PostgresConnector)]
            return sum(c._slots._value for c in found), sum(len(c._idle) for c in found)

        return self.on_loop(count)


def wait_for(check: Callable[[], bool], what: str, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def _sources(folder: Path) -> tuple[Path, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    db = folder / "shop.db"
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE big (id INTEGER PRIMARY KEY, label TEXT)")
    conn.executemany("INSERT INTO big VALUES (?, ?)", ((i, f"row-ü-{i}") for i in range(BIG)))
    conn.execute("CREATE TABLE people (id INTEGER PRIMARY KEY, name TEXT, born TEXT, amount REAL)")
    conn.executemany(
        "INSERT INTO people VALUES (?, ?, ?, ?)",
        [
            (1, "Zoë 世界", "2024-02-29", 12.25),
            (2, "o'brien'; DROP TABLE people; --", "1999-12-31", 0.5),
            (3, "plain", None, None),
        ],
    )
    conn.commit()
    conn.close()
    csv = folder / "one.csv"
    duckdb.sql(f"COPY (SELECT 1 AS id) TO '{csv}' (HEADER)")
    duckdb.sql(
        f"COPY (SELECT range AS id, 'row-ü-' || range AS label FROM range({BIG})) "
        f"TO '{folder / 'many.csv'}' (HEADER)"
    )
    return db, csv


@pytest.fixture(scope="module", params=BACKENDS)
def served(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Served]:
    folder = tmp_path_factory.mktemp(f"trino-stream-{request.param}")
    db, csv = _sources(folder / "sources")
    with migrated_database(request.param, folder, request) as url:
        settings = make_settings(
            url,
            folder / "data",
            auth_enabled=False,
            sql_page_rows=PAGE_ROWS,
            sql_result_ttl_s=TTL_S,
            query_max_rows=BIG,
            query_max_bytes=64 * 1024 * 1024,
            data_file_roots={"*": (str(folder / "sources"),)},
            data_allow_private_hosts=True,
        )
        with Served(create_app(settings), request.param) as server:
            base = f"http://127.0.0.1:{server.port}"
            with httpx.Client(base_url=base, timeout=60) as http:
                http.post(
                    "/api/v1/projects", json={"name": "Alpha", "id": "alpha"}
                ).raise_for_status()
                for name, kind, credential in (
                    ("shop", "SQLITE", {"path": str(db)}),
                    (
                        "files",
                        "FILE",
                        {"files": [{"path": str(csv)}, {"path": str(csv.parent / "many.csv")}]},
                    ),
                ):
                    made = http.post(
                        "/api/v1/connections/alpha",
                        json={"name": name, "type": kind, "credential": credential},
                    )
                    made.raise_for_status()
                    http.post(
                        "/api/v1/data/projects/alpha/catalogs",
                        json={"name": name, "connectionId": made.json()["id"]},
                    ).raise_for_status()
            yield server


def connect(served: Served, catalog: str = "shop", **kwargs: Any) -> trino.dbapi.Connection:
    return trino.dbapi.connect(
        host="127.0.0.1", port=served.port, http_scheme="http", user="alpha", catalog=catalog,
        schema="main", max_attempts=1, **kwargs,
    )  # fmt: skip


def fetch(conn: trino.dbapi.Connection, sql: str, params: list[Any] | None = None) -> list[Any]:
    cursor = conn.cursor()
    cursor.execute(sql, params)
    return cursor.fetchall()


def post(served: Served, sql: str, **headers: str) -> dict[str, Any]:
    answer = httpx.post(
        f"http://127.0.0.1:{served.port}/v1/statement",
        content=sql,
        headers={"X-Trino-User": "alpha", "X-Trino-Catalog": "shop", "X-Trino-Schema": "main"}
        | headers,
    )
    assert answer.status_code == 200
    body: dict[str, Any] = answer.json()
    return body


HTTP = httpx.Client(timeout=30)  # one pool of connections for the pages the tests follow


@pytest.fixture(scope="module", autouse=True)
def _close_http() -> Iterator[None]:
    yield
    HTTP.close()


def follow(uri: str) -> tuple[dict[str, Any], httpx.Headers]:
    answer = HTTP.get(uri)
    assert answer.status_code == 200, answer.text
    return answer.json(), answer.headers


def until_done(body: dict[str, Any]) -> tuple[dict[str, Any], httpx.Headers]:
    headers = httpx.Headers()
    while "nextUri" in body:
        body, headers = follow(body["nextUri"])
    return body, headers


# --- parameters --------------------------------------------------------------------------


def test_parameters_of_every_kind_come_back_exact(served: Served) -> None:
    """The client's default: EXECUTE IMMEDIATE '...' USING <literals>; each literal is a value
    in the statement's tree, typed as the client wrote it."""
    conn = connect(served)
    born, amount, name = dt.date(2024, 2, 29), Decimal("12.25"), "Zoë 世界"
    sql = "SELECT id, name, born, amount FROM people WHERE born = ? AND amount = ? AND name = ?"
    assert fetch(conn, sql, [born, amount, name]) == [[1, name, "2024-02-29", 12.25]]
    assert fetch(conn, "SELECT id FROM people WHERE born IS NOT DISTINCT FROM ?", [None]) == [[3]]
    # a source with types of its own (DuckDB) hands each value back as the type it was sent as
    echoed = fetch(
        connect(served, "files"),
        "SELECT ?, ?, ?, ?, ?, ?, ? FROM one",
        [born, amount, name, None, 7, True, dt.datetime(2024, 2, 29, 13, 45, 1, 250000)],
    )
    assert echoed == [
        [born, amount, name, None, 7, True, dt.datetime(2024, 2, 29, 13, 45, 1, 250000)]
    ]


def test_peakas_driver_binds_parameters_too(served: Served) -> None:
    """`peaka.dbapi.connect` is the trino client's: the same EXECUTE IMMEDIATE."""
    conn = peaka_connect(
        host="127.0.0.1", port=served.port, http_scheme="http", user="alpha", catalog="shop",
        schema="main", max_attempts=1,
    )  # fmt: skip
    sql = "SELECT id FROM people WHERE born = ? OR amount = ? ORDER BY id"
    assert fetch(conn, sql, [dt.date(2024, 2, 29), 0.5]) == [[1], [2]]


def test_an_injection_in_a_parameter_is_data(served: Served) -> None:
    conn = connect(served)
    sql = "SELECT id, name FROM people WHERE name = ?"
    assert fetch(conn, sql, ["x' OR '1'='1"]) == []
    tricky = "o'brien'; DROP TABLE people; --"
    assert fetch(conn, sql, [tricky]) == [[2, tricky]]
    assert fetch(conn, "SELECT count(*) FROM people", None) == [[3]]


def test_legacy_prepared_statements_round_trip(served: Served) -> None:
    """`legacy_prepared_statements=True`: PREPARE, then EXECUTE ... USING with the statement
    in X-Trino-Prepared-Statement, then DEALLOCATE PREPARE, as JDBC does too."""
    conn = connect(served, legacy_prepared_statements=True)
    sql = "SELECT id FROM people WHERE born = ? OR name = ? ORDER BY id"
    assert fetch(conn, sql, [dt.date(1999, 12, 31), "Zoë 世界"]) == [[1], [2]]
    assert conn._client_session.prepared_statements == {}  # deallocated after
    assert served.held() == (0, 0)


def test_prepare_execute_deallocate_by_hand(served: Served) -> None:
    prepared = "SELECT name FROM people WHERE id = ?"
    body, headers = until_done(post(served, f"PREPARE mine FROM {prepared}"))
    assert body["updateType"] == "PREPARE" and "error" not in body
    assert headers["X-Trino-Added-Prepare"] == "mine=SELECT+name+FROM+people+WHERE+id+%3D+%3F"
    session = {"X-Trino-Prepared-Statement": headers["X-Trino-Added-Prepare"]}
    body, _ = follow(post(served, "EXECUTE mine USING 2", **session)["nextUri"])
    assert body["data"] == [["o'brien'; DROP TABLE people; --"]]
    body, _ = until_done(post(served, "EXECUTE mine USING 1, 2", **session))
    assert body["error"]["errorName"] == "GENERIC_USER_ERROR"
    assert body["error"]["message"] == "Incorrect number of parameters: expected 1 but found 2"
    body, headers = until_done(post(served, "DEALLOCATE PREPARE mine", **session))
    assert body["updateType"] == "DEALLOCATE"
    assert headers["X-Trino-Deallocated-Prepare"] == "mine"
    for sql in ("EXECUTE mine USING 1", "DEALLOCATE PREPARE mine"):
        body, _ = until_done(post(served, sql))
        assert body["error"]["errorName"] == "NOT_FOUND"
        assert body["error"]["message"] == "Prepared statement not found: mine"
    body, _ = until_done(post(served, "PREPARE bad FROM SELEC 1"))
    assert body["error"]["errorName"] == "SYNTAX_ERROR"
    # a prepared SHOW runs without parameters, as JDBC's metadata calls do
    body, headers = until_done(post(served, "PREPARE tables FROM SHOW TABLES"))
    session = {"X-Trino-Prepared-Statement": headers["X-Trino-Added-Prepare"]}
    body, _ = until_done(post(served, "EXECUTE tables", **session))
    assert body["data"] == [["big"], ["people"]]


def test_set_session_and_reset_session(served: Served) -> None:
    conn = connect(served)
    cursor = conn.cursor()
    cursor.execute("SET SESSION query_max_run_time = '1s'")
    cursor.fetchall()
    assert conn._client_session.properties == {"query_max_run_time": "1s"}
    with pytest.raises(TrinoQueryError) as timed_out:
        fetch(conn, SLOW)
    assert timed_out.value.error_name == "EXCEEDED_TIME_LIMIT"
    cursor = conn.cursor()
    cursor.execute("RESET SESSION query_max_run_time")
    cursor.fetchall()
    assert conn._client_session.properties == {}
    for sql, name in (
        ("SET SESSION no_such_thing = 1", "INVALID_SESSION_PROPERTY"),
        ("SET SESSION query_max_run_time = 'soon'", "INVALID_SESSION_PROPERTY"),
        ("SET SESSION shop.some_property = 1", "INVALID_SESSION_PROPERTY"),
        ("RESET SESSION no_such_thing", "INVALID_SESSION_PROPERTY"),
    ):
        with pytest.raises(TrinoUserError) as caught:
            fetch(conn, sql)
        assert caught.value.error_name == name


# --- streaming ---------------------------------------------------------------------------


def test_a_big_result_streams_with_a_few_pages_held(served: Served) -> None:
    """Read slowly, page by page: the query never holds more than a few pages, whatever the
    result's size; read with the client, every row arrives in order."""
    body = post(served, "SELECT id, label FROM big ORDER BY id")
    body, _ = follow(body["nextUri"])
    seen = list(body.get("data", []))
    pages = 1
    while "nextUri" in body:
        if pages in (1, 20, 45):
            # the maker fills what it may hold ahead, then waits for the client
            wait_for(lambda: served.held() == (1, MOST_HELD), "the pages ahead to be made")
            time.sleep(0.2)
            assert served.held() == (1, MOST_HELD)
        body, _ = follow(body["nextUri"])
        seen.extend(body.get("data", []))
        pages += 1
        assert served.held()[1] <= MOST_HELD
    assert body["stats"]["state"] == "FINISHED"
    assert seen == [[i, f"row-ü-{i}"] for i in range(BIG)]
    assert pages == BIG // PAGE_ROWS
    assert served.held() == (0, 0)
    rows = fetch(connect(served), "SELECT id, label FROM big ORDER BY id")
    assert rows == [[i, f"row-ü-{i}"] for i in range(BIG)]
    wait_for(lambda: served.idle_sqlite() >= 1, "the connection to be idle again")


def warnings_of_all(body: dict[str, Any]) -> tuple[int, list[str]]:
    rows, notes = 0, []
    while "nextUri" in body:
        body, _ = follow(body["nextUri"])
        rows += len(body.get("data", []))
        notes += [w["message"] for w in body["warnings"]]
    return rows, notes


def test_the_row_cap_is_kept_over_the_whole_stream(served: Served) -> None:
    """PARLEY_QUERY_MAX_ROWS (here BIG) caps the stream as a whole; its warning comes with
    the last page, and a query's own smaller LIMIT is no cap."""
    capped = "the result was capped at 6000 rows (PARLEY_QUERY_MAX_ROWS)"
    assert warnings_of_all(post(served, "SELECT a.id FROM big a, people b")) == (BIG, [capped])
    assert warnings_of_all(post(served, "SELECT id FROM big LIMIT 250")) == (250, [])
    assert warnings_of_all(post(served, "SELECT id FROM big")) == (BIG, [capped])
    assert served.held() == (0, 0)


def test_cancel_mid_stream_frees_the_query_and_its_connection(served: Served) -> None:
    conn = connect(served)
    cursor = conn.cursor()
    cursor.execute("SELECT id, label FROM big ORDER BY id")
    assert cursor.fetchmany(250) == [[i, f"row-ü-{i}"] for i in range(250)]
    # the maker has filled what it may hold ahead: it waits, the source's cursor between steps
    wait_for(served.maker_waits, "the task to wait with the pages ahead made")
    cursor.cancel()  # DELETE of the nextUri
    assert served.held() == (0, 0)  # freed at once
    wait_for(lambda: served.idle_sqlite() >= 1, "the connection to be idle again")
    # the connection that was streaming serves the next statement
    assert fetch(connect(served), "SELECT count(*) FROM big") == [[BIG]]


def test_a_file_source_streams_and_is_cancelled_mid_stream(served: Served) -> None:
    """DuckDB over a CSV file: every row in order over many pages, and a cancel between pages
    puts its cursor back among the idle ones."""
    conn = connect(served, "files")
    sql = "SELECT id, label FROM many ORDER BY id"
    assert fetch(conn, sql) == [[i, f"row-ü-{i}"] for i in range(BIG)]
    cursor = conn.cursor()
    cursor.execute(sql)
    assert cursor.fetchmany(250) == [[i, f"row-ü-{i}"] for i in range(250)]
    # the maker has filled what it may hold ahead: it waits, the source's cursor between steps
    wait_for(served.maker_waits, "the task to wait with the pages ahead made")
    cursor.cancel()
    assert served.held() == (0, 0)
    wait_for(lambda: served.idle_duckdb() >= 1, "the cursor to be idle again")
    assert fetch(conn, "SELECT count(*) FROM many") == [[BIG]]


def test_cancel_while_the_source_runs_interrupts_it(served: Served) -> None:
    """A statement still running in SQLite (a query that never ends by itself) is interrupted
    at the DELETE: its task ends, which it does only once the engine has stopped, and the
    interrupted connection is closed."""
    body = post(served, SLOW)
    running, _ = follow(body["nextUri"])  # a poll waits up to 1 s, then says it runs
    assert running["stats"]["state"] == "RUNNING" and "data" not in running
    registry = served.state.statements
    task = served.on_loop(lambda: registry._held[body["id"]].task)
    assert HTTP.delete(running["nextUri"]).status_code == 204
    assert served.held() == (0, 0)
    wait_for(task.done, "the statement to stop in SQLite")
    gone, _ = follow(running["nextUri"])
    assert gone["error"]["errorName"] == "USER_CANCELED"
    # the interrupted connection was closed, not kept: the next statement runs as ever
    assert fetch(connect(served), "SELECT count(*) FROM people") == [[3]]


def test_an_abandoned_query_is_reaped(served: Served) -> None:
    body = post(served, "SELECT id FROM big ORDER BY id")
    page, _ = follow(body["nextUri"])
    assert len(page["data"]) == PAGE_ROWS
    wait_for(served.maker_waits, "the task to wait with the pages ahead made")
    wait_for(lambda: served.held() == (0, 0), "the query to be reaped", timeout_s=TTL_S * 5)
    wait_for(lambda: served.idle_sqlite() >= 1, "the connection to be idle again")
    late, _ = follow(page["nextUri"])
    assert late["stats"]["state"] == "FAILED"
    assert late["error"]["errorName"] == "ABANDONED_QUERY"


def test_a_postgres_source_binds_exact_values_and_is_cancelled_mid_stream(
    served: Served, postgres: PostgresForTests
) -> None:
    """A PostgreSQL catalog: decimals and dates come back exact; a stream cancelled between
    pages rolls back its cursor's transaction and its session is idle again."""
    db = f"parley_trino_stream_{served.backend}"
    socket = postgres.socket_dir
    _pg(
        socket,
        "postgres",
        f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)',
        f'CREATE DATABASE "{db}"',
    )
    _pg(
        socket,
        db,
        "CREATE TABLE prices (id int PRIMARY KEY, price numeric(10, 2), day date)",
        "INSERT INTO prices SELECT g, g / 4.0, DATE '2024-01-01' + g FROM generate_series(1, 3000) g",
    )
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{served.port}", timeout=60) as http:
            credential = {
                "url": socket, "user": "postgres", "password": PG_PASSWORD, "databaseName": db,
            }  # fmt: skip
            made = http.post(
                "/api/v1/connections/alpha",
                json={"name": "pg", "type": "POSTGRES", "credential": credential},
            )
            made.raise_for_status()
            http.post(
                "/api/v1/data/projects/alpha/catalogs",
                json={"name": "pg", "connectionId": made.json()["id"]},
            ).raise_for_status()
        conn = trino.dbapi.connect(
            host="127.0.0.1", port=served.port, http_scheme="http", user="alpha",
            catalog="pg", schema="public", max_attempts=1,
        )  # fmt: skip
        values = [Decimal("12.25"), dt.date(2024, 2, 29), "Zoë 世界", None, -3]
        assert fetch(conn, "SELECT ?, ?, ?, ?, ?", values) == [values]
        sql = "SELECT id, price FROM prices WHERE price >= ? AND day > ? ORDER BY id"
        assert fetch(conn, sql, [Decimal("749.75"), dt.date(2024, 1, 1)]) == [
            [2999, Decimal("749.75")], [3000, Decimal("750.00")],
        ]  # fmt: skip
        cursor = conn.cursor()
        cursor.execute(sql, [Decimal("0"), dt.date(2000, 1, 1)])
        assert cursor.fetchmany(250) == [[i, Decimal(i) / 4] for i in range(1, 251)]
        wait_for(served.maker_waits, "the task to wait with the pages ahead made")
        cursor.cancel()
        assert served.held() == (0, 0)
        wait_for(
            lambda: (
                served.postgres_sessions()[0] == MAX_SESSIONS and served.postgres_sessions()[1] >= 1
            ),
            "the session to be idle again",
        )
        active = f"SELECT count(*) FROM pg_stat_activity WHERE datname = '{db}' AND state <> 'idle'"
        wait_for(lambda: _pg(socket, "postgres", active)[0][0][0] == 0, "no statement left")
        assert fetch(conn, "SELECT count(*) FROM prices") == [[3000]]
    finally:
        _pg(socket, "postgres", f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')


# --- as functions ------------------------------------------------------------------------


def test_parameters_bind_in_the_order_they_are_written() -> None:
    """A tree keeps a WITH after its SELECT and a `?` in a string or a comment is none: each
    parameter goes to the `?` at its position in the text."""
    command = read_command(
        "EXECUTE IMMEDIATE 'WITH c AS (SELECT ? AS a) SELECT ''?'' AS q, a FROM c "
        "WHERE a = ? -- ?\n AND a <> ?' USING 1, DATE '2024-02-29', 'x'' OR ''1''=''1'"
    )
    assert isinstance(command, ExecuteImmediate)
    marked, prefix = _marked(command.sql)
    tree = parse(marked)
    _bind(tree, command.parameters, prefix)
    assert tree.sql("sqlite") == (
        "WITH c AS (SELECT 1 AS a) SELECT '?' AS q, a FROM c WHERE a = DATE('2024-02-29') "
        "AND a <> 'x'' OR ''1''=''1'"
    )


def test_the_guards_bindings_go_in_order_too() -> None:
    scope = CatalogScope(
        names=frozenset({"shop"}), dialect="sqlite", default_schema="main",
        tables=(TableName("main", "users"),),
    )  # fmt: skip
    guarded = guard(
        "SELECT id FROM users WHERE a = ? AND b = ? AND c = ?",
        scope=scope,
        row_cap=5,
        bindings=["1", "2", "3"],
    )
    assert guarded.sql == (
        "SELECT id FROM \"main\".\"users\" WHERE a = '1' AND b = '2' AND c = '3' LIMIT 5"
    )


@pytest.mark.parametrize(
    ("sql", "command"),
    [
        ("PREPARE St_1 FROM SELECT ?", Prepare("st_1", "SELECT ?")),
        ('DEALLOCATE PREPARE "St_1";', Deallocate("St_1")),
        ("SET SESSION query_max_run_time = '30s'", SetSession("query_max_run_time", "30s")),
        ("set session query_max_run_time='1.5m';", SetSession("query_max_run_time", "1.5m")),
        ("RESET SESSION query_max_run_time", ResetSession("query_max_run_time")),
    ],
)
def test_session_commands_are_read(sql: str, command: object) -> None:
    assert read_command(sql) == command


@pytest.mark.parametrize(
    ("sql", "name", "message"),
    [
        ("PREPARE FROM SELECT 1", "SYNTAX_ERROR", "PREPARE needs: PREPARE <name> FROM <statement>"),
        ("DEALLOCATE st", "SYNTAX_ERROR", "DEALLOCATE needs: DEALLOCATE PREPARE <name>"),
        ("EXECUTE st USING", "SYNTAX_ERROR", "USING needs values separated by commas"),
        ("EXECUTE st USING (SELECT 1)", "NOT_SUPPORTED",
         "a parameter must be a literal value; got (SELECT 1)"),
        ("SET SESSION x = y", "NOT_SUPPORTED", "a session property's value must be a literal"),
        ("RESET SESSION", "SYNTAX_ERROR", "RESET SESSION needs one session property name"),
    ],
)  # fmt: skip
def test_bad_session_commands_say_why(sql: str, name: str, message: str) -> None:
    with pytest.raises(TrinoError) as caught:
        read_command(sql)
    assert (caught.value.name, caught.value.message) == (name, message)
