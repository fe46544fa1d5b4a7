"""Chat and session-context latency over a large workspace, through HTTP.

Loads 100k messages (as `bench/search.py` does: pool sentences embedded once with the bundled
model) and 10k observations (half of them one peer's own view, the rest spread over the
others' views of each other), starts the real server and times, sequentially:

- chat: `POST .../peers/{p}/chat` for a mix of a peer's own view, a session-scoped view and
  a target's view (one third each);
- context: `GET .../sessions/{s}/context?tokens=2000` with a peer perspective.

With `--model fake` the server's dialectic model is `tests/fake_openai.py` in its own process
(an instant reply, over HTTP); its own round trip is measured too and reported, so "everything
but the model" is the chat time minus that. With `--model none` chat answers from retrieval
alone, which is everything but the model call.

Usage:
    python bench/chat.py [--messages 100000] [--observations 10000] [--queries 200]
                         [--model none|fake] [--backend sqlite|postgres]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import numpy as np
from search import (
    SEED,
    WORKSPACE,
    LoadTimes,
    Postgres,
    free_port,
    load,
    make_layout,
    make_pool,
    paraphrase,
    rss_mib,
    start_server,
    stop_server,
    wait_healthy,
)
from sqlalchemy import insert
from worker import start_fake_model

from parley.ids import new_public_id
from parley.llm.embeddings import default_embedder
from parley.store import migrate
from parley.store.engine import create_database
from parley.store.models import Observation


async def load_observations(
    url: str, peer_ids: tuple[str, ...], sessions: tuple[str, ...], n: int
) -> None:
    rng = random.Random(SEED + 1)
    pool = make_pool(rng, 2000)
    vectors = np.asarray(default_embedder().embed_sync(pool), dtype=np.float32)
    start = datetime(2025, 1, 1, tzinfo=UTC)
    rows = []
    for i in range(n):
        if i % 2 == 0:  # half: the first peer's own view
            observer = observed = peer_ids[0]
        else:
            observer, observed = rng.choice(peer_ids), rng.choice(peer_ids)
        pick = rng.randrange(len(pool))
        rows.append(
            {
                "id": new_public_id(),
                "workspace_id": WORKSPACE,
                "observer_id": observer,
                "observed_id": observed,
                "session_id": rng.choice(sessions),
                "content": f"{observed} said: {pool[pick]}",
                "level": "deductive" if i % 10 == 0 else "explicit",
                "premises": [],
                "message_ids": [],
                "times_derived": 1 + (i % 5 == 0),
                "embedding": vectors[pick],
                "created_at": start + timedelta(seconds=i),
            }
        )
    database = create_database(url)
    try:
        for first in range(0, n, 2000):
            async with database.write_engine.begin() as conn:
                await conn.execute(insert(Observation.__table__), rows[first : first + 2000])
    finally:
        await database.dispose()


def percentiles(values: list[float]) -> str:
    ordered = sorted(values)
    p = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))]  # noqa: E731
    return (
        f"p50 {1000 * p(0.50):6.1f} ms  p95 {1000 * p(0.95):6.1f} ms  "
        f"p99 {1000 * p(0.99):6.1f} ms  mean {1000 * statistics.fmean(ordered):6.1f} ms"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--observations", type=int, default=10_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--model", choices=("none", "fake"), default="none")
    parser.add_argument("--backend", choices=("sqlite", "postgres"), default="sqlite")
    args = parser.parse_args()
    layout = make_layout(20, 50)
    fake = None
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        postgres = Postgres(root) if args.backend == "postgres" else None
        url = postgres.url if postgres else f"sqlite+aiosqlite:///{root / 'bench.db'}"
        migrate.upgrade(url)
        t0 = time.perf_counter()
        asyncio.run(load(url, layout, args.messages, 3000, LoadTimes()))
        asyncio.run(load_observations(url, layout.peer_ids, layout.session_ids, args.observations))
        took = time.perf_counter() - t0
        print(
            f"loaded {args.messages:,} messages, {args.observations:,} observations: {took:.0f} s"
        )
        env = {}
        if args.model == "fake":
            fake, base_url = start_fake_model()
            env = {"PARLEY_LLM_BASE_URL": base_url, "PARLEY_LLM_MODEL": "fake-model"}
        os.environ.update(env | {"PARLEY_WORKER_EMBEDDED": "false"})
        port = free_port()
        proc = start_server(url, root / "data", port, root / "server.log")
        try:
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as client:
                wait_healthy(client, proc, timeout_s=180)
                rng = random.Random(SEED + 2)
                me = layout.peer_ids[0]
                member_sessions = [s for s, m in layout.members.items() if me in m]
                base = f"/v2/workspaces/{WORKSPACE}"
                chats, contexts, model_rtt = [], [], []
                for i in range(args.queries + 10):  # the first 10 warm up
                    body = {"query": paraphrase(rng)}
                    if i % 3 == 1:
                        body["session_id"] = rng.choice(member_sessions)
                    elif i % 3 == 2:
                        body["target"] = rng.choice(layout.peer_ids[1:])
                    t = time.perf_counter()
                    response = client.post(f"{base}/peers/{me}/chat", json=body)
                    elapsed = time.perf_counter() - t
                    assert response.status_code == 200, response.text
                    session = rng.choice(member_sessions)
                    t = time.perf_counter()
                    context = client.get(
                        f"{base}/sessions/{session}/context",
                        params={"tokens": 2000, "peer_target": me, "last_message": body["query"]},
                    )
                    context_elapsed = time.perf_counter() - t
                    assert context.status_code == 200 and context.json()["tokens"] <= 2000
                    if fake is not None:
                        t = time.perf_counter()
                        httpx.post(
                            f"{base_url}/chat/completions",
                            json={"model": "m", "messages": [{"role": "user", "content": "hi"}]},
                        )
                        model_rtt.append(time.perf_counter() - t)
                    if i >= 10:
                        chats.append(elapsed)
                        contexts.append(context_elapsed)
                rss = rss_mib(proc.pid)
                print(f"backend={args.backend} model={args.model} server RSS {rss:.0f} MiB")
                print(f"chat     {percentiles(chats)}")
                print(f"context  {percentiles(contexts)}  (tokens=2000, with a perspective)")
                if model_rtt:
                    print(f"fake model round trip alone: {percentiles(model_rtt)}")
        finally:
            stop_server(proc)
            if fake is not None:
                fake.terminate()
            if postgres is not None:
                postgres.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
