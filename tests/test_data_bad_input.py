"""Bad input on /api/v1 is a clear Peaka-shaped error, never a 500, and changes nothing."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from data_sources import make_sqlite
from helpers import PARTNER, ok, project_with_catalog
from parley.config import Settings
from test_auth import route_scopes


@pytest.fixture
def backend() -> str:
    return "sqlite"


@pytest.fixture
def settings_overrides(tmp_path: Path) -> dict[str, Any]:
    return {"auth_enabled": True, "data_file_roots": {"*": [tmp_path]}}


BAD_BODIES: list[dict[str, Any]] = [
    {"content": b'{"name": ', "headers": {"content-type": "application/json"}},
    {"json": [1, 2]},
    {"json": "text"},
    {"json": {"name": "\u0000", "statement": "SELECT \u0000", "prompt": "\u0000", "sql": "\u0000"}},
    {
        "content": b'{"name": "\\ud800", "statement": "\\ud800", "query": "\\ud800"}',
        "headers": {"content-type": "application/json"},
    },
    {
        "json": {
            "name": 10**30,
            "limit": 10**30,
            "timeout": -1,
            "useWithAI": "maybe",
            "credential": [],
        }
    },
]


@pytest.fixture
def world(client: TestClient, tmp_path: Path) -> dict[str, str]:
    db = make_sqlite(tmp_path / "s.db")
    made = project_with_catalog(client, db, name="p", connection="s", catalog="s")
    pid = made.id
    key = ok(client.post(f"/api/v1/projects/{pid}/apiKeys", json={"name": "k"}, headers=PARTNER))
    [organization] = ok(client.get("/api/v1/organizations", headers=PARTNER))
    workspaces = ok(
        client.get(f"/api/v1/organizations/{organization['id']}/workspaces", headers=PARTNER)
    )
    return {
        "organization_id": organization["id"],
        "workspace_id": workspaces[0]["id"],
        "project_id": pid,
        "connection_id": made.connection_id,
        "catalog_id": made.catalog_id,
        "schema_name": "main",
        "table_name": "users",
        "column_name": "region",
        "query_id": "nope",
        "cache_id": "nope",
        "golden_id": "nope",
        "relation_id": "nope",
        "thread_id": "nope",
        "folder_id": "nope",
        "parent_folder_id": "nope",
        "api_key_id": key["apiKeyId"],
        "connection_type": "SQLITE",
        "dialect": "postgres",
    }


def _state(client: TestClient, pid: str) -> list[Any]:
    return [
        ok(client.get(f"/api/v1/projects/{pid}", headers=PARTNER)),
        ok(client.get(f"/api/v1/connections/{pid}", headers=PARTNER)),
        ok(client.get(f"/api/v1/data/projects/{pid}/catalogs", headers=PARTNER)),
        ok(client.get(f"/api/v1/metadata/{pid}", headers=PARTNER)),
        ok(client.get(f"/api/v1/projects/{pid}/apiKeys", headers=PARTNER)),
    ]


def test_no_route_answers_bad_input_with_a_500(
    client: TestClient, settings: Settings, world: dict[str, str]
) -> None:
    before = _state(client, world["project_id"])
    scopes = route_scopes(settings)
    routes = sorted(r for r in scopes if r[1].startswith("/api/v1/") and r[0] in ("POST", "PUT"))
    assert len(routes) >= 15
    accepted: list[tuple[str, str]] = []
    for method, path in routes:
        if path.endswith("/apiKeys") or path.startswith("/api/v1/projects"):
            continue  # creating keys/projects with a valid name is tested elsewhere
        if path.endswith(("/table/{table_name}", "/bitable/{table_name}")):
            continue  # so is creating an internal table (no body: Peaka's takes none)
        url = re.sub(r"\{(\w+)\}", lambda m: world[m.group(1)], path)
        for bad in BAD_BODIES:
            response = client.request(
                method,
                url,
                headers={**PARTNER, **bad.get("headers", {})},
                **{k: v for k, v in bad.items() if k != "headers"},
            )
            assert response.status_code < 500, (method, url, bad, response.text)
            if response.status_code in (200, 202):  # 202: an export queued
                accepted.append((method, path))  # a body of optional fields it ignores
                continue
            body = response.json()
            assert set(body) == {"errorCode", "message"}, (method, url, body)
            assert body["message"]
    # only routes whose body fields are all optional take the JSON objects (ignoring the rest)
    assert sorted(set(accepted)) == [
        (
            "POST",
            "/api/v1/data/projects/{project_id}/catalogs/{catalog_id}/schemas/{schema_name}"
            "/tables/{table_name}/exports",
        ),
        ("POST", "/api/v1/metadata/{project_id}/refresh"),
        (
            "PUT",
            "/api/v1/metadata/{project_id}/categorical/{catalog_id}/{schema_name}/{table_name}/{column_name}",
        ),
        ("PUT", "/api/v1/metadata/{project_id}/{catalog_id}/{schema_name}/{table_name}"),
    ]
    assert _state(client, world["project_id"]) == before


@pytest.mark.parametrize(
    ("body", "params", "status", "message"),
    [
        ({"statement": "SELECT 1", "limit": 0}, {}, 422, "body.limit: Input should be greater than or equal to 1"),
        ({"statement": "SELECT 1", "timeout": 0}, {}, 422, "body.timeout: Input should be greater than 0"),
        ({"statement": "SELECT 1", "bindings": [1]}, {}, 422, "body.bindings.0: Input should be a valid string"),
        ({"statement": ""}, {}, 422, "body.statement: String should have at least 1 character"),
        ({"statement": "   "}, {}, 400, "the statement is empty"),
        ({"statement": "SELEC 1"}, {}, 400, "could not parse the statement as sqlite SQL: Invalid expression / Unexpected token at line 1, column 7"),
        ({"statement": "SELECT 'unterminated"}, {}, 400, "could not parse the statement as sqlite SQL: Error tokenizing 'SELECT 'unterminate'"),
        ({"statement": "SELECT nope FROM users"}, {}, 400, "SQLite error: no such column: nope"),
        ({"qualifiedName": "s.main.ghost"}, {}, 400, "table s.main.ghost is not in this project's catalog"),
        ({"qualifiedName": "peaka.query.ghost"}, {}, 404, "Query peaka.query.ghost not found"),
        ({"from": [{"tableName": "users"}], "filters": {"and": []}}, {}, 422, "and takes a non-empty list of conditions"),
        ({}, {}, 422, "give exactly one of statement, id, qualifiedName or from; got none"),
        ({"id": "x", "bindings": ["a"]}, {}, 422, "bindings go with a statement"),
    ],
)  # fmt: skip
def test_bad_execute_requests(
    client: TestClient,
    world: dict[str, str],
    body: dict[str, Any],
    params: dict[str, str],
    status: int,
    message: str,
) -> None:
    response = client.post(
        f"/api/v1/data/projects/{world['project_id']}/queries/execute",
        json=body,
        params=params,
        headers=PARTNER,
    )
    codes = {
        400: {"QUERY_NOT_ALLOWED", "QUERY_FAILED"},
        404: {"NOT_FOUND"},
        422: {"VALIDATION_ERROR"},
    }
    assert response.status_code == status, response.text
    assert response.json()["message"] == message
    assert response.json()["errorCode"] in codes[status]


def test_unknown_ids_are_404(client: TestClient, world: dict[str, str]) -> None:
    pid = world["project_id"]
    for url, message in [
        ("/api/v1/projects/nope", "Project nope not found"),
        (f"/api/v1/connections/{pid}/nope", "Connection nope not found"),
        (f"/api/v1/data/projects/{pid}/catalogs/nope", "Catalog nope not found"),
        (f"/api/v1/data/projects/{pid}/queries/nope", "Query nope not found"),
        (f"/api/v1/metadata/{pid}/relations/nope", "Catalog nope not found"),
        (
            "/api/v1/connections/config/ORACLE",
            "unknown connection type 'ORACLE'; supported: FILE, POSTGRES, SQLITE",
        ),
        ("/api/v1/nowhere", "Not Found"),
    ]:
        response = client.get(url, headers=PARTNER)
        assert (response.status_code, response.json()) == (
            404,
            {"errorCode": "NOT_FOUND", "message": message},
        ), url


def _builder(client: TestClient, pid: str, filters: Any, **extra: Any) -> Any:
    body = {
        "from": [{"catalogName": "s", "schemaName": "main", "tableName": "users"}],
        "columns": ["id"],
        "orderBy": ["id"],
        "filters": filters,
        **extra,
    }
    return client.post(
        f"/api/v1/data/projects/{pid}/queries/execute",
        params={"format": "COMPACT"},
        json=body,
        headers=PARTNER,
    )


def col(name: str) -> dict[str, Any]:
    return {
        "column": {
            "catalogName": "s",
            "schemaName": "main",
            "tableName": "users",
            "columnName": name,
        }
    }


@pytest.mark.parametrize(
    ("filters", "ids"),
    [
        ({"and": [[col("region"), "=", ["eu"]], [col("id"), "<", [10]]]}, [3, 6, 9]),
        ({"and": [[col("region"), "IN", ["eu", "us"]], [col("id"), "<=", [4]]]}, [1, 3, 4]),
        ({"or": [[col("id"), "=", [1]], {"and": [[col("name"), "LIKE", ["user5%"]], [col("id"), ">", [55]]]}]}, [1, 56, 57, 58, 59]),
        ({"and": [[col("region"), "not in", ["eu", "us"]], [col("id"), "<", [9]]]}, [2, 5, 8]),
        ({"and": [[col("region"), "IS NULL", []]]}, []),
        ({"and": [[col("region"), "IS NOT NULL", []], [col("id"), "<>", [1]], [col("id"), "<", [3]]]}, [2]),
        ({"and": [[col("name"), "=", ["x' OR '1'='1"]]]}, []),
    ],
)  # fmt: skip
def test_query_builder_filters(
    client: TestClient, world: dict[str, str], filters: Any, ids: list[int]
) -> None:
    response = _builder(client, world["project_id"], filters)
    assert response.status_code == 200, response.text
    assert response.json()["data"] == [[i] for i in ids]


@pytest.mark.parametrize(
    ("filters", "message"),
    [
        ({"xor": []}, 'a filter group is {"and": [...]} or {"or": [...]}'),
        ({"and": [["region", "=", ["eu"]]]}, 'a filter condition starts with {"column": {"columnName": ...}}'),
        ({"and": [[col("id"), "~", [1]]]}, "unknown filter operator '~'; use one of =, !=, <>, >, >=, <, <=, IN, NOT IN, LIKE, NOT LIKE, IS NULL, IS NOT NULL"),
        ({"and": [[col("id"), "=", [1, 2]]]}, "operator = takes exactly one value"),
        ({"and": [[col("id"), "=", [{"a": 1}]]]}, "filter values must be text, numbers, booleans or null, not {'a': 1}"),
        ({"and": [[col("id"), "IN", []]]}, "IN takes at least one value"),
        ({"and": [[col("id"), "IS NULL", [1]]]}, "IS NULL takes no values"),
        ({"and": [[col("id"), "="]]}, "a filter condition is [column, operator, [values]]"),
    ],
)  # fmt: skip
def test_bad_query_builder_filters(
    client: TestClient, world: dict[str, str], filters: Any, message: str
) -> None:
    response = _builder(client, world["project_id"], filters)
    assert (response.status_code, response.json()) == (
        422,
        {"errorCode": "VALIDATION_ERROR", "message": message},
    )


def test_query_builder_columns_are_identifiers_not_sql(
    client: TestClient, world: dict[str, str]
) -> None:
    """A column name is quoted as an identifier; SQLite even reads an unknown quoted name as a
    string, so the 'injection' comes back as data and the table is untouched."""
    evil = "id FROM users; DROP TABLE users --"
    body = {
        "from": [{"catalogName": "s", "schemaName": "main", "tableName": "users"}],
        "columns": [evil],
        "limit": 2,
    }
    response = client.post(
        f"/api/v1/data/projects/{world['project_id']}/queries/execute",
        params={"format": "COMPACT"},
        json=body,
        headers=PARTNER,
    )
    assert response.status_code == 200, response.text
    assert response.json()["data"] == [[evil], [evil]]
    count = {"statement": "SELECT count(*) FROM users"}
    response = client.post(
        f"/api/v1/data/projects/{world['project_id']}/queries/execute",
        params={"format": "COMPACT"},
        json=count,
        headers=PARTNER,
    )
    assert response.json()["data"] == [[60]]
