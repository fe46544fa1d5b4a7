"""Cached tables (Peaka's Data -- Cache) on both backends, over real SQLite sources and DuckDB
(Parquet) copies: a full refresh that queries then read (and say so), an incremental refresh
that picks up only new rows, schedules fired by an injected clock, cancels, a crash in the
middle of a refresh (the old copy stays readable and the queue redoes it), the limits, and
isolation between projects."""

from __future__ import annotations

import asyncio
import itertools
import sqlite3
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from cache_world import (
    API,
    execute,
    job,
    module_settings,
    new_source,
    run_refreshes,
    shared_client,
    shop,
    sql_on,
    status,
    worker,
)
from conftest import BACKENDS, PostgresForTests
from data_sources import PG_PASSWORD, drop_postgres, make_postgres
from helpers import PARTNER, add_catalog, new_project, ok, project_key, project_with_catalog
from parley.config import Settings
from parley.data import caches
from parley.data.cache_jobs import CacheLimits, CacheScheduler
from parley.data.cache_schedule import Cron, parse_duration
from parley.llm.chat import UsageMeter
from parley.store.models import WorkUnitLease, utcnow
from parley.worker.runner import Worker
from parley.worker.setup import queue_policy

COUNT = "SELECT count(*) AS n FROM users"
_sources = itertools.count()


@pytest.fixture(scope="module", params=BACKENDS)
def settings(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Settings]:
    yield from module_settings(request, tmp_path_factory, "caches")


@pytest.fixture(scope="module")
def client(settings: Settings) -> Iterator[TestClient]:
    yield from shared_client(settings)


def create(client: TestClient, pid: str, catalog_id: str, **extra: Any) -> Any:
    body = {"catalogId": catalog_id, "schemaName": "main", "tableName": "users"} | extra
    return client.post(f"{API}/data/projects/{pid}/cache", json=body, headers=PARTNER)


def history(client: TestClient, pid: str, cache_id: str) -> Any:
    path = f"{API}/data/projects/{pid}/cache/{cache_id}/executionHistory"
    return ok(client.get(path, headers=PARTNER))


def test_a_full_refresh_serves_queries_until_the_cache_is_deleted(
    client: TestClient, settings: Settings
) -> None:
    pid, catalog_id, source = shop(client, settings)
    made = ok(create(client, pid, catalog_id))
    cache_id = made["id"]
    assert made == {
        "id": cache_id,
        "catalogId": catalog_id,
        "schemaName": "main",
        "tableName": "users",
        "incrementalCacheSchedule": {"type": "NONE", "expression": None},
        "fullRefreshCacheSchedule": {"type": "NONE", "expression": None},
        "projectId": pid,
        "incrementalColumn": "id",
    }
    queued = status(client, pid, cache_id)
    assert queued["status"] == "RUNNING"
    assert queued["lastFullRefreshCacheExecution"]["status"] == "PENDING"
    direct = execute(client, pid, COUNT)  # no copy yet: the source answers
    assert direct["data"] == [[60]] and "cache" not in direct
    assert run_refreshes(client) == 1
    done = status(client, pid, cache_id)
    assert done["status"] == "COMPLETED"
    assert done["numberOfRows"] == 60 and done["sizeInBytes"] > 0
    assert done["lastFullRefreshCacheExecution"]["progress"]["numberOfCachedRecords"] == 60
    assert done["lastIncrementalCacheExecution"] is None
    # the copy answers now, and says so: a row added to the source is not in it
    sql_on(source, "INSERT INTO users VALUES (61, 'late', 'eu')")
    served = execute(client, pid, COUNT)
    assert served["data"] == [[60]]
    assert served["cache"]["servedFromCache"] is True
    assert served["cache"]["cacheIds"] == [cache_id]
    joined = execute(
        client,
        pid,
        "SELECT u.region, count(*) AS n FROM users u WHERE u.id <= 6 GROUP BY u.region "
        "ORDER BY u.region",
    )
    assert joined["data"] == [["apac", 2], ["eu", 2], ["us", 2]] and "cache" in joined
    # orders has no copy: a statement reading it goes to the source
    assert "cache" not in execute(
        client, pid, "SELECT count(*) FROM orders o JOIN users u ON u.id = o.user_id"
    )
    folder = settings.data_dir / "cache" / pid
    assert [p.suffix for p in folder.iterdir()] == [".parquet"]
    response = client.delete(f"{API}/data/projects/{pid}/cache/{cache_id}", headers=PARTNER)
    assert (response.status_code, response.content) == (200, b"")
    after = execute(client, pid, COUNT)
    assert after["data"] == [[61]] and "cache" not in after
    assert list(folder.iterdir()) == []
    gone = client.get(f"{API}/data/projects/{pid}/cache/{cache_id}/status", headers=PARTNER)
    assert gone.status_code == 404
    assert gone.json() == {"errorCode": "NOT_FOUND", "message": f"Cache {cache_id} not found"}


