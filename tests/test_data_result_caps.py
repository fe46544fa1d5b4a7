"""Results are capped in bytes as well as rows, on every connector: long cells are cut and end
with a marker, rows stop at the byte cap and the response says so (`truncated`,
`truncation`), a row that cannot fit at all is a clear Peaka error, and small results are what
they always were. Connectors fetch a chunk at a time, so what they hold is bounded by the caps,
not by what the source would return."""

from __future__ import annotations

import asyncio
import base64
import json
import sqlite3
import tracemalloc
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pytest
from fastapi.testclient import TestClient

from conftest import BACKENDS, AppClient, PostgresForTests, make_settings
from data_sources import BIG_DATA, DOC_BODY, make_docs
from helpers import add_catalog, new_project, ok
from parley.app import create_app
from parley.data.connectors.base import ConnectorEnv
from parley.data.connectors.files import FileConnector
from parley.data.connectors.postgres import PostgresConnector
from parley.data.connectors.results import (
    MARKER,
    ResultBuilder,
    ResultCaps,
    RowLayout,
    render_rows,
)
from parley.data.connectors.sqlite import SqliteConnector
from parley.data.file_roots import FileRoots

MAX_BYTES = 2048
CELL_BYTES = 1000
AGENT_BYTES = 1024
SOURCES = ["sqlite", "duckdb", "postgres"]
TYPES = {
    "sqlite": ["bigint", "varchar", "varbinary"],
    "duckdb": ["integer", "varchar", "blob"],
    "postgres": ["integer", "varchar", "varbinary"],
}
# a cut cell: 1,000 bytes in all, the marker's 14 included
CUT_BODY = "é" * 493 + MARKER  # 986 bytes of two-byte characters
CUT_DATA = (
    base64.b64encode(BIG_DATA[:738]).decode() + MARKER
)  # 984 characters of base64, 998 in all


@dataclass
class World:
    client: TestClient
    projects: dict[str, str]  # source -> project id


@pytest.fixture(scope="module", params=BACKENDS)
def world(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    postgres: PostgresForTests,
) -> Iterator[World]:
    backend = request.param
    root = tmp_path_factory.mktemp(f"caps-{backend}")
    sources = root / "sources"
    pg_db = f"parley_source_caps_{backend}"
    sqlite_path, parquet = make_docs(sources, postgres.socket_dir, pg_db)
    url = (
        postgres.new_database()
        if backend == "postgres"
        else f"sqlite+aiosqlite:///{root / 'parley.db'}"
    )
    settings = make_settings(
        url,
        root / "data",
        data_file_roots={"*": [sources]},
        data_allow_private_hosts=True,
        query_max_bytes=MAX_BYTES,
        query_max_cell_bytes=CELL_BYTES,
        agent_result_max_bytes=AGENT_BYTES,
    )
    credentials = {
        "sqlite": ("SQLITE", {"path": str(sqlite_path)}),
        "duckdb": ("FILE", {"path": str(parquet)}),
        "postgres": (
            "POSTGRES",
            {"url": postgres.socket_dir, "user": "postgres", "databaseName": pg_db},
        ),
    }
    with AppClient(create_app(settings), raise_server_exceptions=False) as client:
        projects = {}
        for source, (kind, credential) in credentials.items():
            pid = new_project(client, source, headers={})["id"]
            add_catalog(
                client, pid, credential, kind=kind, connection=source, catalog="src", headers={}
            )
            projects[source] = pid
        yield World(client, projects)
    if backend == "postgres":
        postgres.drop_database(url)


def execute(world: World, source: str, sql: str, fmt: str = "COMPACT") -> Any:
    return world.client.post(
        f"/api/v1/data/projects/{world.projects[source]}/queries/execute",
        params={"format": fmt},
        json={"statement": sql},
    )


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def fitting(rows: list[Any], cap: int) -> int:
    """How many of `rows` (in their response shape) fit `cap` bytes as a JSON array."""
    size, count = 2, 0
    for row in rows:
        size += len(_dumps(row).encode()) + (1 if count else 0)
        if size > cap:
            break
        count += 1
    return count


def cell_typed(columns: list[tuple[str, str]], row: list[Any]) -> list[dict[str, Any]]:
    return [
        {"name": n, "displayName": n, "dataType": t, "order": i, "value": v}
        for i, ((n, t), v) in enumerate(zip(columns, row, strict=True))
    ]


@pytest.mark.parametrize("source", SOURCES)
def test_small_results_are_unchanged(world: World, source: str) -> None:
    sql = "SELECT id, body FROM docs WHERE id <= 3 ORDER BY id"
    body = ok(execute(world, source, sql))
    assert list(body) == ["columns", "data"]
    assert body["data"] == [[1, DOC_BODY], [2, DOC_BODY], [3, DOC_BODY]]
    assert [c["dataType"] for c in body["columns"]] == TYPES[source][:2]
    typed = ok(execute(world, source, "SELECT id, data FROM docs WHERE id = 1", "CELL_TYPED"))
    columns = [("id", TYPES[source][0]), ("data", TYPES[source][2])]
    assert typed["data"] == [cell_typed(columns, [1, "AAE="])]
    assert list(typed) == ["columns", "data"]


