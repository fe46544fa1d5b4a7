"""Semantic catalogs (saved queries seen as tables, queried as `<catalog>.<schema>.<table>`
through /queries/execute and the guard, never reading themselves), parametric tables (a table
with columns fixed to values bound as literals, never spliced into SQL) and sharing a catalog
with another project of the same organization, on both backends."""

from __future__ import annotations

import itertools
import sqlite3
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from conftest import BACKENDS, AppClient, make_settings, migrated_database
from helpers import PARTNER, new_project, ok, project_key, project_with_catalog
from parley.app import create_app
from parley.config import Settings
from parley.data.sql_guard import QueryRejected
from parley.data.virtual_tables import (
    ParametricDef,
    SemanticDef,
    VirtualTables,
    expand,
    resolve_macro,
)
from parley.errors import InvalidInput
from test_organizations import error, partner

API = "/api/v1"
_ids = itertools.count()
PRODUCTS = [
    (1, "apple", "US", 2024, "2026-12-03"),
    (2, "pear", "US", 2023, "2026-11-01"),
    (3, "plum", "DE", 2024, "2026-12-01"),
    (4, "o'hara", "US", 2024, "2026-10-15"),
]


@pytest.fixture(scope="module", params=BACKENDS)
def shared_settings(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Settings]:
    folder = tmp_path_factory.mktemp(f"semantic-{request.param}")
    (folder / "sources").mkdir()
    with migrated_database(request.param, folder, request) as url:
        yield make_settings(
            url,
            folder / "data",
            auth_enabled=True,
            data_file_roots={"*": [folder / "sources"]},
        )


@pytest.fixture(scope="module")
def client(shared_settings: Settings) -> Iterator[TestClient]:
    with AppClient(create_app(shared_settings), raise_server_exceptions=False) as test_client:
        yield test_client


def shop(settings: Settings) -> Path:
    """A new SQLite file with `products` (PRODUCTS) and `orders`."""
    folder = Path(next(iter(settings.data_file_roots["*"])))
    path = folder / f"shop-{next(_ids)}.db"
    conn = sqlite3.connect(path)
    conn.executescript(
        "CREATE TABLE products (id INTEGER PRIMARY KEY, name TEXT, country TEXT, year INTEGER,"
        " added TEXT);"
        "CREATE TABLE orders (id INTEGER PRIMARY KEY, product_id INTEGER, amount REAL);"
    )
    conn.executemany("INSERT INTO products VALUES (?, ?, ?, ?, ?)", PRODUCTS)
    conn.executemany("INSERT INTO orders VALUES (?, ?, ?)", [(1, 1, 2.5), (2, 3, 4.0)])
    conn.commit()
    conn.close()
    return path


def rows(client: TestClient, pid: str, headers: dict[str, str], sql: str) -> list[list[Any]]:
    found = ok(
        client.post(
            f"{API}/data/projects/{pid}/queries/execute",
            params={"format": "COMPACT"},
            json={"statement": sql},
            headers=headers,
        )
    )
    return list(found["data"])


def refused(client: TestClient, pid: str, headers: dict[str, str], sql: str, message: str) -> None:
    error(
        client.post(
            f"{API}/data/projects/{pid}/queries/execute",
            json={"statement": sql},
            headers=headers,
        ),
        400,
        "QUERY_NOT_ALLOWED",
        message,
    )


def saved_query(
    client: TestClient, pid: str, headers: dict[str, str], name: str, sql: str, check: bool = True
) -> str:
    made = ok(
        client.post(
            f"{API}/data/projects/{pid}/queries",
            params={"checkSchemaExists": check},
            json={"displayName": name, "inputQuery": sql},
            headers=headers,
        )
    )
    return str(made["id"])


def semantic_catalog(client: TestClient, pid: str, headers: dict[str, str], name: str) -> str:
    made = ok(
        client.post(
            f"{API}/data/projects/{pid}/semantic-catalogs", json={"name": name}, headers=headers
        )
    )
    assert made == {
        "id": made["id"],
        "name": name.lower(),  # the name in SQL, made like a catalog's
        "displayName": name,
        "catalogType": "SEMANTIC",
        "connectionId": None,
    }
    return str(made["id"])