def test_an_incremental_refresh_picks_up_only_new_rows(
    client: TestClient, settings: Settings
) -> None:
    pid, catalog_id, source = shop(client, settings)
    made = ok(
        create(
            client,
            pid,
            catalog_id,
            incrementalCacheSchedule={"type": "BASIC", "expression": "PT1H"},
        )
    )
    cache_id = made["id"]
    assert made["incrementalCacheSchedule"] == {"type": "BASIC", "expression": "PT1H"}
    assert run_refreshes(client) == 1  # only an incremental schedule: the first run is one
    first = status(client, pid, cache_id)["lastIncrementalCacheExecution"]
    assert first["progress"]["numberOfCachedRecords"] == 60
    assert first["progress"]["lastOffset"] == "60"
    sql_on(
        source,
        "UPDATE users SET region = 'changed' WHERE id = 1",  # not an insert: not picked up
        *(f"INSERT INTO users VALUES ({i}, 'new{i}', 'eu')" for i in range(61, 66)),
    )
    started = ok(
        client.post(
            f"{API}/data/projects/{pid}/cache/{cache_id}/incrementalUpdate", headers=PARTNER
        )
    )
    assert started == {
        "cacheId": cache_id,
        "executionId": started["executionId"],
        "executionMode": "INCREMENTAL",
        "status": "PENDING",
    }
    assert run_refreshes(client) == 1
    latest = status(client, pid, cache_id)["lastIncrementalCacheExecution"]
    assert latest["id"] == started["executionId"]
    assert latest["status"] == "COMPLETED"
    assert latest["progress"]["numberOfInsertedRecords"] == 5
    assert latest["progress"]["numberOfCachedRecords"] == 65
    assert latest["progress"]["lastOffset"] == "65"
    assert execute(client, pid, COUNT)["data"] == [[65]]
    assert execute(client, pid, "SELECT region FROM users WHERE id = 1")["data"] == [["us"]]
    history = ok(
        client.get(f"{API}/data/projects/{pid}/cache/{cache_id}/executionHistory", headers=PARTNER)
    )
    assert [h["id"] for h in history] == [latest["id"], first["id"]]
    paged = client.get(
        f"{API}/data/projects/{pid}/cache/{cache_id}/executionHistory",
        params={"limit": 1, "offset": 1},
        headers=PARTNER,
    )
    assert [h["id"] for h in ok(paged)] == [first["id"]]
    # a full refresh reads everything again, the update included
    ok(
        client.post(
            f"{API}/data/projects/{pid}/cache/{cache_id}/fullRefreshUpdate", headers=PARTNER
        )
    )
    assert run_refreshes(client) == 1
    assert execute(client, pid, "SELECT region FROM users WHERE id = 1")["data"] == [["changed"]]


