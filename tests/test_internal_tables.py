"""Internal tables (/api/v1/data/projects/{projectId}/table and /bitable) on both backends:
tables and columns made, changed and dropped, CSV imports that take every row or none, the
sample CSV, the tables in the project's catalog and read through /queries/execute, and bad
input (names, types, malformed rows, files over the limit) answered in Peaka's error shape."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from conftest import BACKENDS, AppClient, make_settings, migrated_database
from helpers import PARTNER, new_project, ok, project_key
from parley.app import create_app
from parley.config import Settings

API = "/api/v1"
MAX_IMPORT = 4096
_ids = itertools.count()


@pytest.fixture(scope="module", params=BACKENDS)
def shared_settings(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Settings]:
    folder = tmp_path_factory.mktemp(f"internal-tables-{request.param}")
    with migrated_database(request.param, folder, request) as url:
        yield make_settings(
            url,
            folder / "data",
            auth_enabled=True,
            key_cache_ttl_s=0,
            internal_tables_max_import_bytes=MAX_IMPORT,
        )


@pytest.fixture(scope="module")
def client(shared_settings: Settings) -> Iterator[TestClient]:
    with AppClient(create_app(shared_settings), raise_server_exceptions=False) as test_client:
        yield test_client


def project(client: TestClient) -> tuple[str, dict[str, str]]:
    """A new project and the headers of one of its API keys."""
    pid = str(new_project(client, f"Tables {next(_ids)}")["id"])
    return pid, project_key(client, pid)


def error(response: Any, status: int, code: str, contains: str | None = None) -> str:
    assert response.status_code == status, (response.status_code, response.text)
    body = response.json()
    assert set(body) == {"errorCode", "message"}, body
    assert body["errorCode"] == code, body
    if contains is not None:
        assert contains in body["message"], body["message"]
    return str(body["message"])


def base(pid: str, flavour: str = "table") -> str:
    return f"{API}/data/projects/{pid}/{flavour}"


def column(name: str, data_type: str, **more: Any) -> dict[str, Any]:
    return {"name": name, "dataType": data_type, **more}


def detail(
    name: str,
    data_type: str,
    *,
    id: str,  # noqa: A002 - Peaka's field
    default: str | None = None,
    not_null: bool = False,
    unique: bool = False,
    display: str | None = None,
) -> dict[str, Any]:
    return {
        "id": id,
        "name": name,
        "dataType": data_type,
        "displayName": display or name,
        "defaultValue": default,
        "isNotNull": not_null,
        "isUnique": unique,
        "isPrimary": False,
        "desc": None,
    }


def make_table(
    client: TestClient,
    pid: str,
    headers: dict[str, str],
    name: str,
    columns: list[dict[str, Any]],
    flavour: str = "table",
) -> None:
    ok(client.post(f"{base(pid, flavour)}/{name}", headers=headers))
    ok(client.post(f"{base(pid, flavour)}/{name}/columns", json=columns, headers=headers))


def upload(
    client: TestClient,
    pid: str,
    headers: dict[str, str],
    table: str,
    csv_text: str | bytes,
    request: dict[str, Any] | str,
) -> Any:
    body = csv_text.encode() if isinstance(csv_text, str) else csv_text
    part = request if isinstance(request, str) else json.dumps(request)
    return client.post(
        f"{base(pid)}/{table}/import",
        files={"file": ("data.csv", body, "text/csv")},
        data={"request": part},
        headers=headers,
    )


def by_name(*names: str, header: bool = True) -> dict[str, Any]:
    return {"mappings": [{"name": n, "csvColumnName": n} for n in names], "containsHeader": header}


def run(client: TestClient, pid: str, headers: dict[str, str], sql: str) -> list[list[Any]]:
    body = ok(
        client.post(
            f"{API}/data/projects/{pid}/queries/execute?format=COMPACT",
            json={"statement": sql},
            headers=headers,
        )
    )
    return [list(r) for r in body["data"]]


def test_a_table_is_made_listed_and_dropped(client: TestClient) -> None:
    pid, key = project(client)
    assert ok(client.get(base(pid), headers=key)) == []
    # refused requests leave nothing behind: no catalog, no file
    nope = client.post(f"{base(pid)}/nope/columns", json=[column("a", "BIGINT")], headers=key)
    error(nope, 404, "NOT_FOUND", "Table nope not found")
    error(client.post(f"{base('no-such-project')}/t", headers=PARTNER), 404, "NOT_FOUND")
    files = client.app.state.parley.data.pool.env.internal_files
    assert not files.path("no-such-project").exists()
    assert ok(client.get(f"{API}/data/projects/{pid}/catalogs", headers=key)) == []
    made = ok(client.post(f"{base(pid)}/orders", headers=key))
    catalog_id = made["catalogId"]
    assert made == {
        "catalogId": catalog_id,
        "catalogName": "peaka",
        "schemaName": "table",
        "tableName": "orders",
        "isCacheable": False,
        "isDynamicTable": False,
        "isCached": False,
        "supportedCacheTypes": [],
    }
    assert ok(client.get(base(pid), headers=key)) == [made]
    assert ok(client.get(f"{base(pid)}/orders/columns", headers=key)) == []
    error(client.post(f"{base(pid)}/orders", headers=key), 409, "CONFLICT", "orders")
    error(client.post(f"{base(pid)}/ORDERS", headers=key), 409, "CONFLICT")
    # the project's catalogs list the internal one
    catalogs = ok(client.get(f"{API}/data/projects/{pid}/catalogs", headers=key))
    assert [c["id"] for c in catalogs] == [catalog_id]
    assert client.delete(f"{base(pid)}/orders", headers=key).status_code == 200
    assert ok(client.get(base(pid), headers=key)) == []
    error(client.delete(f"{base(pid)}/orders", headers=key), 404, "NOT_FOUND")
    error(client.get(f"{base(pid)}/orders/columns", headers=key), 404, "NOT_FOUND")


def test_columns_are_added_renamed_retyped_and_dropped(client: TestClient) -> None:
    pid, key = project(client)
    ok(client.post(f"{base(pid)}/items", headers=key))
    added = ok(
        client.post(
            f"{base(pid)}/items/columns",
            json=[
                column("name", "VARCHAR", displayName="Name", isNotNull=True),
                column("qty", "BIGINT", defaultValue="3", isUnique=False),
                column("price", "DECIMAL"),
            ],
            headers=key,
        )
    )
    assert added == [
        detail("name", "varchar", id="1", display="Name", not_null=True),
        detail("qty", "bigint", id="2", default="3"),
        detail("price", "decimal", id="3"),
    ]
    # one column as an object (Peaka's schema) works too
    one = ok(client.post(f"{base(pid)}/items/columns", json=column("code", "UUID"), headers=key))
    assert one == [detail("code", "uuid", id="4")]
    csv_text = "name,qty,price\nbolt,10,1.5\nnut,,0.25\n"
    job = ok(upload(client, pid, key, "items", csv_text, by_name("name", "qty", "price")))
    assert job["result"] == {"rowCount": 2}
    # rename and retype qty (BIGINT -> VARCHAR): rows keep their values
    changed = ok(
        client.put(
            f"{base(pid)}/items/columns/qty",
            json={"name": "quantity", "dataType": "VARCHAR"},
            headers=key,
        )
    )
    assert [c["name"] for c in changed] == ["name", "quantity", "price", "code"]
    assert changed[1] == detail("quantity", "varchar", id="2", default="3")
    # null clears a display name (and a default); left out, or null for a flag, keeps it
    changed = ok(
        client.put(
            f"{base(pid)}/items/columns/name",
            json={"displayName": None, "isNotNull": None},
            headers=key,
        )
    )
    assert changed[0] == detail("name", "varchar", id="1", not_null=True)
    rows = run(client, pid, key, 'SELECT name, quantity, price FROM "table".items ORDER BY name')
    assert rows == [["bolt", "10", "1.5000000000"], ["nut", "3", "0.2500000000"]]
    # back to BIGINT works; names to BIGINT do not fit, and nothing changes
    ok(client.put(f"{base(pid)}/items/columns/quantity", json={"dataType": "BIGINT"}, headers=key))
    error(
        client.put(f"{base(pid)}/items/columns/name", json={"dataType": "BIGINT"}, headers=key),
        422,
        "VALIDATION_ERROR",
        "the rows of items do not fit the new columns",
    )
    error(
        client.put(f"{base(pid)}/items/columns/quantity", json={"dataType": "DATE"}, headers=key),
        422,
        "VALIDATION_ERROR",
        "defaultValue of column quantity: '3' is not a date",
    )
    columns = ok(client.get(f"{base(pid)}/items/columns", headers=key))
    assert columns[1] == detail("quantity", "bigint", id="2", default="3")
    # making a column unique that holds duplicates is refused too
    job = ok(upload(client, pid, key, "items", "name\nbolt\n", by_name("name")))
    error(
        client.put(f"{base(pid)}/items/columns/name", json={"isUnique": True}, headers=key),
        422,
        "VALIDATION_ERROR",
    )
    assert client.delete(f"{base(pid)}/items/columns/price", headers=key).status_code == 200
    names = [c["name"] for c in ok(client.get(f"{base(pid)}/items/columns", headers=key))]
    assert names == ["name", "quantity", "code"]
    error(client.delete(f"{base(pid)}/items/columns/price", headers=key), 404, "NOT_FOUND")
    error(
        client.put(f"{base(pid)}/items/columns/nope", json={"name": "x"}, headers=key),
        404,
        "NOT_FOUND",
    )
    # a rename onto another column's name
    error(
        client.put(f"{base(pid)}/items/columns/code", json={"name": "NAME"}, headers=key),
        409,
        "CONFLICT",
    )
    assert run(client, pid, key, 'SELECT COUNT(*) FROM "table".items') == [[3]]


def test_the_catalog_and_metadata_follow_the_table(client: TestClient) -> None:
    pid, key = project(client)
    make_table(client, pid, key, "people", [column("email", "VARCHAR"), column("age", "BIGINT")])
    ok(
        upload(
            client, pid, key, "people", "email,age\na@x.io,31\nb@x.io,42\n", by_name("email", "age")
        )
    )
    [catalog] = ok(client.get(f"{API}/data/projects/{pid}/catalogs", headers=key))
    tables = ok(
        client.get(
            f"{API}/data/projects/{pid}/catalogs/{catalog['id']}/schemas/table/tables",
            headers=key,
        )
    )
    assert [t["tableName"] for t in tables] == ["people"]
    stats = ok(
        client.get(
            f"{API}/data/projects/{pid}/catalogs/{catalog['id']}/schemas/table/tables/people"
            "/statistics",
            headers=key,
        )
    )
    assert stats["rowCount"] == 2
    columns = ok(
        client.get(
            f"{API}/data/projects/{pid}/catalogs/{catalog['id']}/schemas/table/tables/people"
            "/columns",
            headers=key,
        )
    )
    assert [(c["name"], c["dataType"]) for c in columns] == [
        ("email", "varchar"),
        ("age", "bigint"),
    ]
    # queries read it, three-part or as the catalog's default schema; never write it
    assert run(client, pid, key, 'SELECT age FROM peaka."table".people ORDER BY age') == [
        [31],
        [42],
    ]
    assert run(client, pid, key, "SELECT COUNT(*) FROM people") == [[2]]
    for sql in (
        "DELETE FROM people",
        "INSERT INTO people VALUES ('c@x.io', 1)",
        'DROP TABLE "table".people',
        "SELECT * FROM _parley.columns",
    ):
        response = client.post(
            f"{API}/data/projects/{pid}/queries/execute", json={"statement": sql}, headers=key
        )
        error(response, 400, "QUERY_NOT_ALLOWED")
    assert run(client, pid, key, "SELECT COUNT(*) FROM people") == [[2]]
    # the catalog deleted, the tables stay; listing them makes the catalog again
    deleted = client.delete(f"{API}/data/projects/{pid}/catalogs/{catalog['id']}", headers=key)
    assert deleted.status_code == 200
    error(
        client.post(
            f"{API}/data/projects/{pid}/queries/execute",
            json={"statement": "SELECT COUNT(*) FROM people"},
            headers=key,
        ),
        400,
        "QUERY_NOT_ALLOWED",
    )
    [listed] = ok(client.get(base(pid), headers=key))
    assert listed["catalogId"] != catalog["id"]
    catalog = {"id": listed["catalogId"]}
    assert run(client, pid, key, "SELECT COUNT(*) FROM people") == [[2]]
    # a dropped table leaves the catalog
    assert client.delete(f"{base(pid)}/people", headers=key).status_code == 200
    tables = ok(
        client.get(
            f"{API}/data/projects/{pid}/catalogs/{catalog['id']}/schemas/table/tables",
            headers=key,
        )
    )
    assert tables == []


def test_bitables_are_their_own_set_without_json(client: TestClient) -> None:
    pid, key = project(client)
    made = ok(client.post(f"{base(pid, 'bitable')}/events", headers=key))
    assert made["schemaName"] == "bitable"
    assert made["catalogName"] == "peaka"
    error(
        client.post(
            f"{base(pid, 'bitable')}/events/columns", json=[column("doc", "JSON")], headers=key
        ),
        422,
        "VALIDATION_ERROR",
        "JSON",
    )
    added = ok(
        client.post(
            f"{base(pid, 'bitable')}/events/columns",
            json=[column("at", "TIMESTAMP"), column("kind", "VARCHAR")],
            headers=key,
        )
    )
    assert [c["dataType"] for c in added] == ["timestamp", "varchar"]
    assert ok(client.get(base(pid), headers=key)) == []  # Peaka Tables are another list
    assert [t["tableName"] for t in ok(client.get(base(pid, "bitable"), headers=key))] == ["events"]
    ok(client.put(f"{base(pid, 'bitable')}/events/columns/kind", json={"name": "k"}, headers=key))
    assert client.delete(f"{base(pid, 'bitable')}/events/columns/k", headers=key).status_code == 200
    assert run(client, pid, key, "SELECT COUNT(*) FROM peaka.bitable.events") == [[0]]
    # a Peaka Table of the same name is another table; JSON is fine there
    make_table(client, pid, key, "events", [column("doc", "JSON")])
    assert client.delete(f"{base(pid, 'bitable')}/events", headers=key).status_code == 200
    assert [c["name"] for c in ok(client.get(f"{base(pid)}/events/columns", headers=key))] == [
        "doc"
    ]
    # no import or sample routes for BI tables
    response = client.get(f"{base(pid, 'bitable')}/events/sample", headers=key)
    assert response.status_code in (404, 405)


def test_every_type_imports_and_round_trips(client: TestClient) -> None:
    pid, key = project(client)
    types = ["VARCHAR", "BIGINT", "BOOLEAN", "DECIMAL", "TIMESTAMP", "TIME", "DATE", "UUID", "JSON"]
    make_table(client, pid, key, "everything", [column(t.lower() + "_col", t) for t in types])
    sample = client.get(f"{base(pid)}/everything/sample", headers=key)
    assert sample.status_code == 200
    assert sample.headers["content-type"].startswith("text/csv")
    assert sample.headers["content-disposition"] == 'attachment; filename="sample.csv"'
    lines = sample.text.splitlines()
    assert lines[0] == ",".join(t.lower() + "_col" for t in types)
    assert len(lines) == 4
    # the sample imports as it is, by name
    names = [t.lower() + "_col" for t in types]
    job = ok(upload(client, pid, key, "everything", sample.text, by_name(*names)))
    assert job["status"] == "COMPLETED"
    assert job["progress"] == 100
    assert job["result"] == {"rowCount": 3}
    assert job["endTime"] >= job["startTime"]
    rows = run(
        client,
        pid,
        key,
        "SELECT varchar_col, bigint_col, boolean_col, CAST(date_col AS VARCHAR), "
        "CAST(uuid_col AS VARCHAR) FROM everything ORDER BY bigint_col",
    )
    assert rows[0] == [
        "sample text",
        1176,
        True,
        "2024-01-15",
        "0b7e2c4a-7d7c-4e0b-9a55-1f2d3c4b5a69",
    ]
    # by index, without a header, quoted fields with commas and new lines
    text = '"a, b\nc",7,yes,1e2,2024-02-03T04:05:06,10:11,2020-01-01,' + (
        '0B7E2C4A-7D7C-4E0B-9A55-1F2D3C4B5A69,"{""k"": [1]}"\n'
    )
    request = {
        "mappings": [{"name": n, "csvColumnIndex": i} for i, n in enumerate(names)],
        "containsHeader": False,
    }
    assert ok(upload(client, pid, key, "everything", text, request))["result"] == {"rowCount": 1}
    rows = run(
        client,
        pid,
        key,
        "SELECT varchar_col, boolean_col, decimal_col, CAST(timestamp_col AS VARCHAR), "
        "CAST(time_col AS VARCHAR), CAST(json_col AS VARCHAR) FROM everything "
        "WHERE bigint_col = 7",
    )
    assert rows == [
        ["a, b\nc", True, "100.0000000000", "2024-02-03 04:05:06", "10:11:00", '{"k": [1]}']
    ]


def test_a_failed_import_leaves_the_rows_as_they_were(client: TestClient) -> None:
    pid, key = project(client)
    make_table(
        client,
        pid,
        key,
        "stock",
        [
            column("sku", "VARCHAR", isNotNull=True, isUnique=True),
            column("qty", "BIGINT", defaultValue="0"),
            column("seen", "DATE"),
        ],
    )
    ok(upload(client, pid, key, "stock", "sku,qty\nA1,5\nA2,\n", by_name("sku", "qty")))
    before = [["A1", 5, None], ["A2", 0, None]]
    select = "SELECT sku, qty, seen FROM stock ORDER BY sku"
    assert run(client, pid, key, select) == before
    cases = [
        # a value that is not its column's type, named by line and column
        ("sku,qty\nB1,1\nB2,many\nB3,3\n", "line 3, column qty: 'many' is not a whole number"),
        # a row with a missing field
        ("sku,qty\nB1,1\nB2\n", "line 3: 1 fields, expected 2"),
        # a required value left out
        ("sku,qty\nB1,1\n,2\n", "line 3, column sku: a value is required"),
        # a duplicate within the file
        ("sku,qty\nB1,1\nB1,2\n", "line 3, column sku: 'B1' is on line 2 too"),
        # malformed quoting
        ('sku,qty\nB1,1\n"B2"x,2\n', "line 3: malformed CSV"),
    ]
    for text, message in cases:
        error(
            upload(client, pid, key, "stock", text, by_name("sku", "qty")),
            422,
            "VALIDATION_ERROR",
            message,
        )
    # a row that clashes with a stored one fails inside DuckDB, mid-way: nothing of it stays
    clash = "sku,qty\nB1,1\nB2,2\nA1,3\n"
    error(
        upload(client, pid, key, "stock", clash, by_name("sku", "qty")),
        422,
        "VALIDATION_ERROR",
        "nothing was imported",
    )
    # a value that is not UTF-8 text
    error(
        upload(client, pid, key, "stock", b"sku,qty\nB1,1\n\xff\xfe,2\n", by_name("sku", "qty")),
        422,
        "VALIDATION_ERROR",
        "not UTF-8",
    )
    assert run(client, pid, key, select) == before
    assert run(client, pid, key, "SELECT COUNT(*) FROM stock") == [[2]]


def test_bad_import_requests(client: TestClient) -> None:
    pid, key = project(client)
    make_table(
        client, pid, key, "t", [column("a", "BIGINT"), column("b", "VARCHAR", isNotNull=True)]
    )
    url = f"{base(pid)}/t/import"
    cases: list[tuple[Any, str]] = [
        ("{not json", "not JSON"),
        ({"mappings": []}, "mappings"),
        ({"mappings": [{"name": "a"}], "containsHeader": True}, "one of csvColumnName"),
        (
            {"mappings": [{"name": "a", "csvColumnName": "a"}], "containsHeader": False},
            "csvColumnIndex",
        ),
        (
            {"mappings": [{"name": "zz", "csvColumnIndex": 0}], "containsHeader": True},
            "no column zz",
        ),
        (
            {"mappings": [{"name": "a", "csvColumnIndex": 0}], "containsHeader": True},
            "b is NOT NULL",
        ),
        (
            by_name("a", "b")
            | {
                "mappings": [
                    {"name": "a", "csvColumnName": "x"},
                    {"name": "b", "csvColumnIndex": 1},
                ]
            },
            "no column 'x'",
        ),
        (
            {
                "mappings": [
                    {"name": "a", "csvColumnIndex": 5},
                    {"name": "b", "csvColumnIndex": 1},
                ],
                "containsHeader": True,
            },
            "past the file's 2 columns",
        ),
        ({"mappings": [{"name": "a", "csvColumnIndex": -1}], "containsHeader": True}, "0 or more"),
    ]
    for request, message in cases:
        error(
            upload(client, pid, key, "t", "a,b\n1,x\n", request), 422, "VALIDATION_ERROR", message
        )
    # no file part, and not multipart at all
    only = {"request": (None, json.dumps(by_name("a", "b")))}
    response = client.post(url, files=only, headers=key)
    error(response, 422, "VALIDATION_ERROR", "file part")
    error(client.post(url, json={"mappings": []}, headers=key), 415, "UNSUPPORTED_MEDIA_TYPE")
    # a file over PARLEY_INTERNAL_TABLES_MAX_IMPORT_BYTES
    huge = "a,b\n" + "1,xxxxxxxxxxxxxxxx\n" * (MAX_IMPORT // 10)
    error(upload(client, pid, key, "t", huge, by_name("a", "b")), 413, "PAYLOAD_TOO_LARGE")
    # importing into a table with no columns, or none at all
    ok(client.post(f"{base(pid)}/empty", headers=key))
    error(
        upload(client, pid, key, "empty", "a\n1\n", by_name("a")),
        422,
        "VALIDATION_ERROR",
        "no columns",
    )
    error(upload(client, pid, key, "nope", "a\n1\n", by_name("a")), 404, "NOT_FOUND")
    assert run(client, pid, key, "SELECT COUNT(*) FROM t") == [[0]]


@pytest.mark.parametrize("flavour", ["table", "bitable"])
def test_names_and_types_are_checked(client: TestClient, flavour: str) -> None:
    pid, key = project(client)
    url = base(pid, flavour)
    for bad in ("a.b", "x;drop", "1abc", "a b", "a" * 64, "_x", "naïve"):
        error(client.post(f"{url}/{bad}", headers=key), 422, "VALIDATION_ERROR", "not a valid name")
    response = client.post(f"{url}/..%2Fx", headers=key)
    assert response.status_code == 404
    # SQL keywords are names like any other (quoted everywhere)
    make_table(
        client, pid, key, "select", [column("from", "VARCHAR"), column("order", "BIGINT")], flavour
    )
    ok(client.put(f"{url}/select/columns/order", json={"name": "where"}, headers=key))
    schema = "table" if flavour == "table" else "bitable"
    assert run(client, pid, key, f'SELECT "from", "where" FROM "{schema}"."select"') == []
    columns_url = f"{url}/select/columns"
    for body, message in [
        ([column("x", "TEXT")], "dataType 'TEXT'"),
        ([column("x", "VARCHAR(10)")], "dataType"),
        ([column("a.b", "VARCHAR")], "not a valid name"),
        ([{"name": "x"}], "needs dataType"),
        ([{"dataType": "BIGINT"}], "needs name"),
        ([column("x", "BIGINT", defaultValue="ten")], "defaultValue of column x"),
        ([column("x", "BIGINT"), column("X", "BIGINT")], None),
        ([], "at least one column"),
    ]:
        response = client.post(columns_url, json=body, headers=key)
        if message is None:
            error(response, 409, "CONFLICT")
        else:
            error(response, 422, "VALIDATION_ERROR", message)
    error(client.post(columns_url, json=[column("from", "BIGINT")], headers=key), 409, "CONFLICT")
    error(
        client.put(f"{columns_url}/from", json={"dataType": "BLOB"}, headers=key),
        422,
        "VALIDATION_ERROR",
    )
    error(
        client.put(f"{columns_url}/a.b", json={"name": "x"}, headers=key), 422, "VALIDATION_ERROR"
    )
    # NOT NULL without a default on a table with rows: the rows do not fit
    if flavour == "table":
        ok(upload(client, pid, key, "select", "from\nx\n", by_name("from")))
        error(
            client.post(columns_url, json=[column("n", "BIGINT", isNotNull=True)], headers=key),
            422,
            "VALIDATION_ERROR",
            "do not fit",
        )
        ok(
            client.post(
                columns_url,
                json=[column("n", "BIGINT", isNotNull=True, defaultValue="1")],
                headers=key,
            )
        )
        assert run(client, pid, key, 'SELECT n FROM "table"."select"') == [[1]]


def test_another_projects_key_reaches_nothing(client: TestClient) -> None:
    pid, key = project(client)
    other, other_key = project(client)
    make_table(client, pid, key, "secret", [column("v", "VARCHAR")])
    ok(upload(client, pid, key, "secret", "v\nhidden\n", by_name("v")))
    for method, path, body in [
        ("GET", base(pid), None),
        ("POST", f"{base(pid)}/x", None),
        ("DELETE", f"{base(pid)}/secret", None),
        ("GET", f"{base(pid)}/secret/columns", None),
        ("POST", f"{base(pid)}/secret/columns", [column("w", "VARCHAR")]),
        ("PUT", f"{base(pid)}/secret/columns/v", {"name": "w"}),
        ("DELETE", f"{base(pid)}/secret/columns/v", None),
        ("GET", f"{base(pid)}/secret/sample", None),
        ("GET", base(pid, "bitable"), None),
        ("POST", f"{base(pid, 'bitable')}/x", None),
    ]:
        response = client.request(method, path, json=body, headers=other_key)
        error(response, 403, "FORBIDDEN")
    error(upload(client, pid, other_key, "secret", "v\nx\n", by_name("v")), 403, "FORBIDDEN")
    # the other project's own list is empty, and its queries do not see the table
    assert ok(client.get(base(other), headers=other_key)) == []
    response = client.post(
        f"{API}/data/projects/{other}/queries/execute",
        json={"statement": 'SELECT * FROM peaka."table".secret'},
        headers=other_key,
    )
    assert response.status_code == 400
    assert run(client, pid, key, 'SELECT v FROM "table".secret') == [["hidden"]]
    # without a key: 401
    error(client.get(base(pid)), 401, "UNAUTHORIZED")


def test_users_cannot_make_internal_connections(client: TestClient) -> None:
    pid, key = project(client)
    types = [c["connectionType"] for c in ok(client.get(f"{API}/connections/config", headers=key))]
    assert "INTERNAL" not in types
    error(client.get(f"{API}/connections/config/INTERNAL", headers=key), 404, "NOT_FOUND")
    response = client.post(
        f"{API}/connections/{pid}",
        json={"name": "mine", "type": "INTERNAL", "credential": {}},
        headers=key,
    )
    error(response, 400, "INVALID_CREDENTIAL", "made by Parley itself")


def test_deleting_the_project_removes_its_file(
    client: TestClient, shared_settings: Settings
) -> None:
    pid, key = project(client)
    make_table(client, pid, key, "t", [column("v", "VARCHAR")])
    path = client.app.state.parley.data.pool.env.internal_files.path(pid)
    assert path.exists()
    assert client.delete(f"{API}/projects/{pid}", headers=PARTNER).status_code == 200
    assert not path.exists()


def test_writes_at_once_queue_on_the_file(client: TestClient) -> None:
    """Several writers of one project at once (one DuckDB writer at a time): each change
    lands, none is lost to another's rebuild, and reads in between see whole changes."""
    import asyncio

    from parley.data.internal import service

    pid, key = project(client)
    make_table(client, pid, key, "busy", [column("c0", "BIGINT")])
    data = client.app.state.parley.data

    async def many() -> list[Any]:
        adds = [
            service.add_columns(
                data,
                project_id=pid,
                flavour=service.Flavour.TABLE,
                table="busy",
                bodies=[{"name": f"c{i}", "dataType": "VARCHAR"}],
            )
            for i in range(1, 6)
        ]
        reads = [
            service.list_columns(data, project_id=pid, flavour=service.Flavour.TABLE, table="busy")
            for _ in range(3)
        ]
        return list(await asyncio.gather(*adds, *reads))

    results = client.portal.call(many)
    assert all(len(r) == 1 for r in results[:5])
    names = {c["name"] for c in ok(client.get(f"{base(pid)}/busy/columns", headers=key))}
    assert names == {f"c{i}" for i in range(6)}