def semantic_table(
    client: TestClient, pid: str, headers: dict[str, str], cid: str, table: str, qid: str
) -> Any:
    return client.post(
        f"{API}/data/projects/{pid}/semantic-catalogs/{cid}",
        json={"schemaName": "public", "tableName": table, "queryId": qid},
        headers=headers,
    )


# --- semantic catalogs ----------------------------------------------------------------------


def test_a_semantic_table_is_queried_like_a_table(
    client: TestClient, shared_settings: Settings
) -> None:
    made = project_with_catalog(client, shop(shared_settings), key="k")
    pid, h = made.id, made.headers
    qid = saved_query(
        client, pid, h, "us products", "SELECT id, name FROM products WHERE country = 'US'"
    )
    cid = semantic_catalog(client, pid, h, "sales")
    table = ok(semantic_table(client, pid, h, cid, "us_products", qid))
    assert table == {
        "tableId": table["tableId"],
        "catalogId": cid,
        "catalogName": "sales",
        "schemaName": "public",
        "tableName": "us_products",
    }
    assert rows(
        client, pid, h, "SELECT name FROM sales.public.us_products WHERE id > 1 ORDER BY id"
    ) == [["pear"], ["o'hara"]]
    # joined with a table of the catalog it reads, under an alias
    assert rows(
        client,
        pid,
        h,
        "SELECT u.name, o.amount FROM sales.public.us_products AS u "
        "JOIN orders AS o ON o.product_id = u.id ORDER BY o.id",
    ) == [["apple", 2.5]]
    # named as a table to execute
    whole = ok(
        client.post(
            f"{API}/data/projects/{pid}/queries/execute",
            params={"format": "COMPACT"},
            json={"qualifiedName": "sales.public.us_products"},
            headers=h,
        )
    )
    assert sorted(whole["data"]) == [[1, "apple"], [2, "pear"], [4, "o'hara"]]
    # a saved query may read it too (checked through the guard when stored)
    on_top = saved_query(client, pid, h, "names", "SELECT name FROM sales.public.us_products")
    found = ok(
        client.post(
            f"{API}/data/projects/{pid}/queries/execute",
            params={"format": "COMPACT"},
            json={"id": on_top},
            headers=h,
        )
    )
    assert sorted(found["data"]) == [["apple"], ["o'hara"], ["pear"]]
    # listed among the project's catalogs, in its metadata and by search
    listed = ok(client.get(f"{API}/data/projects/{pid}/catalogs", headers=h))
    assert [(c["name"], c["catalogType"]) for c in listed] == [
        ("shop", "sqlite"),
        ("sales", "SEMANTIC"),
    ]
    catalogs = f"{API}/data/projects/{pid}/catalogs/{cid}"
    assert ok(client.get(catalogs, headers=h)) == listed[1]
    assert ok(client.get(f"{catalogs}/schemas", headers=h)) == [
        {"catalogId": cid, "catalogName": "sales", "schemaName": "public"}
    ]
    assert ok(client.get(f"{catalogs}/schemas/public/tables", headers=h)) == [
        {
            "catalogId": cid,
            "catalogName": "sales",
            "schemaName": "public",
            "tableName": "us_products",
            "isCacheable": False,
            "isDynamicTable": True,
            "isCached": False,
            "supportedCacheTypes": [],
        }
    ]
    metadata = ok(client.get(f"{API}/metadata/{pid}", params={"catalogId": cid}, headers=h))
    [catalog] = metadata["catalogs"]
    assert (catalog["catalogName"], catalog["catalogType"]) == ("sales", "SEMANTIC")
    [schema] = catalog["schemas"]
    assert schema["schemaName"] == "public"
    [described] = schema["tables"]
    assert described["tableName"] == "us_products"
    assert [(c["columnName"], c["dataType"]) for c in described["columns"]] == [
        ("id", "bigint"),
        ("name", "varchar"),
    ]
    assert ok(
        client.post(f"{API}/data/projects/{pid}/search", json={"query": "us_prod"}, headers=h)
    )["matchedTables"] == [{"catalog": "sales", "schema": "public", "table": "us_products"}]
    # the same name twice is a conflict; an unknown query or catalog is a 404
    error(semantic_table(client, pid, h, cid, "us_products", qid), 409, "CONFLICT")
    error(semantic_table(client, pid, h, cid, "x", "nope"), 404, "NOT_FOUND")
    error(semantic_table(client, pid, h, "nope", "x", qid), 404, "NOT_FOUND")
    error(semantic_table(client, pid, h, cid, "bad name;", qid), 422, "VALIDATION_ERROR")
    # a semantic catalog's name is a catalog name of the project: no clash with `shop`
    error(
        client.post(
            f"{API}/data/projects/{pid}/semantic-catalogs", json={"name": "shop"}, headers=h
        ),
        400,
        "CATALOG_EXISTS",
        "a catalog named shop exists in this project",
    )
    # deleted, it is no table any more
    delete = f"{API}/data/projects/{pid}/semantic-catalogs/{cid}/table/{table['tableId']}"
    response = client.delete(delete, headers=h)
    assert (response.status_code, response.content) == (200, b"")
    error(client.delete(delete, headers=h), 404, "NOT_FOUND")
    refused(
        client,
        pid,
        h,
        "SELECT * FROM sales.public.us_products",
        "table sales.public.us_products is not in semantic catalog sales",
    )