def test_a_source_that_changed_shape_fails_an_incremental_refresh_clearly(
    client: TestClient, settings: Settings
) -> None:
    pid, catalog_id, source = shop(client, settings)
    cache_id = ok(create(client, pid, catalog_id))["id"]
    run_refreshes(client)
    sql_on(source, "ALTER TABLE users ADD COLUMN age INTEGER")
    ok(
        client.post(
            f"{API}/data/projects/{pid}/cache/{cache_id}/incrementalUpdate", headers=PARTNER
        )
    )
    run_refreshes(client)
    found = status(client, pid, cache_id)
    assert found["status"] == "FAILED"
    error = found["lastIncrementalCacheExecution"]["error"]
    assert error == {
        "errorCode": "SOURCE_SCHEMA_CHANGED",
        "message": "the columns of main.users changed since the copy was made (now id, name, "
        "region, age; the copy has id, name, region): run a full refresh",
    }
    assert execute(client, pid, COUNT)["cache"]["cacheIds"] == [cache_id]  # the old copy


def test_schedules_fire_from_the_clock(client: TestClient, settings: Settings) -> None:
    pid, catalog_id, _ = shop(client, settings)
    cache_id = ok(
        create(
            client,
            pid,
            catalog_id,
            fullRefreshCacheSchedule={"type": "BASIC", "expression": "PT6H"},
        )
    )["id"]
    run_refreshes(client)
    start = utcnow()
    now = [start + timedelta(hours=1)]
    scheduler = CacheScheduler(client.app.state.parley.data, clock=lambda: now[0])
    client.portal.call(scheduler.tick)  # (other tests' caches may be due: not this one)
    assert len(history(client, pid, cache_id)) == 1
    now[0] = start + timedelta(hours=6, minutes=1)
    assert client.portal.call(scheduler.tick) is True
    client.portal.call(scheduler.tick)  # the next one is 6 hours on
    assert [h["status"] for h in history(client, pid, cache_id)] == ["PENDING", "COMPLETED"]
    assert run_refreshes(client) >= 1  # other tests' caches may have come due too
    found = ok(client.get(f"{API}/data/projects/{pid}/cache/{cache_id}/status", headers=PARTNER))
    assert found["status"] == "COMPLETED"
    assert [(log["action"], log["isScheduled"]) for log in found["cacheActionLogs"]] == [
        ("COMPLETED", True),
        ("STARTED", True),
        ("COMPLETED", False),
        ("STARTED", False),
    ]
    # turned off: the clock fires nothing more
    ok(
        client.put(
            f"{API}/data/projects/{pid}/cache/{cache_id}",
            json={"fullRefreshCacheSchedule": {"type": "NONE"}},
            headers=PARTNER,
        )
    )
    now[0] = start + timedelta(days=30)
    client.portal.call(scheduler.tick)
    assert len(history(client, pid, cache_id)) == 2


def test_cancels(client: TestClient, settings: Settings) -> None:
    pid, catalog_id, source = shop(client, settings)
    base = f"{API}/data/projects/{pid}/cache"
    cache_id = ok(create(client, pid, catalog_id))["id"]
    # a pending refresh is cancelled at once, and never runs
    response = client.post(f"{base}/{cache_id}/cancelFullRefreshUpdate", headers=PARTNER)
    assert (response.status_code, response.content) == (200, b"")
    assert status(client, pid, cache_id)["status"] == "CANCELLED"
    run_refreshes(client)
    assert status(client, pid, cache_id)["numberOfRows"] == 0
    again = client.post(f"{base}/{cache_id}/cancelFullRefreshUpdate", headers=PARTNER)
    assert again.status_code == 404
    assert again.json() == {
        "errorCode": "NOT_FOUND",
        "message": f"no full refresh of cache {cache_id} is running",
    }
    # a running refresh stops at its next page; the copy it would replace stays
    ok(client.post(f"{base}/{cache_id}/fullRefreshUpdate", headers=PARTNER))
    run_refreshes(client)
    sql_on(source, "INSERT INTO users VALUES (61, 'late', 'eu')")
    ok(client.post(f"{base}/{cache_id}/fullRefreshUpdate", headers=PARTNER))
    handler = job(client)

    async def cancel_now(_rows: int) -> None:
        ok_ = client.app.state.parley.database
        async with ok_.write() as db:
            await caches.cancel(db=db, project_id=pid, cache_id=cache_id, mode=caches.FULL)

    handler.after_page = cancel_now
    assert run_refreshes(client, handler) == 1
    found = status(client, pid, cache_id)
    assert (found["status"], found["numberOfRows"]) == ("CANCELLED", 60)
    assert execute(client, pid, COUNT)["data"] == [[60]]
    assert [p.name.endswith(".parquet") for p in (settings.data_dir / "cache" / pid).iterdir()]


