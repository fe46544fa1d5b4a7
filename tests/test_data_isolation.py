"""Project keys reach only their own project: every /api/v1 route, called with project A's key
on project B's ids, is a 403 in Peaka's error shape that leaks and changes nothing of B."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from conftest import TEST_SECRET
from parley.api.deps import Scope
from parley.auth.keys import ADMIN, create_key
from parley.config import Settings
from test_auth import route_scopes

PARTNER = {"Authorization": f"Bearer {create_key(ADMIN, secret=TEST_SECRET)}"}
B_SECRET = "B-DATA-CONFIDENTIAL-1234"


@pytest.fixture
def settings_overrides(tmp_path: Path) -> dict[str, Any]:
    return {"auth_enabled": True, "data_file_roots": [tmp_path], "data_allow_private_hosts": True}


def ok(response: Any) -> Any:
    assert response.status_code == 200, (response.status_code, response.text)
    return response.json()


def _body(method: str, path: str) -> dict[str, Any]:
    if method not in ("POST", "PUT"):
        return {}
    if path.endswith("/execute"):
        return {"json": {"statement": "SELECT * FROM secrets"}}
    if "/ai-agent/" in path:
        return {"json": {"message": "SELECT * FROM secrets", "displayName": "evil"}}
    if "/connections/" in path:
        return {"json": {"name": "evil", "type": "SQLITE", "credential": {"path": "/etc/passwd"}}}
    if path.endswith("/catalogs"):
        return {"json": {"name": "evil", "connectionId": "x"}}
    if path.endswith("/queries") or "/queries/" in path:
        return {"json": {"displayName": "evil", "inputQuery": "SELECT 1"}}
    if path.endswith("/golden-sqls"):
        return {"json": {"prompt": "evil", "sql": "SELECT 1"}}
    if "/relations/" in path:
        return {
            "json": {
                "targetCatalogId": "x",
                "targetSchemaName": "main",
                "targetTableName": "secrets",
                "targetColumnName": "id",
                "type": "ONE_TO_ONE",
            }
        }
    if path.endswith("/apiKeys") or path.startswith("/api/v1/projects"):
        return {"json": {"name": "evil"}}
    if "/categorical/" in path:
        return {"json": {"limit": 5}}
    if path.startswith("/api/v1/metadata/{project_id}/{"):
        return {"json": {"useWithAI": False, "tableDescription": "evil"}}
    if path.endswith("/refresh"):
        return {"json": {}}
    if path.startswith("/api/v1/sql/transpile"):
        return {"json": {"query": "SELECT 1"}}
    return {"json": {}}


def _snapshot(client: TestClient, b: str) -> list[Any]:
    return [
        ok(client.get(f"/api/v1/projects/{b}", headers=PARTNER)),
        ok(client.get(f"/api/v1/projects/{b}/apiKeys", headers=PARTNER)),
        ok(client.get(f"/api/v1/connections/{b}", headers=PARTNER)),
        ok(client.get(f"/api/v1/data/projects/{b}/catalogs", headers=PARTNER)),
        ok(client.get(f"/api/v1/data/projects/{b}/queries", headers=PARTNER)),
        ok(client.get(f"/api/v1/metadata/{b}", headers=PARTNER)),
        ok(client.get(f"/api/v1/metadata/{b}/golden-sqls", headers=PARTNER)),
        ok(client.get(f"/api/v1/ai-agent/{b}/threads", headers=PARTNER)),
    ]


def test_project_keys_reach_only_their_project(
    client: TestClient, settings: Settings, tmp_path: Path
) -> None:
    import sqlite3

    db = tmp_path / "b.db"
    raw = sqlite3.connect(db)
    raw.execute("CREATE TABLE secrets (id INTEGER PRIMARY KEY, secret TEXT)")
    raw.execute("CREATE TABLE owners (id INTEGER PRIMARY KEY, secret_id INTEGER)")
    raw.execute("INSERT INTO secrets VALUES (1, ?)", (B_SECRET,))
    raw.commit()
    raw.close()
    a = ok(client.post("/api/v1/projects", json={"name": "A"}, headers=PARTNER))["id"]
    b = ok(client.post("/api/v1/projects", json={"name": "B"}, headers=PARTNER))["id"]
    a_key = ok(client.post(f"/api/v1/projects/{a}/apiKeys", json={"name": "a"}, headers=PARTNER))
    b_key = ok(client.post(f"/api/v1/projects/{b}/apiKeys", json={"name": "b"}, headers=PARTNER))
    a_h = {"Authorization": f"Bearer {a_key['apiKey']}"}
    b_h = {"Authorization": f"Bearer {b_key['apiKey']}"}
    conn = ok(
        client.post(
            f"/api/v1/connections/{b}",
            json={"name": "vault", "type": "SQLITE", "credential": {"path": str(db)}},
            headers=b_h,
        )
    )
    cat = ok(
        client.post(
            f"/api/v1/data/projects/{b}/catalogs",
            json={"name": "vault", "connectionId": conn["id"]},
            headers=b_h,
        )
    )
    query = ok(
        client.post(
            f"/api/v1/data/projects/{b}/queries",
            json={"displayName": "all", "inputQuery": "SELECT * FROM secrets"},
            headers=b_h,
        )
    )
    golden = ok(
        client.post(
            f"/api/v1/metadata/{b}/golden-sqls",
            json={"prompt": "what is the secret", "sql": "SELECT secret FROM secrets"},
            headers=b_h,
        )
    )
    relation = ok(
        client.post(
            f"/api/v1/metadata/{b}/relations/{cat['id']}/main/owners/secret_id",
            json={
                "targetCatalogId": cat["id"],
                "targetSchemaName": "main",
                "targetTableName": "secrets",
                "targetColumnName": "id",
            },
            headers=b_h,
        )
    )
    thread = ok(
        client.post(
            f"/api/v1/ai-agent/{b}/chat",
            json={"message": "SELECT secret FROM secrets"},
            headers=b_h,
        )
    )
    ids = {
        "thread_id": thread["threadId"],
        "project_id": b,
        "connection_id": conn["id"],
        "catalog_id": cat["id"],
        "schema_name": "main",
        "table_name": "secrets",
        "column_name": "secret",
        "query_id": query["id"],
        "golden_id": golden["id"],
        "relation_id": relation["id"],
        "api_key_id": b_key["apiKeyId"],
        "connection_type": "SQLITE",
        "dialect": "postgres",
    }
    before = _snapshot(client, b)
    assert (
        B_SECRET
        in ok(
            client.post(
                f"/api/v1/data/projects/{b}/queries/execute", json={"id": query["id"]}, headers=b_h
            )
        ).__repr__()
    )

    scopes = route_scopes(settings)
    routes = sorted(r for r in scopes if r[1].startswith("/api/v1/"))
    assert len(routes) >= 45
    refused = 0
    for method, path in routes:
        scope = scopes[(method, path)]
        if scope is Scope.AUTHENTICATED:
            assert "{project_id}" not in path, path  # such routes hold no project data
            continue
        url = re.sub(r"\{(\w+)\}", lambda m: ids[m.group(1)], path)
        response = client.request(method, url, headers=a_h, **_body(method, path))
        if scope is Scope.ADMIN:
            message = f"this route needs an admin key; the request used a key for workspace {a}"
        else:
            assert scope is Scope.PROJECT, (method, path, scope)
            message = f"a key for workspace {a} cannot reach project {b}"
        assert response.status_code == 403, (method, url, response.status_code, response.text)
        assert response.json() == {"errorCode": "FORBIDDEN", "message": message}, (method, url)
        assert B_SECRET not in response.text
        refused += 1
    assert refused >= 40
    assert _snapshot(client, b) == before

    # the /v2 face of the same tenancy: A's key is a workspace key of A only
    forbidden = client.post(f"/v2/workspaces/{b}/peers/list", json={}, headers=a_h)
    assert (forbidden.status_code, forbidden.json()) == (
        403,
        {"detail": f"a key for workspace {a} cannot reach workspace {b}"},
    )

    # control: B's key reaches B's data on B's read routes
    for method, path in routes:
        if (
            method != "GET"
            or scopes[(method, path)] is not Scope.PROJECT
            or "golden-sql/query" in path
            or path.endswith("/query")
        ):
            continue
        url = re.sub(r"\{(\w+)\}", lambda m: ids[m.group(1)], path)
        assert client.get(url, headers=b_h).status_code == 200, url