def test_semantic_tables_build_on_each_other_but_never_on_themselves(
    client: TestClient, shared_settings: Settings
) -> None:
    made = project_with_catalog(client, shop(shared_settings), key="k")
    pid, h = made.id, made.headers
    cid = semantic_catalog(client, pid, h, "sem")
    q1 = saved_query(client, pid, h, "of 2024", "SELECT id, name FROM products WHERE year = 2024")
    ok(semantic_table(client, pid, h, cid, "t1", q1))
    q2 = saved_query(client, pid, h, "small", "SELECT name FROM sem.public.t1 WHERE id < 4")
    ok(semantic_table(client, pid, h, cid, "t2", q2))
    assert rows(client, pid, h, "SELECT * FROM sem.public.t2 ORDER BY name") == [
        ["apple"],
        ["plum"],
    ]
    # a table whose query reads the table itself
    q3 = saved_query(client, pid, h, "self", "SELECT * FROM sem.public.t3", check=False)
    error(
        semantic_table(client, pid, h, cid, "t3", q3),
        400,
        "QUERY_NOT_ALLOWED",
        "semantic table sem.public.t3 refers to itself through its query: "
        "sem.public.t3 -> sem.public.t3",
    )
    # a change to a query that would close a cycle is refused when checked ...
    put = f"{API}/data/projects/{pid}/queries/{q1}"
    body = {"displayName": "of 2024", "inputQuery": "SELECT 1 AS id, name FROM sem.public.t2"}
    error(
        client.put(put, json=body, headers=h),
        400,
        "QUERY_NOT_ALLOWED",
        "semantic table sem.public.t2 refers to itself through its query: "
        "sem.public.t2 -> sem.public.t1 -> sem.public.t2",
    )
    # ... and, stored unchecked, refused when read
    ok(client.put(put, params={"checkSchemaExists": False}, json=body, headers=h))
    refused(
        client,
        pid,
        h,
        "SELECT * FROM sem.public.t1",
        "semantic table sem.public.t1 refers to itself through its query: "
        "sem.public.t1 -> sem.public.t2 -> sem.public.t1",
    )
    # a query that writes is refused by the guard, through the semantic table
    q4 = saved_query(client, pid, h, "writes", "DELETE FROM products", check=False)
    error(
        semantic_table(client, pid, h, cid, "t4", q4),
        400,
        "QUERY_NOT_ALLOWED",
        "only SELECT queries may run; this statement starts with DELETE",
    )
    # deleting a query deletes the semantic tables built on it
    response = client.delete(f"{API}/data/projects/{pid}/queries/{q2}", headers=h)
    assert response.status_code == 200
    refused(
        client,
        pid,
        h,
        "SELECT * FROM sem.public.t2",
        "table sem.public.t2 is not in semantic catalog sem",
    )


