"""The real SQL clients against `parley serve` over real HTTP, with auth on: the `trino`
client (DBAPI and SQLAlchemy) and Peaka's own driver (`peaka`: `connect_to_peaka` and its
SQLAlchemy dialect), with the project key as the extra credential `peakaKey`."""

from __future__ import annotations

import datetime as dt
import re
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy
import trino
from peaka.dbapi import connect_to_peaka
from sqlalchemy import MetaData, Table, create_engine, inspect, select, text
from trino.exceptions import HttpError, TrinoQueryError, TrinoUserError

from trino_world import MAX_ROWS, NUMBERS, World, number_label, served_world

# the peaka dialect still implements SQLAlchemy's old `dbapi()` hook, and the trino dialect
# leaves statement caching unset: both warn on every engine, which is theirs to fix
pytestmark = [
    pytest.mark.filterwarnings("ignore:The dbapi\\(\\) classmethod:DeprecationWarning"),
    pytest.mark.filterwarnings("ignore:Dialect trino.rest will not make use of SQL compilation"),
]
SLOW = "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r) SELECT count(*) FROM r"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with served_world(tmp_path_factory.mktemp("trino-clients"), auth=True) as served:
        yield served


def trino_conn(world: World, key: str, **kwargs: Any) -> trino.dbapi.Connection:
    return trino.dbapi.connect(
        host="127.0.0.1",
        port=world.port,
        http_scheme="http",
        extra_credential=[("peakaKey", key)],
        max_attempts=1,
        **kwargs,
    )


def peaka_conn(world: World, key: str, catalog: str, schema: str) -> trino.dbapi.Connection:
    """`connect_to_peaka` as Peaka documents it. It always dials Peaka's cloud
    (dbc.peaka.studio:4567 over HTTPS) and connects lazily, so the connection it made is
    pointed at this server before its first statement; the rest is the driver's own."""
    conn = connect_to_peaka(api_key=key, catalog=catalog, schema=schema, timezone="UTC")
    assert (conn.host, conn.port, conn.http_scheme) == ("dbc.peaka.studio", 4567, "HTTPS")
    conn.host, conn.port, conn.http_scheme = "127.0.0.1", world.port, "http"
    return conn


def rows(conn: trino.dbapi.Connection, sql: str, params: list[Any] | None = None) -> list[Any]:
    cursor = conn.cursor()
    cursor.execute(sql, params)
    return cursor.fetchall()


def trino_url(world: World, key: str, path: str = "shop/main") -> str:
    return (
        f"trino://127.0.0.1:{world.port}/{path}?http_scheme=http"
        f'&extra_credential=[["peakaKey","{key}"]]'
    )


def peaka_url(world: World, key: str, path: str = "shop/main") -> str:
    """Peaka's documented URL form (with its `access_token=true`, sent as a bearer token:
    over plain HTTP the client wants `allow_insecure_auth` for it)."""
    return (
        f"peaka://127.0.0.1:{world.port}/{path}?http_scheme=http"
        f'&extra_credential=[["peakaKey","{key}"]]&access_token=true&allow_insecure_auth=true'
    )


# --- query ---------------------------------------------------------------------------------


def test_trino_dbapi_queries_the_project(world: World) -> None:
    conn = trino_conn(world, world.alpha_key, catalog="shop", schema="main")
    cursor = conn.cursor()
    cursor.execute("SELECT id, name, region FROM users WHERE id <= 3 ORDER BY id")
    assert cursor.fetchall() == [[1, "user1", "us"], [2, "user2", "apac"], [3, "user3", "eu"]]
    assert [(d.name, d.type_code) for d in cursor.description] == [
        ("id", "bigint"),
        ("name", "varchar"),
        ("region", "varchar"),
    ]
    # qualified names reach the other catalogs; unnamed columns are named as Trino names them
    assert rows(conn, "SELECT count(*), max(n) FROM numbers.main.numbers") == [[NUMBERS, NUMBERS]]
    # parameters: the client sends EXECUTE IMMEDIATE ... USING
    assert rows(conn, "SELECT id FROM users WHERE name = ? AND region = ?", ["user2", "apac"]) == [
        [2]
    ]
    assert rows(conn, "SELECT version(), current_catalog, current_schema") == [
        [rows(conn, "SELECT version()")[0][0], "shop", "main"]
    ]


def test_connect_to_peaka_queries_the_project(world: World) -> None:
    conn = peaka_conn(world, world.alpha_key, "shop", "main")
    assert rows(conn, "SELECT name FROM users WHERE id = 7") == [["user7"]]
    assert rows(conn, "SELECT count(*) FROM orders WHERE status = 'paid'") == [[100]]
    assert rows(conn, "SHOW TABLES") == [["orders"], ["users"]]


