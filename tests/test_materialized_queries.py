"""Materialized queries (Peaka's Data -- Materialized Queries) on both backends: a saved query
of type MATERIALIZED keeps its result as a copy, refreshed on the work queue when made, on
demand and on its schedule; `peaka.mtquery.<name>` (and the query's id) read the copy."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from cache_world import API, execute, module_settings, run_refreshes, shared_client, shop, sql_on
from conftest import BACKENDS
from helpers import PARTNER, ok
from parley.config import Settings
from parley.data.cache_jobs import CacheScheduler
from parley.store.models import utcnow

REGIONS = "SELECT region, count(*) AS n FROM users GROUP BY region ORDER BY region"


@pytest.fixture(scope="module", params=BACKENDS)
def settings(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Settings]:
    yield from module_settings(request, tmp_path_factory, "materialized")


@pytest.fixture(scope="module")
def client(settings: Settings) -> Iterator[TestClient]:
    yield from shared_client(settings)


def materialize(client: TestClient, pid: str, name: str, **extra: Any) -> Any:
    body = {"displayName": name, "inputQuery": REGIONS, "queryType": "MATERIALIZED"} | extra
    return client.post(f"{API}/data/projects/{pid}/queries", json=body, headers=PARTNER)


def mt_status(client: TestClient, pid: str, query_id: str) -> Any:
    path = f"{API}/data/projects/{pid}/materialized-queries/{query_id}/status"
    return ok(client.get(path, headers=PARTNER))


def test_a_materialized_query_is_read_from_its_copy_until_refreshed(
    client: TestClient, settings: Settings
) -> None:
    pid, _, source = shop(client, settings)
    made = ok(materialize(client, pid, "By Region"))
    assert (made["queryType"], made["name"]) == ("MATERIALIZED", "by_region")
    assert made["schedule"] == {
        "type": "none",
        "cronExpression": None,
        "repeatDuration": None,
        "timezone": None,
    }
    first = mt_status(client, pid, made["id"])
    assert first == {
        "queryId": made["id"],
        "queryName": "by_region",
        "scheduleSettings": {
            "type": "none",
            "cronExpression": None,
            "repeatDuration": None,
            "timezone": None,
        },
        "nextExecutionStartTime": None,
        "status": "RUNNING",
        "lastExecutionStartTime": first["lastExecutionStartTime"],
        "lastUpdateTime": first["lastUpdateTime"],
    }
    # no copy yet: its SQL runs on the source
    direct = execute(client, pid, "", statement=None, qualifiedName="peaka.mtquery.by_region")
    assert direct["data"] == [["apac", 20], ["eu", 20], ["us", 20]] and "cache" not in direct
    assert run_refreshes(client) == 1
    assert mt_status(client, pid, made["id"])["status"] == "COMPLETED"
    sql_on(source, "INSERT INTO users VALUES (61, 'late', 'eu')")
    for how in ({"qualifiedName": "peaka.mtquery.by_region"}, {"id": made["id"]}):
        served = execute(client, pid, "", statement=None, **how)
        assert served["data"] == [["apac", 20], ["eu", 20], ["us", 20]], how
        assert served["cache"]["servedFromCache"] is True
        assert served["columns"][0] == {
            "catalogName": "peaka",
            "schemaName": "mtquery",
            "tableName": "by_region",
            "columnName": "region",
            "dataType": "varchar",
        }
    refresh = f"{API}/data/projects/{pid}/materialized-queries/{made['id']}/refresh"
    response = client.post(refresh, headers=PARTNER)
    assert (response.status_code, response.content) == (200, b"")
    assert mt_status(client, pid, made["id"])["status"] == "RUNNING"
    assert run_refreshes(client) == 1
    fresh = execute(client, pid, "", statement=None, qualifiedName="peaka.mtquery.by_region")
    assert fresh["data"] == [["apac", 20], ["eu", 21], ["us", 20]]
    # a plain saved query of the same SQL is not materialized
    plain = ok(
        client.post(
            f"{API}/data/projects/{pid}/queries",
            json={"displayName": "plain", "inputQuery": REGIONS},
            headers=PARTNER,
        )
    )
    response = client.get(
        f"{API}/data/projects/{pid}/materialized-queries/{plain['id']}/status", headers=PARTNER
    )
    assert response.status_code == 400
    assert response.json() == {
        "errorCode": "QUERY_NOT_MATERIALIZED",
        "message": f"query {plain['id']} is not a MATERIALIZED query",
    }
    missing = execute_status(client, pid, "peaka.mtquery.plain")
    assert missing == (
        404,
        {"errorCode": "NOT_FOUND", "message": "Materialized query peaka.mtquery.plain not found"},
    )
    listed = ok(
        client.get(f"{API}/data/projects/{pid}/materialized-queries/status", headers=PARTNER)
    )
    assert [s["queryId"] for s in listed] == [made["id"]]


def execute_status(client: TestClient, pid: str, name: str) -> tuple[int, Any]:
    response = client.post(
        f"{API}/data/projects/{pid}/queries/execute",
        json={"qualifiedName": name},
        headers=PARTNER,
    )
    return response.status_code, response.json()


def test_schedules_cancel_and_conversion(client: TestClient, settings: Settings) -> None:
    pid, _, _ = shop(client, settings)
    made = ok(
        materialize(client, pid, "hourly", schedule={"type": "interval", "repeatDuration": "PT1H"})
    )
    found = mt_status(client, pid, made["id"])
    assert found["scheduleSettings"] == {
        "type": "interval",
        "cronExpression": None,
        "repeatDuration": "PT1H",
        "timezone": None,
    }
    assert found["nextExecutionStartTime"] is not None
    cancel = f"{API}/data/projects/{pid}/materialized-queries/{made['id']}/cancel"
    response = client.post(cancel, headers=PARTNER)
    assert (response.status_code, response.content) == (200, b"")
    assert mt_status(client, pid, made["id"])["status"] == "CANCELLED"
    assert client.post(cancel, headers=PARTNER).status_code == 200  # nothing to cancel
    start = utcnow()
    scheduler = CacheScheduler(
        client.app.state.parley.data, clock=lambda: start + timedelta(hours=1, minutes=1)
    )
    assert client.portal.call(scheduler.tick) is True
    assert mt_status(client, pid, made["id"])["status"] == "RUNNING"
    assert run_refreshes(client) >= 1
    done = mt_status(client, pid, made["id"])
    assert done["status"] == "COMPLETED"
    # a plain query turned MATERIALIZED with a cron schedule
    plain = ok(
        client.post(
            f"{API}/data/projects/{pid}/queries",
            json={"displayName": "nightly", "inputQuery": "SELECT count(*) AS n FROM orders"},
            headers=PARTNER,
        )
    )
    ok(
        client.put(
            f"{API}/data/projects/{pid}/queries/{plain['id']}",
            json={
                "queryType": "MATERIALIZED",
                "schedule": {"type": "cron", "cronExpression": "0 0 * * *"},
            },
            headers=PARTNER,
        )
    )
    read = ok(client.get(f"{API}/data/projects/{pid}/queries/{plain['id']}", headers=PARTNER))
    assert (read["queryType"], read["schedule"]["cronExpression"]) == ("MATERIALIZED", "0 0 * * *")
    nightly = mt_status(client, pid, plain["id"])
    assert nightly["scheduleSettings"] == {
        "type": "cron",
        "cronExpression": "0 0 * * *",
        "repeatDuration": None,
        "timezone": "UTC",
    }
    assert nightly["nextExecutionStartTime"].endswith("T00:00:00Z")
    run_refreshes(client)
    served = execute(client, pid, "", statement=None, qualifiedName="peaka.mtquery.nightly")
    assert served["data"] == [[200]] and "cache" in served
    bad = materialize(client, pid, "bad", schedule={"type": "cron", "cronExpression": "daily"})
    assert bad.status_code == 400
    assert bad.json() == {
        "errorCode": "INVALID_SCHEDULE",
        "message": "'daily' is not a cron expression of 5 fields (minute hour day month weekday)",
    }
    unknown = client.post(
        f"{API}/data/projects/{pid}/materialized-queries/nope/refresh", headers=PARTNER
    )
    assert unknown.status_code == 404
    # deleting the saved query deletes its copy
    folder = settings.data_dir / "cache" / pid
    assert len(list(folder.glob("*.parquet"))) == 2  # hourly's and nightly's
    response = client.delete(f"{API}/data/projects/{pid}/queries/{made['id']}", headers=PARTNER)
    assert response.status_code == 200
    assert len(list(folder.glob("*.parquet"))) == 1
    listed = ok(
        client.get(f"{API}/data/projects/{pid}/materialized-queries/status", headers=PARTNER)
    )
    assert [s["queryId"] for s in listed] == [plain["id"]]


def test_a_folder_deleted_with_force_takes_its_materialized_copies(
    client: TestClient, settings: Settings
) -> None:
    pid, _, _ = shop(client, settings)
    made = ok(materialize(client, pid, "Filed", path="/reports"))
    assert run_refreshes(client) == 1
    folder = settings.data_dir / "cache" / pid
    assert [p.suffix for p in folder.iterdir()] == [".parquet"]
    [reports] = ok(client.get(f"{API}/data/projects/{pid}/queries/folders", headers=PARTNER))[
        "items"
    ]
    gone = client.delete(
        f"{API}/data/projects/{pid}/queries/folders/{reports['id']}",
        params={"force": "true"},
        headers=PARTNER,
    )
    assert gone.status_code == 204
    assert list(folder.iterdir()) == []  # as DELETE queries/{id} would have left it
    status = client.get(
        f"{API}/data/projects/{pid}/materialized-queries/{made['id']}/status", headers=PARTNER
    )
    assert status.status_code == 404