class Crash(BaseException):
    """The worker dies (nothing of it runs on)."""


def test_a_crash_mid_refresh_keeps_the_old_copy_and_the_queue_redoes_it(
    client: TestClient, settings: Settings
) -> None:
    pid, catalog_id, source = shop(client, settings)
    cache_id = ok(create(client, pid, catalog_id))["id"]
    run_refreshes(client)
    sql_on(source, *(f"INSERT INTO users VALUES ({i}, 'n{i}', 'us')" for i in range(61, 71)))
    ok(
        client.post(
            f"{API}/data/projects/{pid}/cache/{cache_id}/fullRefreshUpdate", headers=PARTNER
        )
    )
    handler = job(client)

    async def die(rows: int) -> None:
        if rows >= 25:  # one page of the new copy written
            raise Crash

    handler.after_page = die
    runner = worker(client, handler)

    async def crash() -> None:
        claim = await runner.queue.claim([caches.CACHE_REFRESH])
        assert claim is not None
        with pytest.raises(Crash):
            await handler(claim, UsageMeter())

    client.portal.call(crash)
    assert status(client, pid, cache_id)["lastFullRefreshCacheExecution"]["status"] == "RUNNING"
    served = execute(client, pid, COUNT)
    assert served["data"] == [[60]] and served["cache"]["cacheIds"] == [cache_id]

    async def expire_leases() -> None:
        async with client.app.state.parley.database.write() as db:
            await db.execute(update(WorkUnitLease).values(expires_at=utcnow()))

    client.portal.call(expire_leases)
    assert run_refreshes(client) == 1
    found = status(client, pid, cache_id)
    assert (found["status"], found["numberOfRows"]) == ("COMPLETED", 70)
    assert execute(client, pid, COUNT)["data"] == [[70]]


def test_quota_and_timeout_fail_the_run_and_keep_the_copy(
    client: TestClient, settings: Settings
) -> None:
    pid, catalog_id, _ = shop(client, settings)
    cache_id = ok(create(client, pid, catalog_id))["id"]
    run_refreshes(client, job(client, CacheLimits(page_rows=25, quota_bytes=10)))
    error = status(client, pid, cache_id)["lastFullRefreshCacheExecution"]["error"]
    assert error["errorCode"] == "CACHE_QUOTA_EXCEEDED"
    assert "quota of 10 bytes (PARLEY_CACHE_QUOTA_BYTES)" in error["message"]
    assert "cache" not in execute(client, pid, COUNT)
    ok(
        client.post(
            f"{API}/data/projects/{pid}/cache/{cache_id}/fullRefreshUpdate", headers=PARTNER
        )
    )
    run_refreshes(client)
    slow = job(client, CacheLimits(page_rows=25, timeout_s=0.2))

    async def stall(_rows: int) -> None:
        await asyncio.sleep(5)

    slow.after_page = stall
    ok(
        client.post(
            f"{API}/data/projects/{pid}/cache/{cache_id}/fullRefreshUpdate", headers=PARTNER
        )
    )
    run_refreshes(client, slow)
    found = status(client, pid, cache_id)
    assert found["status"] == "FAILED"
    assert found["lastFullRefreshCacheExecution"]["error"] == {
        "errorCode": "REFRESH_TIMEOUT",
        "message": "the refresh ran longer than 0.2 s (PARLEY_CACHE_REFRESH_TIMEOUT_S) and was "
        "stopped",
    }
    assert execute(client, pid, COUNT)["cache"]["cacheIds"] == [cache_id]