@pytest.mark.parametrize("source", SOURCES)
def test_long_cells_are_cut_with_a_marker(world: World, source: str) -> None:
    body = ok(execute(world, source, "SELECT id, body, data FROM docs WHERE id = 100"))
    assert body["data"] == [[100, CUT_BODY, CUT_DATA]]
    # text is cut to the byte, base64 by whole groups of 3 bytes (4 characters)
    assert (len(CUT_BODY.encode()), len(CUT_DATA.encode())) == (CELL_BYTES, CELL_BYTES - 2)
    assert body["truncated"] is True
    assert body["truncation"] == {
        "moreRows": False,
        "cellsCut": 2,
        "maxBytes": MAX_BYTES,
        "maxCellBytes": CELL_BYTES,
    }


@pytest.mark.parametrize("source", SOURCES)
def test_rows_stop_at_the_byte_cap(world: World, source: str) -> None:
    sql = "SELECT id, body FROM docs WHERE id <= 50 ORDER BY id"
    wanted = [[i, DOC_BODY] for i in range(1, 51)]
    body = ok(execute(world, source, sql))
    assert fitting(wanted, MAX_BYTES) == 19
    assert body["data"] == wanted[:19]
    assert len(_dumps(body["data"]).encode()) <= MAX_BYTES
    assert body["truncated"] is True
    assert body["truncation"] == {
        "moreRows": True,
        "cellsCut": 0,
        "maxBytes": MAX_BYTES,
        "maxCellBytes": CELL_BYTES,
    }
    # each format is counted as it is written: CELL_TYPED rows are longer, so fewer fit
    columns = [("id", TYPES[source][0]), ("body", TYPES[source][1])]
    typed = [cell_typed(columns, row) for row in wanted]
    body = ok(execute(world, source, sql, "CELL_TYPED"))
    assert fitting(typed, MAX_BYTES) == 8
    assert body["data"] == typed[:8]
    assert body["truncation"]["moreRows"] is True


@pytest.mark.parametrize("source", SOURCES)
def test_a_cut_cell_in_a_row_left_out_is_not_counted(world: World, source: str) -> None:
    body = ok(execute(world, source, "SELECT id, body FROM docs WHERE id >= 40 ORDER BY id"))
    assert body["data"] == [[i, DOC_BODY] for i in range(40, 51)]  # row 100 would pass 2,048
    assert body["truncation"] == {
        "moreRows": True,
        "cellsCut": 0,
        "maxBytes": MAX_BYTES,
        "maxCellBytes": CELL_BYTES,
    }


@pytest.mark.parametrize("source", SOURCES)
def test_a_row_that_cannot_fit_is_an_error(world: World, source: str) -> None:
    response = execute(
        world, source, "SELECT body AS a, body AS b, body AS c FROM docs WHERE id = 100"
    )
    assert response.status_code == 400
    assert response.json() == {
        "errorCode": "RESULT_TOO_LARGE",
        "message": "one row of this result is larger than 2048 bytes, the most a result may "
        "hold here; select fewer or shorter columns (substr, left) to see it",
    }


def test_the_agent_keeps_its_own_smaller_cap(world: World) -> None:
    reply = ok(
        world.client.post(
            f"/api/v1/ai-agent/{world.projects['sqlite']}/chat",
            json={"message": "SELECT id, body FROM docs WHERE id <= 50 ORDER BY id"},
        )
    )
    result = reply["result"]["currentQueryResult"]
    wanted = [[i, DOC_BODY] for i in range(1, 51)]
    assert fitting(wanted, AGENT_BYTES) == 9
    assert result == {
        "columns": [{"name": "id", "type": "bigint"}, {"name": "body", "type": "varchar"}],
        "rows": wanted[:9],
        "rowCount": 9,
        "truncated": True,
    }
    answer = reply["result"]["messages"][1]["kwargs"]["content"]
    assert answer.split("\n")[0] == "The query returned 9+ rows."


# --- the collector itself, and what connectors hold while they fetch ----------------------


COLUMNS = [("id", "integer"), ("name", "varchar"), ("tags", "json")]
ROWS = [[1, 'a "quoted" name\n', ["x", 1.5]], [2, "ümlaut ☃", {"k": None}], [3, None, True]]


@pytest.mark.parametrize("layout", list(RowLayout))
def test_the_byte_count_is_the_size_of_the_rows_as_written(layout: RowLayout) -> None:
    builder = ResultBuilder(ResultCaps(rows=10, layout=layout), COLUMNS)
    builder.add(ROWS)
    result = builder.finish()
    written = render_rows(result.columns, result.rows, layout)
    assert json.loads(written) == [layout.shape(COLUMNS)(row) for row in ROWS]
    # every row counts the comma after it: the last one has none
    assert len(written) == result.bytes - 1


