"""Does one heavy request stall the server? Start `python -m parley serve --demo` on a fresh
SQLite data directory, then send, one at a time, the heaviest requests each route accepts
(a filter at the condition cap, a 100 KB SQL statement, a transpile of one, a message batch of
large texts, a deep metadata document, a context over many messages, ...) while a probe asks
`/health` every 10 ms. A request that runs CPU work on the event loop shows as a probe
latency as long as the request itself; work moved to a thread shows as a few milliseconds.

Usage:
    python bench/loop_stall.py [--source .] [--repeat 3]

It prints, per request kind: its status, its wall time (median of `--repeat`), and the worst
and 99th-percentile `/health` latency seen while it ran. `--source`: the checkout whose `src/`
runs, to compare versions back to back.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from search import cpu_seconds, free_port, start_server, stop_server, wait_healthy

WORKSPACE = "stall"
SESSION = "big"


@dataclass
class Probe:
    """Asks /health every `interval_s` on its own connection and keeps each latency."""

    base_url: str
    interval_s: float = 0.01
    samples: list[float] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        with httpx.Client(base_url=self.base_url, timeout=120) as client:
            while not self._stop.is_set():
                start = time.perf_counter()
                try:
                    client.get("/health")
                finally:  # a failed probe counts as long as it took
                    self.samples.append(time.perf_counter() - start)
                time.sleep(self.interval_s)

    def __enter__(self) -> Probe:
        self._thread = threading.Thread(target=self.run, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10  # its client's first answer (a busy box: seconds)
        while not self.samples and time.monotonic() < deadline:
            time.sleep(0.01)
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        if not self.samples:
            raise RuntimeError("the /health probe never answered")


def wait_idle(pid: int, timeout_s: float = 120.0) -> None:
    """Until the server uses under 5% of a core for a second: the embedding indexer takes in
    what the setup (or the last request) wrote, and its CPU would show up as stalls."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        before = cpu_seconds(pid)
        time.sleep(1.0)
        if cpu_seconds(pid) - before < 0.05:
            return


def or_filter(conditions: int) -> dict[str, Any]:
    return {"OR": [{"metadata": {"n": i}} for i in range(conditions)]}


def or_chain_sql(chars: int) -> str:
    head = "SELECT customer_id FROM customers WHERE "
    terms, size = [], len(head)
    while size < chars - 40:
        term = f"customer_id = {len(terms)}"
        terms.append(term)
        size += len(term) + 4
    return head + " OR ".join(terms)


def nested_metadata(depth: int) -> dict[str, Any]:
    doc: dict[str, Any] = {"leaf": "x" * 100}
    for i in range(depth - 1):
        doc = {f"k{i}": doc, **{f"s{j}": "y" * 50 for j in range(20)}}
    return doc


def words(n: int, seed: int) -> str:
    vocab = [
        "lisbon",
        "spring",
        "moved",
        "climbing",
        "coffee",
        "sister",
        "piano",
        "garden",
        "train",
        "winter",
    ]
    return " ".join(vocab[(seed * 7 + i * 3) % len(vocab)] for i in range(n))


def setup(client: httpx.Client) -> None:
    client.post("/v2/workspaces", json={"id": WORKSPACE}).raise_for_status()
    for peer in ("alice", "bob"):
        client.post(f"/v2/workspaces/{WORKSPACE}/peers", json={"id": peer}).raise_for_status()
    client.post(
        f"/v2/workspaces/{WORKSPACE}/sessions",
        json={"id": SESSION, "peers": {"alice": {}, "bob": {}}},
    ).raise_for_status()
    for batch in range(20):  # 2,000 messages of about 60 words
        messages = [
            {"peer_id": ("alice", "bob")[i % 2], "content": words(60, batch * 100 + i)}
            for i in range(100)
        ]
        client.post(
            f"/v2/workspaces/{WORKSPACE}/sessions/{SESSION}/messages", json={"messages": messages}
        ).raise_for_status()


def requests(client: httpx.Client) -> dict[str, Callable[[], httpx.Response]]:
    ws = f"/v2/workspaces/{WORKSPACE}"
    sql = or_chain_sql(99_000)
    return {
        "search, filter of 150 ORs": lambda: client.post(
            f"{ws}/search", json={"query": "coffee in lisbon", "filters": or_filter(150)}
        ),
        "messages list, filter of 150 ORs": lambda: client.post(
            f"{ws}/sessions/{SESSION}/messages/list?size=100", json={"filters": or_filter(150)}
        ),
        "message batch, 100 x 20 KB": lambda: client.post(
            f"{ws}/sessions/{SESSION}/messages",
            json={
                "messages": [
                    {"peer_id": "alice", "content": words(3_000, i)[:20_000]} for i in range(100)
                ]
            },
        ),
        "peer metadata, depth 60": lambda: client.put(
            f"{ws}/peers/alice", json={"metadata": nested_metadata(60)}
        ),
        "context, 100k tokens": lambda: client.get(
            f"{ws}/sessions/{SESSION}/context", params={"tokens": 100_000}
        ),
        "session search": lambda: client.post(
            f"{ws}/sessions/{SESSION}/search", json={"query": "piano garden", "limit": 100}
        ),
        "SQL execute, 99 KB OR chain": lambda: client.post(
            "/api/v1/data/projects/demo/queries/execute", json={"statement": sql, "limit": 10}
        ),
        "SQL transpile, 99 KB": lambda: client.post(
            "/api/v1/sql/transpile/postgres", json={"query": sql}
        ),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--source", type=Path, default=Path(__file__).resolve().parents[1])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--only", default="", help="run the request kinds whose name has this")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        os.environ.update(
            PYTHONPATH=str(args.source.resolve() / "src"), PARLEY_WORKER_EMBEDDED="false"
        )
        port = free_port()
        server = start_server(
            f"sqlite+aiosqlite:///{root / 'parley.db'}",
            root / "data",
            port,
            root / "server.log",
            extra_args=["--demo"],
        )
        base_url = f"http://127.0.0.1:{port}"
        try:
            with httpx.Client(base_url=base_url, timeout=300) as client:
                wait_healthy(client, server, timeout_s=300)
                setup(client)
                print(f"{'request':36} {'status':>6} {'wall ms':>9} {'health p99':>11} {'max':>8}")
                for name, send in requests(client).items():
                    if args.only.casefold() not in name.casefold():
                        continue
                    walls, worst, p99s, status = [], 0.0, [], 0
                    for _ in range(args.repeat):
                        wait_idle(server.pid)
                        with Probe(base_url) as probe:
                            start = time.perf_counter()
                            status = send().status_code
                            walls.append(time.perf_counter() - start)
                        lat = sorted(probe.samples)
                        worst = max(worst, lat[-1])
                        p99s.append(lat[min(len(lat) - 1, int(0.99 * len(lat)))])
                    print(
                        f"{name:36} {status:>6} {1000 * statistics.median(walls):>9.0f} "
                        f"{1000 * statistics.median(p99s):>11.0f} {1000 * worst:>8.0f}"
                    )
        finally:
            stop_server(server)
    return 0


if __name__ == "__main__":
    sys.exit(main())
