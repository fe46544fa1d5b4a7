"""Does the first search of a large workspace stall the server? On SQLite the vector index
loads a workspace's embeddings into memory on its first search after a start (decoding every
row's float32 blob and stacking them into one matrix). This bench seeds a workspace directly
(bench/search.py's loader: N messages with their embeddings), then, `--repeat` times: starts
`parley serve` (so the index is cold), waits until it is idle, and sends one workspace search
while a probe asks `/health` every 10 ms; then one more search, warm.

Usage:
    python bench/cold_index.py [--messages 100000] [--repeat 3] [--source .]

It prints, per run: the cold search's wall time and the server's CPU seconds for it, the
worst and 99th-percentile `/health` latency while it ran, and the same for the warm search.
`--source`: the checkout whose `src/` the server runs, to compare versions back to back on
the same database.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import httpx
from loop_stall import Probe, wait_idle
from search import (
    WORKSPACE,
    LoadTimes,
    cpu_seconds,
    free_port,
    load,
    make_layout,
    start_server,
    stop_server,
    wait_healthy,
)

from parley.store import migrate


def timed_search(base_url: str, pid: int, query: str) -> tuple[int, float, float, list[float]]:
    """(status, wall s, server CPU s, sorted /health latencies) of one workspace search."""
    with httpx.Client(base_url=base_url, timeout=300) as client, Probe(base_url) as probe:
        cpu = cpu_seconds(pid)
        start = time.perf_counter()
        status = client.post(
            f"/v2/workspaces/{WORKSPACE}/search", json={"query": query, "limit": 10}
        ).status_code
        wall = time.perf_counter() - start
        cpu = cpu_seconds(pid) - cpu
    return status, wall, cpu, sorted(probe.samples)


def p99(latencies: list[float]) -> float:
    return latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--source", type=Path, default=Path(__file__).resolve().parents[1])
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--pool", type=int, default=500, help="unique embedded sentences")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="parley-bench-cold-"))
    try:
        url = f"sqlite+aiosqlite:///{root / 'data' / 'parley.db'}"
        (root / "data").mkdir()
        migrate.upgrade(url)
        asyncio.run(load(url, make_layout(20, 50), args.messages, args.pool, LoadTimes()))
        os.environ.update(
            PYTHONPATH=str(args.source.resolve() / "src"), PARLEY_WORKER_EMBEDDED="false"
        )
        print(f"{args.messages:,} messages; ms, /health p99 / max in ms")
        print(f"{'run':>4} {'cold wall':>10} {'cpu':>6} {'p99':>6} {'max':>6}   "
              f"{'warm wall':>10} {'cpu':>6} {'p99':>6} {'max':>6}")  # fmt: skip
        for run in range(args.repeat):
            port = free_port()
            server = start_server(url, root / "data", port, root / "server.log")
            base_url = f"http://127.0.0.1:{port}"
            try:
                with httpx.Client(base_url=base_url, timeout=300) as client:
                    wait_healthy(client, server, timeout_s=300)
                wait_idle(server.pid)
                cold = timed_search(base_url, server.pid, "coffee in lisbon last spring")
                warm = timed_search(base_url, server.pid, "a train trip in winter")
            finally:
                stop_server(server)
            cells = []
            for status, wall, cpu, latencies in (cold, warm):
                if status != 200:
                    print(f"search answered {status}", file=sys.stderr)
                    return 1
                cells.append(
                    f"{1000 * wall:>10.0f} {1000 * cpu:>6.0f} "
                    f"{1000 * p99(latencies):>6.0f} {1000 * latencies[-1]:>6.0f}"
                )
            print(f"{run + 1:>4} {cells[0]}   {cells[1]}")
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