def test_the_data_agent_reads_internal_tables(client: TestClient) -> None:
    """Without a model the agent runs the SQL it is sent: on an internal table, read-only."""
    pid, key = project(client)
    make_table(client, pid, key, "visits", [column("page", "VARCHAR"), column("n", "BIGINT")])
    ok(upload(client, pid, key, "visits", "page,n\nhome,3\nabout,1\n", by_name("page", "n")))
    url = f"{API}/ai-agent/{pid}/chat"
    body = {"message": "SELECT page, n FROM visits ORDER BY n DESC"}
    result = ok(client.post(url, json=body, headers=key))["result"]
    assert result["currentQueryResult"]["rows"] == [["home", 3], ["about", 1]]
    refused = ok(client.post(url, json={"message": "DELETE FROM visits"}, headers=key))
    assert refused["result"]["invalidQuery"] is True
    assert run(client, pid, key, "SELECT COUNT(*) FROM visits") == [[2]]


def test_a_statement_past_its_timeout_frees_the_file(client: TestClient) -> None:
    pid, key = project(client)
    make_table(client, pid, key, "t", [column("v", "BIGINT")])
    slow = "SELECT COUNT(*) FROM t, range(100000000000) AS r(i) WHERE i % 7 = v"
    ok(upload(client, pid, key, "t", "v\n1\n", by_name("v")))
    response = client.post(
        f"{API}/data/projects/{pid}/queries/execute",
        json={"statement": slow, "timeout": 0.2},
        headers=key,
    )
    error(response, 408, "QUERY_TIMEOUT")
    # the interrupted reader let go of the file: writes and reads go on
    ok(client.post(f"{base(pid)}/t/columns", json=[column("w", "VARCHAR")], headers=key))
    assert run(client, pid, key, "SELECT v, w FROM t") == [[1, None]]
