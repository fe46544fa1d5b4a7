"""Helpers of the cache tests (tests/test_caches.py, tests/test_materialized_queries.py): one
app per module and backend, SQLite sources in a granted folder, and the work queue's cache
refreshes run here, by a real worker's `run_once`."""

from __future__ import annotations

import itertools
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from conftest import AppClient, make_settings, migrated_database
from data_sources import make_sqlite
from helpers import PARTNER, ok, project_with_catalog
from parley.app import create_app
from parley.config import Settings
from parley.data.cache_jobs import CacheLimits, CacheRefreshJob
from parley.data.caches import CACHE_REFRESH
from parley.worker.runner import Lane, Worker
from parley.worker.setup import cache_limits, queue_policy

API = "/api/v1"
_names = itertools.count()
LANE = Lane("cache", (CACHE_REFRESH,), 1)


def module_settings(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, name: str
) -> Iterator[Settings]:
    folder = tmp_path_factory.mktemp(f"{name}-{request.param}")
    (folder / "sources").mkdir()
    with migrated_database(request.param, folder, request) as url:
        yield make_settings(
            url,
            folder / "data",
            auth_enabled=True,
            key_cache_ttl_s=0,
            data_file_roots={"*": [folder / "sources"]},
            data_allow_private_hosts=True,
            cache_page_rows=25,  # the 60 users of a source take three pages
            worker_backoff_s=0.05,
            worker_max_attempts=2,
        )


def shared_client(settings: Settings) -> Iterator[TestClient]:
    with AppClient(create_app(settings), raise_server_exceptions=False) as client:
        yield client


def sources(settings: Settings) -> Path:
    roots = settings.data_file_roots["*"]
    return Path(roots[0])


def new_source(settings: Settings, users: int = 60) -> Path:
    return make_sqlite(sources(settings) / f"shop{next(_names)}.db", users=users)


def sql_on(path: Path, *statements: str) -> None:
    conn = sqlite3.connect(path)
    for statement in statements:
        conn.execute(statement)
    conn.commit()
    conn.close()


def shop(client: TestClient, settings: Settings) -> tuple[str, str, Path]:
    """A new project with one SQLite catalog: (project id, catalog id, source file)."""
    source = new_source(settings)
    made = project_with_catalog(client, source, name=f"Shop {next(_names)}")
    return made.id, made.catalog_id, source


def job(client: TestClient, limits: CacheLimits | None = None) -> CacheRefreshJob:
    state = client.app.state.parley
    return CacheRefreshJob(state.data, limits or cache_limits(state.settings))


def worker(client: TestClient, handler: CacheRefreshJob | None = None) -> Worker:
    state = client.app.state.parley
    return Worker(
        state.database,
        {CACHE_REFRESH: handler or job(client)},
        policy=queue_policy(state.settings),
        lanes=[LANE],
        poll_s=0.05,
    )


def run_refreshes(client: TestClient, handler: CacheRefreshJob | None = None) -> int:
    """Run the queued cache refreshes now; how many batches ran."""
    runner = worker(client, handler)

    async def drain() -> int:
        done = 0
        while await runner.run_once(LANE):
            done += 1
        return done

    return int(client.portal.call(drain))


def execute(client: TestClient, pid: str, sql: str, **extra: Any) -> Any:
    body = {"statement": sql} | extra if "statement" not in extra else extra
    return ok(
        client.post(
            f"{API}/data/projects/{pid}/queries/execute",
            params={"format": "COMPACT"},
            json=body,
            headers=PARTNER,
        )
    )


def status(client: TestClient, pid: str, cache_id: str) -> Any:
    return ok(
        client.get(
            f"{API}/data/projects/{pid}/cache/{cache_id}/status",
            params={"excludeLogs": "true"},
            headers=PARTNER,
        )
    )
