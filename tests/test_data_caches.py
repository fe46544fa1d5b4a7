"""The in-process caches of API keys and of a project's catalogs: every change made through
this process is seen by the very next request, with the caches on (their default)."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from data_sources import make_sqlite
from helpers import PARTNER, ok, project_with_catalog
from parley.ttl_cache import TtlCache

COUNT = "SELECT count(*) AS n FROM users"


@pytest.fixture
def settings_overrides(tmp_path: Path) -> dict[str, Any]:
    (tmp_path / "sources").mkdir()
    return {
        "auth_enabled": True,
        "data_file_roots": {"*": [tmp_path / "sources"]},
        "key_cache_ttl_s": 60.0,  # far longer than any test: only invalidation can help
        "catalog_cache_ttl_s": 60.0,
    }


def refused(response: Any, status: int, code: str, message: str) -> None:
    assert response.status_code == status, (response.status_code, response.text)
    assert response.json() == {"errorCode": code, "message": message}


def run(client: TestClient, pid: str, h: dict[str, str], sql: str) -> Any:
    return client.post(
        f"/api/v1/data/projects/{pid}/queries/execute",
        params={"format": "COMPACT"},
        json={"statement": sql},
        headers=h,
    )


@pytest.fixture
def shop(tmp_path: Path) -> Path:
    return make_sqlite(tmp_path / "sources" / "shop.db")


def test_a_revoked_key_fails_on_its_next_request(client: TestClient, shop: Path) -> None:
    shop_project = project_with_catalog(client, shop, key="k")
    pid, h = shop_project.id, shop_project.headers
    assert ok(run(client, pid, h, COUNT))["data"] == [[60]]  # the key is cached now
    [key] = ok(client.get(f"/api/v1/projects/{pid}/apiKeys", headers=PARTNER))
    ok_delete = client.delete(f"/api/v1/projects/{pid}/apiKeys/{key['apiKeyId']}", headers=PARTNER)
    assert ok_delete.status_code == 200
    refused(run(client, pid, h, COUNT), 401, "UNAUTHORIZED", "API key is invalid")
    v2 = client.post(f"/v2/workspaces/{pid}/peers/list", json={}, headers=h)
    assert (v2.status_code, v2.json()) == (401, {"detail": "API key is invalid"})


def test_a_deleted_catalog_is_gone_for_the_next_statement(client: TestClient, shop: Path) -> None:
    shop_project = project_with_catalog(client, shop, key="k")
    pid, h, catalog_id = shop_project.id, shop_project.headers, shop_project.catalog_id
    assert ok(run(client, pid, h, COUNT))["data"] == [[60]]  # the catalog is cached now
    deleted = client.delete(f"/api/v1/data/projects/{pid}/catalogs/{catalog_id}", headers=h)
    assert deleted.status_code == 200
    refused(
        run(client, pid, h, COUNT),
        400,
        "QUERY_NOT_ALLOWED",
        "this project has no catalogs yet: connect a data source first",
    )


def test_a_refresh_makes_new_tables_queryable_at_once(client: TestClient, shop: Path) -> None:
    shop_project = project_with_catalog(client, shop, key="k")
    pid, h = shop_project.id, shop_project.headers
    refused(
        run(client, pid, h, "SELECT count(*) FROM refunds"),
        400,
        "QUERY_NOT_ALLOWED",
        "table refunds is not in this project's catalog",
    )
    with sqlite3.connect(shop) as conn:
        conn.execute("CREATE TABLE refunds (id INTEGER PRIMARY KEY)")
        conn.execute("INSERT INTO refunds VALUES (1), (2)")
    assert ok(client.post(f"/api/v1/metadata/{pid}/refresh", json={}, headers=h))["status"] == (
        "COMPLETED"
    )
    assert ok(run(client, pid, h, "SELECT count(*) FROM refunds"))["data"] == [[2]]


def test_a_changed_connection_is_read_by_the_next_statement(
    client: TestClient, shop: Path, tmp_path: Path
) -> None:
    shop_project = project_with_catalog(client, shop, key="k")
    pid, h, connection_id = shop_project.id, shop_project.headers, shop_project.connection_id
    assert ok(run(client, pid, h, COUNT))["data"] == [[60]]
    other = make_sqlite(tmp_path / "sources" / "other.db", users=7)
    ok(
        client.put(
            f"/api/v1/connections/{pid}/{connection_id}",
            json={"name": "shopdb", "type": "SQLITE", "credential": {"path": str(other)}},
            headers=h,
        )
    )
    assert ok(run(client, pid, h, COUNT))["data"] == [[7]]
    assert client.delete(f"/api/v1/connections/{pid}/{connection_id}", headers=h).status_code == 200
    refused(
        run(client, pid, h, COUNT),
        400,
        "QUERY_NOT_ALLOWED",
        "this project has no catalogs yet: connect a data source first",
    )


@pytest.mark.parametrize("how", ["api/v1 project", "v2 workspace"])
def test_a_deleted_project_takes_its_keys_and_catalogs_along(
    client: TestClient, shop: Path, how: str
) -> None:
    shop_project = project_with_catalog(client, shop, key="k")
    pid, h = shop_project.id, shop_project.headers
    assert ok(run(client, pid, h, COUNT))["data"] == [[60]]
    if how == "v2 workspace":  # a project key may delete its own workspace
        assert client.delete(f"/v2/workspaces/{pid}", headers=h).status_code == 200
    else:
        assert client.delete(f"/api/v1/projects/{pid}", headers=PARTNER).status_code == 200
    refused(run(client, pid, h, COUNT), 401, "UNAUTHORIZED", "API key is invalid")
    # a project of the same id made again starts with no catalogs
    ok(client.post("/api/v1/projects", json={"name": "Again", "id": pid}, headers=PARTNER))
    refused(
        run(client, pid, PARTNER, COUNT),
        400,
        "QUERY_NOT_ALLOWED",
        "this project has no catalogs yet: connect a data source first",
    )


def test_an_expired_key_is_refused_even_when_cached(client: TestClient) -> None:
    pid = ok(client.post("/api/v1/projects", json={"name": "Shop"}, headers=PARTNER))["id"]
    soon = time.time() + 1.5
    expires = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(soon)) + f".{int(soon % 1 * 1e6):06d}Z"
    key = ok(
        client.post(
            f"/api/v1/projects/{pid}/apiKeys",
            json={"name": "short", "expiresAt": expires},
            headers=PARTNER,
        )
    )
    h = {"Authorization": f"Bearer {key['apiKey']}"}
    assert ok(client.get(f"/api/v1/projects/{pid}", headers=h))["id"] == pid  # cached now
    time.sleep(max(0.0, soon - time.time()) + 0.1)
    refused(
        client.get(f"/api/v1/projects/{pid}", headers=h), 401, "UNAUTHORIZED", "API key has expired"
    )


# --- the cache itself -----------------------------------------------------------------------


def test_entries_expire_after_their_ttl() -> None:
    cache: TtlCache[str, int] = TtlCache(0.05)
    cache.put("a", 1, cache.generation())
    assert cache.get("a") == 1
    time.sleep(0.06)
    assert cache.get("a") is None


def test_a_value_loaded_across_an_invalidation_is_not_kept() -> None:
    cache: TtlCache[str, int] = TtlCache(60)
    before = cache.generation()
    cache.invalidate("a")  # a write committed while the value was being read
    cache.put("a", 1, before)
    assert cache.get("a") is None
    cache.put("a", 2, cache.generation())
    assert cache.get("a") == 2
    cache.clear()
    assert cache.get("a") is None


def test_a_zero_ttl_keeps_nothing_and_loads_every_time() -> None:
    cache: TtlCache[str, int] = TtlCache(0)
    loads = []

    async def load() -> int:
        loads.append(1)
        return len(loads)

    assert asyncio.run(cache.get_or_load("a", load)) == 1
    assert asyncio.run(cache.get_or_load("a", load)) == 2


def test_the_oldest_entry_goes_when_full() -> None:
    cache: TtlCache[str, int] = TtlCache(60, max_entries=2)
    for i, key in enumerate("abc"):
        cache.put(key, i, cache.generation())
    assert [cache.get(k) for k in "abc"] == [None, 1, 2]


def test_nan_and_infinities_come_back_as_text(client: TestClient, shop: Path) -> None:
    """JSON has no NaN: a result holding one is still a 200 with the value as text."""
    shop_project = project_with_catalog(client, shop, key="k")
    pid, h = shop_project.id, shop_project.headers
    sql = "SELECT 1e999 AS big, -1e999 AS small, 1e999 - 1e999 AS nan, 1.5 AS plain"
    body = ok(run(client, pid, h, sql))
    assert body["data"] == [["Infinity", "-Infinity", None, 1.5]]