def test_types_come_back_as_python_values(world: World) -> None:
    conn = trino_conn(world, world.alpha_key, catalog="typed", schema="main")
    cursor = conn.cursor()
    cursor.execute("SELECT * FROM types ORDER BY id")
    assert cursor.fetchall() == [
        [
            1,
            Decimal("12.25"),
            dt.date(2024, 2, 29),
            dt.datetime(2024, 2, 29, 13, 45, 1, 250000),
            True,
            "Grüße, 世界 🌍",
            b"\x00\x01",
            123456789012,
            0.5,
        ],
        [2, None, None, None, None, None, None, None, None],
    ]
    assert [(d.name, d.type_code, d.precision, d.scale) for d in cursor.description] == [
        ("id", "integer", None, None),
        ("amount", "decimal(10,2)", 10, 2),
        ("day", "date", None, None),
        ("at", "timestamp(3)", 3, None),
        ("ok", "boolean", None, None),
        ("greeting", "varchar", None, None),
        ("raw", "varbinary", None, None),
        ("big", "bigint", None, None),
        ("ratio", "double", None, None),
    ]
    cursor.execute("""SELECT CAST('{"a": [1, "ü"]}' AS JSON) AS j""")
    assert cursor.fetchall() == [['{"a": [1, "ü"]}']]
    assert [(d.name, d.type_code) for d in cursor.description] == [("j", "json")]
    # SQLite types its results from their values: a column of nulls is Trino's `unknown`
    cursor = trino_conn(world, world.alpha_key, catalog="shop", schema="main").cursor()
    cursor.execute("SELECT region IS NULL AS missing, NULL AS blank FROM users WHERE id = 1")
    assert cursor.fetchall() == [[0, None]]
    assert [(d.name, d.type_code) for d in cursor.description] == [
        ("missing", "bigint"),
        ("blank", "unknown"),
    ]


def test_a_big_result_comes_over_many_pages(world: World) -> None:
    pages: list[int] = []
    conn = trino_conn(world, world.alpha_key, catalog="numbers", schema="main")
    cursor = conn.cursor(stats_callback=lambda stats: pages.append(stats["processedRows"]))
    cursor.execute("SELECT n, label FROM numbers ORDER BY n")
    assert cursor.fetchall() == [[n, number_label(n)] for n in range(1, NUMBERS + 1)]
    # one POST, one poll that finds the result, then a page per 100 rows
    assert len(pages) >= NUMBERS // 100 + 1
    assert cursor.stats["state"] == "FINISHED"


def test_the_row_cap_applies_and_is_said(world: World) -> None:
    conn = trino_conn(world, world.alpha_key, catalog="numbers", schema="main")
    cursor = conn.cursor()
    cursor.execute("SELECT a.n FROM numbers a CROSS JOIN numbers b")
    assert len(cursor.fetchall()) == MAX_ROWS  # the client keeps only the POST's warnings:
    # the one that says so is checked on the wire in test_trino_protocol.py


# --- browse (SQLAlchemy) -------------------------------------------------------------------


@pytest.mark.parametrize("dialect", ["trino", "peaka"])
def test_sqlalchemy_browses_and_queries(world: World, dialect: str) -> None:
    url = (trino_url if dialect == "trino" else peaka_url)(world, world.alpha_key)
    engine = create_engine(url)
    inspector = inspect(engine)
    assert inspector.get_schema_names() == ["information_schema", "main"]
    assert inspector.get_table_names("main") == ["orders", "users"]
    assert inspector.get_table_names("information_schema") == [
        "columns",
        "schemata",
        "tables",
        "views",
    ]
    assert [
        (c["name"], str(c["type"]), c["nullable"]) for c in inspector.get_columns("users", "main")
    ] == [("id", "BIGINT", False), ("name", "VARCHAR", False), ("region", "VARCHAR", True)]
    assert inspector.has_table("users", "main") is True
    assert inspector.has_table("nope", "main") is False
    users = Table("users", MetaData(schema="main"), autoload_with=engine)
    with engine.connect() as conn:
        found = conn.execute(select(users.c.name).where(users.c.id == 2)).fetchall()
        assert [tuple(r) for r in found] == [("user2",)]
        count = conn.execute(text("SELECT count(*) FROM orders WHERE amount > :a"), {"a": 40})
        assert count.scalar() == 36
    engine.dispose()