def test_roll_ups_batch_and_bad_input(client: TestClient, settings: Settings) -> None:
    pid, catalog_id, _ = shop(client, settings)
    base = f"{API}/data/projects/{pid}/cache"
    batch = ok(
        client.post(
            f"{base}/batch",
            json=[
                {"catalogId": catalog_id, "schemaName": "main", "tableName": "users"},
                {
                    "catalogId": catalog_id,
                    "schemaName": "main",
                    "tableName": "orders",
                    "fullRefreshCacheSchedule": {"type": "BASIC", "expression": "P1D"},
                },
                {"catalogId": catalog_id, "schemaName": "main", "tableName": "nope"},
            ],
            headers=PARTNER,
        )
    )
    assert [(b["success"], b["error"]) for b in batch] == [
        (True, None),
        (True, None),
        (
            False,
            f"table main.nope is not in catalog {catalog_id} (refresh the catalog if it is new)",
        ),
    ]
    ids = [b["cache"]["id"] for b in batch[:2]]
    run_refreshes(client)
    for path in (
        f"{base}/status",
        f"{API}/data/projects/{pid}/catalog/{catalog_id}/cache/status",
        f"{API}/data/projects/{pid}/catalog/{catalog_id}/schema/main/cache/status",
    ):
        rolled = ok(client.get(path, headers=PARTNER))
        assert [(r["id"], r["tableName"], r["status"]) for r in rolled] == [
            (ids[0], "users", "COMPLETED"),
            (ids[1], "orders", "COMPLETED"),
        ]
    assert (
        ok(
            client.get(
                f"{API}/data/projects/{pid}/catalog/{catalog_id}/schema/other/cache/status",
                headers=PARTNER,
            )
        )
        == []
    )
    assert ok(client.get(f"{base}/{ids[1]}", headers=PARTNER))["fullRefreshCacheSchedule"] == {
        "type": "BASIC",
        "expression": "P1D",
    }
    clash = create(client, pid, catalog_id)
    assert clash.status_code == 409
    assert clash.json() == {
        "errorCode": "CONFLICT",
        "message": f"a cache exists for this table: {ids[0]}",
    }
    bad = create(
        client,
        pid,
        catalog_id,
        tableName="orders",
        fullRefreshCacheSchedule={"type": "BASIC", "expression": "every day"},
    )
    assert bad.status_code == 400
    assert bad.json() == {
        "errorCode": "INVALID_SCHEDULE",
        "message": "'every day' is not an ISO-8601 duration such as PT15M, PT6H or P1D",
    }
    put = client.put(
        f"{base}/{ids[0]}", json={"incrementalCacheSchedule": {"type": "CRON"}}, headers=PARTNER
    )
    assert put.status_code == 400
    assert put.json()["errorCode"] == "INVALID_SCHEDULE"
    page = client.get(f"{base}/{ids[0]}/executionHistory", params={"limit": 0}, headers=PARTNER)
    assert page.status_code == 422
    far = client.get(f"{base}/{ids[0]}/executionHistory", params={"offset": 2**63}, headers=PARTNER)
    assert (far.status_code, far.json()["message"]) == (
        422,
        "query.offset: Input should be less than or equal to 2147483647",
    )
    missing = client.post(f"{base}", json={"schemaName": "main"}, headers=PARTNER)
    assert missing.status_code == 422
    assert client.get(f"{base}/no-such-cache", headers=PARTNER).status_code == 404