def test_the_data_agent_reads_semantic_tables_like_any_table(
    client: TestClient, shared_settings: Settings
) -> None:
    made = project_with_catalog(client, shop(shared_settings), key="k")
    pid, h = made.id, made.headers
    qid = saved_query(client, pid, h, "de", "SELECT id, name FROM products WHERE country = 'DE'")
    cid = semantic_catalog(client, pid, h, "curated")
    ok(semantic_table(client, pid, h, cid, "german_products", qid))

    def chat(message: str) -> Any:
        body = {"message": message}
        return ok(client.post(f"{API}/ai-agent/{pid}/chat", json=body, headers=h))["result"]

    listed = chat("Which tables are there?")
    assert listed["messages"][1]["kwargs"]["content"] == (
        "Catalog shop (sqlite), 2 tables:\n- orders (2 rows)\n- products (4 rows)\n\n"
        "Catalog curated (semantic), 1 tables:\n- curated.public.german_products"
    )
    described = chat("Describe german_products")
    assert described["messages"][1]["kwargs"]["content"] == (
        "- curated.public.german_products\n  columns:\n  - id (bigint)\n  - name (varchar)"
    )
    ran = chat("SELECT name FROM curated.public.german_products")
    assert ran["currentQueryResult"]["rows"] == [["plum"]]


def test_the_sql_endpoint_reads_semantic_and_parametric_tables(
    client: TestClient, shared_settings: Settings
) -> None:
    made = project_with_catalog(client, shop(shared_settings), key="k")
    pid, h = made.id, made.headers
    qid = saved_query(client, pid, h, "us", "SELECT id, name FROM products WHERE country = 'US'")
    cid = semantic_catalog(client, pid, h, "viaSql")
    ok(semantic_table(client, pid, h, cid, "us", qid))
    ok(
        client.post(
            f"{API}/data/projects/{pid}/catalogs/{made.catalog_id}/parametricTables",
            json={
                "fromSchema": "main",
                "fromTable": "products",
                "toSchema": "main",
                "toTable": "old",
                "paramValues": [{"key": "year", "value": 2023}],
            },
            headers=h,
        )
    )

    def run(sql: str) -> list[Any]:
        headers = {"X-Trino-User": "alpha"} | h
        answer = ok(client.post("/v1/statement", content=sql.encode(), headers=headers))
        found: list[Any] = []
        while answer.get("nextUri"):
            answer = ok(client.get(answer["nextUri"], headers=headers))
            assert "error" not in answer, answer["error"]
            found += answer.get("data", [])
        return found

    assert run("SELECT name FROM viasql.public.us ORDER BY id") == [
        ["apple"],
        ["pear"],
        ["o'hara"],
    ]
    assert run("SELECT name FROM shop.main.old") == [["pear"]]


def test_expand_is_a_tree_rewrite() -> None:
    virtual = VirtualTables(
        (SemanticDef("sem", "s", "t", "SELECT a FROM x WHERE b = 'it''s'", "q"),),
        (),
        frozenset({"sem"}),
    )
    assert (
        expand("SELECT t.a FROM sem.s.t", ["sqlite"], virtual)
        == "SELECT t.a FROM (SELECT a FROM x WHERE b = 'it''s') AS t"
    )
    # nothing virtual named: the text as it came
    assert expand("SELECT  1", ["sqlite"], virtual) == "SELECT  1"
    with pytest.raises(QueryRejected, match="not in semantic catalog sem"):
        expand("SELECT * FROM sem.s.other", ["sqlite"], virtual)


# --- parametric tables ----------------------------------------------------------------------