def test_metadata_statements_answer_from_the_catalog(world: World) -> None:
    conn = trino_conn(world, world.alpha_key, catalog="shop", schema="main")
    assert rows(conn, "SHOW CATALOGS") == [["numbers"], ["shop"], ["system"], ["typed"]]
    assert rows(conn, "SHOW SCHEMAS FROM typed") == [["information_schema"], ["main"]]
    assert rows(conn, "SHOW TABLES FROM numbers.main LIKE 'num%'") == [["numbers"]]
    assert rows(conn, "DESCRIBE typed.main.types") == [
        ["id", "integer", "", ""],
        ["amount", "decimal(10,2)", "", ""],
        ["day", "date", "", ""],
        ["at", "timestamp(3)", "", ""],
        ["ok", "boolean", "", ""],
        ["greeting", "varchar", "", ""],
        ["raw", "varbinary", "", ""],
        ["big", "bigint", "", ""],
        ["ratio", "double", "", ""],
    ]
    assert rows(
        conn,
        "SELECT table_name, count(*) FROM information_schema.columns "
        "WHERE table_schema = 'main' GROUP BY table_name ORDER BY 1",
    ) == [["orders", 4], ["users", 3]]
    assert rows(conn, "SELECT table_cat FROM system.jdbc.catalogs ORDER BY 1") == [
        ["numbers"],
        ["shop"],
        ["system"],
        ["typed"],
    ]


# --- refused, cancelled, timed out ---------------------------------------------------------


def test_a_refused_statement_is_a_trino_error(world: World) -> None:
    conn = trino_conn(world, world.alpha_key, catalog="shop", schema="main")
    with pytest.raises(TrinoUserError) as refused:
        rows(conn, "DELETE FROM users")
    assert (refused.value.error_name, refused.value.error_code, refused.value.message) == (
        "PERMISSION_DENIED",
        4,
        "only SELECT queries may run; this statement starts with DELETE",
    )
    with pytest.raises(TrinoUserError) as syntax:
        rows(conn, "SELEC 1")
    assert (syntax.value.error_name, syntax.value.message) == (
        "SYNTAX_ERROR",
        "line 1:7: Invalid expression / Unexpected token",
    )
    with pytest.raises(TrinoUserError) as missing:
        rows(conn, "SELECT * FROM secrets")
    assert (missing.value.error_name, missing.value.message) == (
        "PERMISSION_DENIED",
        "table shop.main.secrets is not in this project's catalog",
    )
    # SQLAlchemy raises the client's exception class, wrapped as its ProgrammingError
    engine = create_engine(peaka_url(world, world.alpha_key))
    with engine.connect() as sa, pytest.raises(sqlalchemy.exc.ProgrammingError) as wrapped:
        sa.execute(text("DROP TABLE users"))
    assert isinstance(wrapped.value.orig, TrinoUserError)
    assert wrapped.value.orig.error_name == "PERMISSION_DENIED"
    engine.dispose()
    assert rows(conn, "SELECT count(*) FROM users") == [[60]]  # nothing was changed


def test_cancel_frees_the_query(world: World) -> None:
    conn = trino_conn(world, world.alpha_key, catalog="numbers", schema="main")
    cursor = conn.cursor()
    cursor.execute("SELECT n FROM numbers ORDER BY n")
    assert cursor.fetchone() == [1]
    cursor.cancel()  # DELETE of the nextUri: 204
    with pytest.raises(TrinoUserError) as cancelled:
        cursor.fetchall()
    assert (cancelled.value.error_name, cancelled.value.message) == (
        "USER_CANCELED",
        "Query was canceled",
    )


def test_the_timeout_stops_a_runaway_query(world: World) -> None:
    conn = trino_conn(
        world,
        world.alpha_key,
        catalog="shop",
        schema="main",
        session_properties={"query_max_run_time": "1s"},
    )
    started = time.monotonic()
    with pytest.raises(TrinoQueryError) as timed_out:
        rows(conn, SLOW)
    assert time.monotonic() - started < 5
    assert (
        timed_out.value.error_name,
        timed_out.value.error_type,
        timed_out.value.error_code,
        timed_out.value.message,
    ) == (
        "EXCEEDED_TIME_LIMIT",
        "INSUFFICIENT_RESOURCES",
        131075,
        "the query ran longer than its 1 s timeout and was cancelled",
    )


# --- keys ----------------------------------------------------------------------------------


