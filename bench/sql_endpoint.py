"""A big result through the SQL endpoint (Trino's protocol, read by the `trino` client) against
the same rows through POST /api/v1/data/projects/{id}/queries/execute: rows per second and
time to the first row.

Self-contained: it writes `--rows` rows of `sales(id, region, amount)` into a SQLite file,
starts `parley serve` on a free port (auth off, the row and byte caps raised to hold the whole
result), makes a project and a catalog over the file, and times `--repeat` runs of each path,
alternating. The trino client reads with `fetchmany` (its first call returns when the first page
has arrived); /queries/execute is read as a stream, its first byte timed, then parsed whole.
Around each run the server's peak RSS is reset (`/proc/<pid>/clear_refs`) and read after
(`VmHWM`), so each path's figure is the memory its own statement took (and the CPU the
server and this client spent, per 1,000 rows): the SQL endpoint streams
pages from the source's cursor and should stay flat as `--rows` grows; /queries/execute holds
its whole result.

Usage:
    python bench/sql_endpoint.py [--rows 1000000] [--repeat 3] [--page-rows 1000]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import trino

SQL = "SELECT id, region, amount FROM sales"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def write_source(path: Path, rows: int) -> None:
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE sales (id INTEGER PRIMARY KEY, region TEXT, amount REAL)")
    regions = ["north", "south", "east", "west", "central"]
    conn.executemany(
        "INSERT INTO sales VALUES (?, ?, ?)",
        ((i, regions[i % 5], (i * 7919 % 10000) / 100.0) for i in range(rows)),
    )
    conn.commit()
    conn.close()


def peak_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name == "VmHWM":
            return int(value.split()[0]) / 1024
    return float("nan")


def cpu_s(pid: int) -> float:
    """The process's user + system CPU so far, in seconds (Linux's /proc/<pid>/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measured(
    pid: int, run: Callable[[], tuple[float, float, int]]
) -> tuple[float, float, int, float, float, float]:
    """`run()`'s figures, the server's peak RSS while it ran (reset just before), and the CPU
    seconds the server and this client (the driver's parsing) spent on it."""
    # not Linux, or not allowed: the peak is then the process's own so far
    with contextlib.suppress(OSError):
        Path(f"/proc/{pid}/clear_refs").write_text("5")
    server_before, client_before = cpu_s(pid), time.process_time()
    to_first, total, count = run()
    server_cpu, client_cpu = cpu_s(pid) - server_before, time.process_time() - client_before
    return to_first, total, count, peak_mb(pid), server_cpu, client_cpu


def through_trino(port: int) -> tuple[float, float, int]:
    conn = trino.dbapi.connect(
        host="127.0.0.1", port=port, http_scheme="http", user="bench", catalog="sales",
        schema="main", max_attempts=1, request_timeout=600,
    )  # fmt: skip
    started = time.perf_counter()
    cursor = conn.cursor()
    cursor.execute(SQL)
    first = cursor.fetchmany(1)
    to_first = time.perf_counter() - started
    count = len(first)
    while batch := cursor.fetchmany(10_000):
        count += len(batch)
    return to_first, time.perf_counter() - started, count


def through_execute(url: str, rows: int) -> tuple[float, float, int]:
    body = {"statement": SQL, "limit": rows, "timeout": 600}
    started = time.perf_counter()
    with httpx.stream(
        "POST",
        f"{url}/api/v1/data/projects/bench/queries/execute?format=COMPACT",
        json=body,
        timeout=600,
    ) as response:
        chunks = response.iter_bytes()
        head = next(chunks)
        to_first = time.perf_counter() - started
        text = head + b"".join(chunks)
    assert response.status_code == 200, text[:500]
    count = len(json.loads(text)["data"])
    return to_first, time.perf_counter() - started, count


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--page-rows", type=int, default=1000)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="parley-bench-sql-"))
    source = root / "sales.db"
    write_source(source, args.rows)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PARLEY_")} | {
        "PARLEY_DATA_DIR": str(root / "data"),
        "PARLEY_DATA_FILE_ROOTS": json.dumps({"*": [str(root)]}),
        "PARLEY_QUERY_MAX_ROWS": str(args.rows),
        "PARLEY_QUERY_MAX_BYTES": str(1024**3),
        "PARLEY_QUERY_TIMEOUT_S": "600",
        "PARLEY_SQL_PAGE_ROWS": str(args.page_rows),
    }
    log = (root / "serve.log").open("wb")
    server = subprocess.Popen(
        [sys.executable, "-m", "parley", "serve", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                if httpx.get(f"{url}/health").status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        project = {"name": "Bench", "id": "bench"}
        httpx.post(f"{url}/api/v1/projects", json=project).raise_for_status()
        made = httpx.post(
            f"{url}/api/v1/connections/bench",
            json={"name": "sales", "type": "SQLITE", "credential": {"path": str(source)}},
            timeout=600,
        )
        made.raise_for_status()
        httpx.post(
            f"{url}/api/v1/data/projects/bench/catalogs",
            json={"name": "sales", "connectionId": made.json()["id"]},
            timeout=600,
        ).raise_for_status()
        results: dict[str, list[tuple[float, float, int, float, float, float]]] = {
            "trino": [],
            "execute": [],
        }
        for _ in range(args.repeat):
            results["trino"].append(measured(server.pid, lambda: through_trino(port)))
            results["execute"].append(measured(server.pid, lambda: through_execute(url, args.rows)))
        print(f"{args.rows} rows, pages of {args.page_rows}, {args.repeat} runs each (medians)")
        for name, runs in results.items():
            counts = {r[2] for r in runs}
            if counts != {args.rows}:
                print(f"{name}: expected {args.rows} rows, got {sorted(counts)}")
                return 1
            first = statistics.median(r[0] for r in runs)
            total = statistics.median(r[1] for r in runs)
            peak = max(r[3] for r in runs)
            per_k = 1000 / args.rows * 1000  # ms of CPU per 1,000 rows
            server_cpu = statistics.median(r[4] for r in runs) * per_k
            client_cpu = statistics.median(r[5] for r in runs) * per_k
            print(
                f"{name:8s} first row {first:6.2f} s   all rows {total:6.2f} s   "
                f"{args.rows / total:10,.0f} rows/s   server peak RSS {peak:7.1f} MiB   "
                f"CPU per 1k rows: server {server_cpu:5.1f} ms, client {client_cpu:5.1f} ms"
            )
        return 0
    finally:
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    sys.exit(main())
