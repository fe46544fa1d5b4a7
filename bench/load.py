"""Latency under concurrent clients on the default setup: `python -m parley serve` on a fresh
SQLite data directory (the bundled embedder, the embedded worker, no model), then `--clients`
concurrent clients, each with its own connection, looping over a Honcho-style mix for
`--seconds`:

    add 5 messages to its session, search its session, search the workspace, read the
    session's context (2,000 tokens), list the session's newest messages, ask the peer chat
    (no model: the context-only answer), read a peer card

Each client has its own session (two peers of ten); the workspace is shared, so searches and
writes meet. Before the clock starts, every session gets `--seed` messages.

Usage:
    python bench/load.py [--clients 30] [--seconds 60] [--seed 200] [--source .]

Prints per operation: count, p50, p95, p99 and max latency in ms, and the server's CPU per
operation (all server CPU over the run divided by all operations), plus the share of
requests that failed. The clients run as asyncio tasks in this process, which shares the
machine's cores with the server: on a 2-core box the client's own CPU is part of what is
measured.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
from ingest import percentile
from search import cpu_seconds, free_port, start_server, stop_server, wait_healthy

WORKSPACE = "load"
PEERS = [f"peer{i}" for i in range(10)]
VOCAB = [
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
    "doctor",
    "recipe",
    "holiday",
    "budget",
    "project",
    "meeting",
    "guitar",
    "marathon",
    "novel",
    "puppy",
]


def sentence(rng: random.Random) -> str:
    return " ".join(rng.choice(VOCAB) for _ in range(rng.randint(8, 30)))


async def setup(client: httpx.AsyncClient, clients: int, seed: int) -> None:
    (await client.post("/v2/workspaces", json={"id": WORKSPACE})).raise_for_status()
    rng = random.Random(0)
    for i in range(clients):
        pair = {PEERS[i % 10]: {}, PEERS[(i + 1) % 10]: {}}
        ws = f"/v2/workspaces/{WORKSPACE}"
        (
            await client.post(f"{ws}/sessions", json={"id": f"s{i}", "peers": pair})
        ).raise_for_status()
        for start in range(0, seed, 100):
            batch = [
                {"peer_id": list(pair)[j % 2], "content": sentence(rng)}
                for j in range(min(100, seed - start))
            ]
            response = await client.post(f"{ws}/sessions/s{i}/messages", json={"messages": batch})
            response.raise_for_status()


def operations(
    client: httpx.AsyncClient, i: int, rng: random.Random
) -> list[tuple[str, Callable[[], Awaitable[httpx.Response]]]]:
    ws = f"/v2/workspaces/{WORKSPACE}"
    session, peer = f"{ws}/sessions/s{i}", PEERS[i % 10]
    return [
        (
            "add 5 messages",
            lambda: client.post(
                f"{session}/messages",
                json={"messages": [{"peer_id": peer, "content": sentence(rng)} for _ in range(5)]},
            ),
        ),
        (
            "session search",
            lambda: client.post(f"{session}/search", json={"query": sentence(rng)[:40]}),
        ),
        (
            "workspace search",
            lambda: client.post(f"{ws}/search", json={"query": rng.choice(VOCAB)}),
        ),
        ("context 2k", lambda: client.get(f"{session}/context", params={"tokens": 2000})),
        ("messages list", lambda: client.post(f"{session}/messages/list?size=50&reverse=true")),
        (
            "peer chat",
            lambda: client.post(
                f"{ws}/peers/{peer}/chat", json={"query": "what does this peer like?"}
            ),
        ),
        ("peer card", lambda: client.get(f"{ws}/peers/{peer}/card")),
    ]


async def run_client(
    base_url: str, i: int, deadline: float, times: dict[str, list[float]], errors: list[str]
) -> None:
    rng = random.Random(i)
    async with httpx.AsyncClient(base_url=base_url, timeout=120) as client:
        ops = operations(client, i, rng)
        while time.monotonic() < deadline:
            name, send = ops[rng.randrange(len(ops))]
            start = time.perf_counter()
            try:
                response = await send()
                ok = response.status_code < 400
            except httpx.HTTPError as err:
                ok, response = False, err  # type: ignore[assignment]
            times[name].append(time.perf_counter() - start)
            if not ok:
                errors.append(f"{name}: {response}")


async def measure(base_url: str, pid: int, clients: int, seconds: float) -> None:
    times: dict[str, list[float]] = defaultdict(list)
    errors: list[str] = []
    deadline = time.monotonic() + seconds
    cpu_before, wall_before = cpu_seconds(pid), time.perf_counter()
    await asyncio.gather(
        *(run_client(base_url, i, deadline, times, errors) for i in range(clients))
    )
    cpu, wall = cpu_seconds(pid) - cpu_before, time.perf_counter() - wall_before
    total = sum(len(v) for v in times.values())
    print(f"{clients} clients, {wall:.0f} s, {total} requests ({total / wall:.0f}/s)")
    print(f"{'operation':18} {'count':>6} {'p50':>7} {'p95':>7} {'p99':>7} {'max':>7}  (ms)")
    for name, samples in sorted(times.items()):
        ms = sorted(1000 * s for s in samples)
        print(
            f"{name:18} {len(ms):>6} {percentile(ms, 50):>7.0f} {percentile(ms, 95):>7.0f} "
            f"{percentile(ms, 99):>7.0f} {ms[-1]:>7.0f}"
        )
    every = sorted(1000 * s for v in times.values() for s in v)
    print(
        f"{'all':18} {len(every):>6} {percentile(every, 50):>7.0f} "
        f"{percentile(every, 95):>7.0f} {percentile(every, 99):>7.0f} {every[-1]:>7.0f}"
    )
    print(f"server CPU: {1000 * cpu / max(total, 1):.1f} ms per request ({cpu / wall:.2f} cores)")
    print(f"failed: {len(errors)} of {total}" + (f"; first: {errors[0]}" if errors else ""))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=30)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--seed", type=int, default=200, help="messages per session first")
    parser.add_argument("--source", type=Path, default=Path(__file__).resolve().parents[1])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        os.environ["PYTHONPATH"] = str(args.source.resolve() / "src")
        port = free_port()
        server = start_server(
            f"sqlite+aiosqlite:///{root / 'parley.db'}", root / "data", port, root / "server.log"
        )
        base_url = f"http://127.0.0.1:{port}"
        try:
            with httpx.Client(base_url=base_url, timeout=10) as client:
                wait_healthy(client, server, timeout_s=300)

            async def run() -> None:
                async with httpx.AsyncClient(base_url=base_url, timeout=120) as client:
                    await setup(client, args.clients, args.seed)
                await asyncio.sleep(5)  # let the embedder take the seed in
                await measure(base_url, server.pid, args.clients, args.seconds)

            asyncio.run(run())
        finally:
            stop_server(server)
    return 0


if __name__ == "__main__":
    sys.exit(main())