def test_parametric_tables_bind_values_as_data(
    client: TestClient, shared_settings: Settings
) -> None:
    made = project_with_catalog(client, shop(shared_settings), key="k")
    pid, h, cid = made.id, made.headers, made.catalog_id
    base = f"{API}/data/projects/{pid}/catalogs/{cid}/parametricTables"
    body = {
        "fromSchema": "main",
        "fromTable": "products",
        "toSchema": "analytics",
        "toTable": "us_2024",
        "paramValues": [{"key": "country", "value": "US"}, {"key": "year", "value": 2024}],
    }
    assert ok(client.post(base, json=body, headers=h)) == body
    assert ok(client.get(base, headers=h)) == [body]
    assert rows(client, pid, h, "SELECT name FROM shop.analytics.us_2024 ORDER BY id") == [
        ["apple"],
        ["o'hara"],
    ]
    assert rows(client, pid, h, "SELECT count(*) FROM analytics.us_2024 WHERE id > 1") == [[1]]
    # an injection attempt in a value is a value: it matches no name
    attack = "x' OR '1'='1"
    for name, value in (("attack", attack), ("quoted", "o'hara")):
        made_one = {
            "fromSchema": "main",
            "fromTable": "products",
            "toSchema": "analytics",
            "toTable": name,
            "paramValues": [{"key": "name", "value": value}],
        }
        assert ok(client.post(base, json=made_one, headers=h)) == made_one
    assert rows(client, pid, h, "SELECT * FROM shop.analytics.attack") == []
    assert rows(client, pid, h, "SELECT id, name FROM shop.analytics.quoted") == [[4, "o'hara"]]
    # a name taken (by a parametric or a real table) is Peaka's 400
    error(
        client.post(base, json=body, headers=h),
        400,
        "TABLE_EXISTS",
        "a table analytics.us_2024 exists in this catalog",
    )
    error(
        client.post(base, json=body | {"toSchema": "main", "toTable": "orders"}, headers=h),
        400,
        "TABLE_EXISTS",
        "a table main.orders exists in this catalog",
    )
    # bad input
    bad = body | {"toTable": "other"}
    error(
        client.post(base, json=bad | {"paramValues": [{"key": "nope", "value": 1}]}, headers=h),
        422,
        "VALIDATION_ERROR",
        "parameter 'nope' is not a column of the table; its columns: added, country, id, name, "
        "year",
    )
    error(client.post(base, json=bad | {"paramValues": []}, headers=h), 422, "VALIDATION_ERROR")
    error(
        client.post(
            base, json=bad | {"paramValues": [{"key": "id", "value": {"a": 1}}]}, headers=h
        ),
        422,
        "VALIDATION_ERROR",
    )
    error(
        client.post(
            base, json=bad | {"paramValues": [{"key": "added", "value": "@tomorrow"}]}, headers=h
        ),
        422,
        "VALIDATION_ERROR",
        "the value of parameter added (@tomorrow) is not a relative-date macro; "
        "write @today, @som-1M, @now-24h, ...",
    )
    error(client.post(base, json=bad | {"fromTable": "nope"}, headers=h), 404, "NOT_FOUND")
    error(client.post(base, json=bad | {"fromTable": "a\x00"}, headers=h), 422, "VALIDATION_ERROR")
    nan = b'{"fromSchema": "main", "fromTable": "products", "toSchema": "a", "toTable": "b", '
    nan += b'"paramValues": [{"key": "year", "value": NaN}]}'
    error(
        client.post(base, content=nan, headers=h | {"Content-Type": "application/json"}),
        422,
        "VALIDATION_ERROR",
    )
    error(
        client.delete(base, params={"toSchema": "a\x00", "toTable": "b"}, headers=h),
        422,
        "VALIDATION_ERROR",
    )
    error(client.post(base, json=bad | {"toTable": "a b"}, headers=h), 422, "VALIDATION_ERROR")
    # deleted: gone from the list and from queries; the source table stays
    params = {"toSchema": "analytics", "toTable": "us_2024"}
    response = client.delete(base, params=params, headers=h)
    assert (response.status_code, response.content) == (204, b"")
    error(client.delete(base, params=params, headers=h), 404, "NOT_FOUND")
    assert [t["toTable"] for t in ok(client.get(base, headers=h))] == ["attack", "quoted"]
    refused(
        client,
        pid,
        h,
        "SELECT * FROM shop.analytics.us_2024",
        "table shop.analytics.us_2024 is not in this project's catalog",
    )
    assert rows(client, pid, h, "SELECT count(*) FROM products") == [[4]]


def test_relative_date_macros() -> None:
    now = datetime(2026, 12, 3, 15, 30, 12)  # a Thursday
    cases = {
        "@today": "2026-12-03",
        "@yesterday": "2026-12-02",
        "@now": "2026-12-03 15:30:12",
        "@now-24h": "2026-12-02 15:30:12",
        "@sow": "2026-11-30",
        "@eow": "2026-12-06",
        "@som": "2026-12-01",
        "@eom": "2026-12-31",
        "@som-1M": "2026-11-01",
        "@eom-1M": "2026-11-30",
        "@soq": "2026-10-01",
        "@eoq": "2026-12-31",
        "@soy": "2026-01-01",
        "@eoy+1y": "2027-12-31",
        "@today-7d": "2026-11-26",
        "@today+1w-1d": "2026-12-09",
        "@today-30m": "2026-12-02 23:30:00",
        "plain text": "plain text",
    }
    assert {macro: resolve_macro(macro, now) for macro in cases} == cases