def test_a_project_reaches_only_its_own_caches(client: TestClient, settings: Settings) -> None:
    pid, catalog_id, _ = shop(client, settings)
    cache_id = ok(create(client, pid, catalog_id))["id"]
    run_refreshes(client)
    other = project_with_catalog(client, new_source(settings), name="Other shop")
    other_key = project_key(client, other.id)
    # the other project sees none of it, through its own path or this one's
    assert ok(client.get(f"{API}/data/projects/{other.id}/cache/status", headers=other_key)) == []
    found = client.get(f"{API}/data/projects/{other.id}/cache/{cache_id}", headers=other_key)
    assert found.status_code == 404
    foreign = client.get(f"{API}/data/projects/{pid}/cache/{cache_id}", headers=other_key)
    assert foreign.status_code == 403
    # and its own query of a same-named table reads its own source
    assert "cache" not in execute(client, other.id, COUNT)
    steal = create(client, other.id, catalog_id)
    assert steal.status_code == 400
    assert steal.json()["message"] == f"Catalog {catalog_id} not found in this project"
    # deleting the project deletes its copies
    folder = settings.data_dir / "cache" / pid
    assert list(folder.glob("*.parquet"))
    assert client.delete(f"{API}/projects/{pid}", headers=PARTNER).status_code == 200
    assert not folder.exists()


def test_schedule_parsing() -> None:
    assert parse_duration("PT15M") == timedelta(minutes=15)
    assert parse_duration("p1d") == timedelta(days=1)
    assert parse_duration("P1DT12H") == timedelta(hours=36)
    for bad in ("PT", "P", "PT10S", "6H", "P400D"):
        with pytest.raises(caches.BadRequest):
            parse_duration(bad)
    start = utcnow().replace(year=2026, month=12, day=3, hour=7, minute=30, second=5)
    assert Cron.parse("0 0 * * *", "UTC").next_after(start) == start.replace(
        day=4, hour=0, minute=0, second=0, microsecond=0
    )
    assert Cron.parse("*/15 * * * *", None).next_after(start) == start.replace(
        minute=45, second=0, microsecond=0
    )
    # Mondays at 09:00 in Istanbul (UTC+3): 06:00 UTC on Monday 7 December 2026
    monday = Cron.parse("0 9 * * 1", "Europe/Istanbul").next_after(start)
    assert monday == start.replace(day=7, hour=6, minute=0, second=0, microsecond=0)
    for bad, zone in (("0 0 * *", "UTC"), ("61 * * * *", "UTC"), ("0 0 * * *", "Mars/Base")):
        with pytest.raises(caches.BadRequest):
            Cron.parse(bad, zone)


def test_the_data_agent_reads_the_cached_copy(client: TestClient, settings: Settings) -> None:
    pid, catalog_id, source = shop(client, settings)
    cache_id = ok(create(client, pid, catalog_id))["id"]
    run_refreshes(client)
    sql_on(source, "INSERT INTO users VALUES (61, 'late', 'eu')")

    def ask() -> Any:
        reply = client.post(f"{API}/ai-agent/{pid}/chat", json={"message": COUNT}, headers=PARTNER)
        return ok(reply)["result"]["currentQueryResult"]["rows"]

    assert ask() == [[60]]  # the copy's count, not the source's
    ok_ = client.delete(f"{API}/data/projects/{pid}/cache/{cache_id}", headers=PARTNER)
    assert ok_.status_code == 200
    assert ask() == [[61]]


def test_the_worker_loop_ticks_its_timers(client: TestClient) -> None:
    """The worker runs its timers (the cache scheduler in `serve` and `parley worker`) every
    poll; one that fails is tried again at the next."""
    calls: list[int] = []

    async def timer() -> bool:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("the database hiccuped")
        return True

    runner = Worker(
        client.app.state.parley.database,
        {},
        policy=queue_policy(client.app.state.parley.settings),
        lanes=[],
        poll_s=0.01,
        timers=(timer,),
    )

    async def run_a_while() -> None:
        task = asyncio.create_task(runner.run())
        for _ in range(500):
            if len(calls) >= 3:
                break
            await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    client.portal.call(run_a_while)
    assert len(calls) >= 3