def test_a_wrong_or_missing_key_is_refused(world: World) -> None:
    wrong = trino_conn(world, "AAAAAAAA." + "B" * 32, catalog="shop", schema="main")
    with pytest.raises(HttpError) as refused:
        rows(wrong, "SELECT 1")
    assert str(refused.value) == 'error 401: b\'{"detail":"API key is invalid"}\''
    anonymous = trino.dbapi.connect(
        host="127.0.0.1", port=world.port, http_scheme="http", catalog="shop", max_attempts=1
    )
    with pytest.raises(HttpError) as missing:
        rows(anonymous, "SELECT 1")
    assert str(missing.value).startswith('error 401: b\'{"detail":"missing API key')
    engine = create_engine(peaka_url(world, "AAAAAAAA." + "B" * 32))
    with pytest.raises(HttpError):
        inspect(engine).get_schema_names()
    engine.dispose()


def test_another_projects_key_reaches_only_its_own_project(world: World) -> None:
    # beta's catalog is also named shop: the same names, beta's data (5 users, not 60)
    beta = peaka_conn(world, world.beta_key, "shop", "main")
    assert rows(beta, "SELECT count(*) FROM users") == [[5]]
    assert rows(beta, "SHOW CATALOGS") == [["shop"], ["system"]]
    with pytest.raises(TrinoUserError) as other:
        rows(beta, "SELECT count(*) FROM numbers.main.numbers")
    assert (other.value.error_name, other.value.message) == (
        "PERMISSION_DENIED",
        "catalog numbers is not in this project",
    )
    on_alpha = trino_conn(world, world.beta_key, catalog="numbers", schema="main")
    with pytest.raises(TrinoUserError) as unknown:
        rows(on_alpha, "SELECT count(*) FROM numbers")
    assert (unknown.value.error_name, unknown.value.message) == (
        "CATALOG_NOT_FOUND",
        "Catalog 'numbers' not found",
    )
    # naming alpha as the user does not change which project a project key reaches
    as_alpha = trino_conn(world, world.beta_key, user="alpha", catalog="shop", schema="main")
    assert rows(as_alpha, "SELECT count(*) FROM users") == [[5]]


def test_the_sqlalchemy_url_of_supported_drivers_connects(world: World) -> None:
    answered = httpx.get(
        f"{world.url}/api/v1/supportedDrivers/sql_alchemy?catalogName=shop",
        headers={"Authorization": f"Bearer {world.alpha_key}"},
    )
    assert answered.status_code == 200, answered.text
    engine = create_engine(answered.json()["SQL_ALCHEMY"])
    assert inspect(engine).get_table_names("main") == ["orders", "users"]
    engine.dispose()


def test_polls_need_a_key_of_the_querys_project(world: World) -> None:
    def headers(key: str) -> dict[str, str]:
        return {"X-Trino-Extra-Credential": f"peakaKey={key}", "X-Trino-Catalog": "numbers"}

    first = httpx.post(
        f"{world.url}/v1/statement",
        content=b"SELECT n FROM main.numbers",
        headers=headers(world.alpha_key),
    ).json()
    stranger = httpx.get(first["nextUri"], headers=headers(world.beta_key))
    assert stranger.status_code == 404
    assert stranger.json() == {"detail": f"Query {first['id']} not found"}
    assert httpx.delete(first["nextUri"], headers=headers(world.beta_key)).status_code == 204
    owner = httpx.get(first["nextUri"], headers=headers(world.alpha_key))
    assert owner.status_code == 200  # the stranger's DELETE cancelled nothing
    assert owner.json()["stats"]["state"] in ("RUNNING", "FINISHED")
    assert "error" not in owner.json()
    assert (
        httpx.delete(owner.json()["nextUri"], headers=headers(world.alpha_key)).status_code == 204
    )


def test_the_readme_snippets_run(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    """The copy-paste connection snippets of README's "SQL clients" section, as written but for
    the port and the key."""
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    section = readme.split("## SQL clients (Trino protocol)", 1)[1].split("\n## ", 1)[0]
    snippets = re.findall(r"```python\n(.*?)```", section, flags=re.S)
    assert len(snippets) == 2
    for snippet in snippets:
        code = snippet.replace("8000", str(world.port)).replace("<project key>", world.alpha_key)
        exec(compile(code, "README.md", "exec"), {})  # noqa: S102 - the README's own code
    assert capsys.readouterr().out.splitlines() == [
        "[['user1', 'us'], ['user2', 'apac'], ['user3', 'eu']]",
        "['orders', 'users']",
    ]
    (jdbc,) = re.findall(r"^jdbc:trino://.*$", section, flags=re.M)
    answered = httpx.get(
        f"{world.url}/api/v1/supportedDrivers/jdbc?catalogName=shop",
        headers={"Authorization": f"Bearer {world.alpha_key}"},
    ).json()
    # what supportedDrivers answers is the README's URL, for this server and this key
    assert answered == {
        "JDBC": jdbc.replace("8000", str(world.port)).replace("<project key>", world.alpha_key)
    }