def test_parametric_expansion_binds_literals() -> None:
    item = ParametricDef(
        "shop", frozenset({"shop"}), "a", "p", "main", "products", (("name", "x'y"), ("n", None))
    )
    sql = expand("SELECT * FROM a.p", ["sqlite"], VirtualTables((), (item,)))
    assert sql == (
        'SELECT * FROM (SELECT * FROM "shop"."main"."products" '
        "WHERE \"name\" = 'x''y' AND \"n\" IS NULL) AS p"
    )
    with pytest.raises(InvalidInput):
        from parley.data.virtual_tables import check_param_value

        check_param_value("k", "@nope")


# --- isolation and sharing --------------------------------------------------------------------


def test_another_projects_catalogs_are_out_of_reach(
    client: TestClient, shared_settings: Settings
) -> None:
    mine = project_with_catalog(client, shop(shared_settings), key="k")
    other = project_with_catalog(client, shop(shared_settings), key="k")
    sem = semantic_catalog(client, other.id, other.headers, "theirs")
    h = mine.headers
    paths = [
        ("get", f"{API}/data/projects/{mine.id}/catalogs/{other.catalog_id}/parametricTables"),
        ("post", f"{API}/data/projects/{mine.id}/semantic-catalogs/{sem}"),
        ("post", f"{API}/data/projects/{mine.id}/semantic-catalogs/{sem}/share"),
        ("post", f"{API}/data/projects/{mine.id}/catalogs/{other.catalog_id}/share"),
        ("delete", f"{API}/data/projects/{mine.id}/semantic-catalogs/{sem}/table/x"),
    ]
    body = {"schemaName": "s", "tableName": "t", "queryId": "q", "target": other.id}
    for method, path in paths:
        response = client.request(
            method, path, json=body | {"targetProjectId": other.id}, headers=h
        )
        error(response, 404, "NOT_FOUND")
    # and a project key reaches its own project only
    error(
        client.post(f"{API}/data/projects/{other.id}/search", json={"query": "x"}, headers=h),
        403,
        "FORBIDDEN",
    )