def test_statements_are_rewritten_to_read_the_copies() -> None:
    from parley.data.cache_reads import _rewrite
    from parley.data.sql_guard import TableName

    views = {TableName("main", "users"): "copy_0", TableName("", "users"): "copy_0"}
    assert _rewrite("SELECT u.id FROM main.users AS u", "sqlite", views) == (
        'SELECT u.id FROM "copy_0" AS u'
    )
    assert _rewrite("SELECT users.id FROM users", "sqlite", views) == (
        'SELECT users.id FROM "copy_0" AS "users"'
    )
    # a CTE of the same name is left alone; the table inside it is read from the copy
    assert (
        _rewrite(
            "WITH users AS (SELECT id FROM main.users) SELECT count(*) FROM users", "sqlite", views
        )
        == 'WITH users AS (SELECT id FROM "copy_0" AS "users") SELECT COUNT(*) FROM users'
    )


def test_a_failing_source_is_retried_with_backoff_then_failed(
    client: TestClient, settings: Settings
) -> None:
    pid, catalog_id, source = shop(client, settings)
    down, up = "ALTER TABLE users RENAME TO users_away", "ALTER TABLE users_away RENAME TO users"
    sql_on(source, down)  # the table cannot be read
    cache_id = ok(create(client, pid, catalog_id))["id"]
    assert run_refreshes(client) == 1  # the first attempt fails: back with backoff
    found = status(client, pid, cache_id)
    assert (found["status"], found["lastFullRefreshCacheExecution"]["status"]) == (
        "RUNNING",
        "RUNNING",
    )
    sql_on(source, up)  # back before the retry comes due
    for _ in range(200):
        run_refreshes(client)
        if status(client, pid, cache_id)["status"] != "RUNNING":
            break
        time.sleep(0.02)
    found = status(client, pid, cache_id)
    assert (found["status"], found["numberOfRows"]) == ("COMPLETED", 60)
    # down for good: past PARLEY_WORKER_MAX_ATTEMPTS (2 here) the run is FAILED with the error
    sql_on(source, down)
    ok(
        client.post(
            f"{API}/data/projects/{pid}/cache/{cache_id}/fullRefreshUpdate", headers=PARTNER
        )
    )
    for _ in range(200):
        run_refreshes(client)
        if status(client, pid, cache_id)["status"] != "RUNNING":
            break
        time.sleep(0.02)
    error = status(client, pid, cache_id)["lastFullRefreshCacheExecution"]["error"]
    assert error["errorCode"] == "REFRESH_FAILED"
    assert error["message"].startswith("QueryFailed: SQLite error: no such table")
    assert execute(client, pid, COUNT)["cache"]["cacheIds"] == [cache_id]  # the copy stays


def test_source_types_map_to_duckdb_types() -> None:
    from parley.data.cache_files import duck_type

    assert [
        duck_type(t)
        for t in (
            "integer",
            "BIGINT",
            "int8",
            "bigserial",
            "numeric(10,2)",
            "double precision",
            "REAL",
            "boolean",
            "timestamp with time zone",
            "timestamp without time zone",
            "timestamptz",
            "datetime",
            "date",
            "interval",
            "point",
            "text",
            "",
        )
    ] == [
        "BIGINT",
        "BIGINT",
        "BIGINT",
        "BIGINT",
        "DOUBLE",
        "DOUBLE",
        "DOUBLE",
        "BOOLEAN",
        "TIMESTAMPTZ",
        "TIMESTAMP",
        "TIMESTAMPTZ",
        "TIMESTAMP",
        "DATE",
        "VARCHAR",
        "VARCHAR",
        "VARCHAR",
        "VARCHAR",
    ]


