"""Data projects end to end over the API: projects and keys, a SQLite connection, its catalog
with statistics, metadata, saved queries, execution in the three formats, transpiling.
Runs with Parley's own store on SQLite and on PostgreSQL."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path
from typing import Any

import pytest
import sqlglot
from fastapi.testclient import TestClient

from conftest import TEST_SECRET, AppClient
from data_sources import make_sqlite
from helpers import PARTNER, add_catalog, bearer, new_project, ok, project_key


@pytest.fixture
def settings_overrides(tmp_path: Path) -> dict[str, Any]:
    return {
        "auth_enabled": True,
        "data_file_roots": {"*": [tmp_path / "sources"]},
        "data_allow_private_hosts": True,
    }


def done(response: Any) -> None:
    assert (response.status_code, response.content) == (200, b""), response.text


def error(response: Any, status: int, code: str, message: str) -> None:
    assert response.status_code == status, (response.status_code, response.text)
    assert response.json() == {"errorCode": code, "message": message}


def test_project_crud_and_keys(client: TestClient) -> None:
    created = new_project(client, "Sample Project")
    pid = created["id"]
    assert re.fullmatch(r"[A-Za-z0-9]{8}", pid)
    assert created == {
        "id": pid,
        "name": "Sample Project",
        "description": None,
        "domain": None,
        "webhookBaseUrl": None,
        "createdAt": created["createdAt"],
        "owner": None,
        "workspaceId": pid,
    }
    assert created["createdAt"].endswith("Z")
    # the project is a memory workspace with the same id
    assert ok(client.post("/v2/workspaces", json={"id": pid}, headers=PARTNER))["id"] == pid

    updated = ok(
        client.put(
            f"/api/v1/projects/{pid}",
            json={"name": "Renamed", "description": "about"},
            headers=PARTNER,
        )
    )
    assert (updated["name"], updated["description"]) == ("Renamed", "about")
    assert [p["id"] for p in ok(client.get("/api/v1/projects", headers=PARTNER))] == [pid]

    key = ok(client.post(f"/api/v1/projects/{pid}/apiKeys", json={"name": "ci"}, headers=PARTNER))
    assert re.fullmatch(r"[A-Za-z0-9]{8}\.[A-Za-z0-9]{32}", key["apiKey"])
    assert key == {
        "name": "ci",
        "apiKey": key["apiKey"],
        "apiKeyId": key["apiKeyId"],
        "expiresAt": None,
    }
    listed = ok(client.get(f"/api/v1/projects/{pid}/apiKeys", headers=PARTNER))
    assert listed == [
        {"name": "ci", "apiKey": None, "apiKeyId": key["apiKeyId"], "expiresAt": None}
    ]

    h = bearer(key["apiKey"])
    assert ok(client.get(f"/api/v1/projects/{pid}", headers=h))["name"] == "Renamed"
    # the project key is a workspace key of the same id under /v2 too
    ok(client.post(f"/v2/workspaces/{pid}/peers", json={"id": "alice"}, headers=h))
    error(
        client.get("/api/v1/projects", headers=h),
        403,
        "FORBIDDEN",
        f"this route needs an admin key; the request used a key for workspace {pid}",
    )

    done(client.delete(f"/api/v1/projects/{pid}/apiKeys/{key['apiKeyId']}", headers=PARTNER))
    error(
        client.get(f"/api/v1/projects/{pid}", headers=h), 401, "UNAUTHORIZED", "API key is invalid"
    )
    assert ok(client.get(f"/api/v1/projects/{pid}/apiKeys", headers=PARTNER)) == []

    expired = client.post(
        f"/api/v1/projects/{pid}/apiKeys",
        json={"name": "old", "expiresAt": "2001-01-01T00:00:00Z"},
        headers=PARTNER,
    )
    error(expired, 422, "VALIDATION_ERROR", "expiresAt must be in the future")

    response = client.delete(f"/api/v1/projects/{pid}", headers=PARTNER)
    assert (response.status_code, response.content) == (200, b"")
    error(
        client.get(f"/api/v1/projects/{pid}", headers=PARTNER),
        404,
        "NOT_FOUND",
        f"Project {pid} not found",
    )
    # the workspace went with it
    assert ok(client.post("/v2/workspaces/list", headers=PARTNER))["items"] == []


def test_bad_project_input_is_a_peaka_error(client: TestClient) -> None:
    error(
        client.post("/api/v1/projects", json={}, headers=PARTNER),
        422,
        "VALIDATION_ERROR",
        "body.name: Field required",
    )
    error(
        client.post("/api/v1/projects", json={"name": "x\u0000y"}, headers=PARTNER),
        422,
        "VALIDATION_ERROR",
        "body.name: Value error, text must not contain NUL (\\u0000) characters",
    )
    error(
        client.get("/api/v1/projects"),
        401,
        "UNAUTHORIZED",
        "missing API key: send 'Authorization: Bearer <key>'",
    )
    error(
        client.get("/api/v1/projects", headers=bearer("AAAAAAAA." + "b" * 32)),
        401,
        "UNAUTHORIZED",
        "API key is invalid",
    )
    pid = new_project(client)["id"]
    error(
        client.post("/api/v1/projects", json={"name": "again", "id": pid}, headers=PARTNER),
        409,
        "CONFLICT",
        f"Project {pid} already exists",
    )


def test_sqlite_catalog_metadata_and_execution(client: TestClient, tmp_path: Path) -> None:
    (tmp_path / "sources").mkdir()
    db_path = make_sqlite(tmp_path / "sources" / "shop.db")
    pid = new_project(client)["id"]
    h = project_key(client, pid)

    # a connection that cannot work is refused with a clear error, and nothing is stored
    error(
        client.post(
            f"/api/v1/connections/{pid}",
            json={
                "name": "gone",
                "type": "SQLITE",
                "credential": {"path": str(tmp_path / "sources" / "nope.db")},
            },
            headers=h,
        ),
        400,
        "CONNECTION_FAILED",
        f"no file at {tmp_path / 'sources' / 'nope.db'}",
    )
    outside = tmp_path / "elsewhere.db"
    outside.write_bytes(db_path.read_bytes())
    error(
        client.post(
            f"/api/v1/connections/{pid}",
            json={"name": "out", "type": "SQLITE", "credential": {"path": str(outside)}},
            headers=h,
        ),
        400,
        "INVALID_CREDENTIAL",
        f"{outside} is outside the directories this project's connections may read: its "
        "uploads and the directories PARLEY_DATA_FILE_ROOTS grants it",
    )
    error(
        client.post(
            f"/api/v1/connections/{pid}",
            json={"name": "x", "type": "oracle", "credential": {}},
            headers=h,
        ),
        400,
        "INVALID_CREDENTIAL",
        "unknown connection type 'oracle'; supported: FILE, POSTGRES, SQLITE",
    )
    assert ok(client.get(f"/api/v1/connections/{pid}", headers=h)) == []

    catalog = add_catalog(
        client, pid, {"path": str(db_path)}, kind="sqlite", catalog="Shop DB", headers=h
    ).catalog
    cid = catalog["id"]
    assert catalog == {
        "id": cid,
        "name": "shop_db",
        "displayName": "Shop DB",
        "catalogType": "sqlite",
        "connectionId": catalog["connectionId"],
    }
    (conn,) = ok(client.get(f"/api/v1/connections/{pid}", headers=h))
    assert conn == {"id": catalog["connectionId"], "name": "shopdb", "type": "SQLITE"}
    detail = ok(client.get(f"/api/v1/connections/{pid}/{conn['id']}/detail", headers=h))
    assert detail == {"type": "SQLITE", "path": str(db_path)}
    error(
        client.post(
            f"/api/v1/data/projects/{pid}/catalogs",
            json={"name": "shop db", "connectionId": conn["id"]},
            headers=h,
        ),
        400,
        "CATALOG_EXISTS",
        "a catalog named shop_db exists in this project",
    )

    base = f"/api/v1/data/projects/{pid}/catalogs/{cid}"
    assert ok(client.get(f"{base}/schemas", headers=h)) == [
        {"catalogId": cid, "catalogName": "shop_db", "schemaName": "main"}
    ]
    tables = ok(client.get(f"{base}/schemas/main/tables", headers=h))
    assert [t["tableName"] for t in tables] == ["orders", "users"]
    columns = ok(client.get(f"{base}/schemas/main/tables/users/columns", headers=h))
    assert [
        (c["name"], c["dataType"], c["isNotNull"], c["isUnique"], c["isPrimary"]) for c in columns
    ] == [
        ("id", "integer", True, True, True),
        ("name", "text", True, True, False),
        ("region", "text", False, False, False),
    ]
    stats = ok(client.get(f"{base}/schemas/main/tables/users/statistics", headers=h))
    assert stats == {
        "catalogId": cid,
        "schemaName": "main",
        "tableName": "users",
        "rowCount": 60,
        "columnStatistics": [
            {"columnName": "id", "distinctFraction": 1.0},
            {"columnName": "name", "distinctFraction": 1.0},
            {"columnName": "region", "distinctFraction": 0.05},
        ],
    }
    error(
        client.get(f"{base}/schemas/main/tables/nope/columns", headers=h),
        404,
        "NOT_FOUND",
        f"Table main.nope not found in catalog {cid}",
    )

    metadata = ok(client.get(f"/api/v1/metadata/{pid}", headers=h))
    (cat,) = metadata["catalogs"]
    (schema,) = cat["schemas"]
    orders, users = schema["tables"]
    assert users["rowCount"] == 60 and users["useWithAI"] is True
    region = users["columns"][2]
    assert (region["isCategorical"], region["categoricalValues"]) == (True, ["apac", "eu", "us"])
    assert users["columns"][0]["isCategorical"] is False
    assert users["columns"][1]["sampleValues"] == ["user1", "user2", "user3"]
    status = orders["columns"][3]
    assert status["categoricalValues"] == ["open", "paid"]
    (fk,) = orders["relations"]
    assert (fk["columnName"], fk["targetTableName"], fk["targetColumnName"], fk["origin"]) == (
        "user_id",
        "users",
        "id",
        "introspected",
    )

    execute = f"/api/v1/data/projects/{pid}/queries/execute"
    statement = (
        "SELECT region, COUNT(*) AS n FROM shop_db.main.users GROUP BY region ORDER BY region"
    )
    typed = ok(client.post(execute, json={"statement": statement}, headers=h))
    assert typed["columns"] == [
        {
            "catalogName": "shop_db",
            "schemaName": "main",
            "tableName": "users",
            "columnName": "region",
            "dataType": "varchar",
        },
        {
            "catalogName": "shop_db",
            "schemaName": "main",
            "tableName": "users",
            "columnName": "n",
            "dataType": "bigint",
        },
    ]
    assert typed["data"][0] == [
        {
            "name": "region",
            "displayName": "region",
            "dataType": "varchar",
            "order": 0,
            "value": "apac",
        },
        {"name": "n", "displayName": "n", "dataType": "bigint", "order": 1, "value": 20},
    ]
    simple = ok(
        client.post(execute, params={"format": "SIMPLE"}, json={"statement": statement}, headers=h)
    )
    assert simple["data"] == [{"region": r, "n": 20} for r in ("apac", "eu", "us")]
    compact = ok(
        client.post(execute, params={"format": "COMPACT"}, json={"statement": statement}, headers=h)
    )
    assert compact["data"] == [["apac", 20], ["eu", 20], ["us", 20]]
    error(
        client.post(execute, params={"format": "XML"}, json={"statement": statement}, headers=h),
        422,
        "VALIDATION_ERROR",
        "query.format: Input should be 'CELL_TYPED', 'SIMPLE' or 'COMPACT'",
    )

    bound = ok(
        client.post(
            execute,
            params={"format": "COMPACT"},
            json={
                "statement": "SELECT name FROM users WHERE region = ? AND id < ? ORDER BY id",
                "bindings": ["eu", "9"],
            },
            headers=h,
        )
    )
    assert bound["data"] == [["user3"], ["user6"]]
    limited = ok(
        client.post(
            execute,
            params={"format": "COMPACT"},
            json={"statement": "SELECT id FROM users ORDER BY id", "limit": 2},
            headers=h,
        )
    )
    assert limited["data"] == [[1], [2]]
    error(
        client.post(execute, json={"statement": "SELECT 1", "id": "x"}, headers=h),
        422,
        "VALIDATION_ERROR",
        "give exactly one of statement, id, qualifiedName or from; got statement, id",
    )

    # saved queries, run by id and by qualified name
    query = ok(
        client.post(
            f"/api/v1/data/projects/{pid}/queries",
            json={
                "displayName": "Paid Orders",
                "inputQuery": "SELECT COUNT(*) AS paid FROM orders WHERE status = 'paid'",
            },
            headers=h,
        )
    )
    assert query == {
        "id": query["id"],
        "displayName": "Paid Orders",
        "name": "paid_orders",
        "inputQuery": "SELECT COUNT(*) AS paid FROM orders WHERE status = 'paid'",
        "queryType": "PLAIN",
        "schedule": None,
        "path": None,
        "folderId": None,
    }
    by_id = ok(
        client.post(execute, params={"format": "SIMPLE"}, json={"id": query["id"]}, headers=h)
    )
    assert by_id["data"] == [{"paid": 100}]
    by_name = ok(
        client.post(
            execute,
            params={"format": "SIMPLE"},
            json={"qualifiedName": "peaka.query.paid_orders"},
            headers=h,
        )
    )
    assert by_name["data"] == [{"paid": 100}]
    table = ok(
        client.post(
            execute,
            params={"format": "COMPACT"},
            json={"qualifiedName": "shop_db.main.users", "limit": 1},
            headers=h,
        )
    )
    assert table["data"] == [[1, "user1", "us"]]
    error(
        client.post(
            f"/api/v1/data/projects/{pid}/queries",
            json={"displayName": "bad", "inputQuery": "DELETE FROM orders"},
            headers=h,
        ),
        400,
        "QUERY_NOT_ALLOWED",
        "only SELECT queries may run; this statement starts with DELETE",
    )
    renamed = ok(
        client.put(
            f"/api/v1/data/projects/{pid}/queries/{query['id']}",
            json={"displayName": "Paid"},
            headers=h,
        )
    )
    assert (renamed["name"], renamed["inputQuery"]) == ("paid", query["inputQuery"])
    assert [q["id"] for q in ok(client.get(f"/api/v1/data/projects/{pid}/queries", headers=h))] == [
        query["id"]
    ]
    done(client.delete(f"/api/v1/data/projects/{pid}/queries/{query['id']}", headers=h))
    error(
        client.post(execute, json={"id": query["id"]}, headers=h),
        404,
        "NOT_FOUND",
        f"Query {query['id']} not found",
    )

    # query builder
    built = ok(
        client.post(
            execute,
            params={"format": "COMPACT"},
            json={
                "from": [{"catalogName": "shop_db", "schemaName": "main", "tableName": "users"}],
                "columns": ["name"],
                "orderBy": ["id DESC"],
                "limit": 2,
            },
            headers=h,
        )
    )
    assert built["data"] == [["user60"], ["user59"]]

    # descriptions survive a refresh; a new table appears, a dropped one goes
    ok(
        client.put(
            f"/api/v1/metadata/{pid}/{cid}/main/users",
            json={
                "tableDescription": "People who buy",
                "columns": [{"columnName": "region", "columnDescription": "sales region"}],
            },
            headers=h,
        )
    )
    raw = sqlite3.connect(db_path)
    raw.execute(
        "CREATE TABLE returns (id INTEGER PRIMARY KEY, order_id INTEGER REFERENCES orders(id))"
    )
    raw.execute("INSERT INTO users VALUES (61, 'user61', 'eu')")
    raw.commit()
    raw.close()
    refreshed = ok(client.post(f"/api/v1/metadata/{pid}/refresh", json={}, headers=h))
    assert refreshed == {
        "status": "COMPLETED",
        "catalogs": [{"catalogId": cid, "status": "COMPLETED", "error": None}],
    }
    assert ok(client.get(f"/api/v1/metadata/{pid}/refresh/{cid}", headers=h)) == {
        "status": "COMPLETED",
        "error": None,
    }
    tables = ok(client.get(f"{base}/schemas/main/tables", headers=h))
    assert [t["tableName"] for t in tables] == ["orders", "returns", "users"]
    users_meta = ok(client.get(f"/api/v1/metadata/{pid}", params={"catalogId": cid}, headers=h))
    users = users_meta["catalogs"][0]["schemas"][0]["tables"][2]
    assert (users["tableDescription"], users["rowCount"]) == ("People who buy", 61)
    assert users["columns"][2]["columnDescription"] == "sales region"

    # transpile
    transpiled = ok(
        client.post(
            "/api/v1/sql/transpile/mysql",
            json={"query": "SELECT * FROM catalog.schema.table WHERE id = 1"},
            headers=h,
        )
    )
    assert transpiled == {"result": "SELECT * FROM catalog.`schema`.`table` WHERE id = 1"}
    error(
        client.post("/api/v1/sql/transpile/klingon", json={"query": "SELECT 1"}, headers=h),
        422,
        "VALIDATION_ERROR",
        "unknown SQL dialect 'klingon'; known: "
        + ", ".join(sorted(k for k in sqlglot.Dialect.classes if k)),
    )

    # deleting the connection deletes its catalog
    done(client.delete(f"/api/v1/connections/{pid}/{conn['id']}", headers=h))
    assert ok(client.get(f"/api/v1/data/projects/{pid}/catalogs", headers=h)) == []
    error(
        client.post(execute, json={"statement": "SELECT 1"}, headers=h),
        400,
        "QUERY_NOT_ALLOWED",
        "this project has no catalogs yet: connect a data source first",
    )


def test_partner_keys_from_the_cli(tmp_path: Path) -> None:
    """`parley keys partner create|list|revoke`, then the key works on /api/v1 until revoked."""
    import subprocess

    from conftest import PARLEY, parley_env
    from parley.app import create_app
    from parley.config import Settings

    env = parley_env(tmp_path / "data", PARLEY_JWT_SECRET=TEST_SECRET)

    def cli(*args: str) -> str:
        done = subprocess.run(
            [*PARLEY, "keys", "partner", *args], env=env, capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 0, done.stderr
        return done.stdout.strip()

    token, key_id = cli("create", "--name", "ops").split("\t")
    assert re.fullmatch(r"[A-Za-z0-9]{8}\.[A-Za-z0-9]{32}", token)
    assert cli("list") == f"{key_id}\tops\t-"
    # another process revokes the key: with the key cache off, the next request sees it (with
    # it on, within PARLEY_KEY_CACHE_TTL_S; see test_key_cache_*)
    settings = Settings(
        data_dir=tmp_path / "data", jwt_secret=TEST_SECRET, auth_enabled=True, key_cache_ttl_s=0
    )
    with AppClient(create_app(settings)) as client:
        created = ok(
            client.post("/api/v1/projects", json={"name": "by partner"}, headers=bearer(token))
        )
        assert (
            ok(client.get(f"/api/v1/projects/{created['id']}", headers=bearer(token)))["name"]
            == "by partner"
        )
        assert cli("revoke", key_id) == f"revoked {key_id}"
        error(
            client.get("/api/v1/projects", headers=bearer(token)),
            401,
            "UNAUTHORIZED",
            "API key is invalid",
        )
    assert cli("list") == ""