def test_a_shared_catalog_is_read_in_the_target_and_changed_only_at_the_source(
    client: TestClient, shared_settings: Settings
) -> None:
    _, key = partner(client)
    source = project_with_catalog(client, shop(shared_settings), headers=key)
    target = str(new_project(client, "Target", headers=key)["id"])
    t_key = project_key(client, target)
    _, other_org = partner(client)
    elsewhere = str(new_project(client, "Elsewhere", headers=other_org)["id"])
    share = f"{API}/data/projects/{source.id}/catalogs/{source.catalog_id}/share"

    refused(
        client,
        target,
        t_key,
        "SELECT count(*) FROM shop.main.products",
        "this project has no catalogs yet: connect a data source first",
    )
    shared = ok(client.post(share, json={"targetProjectId": target}, headers=key))
    assert list(shared) == ["sharedCatalogId"]
    # sharing again is the same share
    assert ok(client.post(share, json={"targetProjectId": target}, headers=key)) == shared
    assert rows(client, target, t_key, "SELECT count(*) FROM shop.main.products") == [[4]]
    assert ok(
        client.post(f"{API}/data/projects/{target}/search", json={"query": "orders"}, headers=t_key)
    )["matchedTables"] == [{"catalog": "shop", "schema": "main", "table": "orders"}]
    # not writable there: the target's catalog routes do not reach it
    error(
        client.delete(f"{API}/data/projects/{target}/catalogs/{source.catalog_id}", headers=t_key),
        404,
        "NOT_FOUND",
    )
    # another organization's project is refused, with the partner key and a project key alike
    message = (
        f"project {elsewhere} is in another organization; a catalog is shared only within its "
        "project's organization"
    )
    error(
        client.post(share, json={"targetProjectId": elsewhere}, headers=key),
        403,
        "FORBIDDEN",
        message,
    )
    s_key = project_key(client, source.id)
    error(
        client.post(share, json={"targetProjectId": elsewhere}, headers=s_key),
        403,
        "FORBIDDEN",
        message,
    )
    # another organization's partner key cannot share the source's catalog at all
    error(
        client.post(share, json={"targetProjectId": elsewhere}, headers=other_org), 403, "FORBIDDEN"
    )
    error(client.post(share, json={"targetProjectId": "nope"}, headers=key), 404, "NOT_FOUND")
    error(
        client.post(share, json={"targetProjectId": source.id}, headers=key),
        422,
        "VALIDATION_ERROR",
    )
    error(client.post(share, json={}, headers=key), 422, "VALIDATION_ERROR")

    # a semantic catalog is shared the same way; its tables read the shared catalog
    qid = saved_query(
        client, source.id, key, "de", "SELECT name FROM products WHERE country = 'DE'"
    )
    sem = semantic_catalog(client, source.id, key, "semshop")
    ok(semantic_table(client, source.id, key, sem, "de", qid))
    sem_share = f"{API}/data/projects/{source.id}/semantic-catalogs/{sem}/share"
    response = client.post(sem_share, json={"target": target}, headers=key)
    assert (response.status_code, response.content) == (200, b"")
    assert rows(client, target, t_key, "SELECT * FROM semshop.public.de") == [["plum"]]
    error(
        client.post(sem_share, json={"target": elsewhere}, headers=key), 403, "FORBIDDEN", message
    )

    # deleting at the source removes it at the target
    response = client.delete(
        f"{API}/data/projects/{source.id}/catalogs/{source.catalog_id}", headers=key
    )
    assert response.status_code == 200
    refused(
        client,
        target,
        t_key,
        "SELECT count(*) FROM shop.main.products",
        "this project has no catalogs yet: connect a data source first",
    )


def test_names_in_the_target_do_not_clash(client: TestClient, shared_settings: Settings) -> None:
    _, key = partner(client)
    source = project_with_catalog(client, shop(shared_settings), headers=key)
    target = project_with_catalog(client, shop(shared_settings), headers=key)
    error(
        client.post(
            f"{API}/data/projects/{source.id}/catalogs/{source.catalog_id}/share",
            json={"targetProjectId": target.id},
            headers=key,
        ),
        400,
        "CATALOG_EXISTS",
        f"project {target.id} has a catalog named shop already",
    )
    assert PARTNER  # the admin key made the project keys above


def test_an_expansion_stops_at_the_statement_limit() -> None:
    """Semantic tables each naming the one below four times grow as 4^depth: the expansion
    is refused once it has inlined MAX_SQL_CHARS, not after building the whole tree."""
    from parley.data.sql_guard import QueryRejected, parse_one_statement
    from parley.data.virtual_tables import SemanticDef, VirtualTables, expand_tree, semantic_names

    defs = [SemanticDef("sem", "s", "t0", "SELECT 1 AS x")]
    for level in range(1, 9):
        names = ", ".join(f"sem.s.t{level - 1} a{j}" for j in range(4))
        defs.append(SemanticDef("sem", "s", f"t{level}", f"SELECT a0.x FROM {names}"))
    virtual = VirtualTables(tuple(defs), (), semantic_names(["sem"]))
    shallow = parse_one_statement("SELECT * FROM sem.s.t2", "trino")
    expand_tree(shallow, virtual, "trino")
    assert shallow.sql("trino").count("SELECT 1 AS x") == 16
    with pytest.raises(QueryRejected) as refused:
        expand_tree(parse_one_statement("SELECT * FROM sem.s.t8", "trino"), virtual, "trino")
    assert str(refused.value) == (
        "the statement with its semantic tables expanded is longer than 100000 characters"
    )


def test_a_relative_date_past_the_calendar_is_refused() -> None:
    from parley.data.virtual_tables import check_param_value

    assert check_param_value("day", "@today-7d") == "@today-7d"
    with pytest.raises(InvalidInput) as refused:
        check_param_value("day", "@today+999999y")
    assert str(refused.value) == (
        "the value of parameter day: the relative date @today+999999y is out of range"
    )
