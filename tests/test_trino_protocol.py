"""The SQL endpoint's wire protocol, read with plain HTTP (auth off): the QUEUED answer and its
`nextUri`, pages of exactly PARLEY_SQL_PAGE_ROWS rows, typed `columns`, `stats`, Trino-shaped
errors, the result freed at its last page, on DELETE, or when its client stops polling, and
how the project is chosen without a key (the user names it)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from helpers import PARTNER, ok
from trino_world import MAX_ROWS, NUMBERS, PAGE_ROWS, RESULT_TTL_S, World, served_world


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with served_world(tmp_path_factory.mktemp("trino-protocol"), auth=False) as served:
        yield served


def post(world: World, sql: str, **headers: str) -> dict[str, Any]:
    sent = {"X-Trino-User": "alpha"} | {k.replace("_", "-"): v for k, v in headers.items()}
    response = httpx.post(f"{world.url}/v1/statement", content=sql.encode(), headers=sent)
    assert response.status_code == 200, response.text
    return dict(response.json())


def follow(world: World, first: dict[str, Any]) -> list[dict[str, Any]]:
    """Every answer after the POST, to the last."""
    answers = []
    uri = first.get("nextUri")
    while uri:
        response = httpx.get(uri, headers={"X-Trino-User": "alpha"})
        assert response.status_code == 200, response.text
        answers.append(response.json())
        uri = answers[-1].get("nextUri")
    return answers


def error_of(answers: list[dict[str, Any]]) -> dict[str, Any]:
    assert "nextUri" not in answers[-1]
    assert answers[-1]["stats"]["state"] == "FAILED"
    error = dict(answers[-1]["error"])
    error.pop("failureInfo")
    return error


def run(world: World, sql: str, **headers: str) -> tuple[list[dict[str, Any]], list[Any]]:
    answers = follow(world, post(world, sql, **headers))
    assert "error" not in answers[-1], answers[-1]
    data = [row for a in answers for row in a.get("data", [])]
    return answers[-1].get("columns", []), data


def test_a_statement_is_queued_then_read_page_by_page(world: World) -> None:
    first = post(world, "SELECT n, label FROM numbers.main.numbers ORDER BY n")
    query_id = first["id"]
    assert first["stats"]["state"] == "QUEUED"
    assert first["nextUri"].startswith(f"{world.url}/v1/statement/queued/{query_id}/")
    assert first["nextUri"].endswith("/1")
    assert "columns" not in first and "data" not in first
    answers = follow(world, first)
    with_data = [a for a in answers if "data" in a]
    assert [len(a["data"]) for a in with_data] == [PAGE_ROWS] * (NUMBERS // PAGE_ROWS)
    assert [a["stats"]["state"] for a in with_data] == ["RUNNING"] * 24 + ["FINISHED"]
    assert with_data[-1]["stats"]["processedRows"] == NUMBERS
    assert with_data[0]["columns"] == [
        {
            "name": "n",
            "type": "bigint",
            "typeSignature": {"rawType": "bigint", "arguments": []},
        },
        {
            "name": "label",
            "type": "varchar",
            "typeSignature": {
                "rawType": "varchar",
                "arguments": [{"kind": "LONG", "value": 2147483647}],
            },
        },
    ]
    assert with_data[0]["data"][:2] == [[1, "zahl-ü-1"], [2, "zahl-ü-2"]]
    # read to its end, the result is freed: its last page is gone
    last = answers[-2]["nextUri"]
    assert httpx.get(last).status_code == 404


def test_pages_can_be_asked_for_again_but_not_skipped(world: World) -> None:
    first = post(world, "SELECT n FROM numbers.main.numbers ORDER BY n")
    answers = []
    uri = first["nextUri"]
    while len(answers) < 2 or "data" not in answers[-1]:
        answers.append(httpx.get(uri).json())
        uri = answers[-1]["nextUri"]
    again = httpx.get(answers[-2]["nextUri"])  # the page just answered, asked again
    assert again.json() == answers[-1]
    skipped = httpx.get(uri[: uri.rindex("/")] + "/99")
    assert skipped.status_code == 410
    assert httpx.delete(uri).status_code == 204


def test_delete_frees_the_query_and_later_polls_say_so(world: World) -> None:
    answers = follow_until_data(world, post(world, "SELECT n FROM numbers.main.numbers"))
    uri = answers[-1]["nextUri"]
    assert httpx.delete(uri).status_code == 204
    cancelled = httpx.get(uri).json()
    assert error_of([cancelled]) == {
        "message": "Query was canceled",
        "errorCode": 3,
        "errorName": "USER_CANCELED",
        "errorType": "USER_ERROR",
    }
    assert httpx.delete(uri).status_code == 204  # a second cancel is not an error


def follow_until_data(world: World, first: dict[str, Any]) -> list[dict[str, Any]]:
    answers = [first]
    while "data" not in answers[-1]:
        answers.append(httpx.get(answers[-1]["nextUri"]).json())
    return answers


def test_a_client_that_stops_polling_loses_its_result(world: World) -> None:
    answers = follow_until_data(world, post(world, "SELECT n FROM numbers.main.numbers"))
    time.sleep(RESULT_TTL_S + 2.5)  # the reaper looks every RESULT_TTL_S / 4
    abandoned = httpx.get(answers[-1]["nextUri"]).json()
    assert error_of([abandoned]) == {
        "message": "Query was abandoned by the client: it was not polled for 3 s",
        "errorCode": 2,
        "errorName": "ABANDONED_QUERY",
        "errorType": "USER_ERROR",
    }


def test_a_capped_result_says_so(world: World) -> None:
    answers = follow(world, post(world, "SELECT a.n FROM numbers.main.numbers a, numbers b"))
    assert sum(len(a.get("data", [])) for a in answers) == MAX_ROWS
    assert answers[-1]["warnings"] == [
        {
            "warningCode": {"code": 0, "name": "PARLEY_RESULT_CAPPED"},
            "message": f"the result was capped at {MAX_ROWS} rows (PARLEY_QUERY_MAX_ROWS)",
        }
    ]


def test_use_sets_the_session_catalog_and_schema(world: World) -> None:
    first = post(world, "USE numbers.main")
    response = httpx.get(first["nextUri"])
    assert response.headers["X-Trino-Set-Catalog"] == "numbers"
    assert response.headers["X-Trino-Set-Schema"] == "main"
    assert response.json()["updateType"] == "USE"
    assert response.json()["stats"]["state"] == "FINISHED"
    missing = follow(world, post(world, "USE shop.nope"))
    assert error_of(missing) == {
        "message": "Schema 'nope' does not exist",
        "errorCode": 45,
        "errorName": "SCHEMA_NOT_FOUND",
        "errorType": "USER_ERROR",
    }


@pytest.mark.parametrize(
    ("sql", "headers", "columns", "data"),
    [
        ("SHOW SCHEMAS FROM shop", {}, ["Schema"], [["information_schema"], ["main"]]),
        ("SHOW TABLES", {"X_Trino_Catalog": "shop", "X_Trino_Schema": "main"}, ["Table"],
         [["orders"], ["users"]]),
        ("SHOW COLUMNS FROM shop.main.users", {}, ["Column", "Type", "Extra", "Comment"],
         [["id", "bigint", "", ""], ["name", "varchar", "", ""], ["region", "varchar", "", ""]]),
        ("SELECT schema_name FROM shop.information_schema.schemata WHERE schema_name LIKE 'm%'",
         {}, ["schema_name"], [["main"]]),
        ("SELECT current_user, 1 + 1", {}, ["_col0", "_col1"], [["alpha", 2]]),
        ("EXECUTE IMMEDIATE 'SELECT name FROM shop.main.users WHERE id = ? OR name = ?' "
         "USING 2, 'user3'", {}, ["name"], [["user2"], ["user3"]]),
    ],
    ids=["show-schemas", "show-tables", "show-columns", "information-schema", "session", "params"],
)  # fmt: skip
def test_statements_answer(
    world: World, sql: str, headers: dict[str, str], columns: list[str], data: list[Any]
) -> None:
    got_columns, got = run(world, sql, **headers)
    assert [c["name"] for c in got_columns] == columns
    assert sorted(got) == sorted(data)


@pytest.mark.parametrize(
    ("sql", "headers", "name", "code", "message"),
    [
        ("SELECT 1", {"X_Trino_User": "nobody"}, "NOT_FOUND", 5, "Project nobody not found"),
        ("SELECT 1", {"X_Trino_User": ""}, "PERMISSION_DENIED", 4,
         "name the project as the user (X-Trino-User) when no project key is sent"),
        ("SELECT 1 FROM users", {"X_Trino_Catalog": "nope"}, "CATALOG_NOT_FOUND", 44,
         "Catalog 'nope' not found"),
        ("DESCRIBE shop.main.nope", {}, "TABLE_NOT_FOUND", 46,
         "Table 'shop.main.nope' does not exist"),
        ("SHOW FUNCTIONS", {}, "NOT_SUPPORTED", 13, "SHOW FUNCTIONS is not supported here"),
        ("SELECT 1; SELECT 2", {}, "PERMISSION_DENIED", 4,
         "send exactly one statement; this text holds 2 statements"),
        ("UPDATE shop.main.users SET name = 'x'", {}, "PERMISSION_DENIED", 4,
         "only SELECT queries may run; this statement starts with UPDATE"),
        ("SELECT * FROM shop.main.users JOIN shop.information_schema.tables ON true", {},
         "NOT_SUPPORTED", 13, "a query reads either the metadata tables (information_schema, "
         "system) or data tables, not both"),
        ("SELECT 1", {"X_Trino_Session": "query_max_run_time=soon"}, "INVALID_SESSION_PROPERTY",
         14, "query_max_run_time must be a positive duration such as 30s or 2m; got 'soon'"),
        ("", {}, "SYNTAX_ERROR", 1, "SQL statement is empty"),
        ("SELECT * FROM users", {"X_Trino_Catalog": "system"}, "NOT_SUPPORTED", 13,
         "catalog system holds only the metadata tables (system.jdbc, system.metadata); name "
         "a project catalog"),
    ],
    ids=["unknown-project", "no-project", "unknown-catalog", "unknown-table", "show-other",
         "two-statements", "update", "mixed", "bad-timeout", "empty", "system-data"],
)  # fmt: skip
def test_errors_are_trino_errors(
    world: World, sql: str, headers: dict[str, str], name: str, code: int, message: str
) -> None:
    first = post(world, sql, **headers)
    answers = [first] if "error" in first else follow(world, first)
    assert error_of(answers) == {
        "message": message,
        "errorCode": code,
        "errorName": name,
        "errorType": "USER_ERROR",
    }


def test_supported_drivers_describe_this_endpoint(world: World) -> None:
    host = world.url.removeprefix("http://")
    answered = ok(httpx.get(f"{world.url}/api/v1/supportedDrivers", headers=PARTNER))
    assert answered == {
        "JDBC": f"jdbc:trino://{host}/?extraCredentials=peakaKey:{{apiKey}}",
        "SQL_ALCHEMY": f"peaka://{host}/{{catalogName}}?http_scheme=http"
        "&extra_credential=%5B%5B%22peakaKey%22%2C%20%22%7BapiKey%7D%22%5D%5D",
    }
    key = {"Authorization": f"Bearer {world.alpha_key}"}
    jdbc = ok(httpx.get(f"{world.url}/api/v1/supportedDrivers/jdbc?catalogName=shop", headers=key))
    assert jdbc == {"JDBC": f"jdbc:trino://{host}/shop?extraCredentials=peakaKey:{world.alpha_key}"}
    alchemy = ok(
        httpx.get(f"{world.url}/api/v1/supportedDrivers/sql_alchemy?catalogName=shop", headers=key)
    )
    assert alchemy == {
        "SQL_ALCHEMY": f"peaka://{host}/shop?http_scheme=http&extra_credential="
        f"%5B%5B%22peakaKey%22%2C%20%22{world.alpha_key}%22%5D%5D"
    }
    missing = httpx.get(f"{world.url}/api/v1/supportedDrivers/sql_alchemy", headers=key)
    assert missing.status_code == 422
    assert missing.json() == {
        "errorCode": "VALIDATION_ERROR",
        "message": "query.catalogName: Field required",
    }


def test_delete_stops_a_statement_still_running(world: World) -> None:
    slow = "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r) SELECT count(*) FROM r"
    first = post(world, slow, X_Trino_Catalog="shop")
    running = httpx.get(first["nextUri"]).json()  # waits a second: still running
    assert running["stats"]["state"] == "RUNNING"
    assert "data" not in running
    started = time.monotonic()
    assert httpx.delete(running["nextUri"]).status_code == 204
    assert error_of([httpx.get(running["nextUri"]).json()])["errorName"] == "USER_CANCELED"
    # the source was interrupted: the next statement runs at once
    assert run(world, "SELECT count(*) FROM shop.main.users")[1] == [[60]]
    assert time.monotonic() - started < 3
