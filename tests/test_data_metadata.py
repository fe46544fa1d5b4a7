"""Metadata for the agent: golden SQLs with semantic search, table search, relations,
categorical values and useWithAI flags."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from data_sources import make_sqlite
from helpers import PARTNER, ok, project_with_catalog


@pytest.fixture
def settings_overrides(tmp_path: Path) -> dict[str, Any]:
    return {"auth_enabled": True, "data_file_roots": {"*": [tmp_path]}}


def error(response: Any, status: int, code: str, message: str) -> None:
    assert response.status_code == status, (response.status_code, response.text)
    assert response.json() == {"errorCode": code, "message": message}


@pytest.fixture
def project(client: TestClient, tmp_path: Path) -> tuple[str, str]:
    db = make_sqlite(tmp_path / "shop.db")
    made = project_with_catalog(client, db, name="m", connection="shop")
    return made.id, made.catalog_id


def test_golden_sqls(client: TestClient, project: tuple[str, str]) -> None:
    pid, _ = project
    base = f"/api/v1/metadata/{pid}"
    pairs = [
        (
            "How many users live in each region?",
            "SELECT region, count(*) FROM users GROUP BY region",
        ),
        (
            "What is the total amount of paid orders?",
            "SELECT sum(amount) FROM orders WHERE status = 'paid'",
        ),
        (
            "Which customers spent the most money?",
            "SELECT user_id, sum(amount) FROM orders GROUP BY 1 ORDER BY 2 DESC",
        ),
    ]
    created = [
        ok(client.post(f"{base}/golden-sqls", json={"prompt": p, "sql": s}, headers=PARTNER))
        for p, s in pairs
    ]
    assert [(g["prompt"], g["sql"]) for g in created] == pairs
    listed = ok(client.get(f"{base}/golden-sqls", headers=PARTNER))
    assert [g["id"] for g in listed["goldenSqls"]] == [g["id"] for g in created]

    found = ok(
        client.get(
            f"{base}/golden-sql/query",
            params={"q": "revenue from paid orders", "topK": "2"},
            headers=PARTNER,
        )
    )
    assert [g["id"] for g in found["goldenSqls"]][0] == created[1]["id"]
    assert len(found["goldenSqls"]) == 2
    assert found["goldenSqls"][0]["score"] > found["goldenSqls"][1]["score"]
    found = ok(
        client.get(
            f"{base}/golden-sql/query", params={"q": "number of people per region"}, headers=PARTNER
        )
    )
    assert found["goldenSqls"][0]["id"] == created[0]["id"]

    error(
        client.get(f"{base}/golden-sql/query", params={"q": "x", "topK": "lots"}, headers=PARTNER),
        422,
        "VALIDATION_ERROR",
        "topK must be a whole number",
    )
    error(
        client.get(f"{base}/golden-sql/query", headers=PARTNER),
        422,
        "VALIDATION_ERROR",
        "query.q: Field required",
    )
    # Peaka documents a JSON object: the golden SQL that was deleted
    assert (
        ok(client.delete(f"{base}/golden-sqls/{created[1]['id']}", headers=PARTNER)) == created[1]
    )
    listed = ok(client.get(f"{base}/golden-sqls", headers=PARTNER))
    assert [g["id"] for g in listed["goldenSqls"]] == [created[0]["id"], created[2]["id"]]
    error(
        client.delete(f"{base}/golden-sqls/{created[1]['id']}", headers=PARTNER),
        404,
        "NOT_FOUND",
        f"Golden SQL {created[1]['id']} not found",
    )


def test_table_search_descriptions_and_flags(client: TestClient, project: tuple[str, str]) -> None:
    pid, cid = project
    base = f"/api/v1/metadata/{pid}"
    ok(
        client.put(
            f"{base}/{cid}/main/orders",
            json={"tableDescription": "purchases and payments made by customers"},
            headers=PARTNER,
        )
    )
    ok(
        client.put(
            f"{base}/{cid}/main/users",
            json={"tableDescription": "people with an account and their home region"},
            headers=PARTNER,
        )
    )
    found = ok(
        client.get(
            f"{base}/query",
            params={"table": "payments customers made", "topK": "5"},
            headers=PARTNER,
        )
    )
    assert [t["tableName"] for t in found["tables"]] == ["orders", "users"]
    assert found["tables"][0]["tableDescription"] == "purchases and payments made by customers"
    found = ok(
        client.get(f"{base}/query", params={"table": "where do people live"}, headers=PARTNER)
    )
    assert found["tables"][0]["tableName"] == "users"

    # a table flagged off is not offered to the agent
    ok(client.put(f"{base}/{cid}/main/orders", json={"useWithAI": False}, headers=PARTNER))
    found = ok(client.get(f"{base}/query", params={"table": "payments"}, headers=PARTNER))
    assert [t["tableName"] for t in found["tables"]] == ["users"]
    assert ok(client.put(f"{base}/{cid}", json={"useWithAI": False}, headers=PARTNER)) == {
        "useWithAI": False,
        "tables": 2,
    }
    assert ok(client.get(f"{base}/query", params={"table": "payments"}, headers=PARTNER)) == {
        "tables": []
    }
    assert ok(client.put(f"{base}/{cid}/main", json={"useWithAI": True}, headers=PARTNER)) == {
        "useWithAI": True,
        "tables": 2,
    }
    error(
        client.put(f"{base}/{cid}/nope", json={"useWithAI": True}, headers=PARTNER),
        404,
        "NOT_FOUND",
        f"Schema nope not found in catalog {cid}",
    )
    error(
        client.put(
            f"{base}/{cid}/main/users",
            json={"columns": [{"columnName": "ghost", "columnDescription": "x"}]},
            headers=PARTNER,
        ),
        422,
        "VALIDATION_ERROR",
        "table main.users has no column ghost",
    )


def test_relations_and_categorical_values(client: TestClient, project: tuple[str, str]) -> None:
    pid, cid = project
    base = f"/api/v1/metadata/{pid}"
    (introspected,) = ok(client.get(f"{base}/relations/{cid}", headers=PARTNER))["relations"]
    assert introspected["origin"] == "introspected"
    manual = ok(
        client.post(
            f"{base}/relations/{cid}/main/users/id",
            json={
                "targetCatalogId": cid,
                "targetSchemaName": "main",
                "targetTableName": "orders",
                "targetColumnName": "user_id",
                "type": "ONE_TO_MANY",
            },
            headers=PARTNER,
        )
    )
    assert (manual["type"], manual["origin"], manual["targetTableName"]) == (
        "ONE_TO_MANY",
        "manual",
        "orders",
    )
    updated = ok(
        client.put(
            f"{base}/relations/{cid}/main/users/{manual['id']}",
            json={"type": "ONE_TO_ONE"},
            headers=PARTNER,
        )
    )
    assert updated["type"] == "ONE_TO_ONE"
    # a refresh replaces introspected relations and keeps manual ones
    ok(client.post(f"{base}/refresh", json={"catalogId": cid}, headers=PARTNER))
    relations = ok(client.get(f"{base}/relations/{cid}", headers=PARTNER))["relations"]
    assert sorted((r["origin"], r["type"]) for r in relations) == [
        ("introspected", "MANY_TO_ONE"),
        ("manual", "ONE_TO_ONE"),
    ]
    deleted = ok(
        client.delete(f"{base}/relations/{cid}/main/users/{manual['id']}", headers=PARTNER)
    )
    assert deleted == updated
    assert [
        r["origin"] for r in ok(client.get(f"{base}/relations/{cid}", headers=PARTNER))["relations"]
    ] == ["introspected"]
    error(
        client.post(
            f"{base}/relations/{cid}/main/users/nope",
            json={
                "targetCatalogId": cid,
                "targetSchemaName": "main",
                "targetTableName": "orders",
                "targetColumnName": "id",
            },
            headers=PARTNER,
        ),
        404,
        "NOT_FOUND",
        "Column nope not found in main.users",
    )

    categorical = f"{base}/categorical/{cid}/main/orders/amount"
    column = ok(client.put(categorical, json={"limit": 3}, headers=PARTNER))
    assert (column["isCategorical"], column["categoricalValues"]) == (True, [0.0, 1.0, 2.0])
    column = ok(client.delete(categorical, headers=PARTNER))
    assert (column["isCategorical"], column["categoricalValues"]) == (False, [])
    error(
        client.put(
            f"{base}/categorical/{cid}/main/orders/ghost", json={"limit": 3}, headers=PARTNER
        ),
        404,
        "NOT_FOUND",
        "Column ghost not found in main.orders",
    )
    error(
        client.put(categorical, json={"limit": 0}, headers=PARTNER),
        422,
        "VALIDATION_ERROR",
        "body.limit: Input should be greater than or equal to 1",
    )


def test_a_refresh_keeps_to_the_categorical_values_someone_chose(
    client: TestClient, project: tuple[str, str]
) -> None:
    pid, cid = project
    base = f"/api/v1/metadata/{pid}"

    def categorical() -> dict[str, tuple[bool, list[object]]]:
        (cat,) = ok(client.get(base, headers=PARTNER))["catalogs"]
        return {
            f"{table['tableName']}.{column['columnName']}": (
                column["isCategorical"],
                column["categoricalValues"],
            )
            for table in cat["schemas"][0]["tables"]
            for column in table["columns"]
            if column["isCategorical"] or column["columnName"] in ("amount", "status")
        }

    automatic = {
        "orders.amount": (False, []),
        "orders.status": (True, ["open", "paid"]),
        "users.region": (True, ["apac", "eu", "us"]),
    }
    assert categorical() == automatic
    # a numeric column on request (50 distinct values: never automatic), an automatic one off
    ok(
        client.put(
            f"{base}/categorical/{cid}/main/orders/amount", json={"limit": 2}, headers=PARTNER
        )
    )
    ok(client.delete(f"{base}/categorical/{cid}/main/orders/status", headers=PARTNER))
    chosen = {**automatic, "orders.amount": (True, [0.0, 1.0]), "orders.status": (False, [])}
    assert categorical() == chosen
    ok(client.post(f"{base}/refresh", json={"catalogId": cid}, headers=PARTNER))
    assert categorical() == chosen
    ok(client.post(f"{base}/refresh", json={}, headers=PARTNER))
    assert categorical() == chosen