def test_a_postgresql_table_is_cached_with_its_types(
    client: TestClient, settings: Settings, postgres: PostgresForTests
) -> None:
    database = f"parley_cache_source_{next(_sources)}"
    make_postgres(postgres.socket_dir, database)
    try:
        pid = new_project(client, "pg shop")["id"]
        credential = {
            "url": postgres.socket_dir,
            "user": "postgres",
            "password": PG_PASSWORD,
            "databaseName": database,
        }
        catalog_id = add_catalog(client, pid, credential, kind="POSTGRES").catalog["id"]
        ids = []
        for table in ("payments", "customers"):
            body = {"catalogId": catalog_id, "schemaName": "shop", "tableName": table}
            made = client.post(f"{API}/data/projects/{pid}/cache", json=body, headers=PARTNER)
            ids.append(ok(made)["id"])
        sql = (
            "SELECT c.tier, count(*) AS n, sum(p.amount) AS total, min(c.created_at) IS NOT NULL "
            "AS dated FROM shop.payments p JOIN shop.customers c ON c.id = p.customer_id "
            "GROUP BY c.tier ORDER BY c.tier"
        )
        direct = execute(client, pid, sql)
        assert "cache" not in direct
        run_refreshes(client)
        assert [status(client, pid, i)["numberOfRows"] for i in ids] == [500, 40]
        served = execute(client, pid, sql)
        assert sorted(served["cache"]["cacheIds"]) == sorted(ids)
        # the same groups, counts and sums (numeric is kept as DOUBLE: equal to the cent)
        assert [r[:2] for r in served["data"]] == [r[:2] for r in direct["data"]]
        assert [round(float(r[2]), 2) for r in served["data"]] == [
            round(float(r[2]), 2) for r in direct["data"]
        ]
        assert [r[3] for r in served["data"]] == [True, True, True]
    finally:
        drop_postgres(postgres.socket_dir, database)


def test_a_cache_whose_id_prefixes_anothers_leaves_its_copy_and_a_lost_copy_reads_the_source(
    client: TestClient, settings: Settings
) -> None:
    pid, catalog_id, source = shop(client, settings)
    ok(create(client, pid, catalog_id, id="pair"))
    ok(create(client, pid, catalog_id, id="pair-b", tableName="orders"))
    assert run_refreshes(client) == 2
    orders = "SELECT count(*) AS n FROM orders"
    [[in_source]] = sqlite3.connect(source).execute(orders).fetchall()
    assert (
        client.delete(f"{API}/data/projects/{pid}/cache/pair", headers=PARTNER).status_code == 200
    )
    folder = settings.data_dir / "cache" / pid
    [kept] = list(folder.iterdir())  # cache pair's copy went, pair-b's stays
    assert kept.name.startswith("pair-b-")
    served = execute(client, pid, orders)
    assert served["data"] == [[in_source]] and served["cache"]["cacheIds"] == ["pair-b"]
    kept.unlink()  # a copy lost under the cache: the source answers, and no path is shown
    fallback = execute(client, pid, orders)
    assert fallback["data"] == [[in_source]] and "cache" not in fallback


def test_copy_files_are_matched_by_the_whole_cache_id() -> None:
    from parley.data.cache_files import is_copy_of

    run = "0b7e4c59-2a51-4c47-9a68-b7f4c2f3e0aa"
    assert is_copy_of(f"a-{run}.parquet", "a")
    assert is_copy_of(f"a-{run}.parquet.partial", "a")
    assert is_copy_of(f"a-{run}.parquet.scratch-k2j4", "a")
    assert not is_copy_of(f"a-b-{run}.parquet", "a")
    assert not is_copy_of(f"a-deadbeef-{run}.parquet", "a")
    assert not is_copy_of(f"ab-{run}.parquet", "a")