def test_cells_are_cut_at_a_character_boundary_and_nested_values_become_text() -> None:
    caps = ResultCaps(rows=10, cell_bytes=64)
    builder = ResultBuilder(caps, [("a", "varchar"), ("b", "json"), ("c", "varbinary")])
    builder.add([["☃" * 30, list(range(40)), b"\xff" * 49], ["☃" * 16, [1], b"\xff" * 45]])
    result = builder.finish()
    nested = _dumps(list(range(40)))
    assert result.rows == [
        ["☃" * 16 + MARKER, nested[:50] + MARKER, base64.b64encode(b"\xff" * 36).decode() + MARKER],
        ["☃" * 16, [1], base64.b64encode(b"\xff" * 45).decode()],
    ]
    assert result.cells_cut == 3 and not result.truncated


BIG_CELL = 200_000
WHOLE = 20 * 20 * BIG_CELL  # what the cross join would return: 80 MB


def _env(folder: Path) -> ConnectorEnv:
    return ConnectorEnv(file_roots=FileRoots({"*": (str(folder),)}))


def _peak_while(run: Any) -> tuple[Any, int]:
    tracemalloc.start()
    try:
        result = run()
        return result, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


CROSS = "SELECT a.id AS a_id, b.id AS b_id, a.s FROM big a, big b"
CAPS = ResultCaps(rows=10_000, bytes=1024 * 1024)


def _check_bounded(result: Any, peak: int) -> None:
    # [1,2,"<200,000 characters>"] and its comma: 200,009 bytes; 5 fit in 1 MiB
    assert (len(result.rows), result.truncated, result.cells_cut) == (5, True, 0)
    assert peak < 6 * 1024 * 1024, peak  # well under the 80 MB the source would return


def test_sqlite_fetches_no_more_than_the_caps(tmp_path: Path) -> None:
    path = tmp_path / "big.db"
    raw = sqlite3.connect(path)
    raw.execute("CREATE TABLE big (id INTEGER PRIMARY KEY, s TEXT)")
    raw.executemany("INSERT INTO big VALUES (?, ?)", [(i, "y" * BIG_CELL) for i in range(20)])
    raw.commit()
    raw.close()
    connector = SqliteConnector.open({"path": str(path)}, _env(tmp_path))

    async def go() -> Any:
        try:
            return await connector.run(CROSS, timeout_s=30, caps=CAPS)
        finally:
            await connector.close()

    _check_bounded(*_peak_while(lambda: asyncio.run(go())))


def test_duckdb_fetches_no_more_than_the_caps(tmp_path: Path) -> None:
    parquet = tmp_path / "big.parquet"
    db = duckdb.connect()
    db.execute(
        f"COPY (SELECT range AS id, repeat('y', {BIG_CELL}) AS s FROM range(20)) "
        f"TO '{parquet}' (FORMAT parquet)"
    )
    db.close()
    connector = FileConnector.open({"path": str(parquet)}, _env(tmp_path))

    async def go() -> Any:
        try:
            return await connector.run(CROSS, timeout_s=30, caps=CAPS)
        finally:
            await connector.close()

    _check_bounded(*_peak_while(lambda: asyncio.run(go())))


def test_postgres_fetches_no_more_than_the_caps(postgres: PostgresForTests) -> None:
    database = "parley_source_caps_memory"
    postgres._run(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
    postgres._run(f'CREATE DATABASE "{database}"')
    postgres._run("CREATE TABLE big (id int PRIMARY KEY, s text)", database=database)
    postgres._run(
        f"INSERT INTO big SELECT g, repeat('y', {BIG_CELL}) FROM generate_series(0, 19) g",
        database=database,
    )
    credential = {"url": postgres.socket_dir, "user": "postgres", "databaseName": database}
    connector = PostgresConnector.open(credential, ConnectorEnv(allow_private_hosts=True))

    async def go() -> Any:
        try:
            return await connector.run(CROSS, timeout_s=30, caps=CAPS)
        finally:
            await connector.close()

    try:
        _check_bounded(*_peak_while(lambda: asyncio.run(go())))
    finally:
        postgres._run(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


def test_duckdb_describes_a_statement_again_when_its_file_changes(tmp_path: Path) -> None:
    csv = tmp_path / "notes.csv"
    csv.write_text("id,note\n1,short\n")
    connector = FileConnector.open({"path": str(csv)}, _env(tmp_path))

    async def twice() -> tuple[Any, Any]:
        try:
            first = await connector.run("SELECT * FROM notes", timeout_s=30, caps=CAPS)
            csv.write_text("id,note,extra\n1,short,more\n")  # a new column, read by the view
            return first, await connector.run("SELECT * FROM notes", timeout_s=30, caps=CAPS)
        finally:
            await connector.close()

    first, second = asyncio.run(twice())
    assert (first.columns, first.rows) == ([("id", "bigint"), ("note", "varchar")], [[1, "short"]])
    assert (second.columns, second.rows) == (
        [("id", "bigint"), ("note", "varchar"), ("extra", "varchar")],
        [[1, "short", "more"]],
    )
