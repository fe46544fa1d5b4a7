"""Reasoning worker throughput: how fast the durable queue drains with an instant model.

Stores messages (with their reasoning work enqueued, as the API does) while no worker runs,
then starts one worker and times the drain: messages/s, work items/s and the overhead per
message. The model is the repo's fake OpenAI-compatible server over real HTTP, answering at
once with one fact per message (its text restated), so what is measured is Parley: claiming,
leases, prompts, parsing, embedding the facts, and the commits.

Usage:
    python bench/worker.py [--messages 5000] [--sessions 50] [--embedder local|fake]
                           [--mode model|none] [--concurrency 4] [--database-url URL]
                           [--dump FILE]

`--embedder local` embeds facts with the bundled ONNX model (the default server setup; it is
then the bottleneck on small CPUs); `--embedder fake` uses the fake server's instant
bag-of-words vectors, leaving only the worker's own cost. `--mode none` runs the
retrieval-only deriver (no model: each sentence becomes an observation). Besides the rates,
it prints the drain's CPU time (this process, and the fake model's apart): on a shared machine
the CPU per message is the steadier figure. `--dump FILE` writes what the drain stored,
without ids or times; with `--concurrency 1` (batches in a fixed order) two versions of the
worker must write the same file.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # the fake model server lives with the tests

from search import cpu_seconds  # noqa: E402
from sqlalchemy import func, select  # noqa: E402
from sqlalchemy.ext.asyncio import AsyncSession  # noqa: E402

from parley.config import Settings  # noqa: E402
from parley.core import Core, open_core  # noqa: E402
from parley.memory.messages import NewMessage, create_messages  # noqa: E402
from parley.memory.queue_status import queue_status  # noqa: E402
from parley.memory.workspaces import get_or_create_workspace  # noqa: E402
from parley.store.models import Message, ModelUsage, Observation, PeerCard, WorkItem  # noqa: E402
from parley.store.queue import workspace_has_open_work  # noqa: E402
from parley.worker.setup import reasoning_defaults  # noqa: E402

WORKSPACE = "bench-worker"
DIMS = 384
SENTENCES = (
    "I moved to a new apartment near the river last month.",
    "My sister is visiting us for the holidays.",
    "I started training for a half marathon in the spring.",
    "Our team finished the quarterly report two days early.",
    "I prefer green tea over coffee these days.",
)


def start_fake_model() -> tuple[subprocess.Popen[str], str]:
    """The fake model server in its own process (see tests/fake_openai.py), and its URL."""
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "tests" / "fake_openai.py"), str(DIMS)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    return process, process.stdout.readline().strip()


async def run(args: argparse.Namespace) -> None:
    server, base_url = start_fake_model()
    try:
        await measure(args, base_url, lambda: cpu_seconds(server.pid))
    finally:
        server.terminate()
        server.wait()


async def measure(
    args: argparse.Namespace, base_url: str, model_cpu_s: Callable[[], float]
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(
            data_dir=Path(tmp),
            database_url=args.database_url,
            llm_base_url=base_url if args.mode == "model" else None,
            llm_model="fake-model" if args.mode == "model" else None,
            embedding_base_url=base_url if args.embedder == "fake" else None,
            embedding_model="bow",
            embedding_dimensions=DIMS,
            worker_concurrency=args.concurrency,
            deriver_batch_messages=args.batch,
            worker_poll_s=0.05,
            summary_short_every=10_000,
            summary_long_every=20_000,
        )
        async with open_core(settings, with_worker=True) as core:
            await drain(args, settings, core, model_cpu_s)


async def drain(
    args: argparse.Namespace, settings: Settings, core: Core, model_cpu_s: Callable[[], float]
) -> None:
    """Store the messages (their reasoning enqueued), then run the core's worker until the
    queue is empty, and print the rates."""
    database, worker = core.database, core.worker
    assert worker is not None
    async with database.write() as db:
        await get_or_create_workspace(db=db, workspace_id=WORKSPACE)
    defaults = reasoning_defaults(settings, core.models)
    per_session = args.messages // args.sessions
    started = time.perf_counter()
    for s in range(args.sessions):
        for start in range(0, per_session, 100):
            batch = [
                NewMessage(
                    content=f"{SENTENCES[(s + i) % len(SENTENCES)]} (note {s}-{i})",
                    peer_id="user" if i % 2 == 0 else "assistant",
                )
                for i in range(start, min(per_session, start + 100))
            ]
            async with database.write() as db:
                await create_messages(
                    db=db,
                    workspace_id=WORKSPACE,
                    session_id=f"s{s}",
                    messages=batch,
                    reasoning=defaults,
                )
    stored = time.perf_counter() - started
    async with database.read() as db:
        items = (await queue_status(db, workspace_id=WORKSPACE)).overall.pending
    total = per_session * args.sessions
    print(f"stored {total} messages ({items} work items) in {stored:.1f} s")

    started = time.perf_counter()
    cpu_started, model_started = time.process_time(), model_cpu_s()
    running = asyncio.create_task(worker.run())
    while True:
        # a LIMIT 1 index read: the full status (a count per session and state) polled
        # here cost the worker, in this same process, a tenth of its time
        await asyncio.sleep(0.1)
        async with database.read() as db:
            if not await workspace_has_open_work(db, WORKSPACE):
                break
    wall = time.perf_counter() - started
    cpu, model_cpu = time.process_time() - cpu_started, model_cpu_s() - model_started
    async with database.read() as db:
        status = (await queue_status(db, workspace_id=WORKSPACE)).overall
    running.cancel()
    await asyncio.gather(running, return_exceptions=True)
    if args.dump is not None:
        async with database.read() as db:
            args.dump.write_text(json.dumps(await stored_results(db), indent=1))
    print(
        f"mode={args.mode} embedder={args.embedder} backend={database.dialect} "
        f"concurrency={args.concurrency} batch={args.batch}"
    )
    print(
        f"drained {status.completed} items ({status.failed} failed) for {total} messages "
        f"in {wall:.1f} s: {total / wall:.0f} messages/s, {status.completed / wall:.0f} "
        f"items/s, {1000 * wall / total:.2f} ms per message, {worker.processed} batches"
    )
    print(
        f"drain CPU: worker process {cpu:.2f} s ({1000 * cpu / total:.2f} ms per message, "
        f"{total / cpu:.0f} messages per CPU-second), fake model server {model_cpu:.2f} s; "
        f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}"
    )


async def stored_results(db: AsyncSession) -> dict[str, Any]:
    """The drain's results without ids and times: comparable across runs and versions."""
    contents = dict((await db.execute(select(Message.id, Message.content))).all())
    observations = (
        await db.scalars(
            select(Observation).order_by(
                Observation.observer_id,
                Observation.observed_id,
                Observation.session_id,
                Observation.created_at,
            )
        )
    ).all()
    cards = (
        await db.execute(select(PeerCard.observer_id, PeerCard.observed_id, PeerCard.facts))
    ).all()
    usage = (
        await db.execute(
            select(
                ModelUsage.role,
                ModelUsage.model,
                ModelUsage.calls,
                ModelUsage.input_tokens,
                ModelUsage.output_tokens,
            )
        )
    ).all()
    queue = (
        await db.execute(
            select(WorkItem.status, func.count(), func.sum(WorkItem.attempts)).group_by(
                WorkItem.status
            )
        )
    ).all()
    return {
        "observations": [
            [
                o.observer_id,
                o.observed_id,
                o.session_id,
                o.level,
                o.content,
                o.times_derived,
                o.premises,
                [contents.get(i, i) for i in o.message_ids],
            ]
            for o in observations
        ],
        "cards": sorted([list(c) for c in cards]),
        "usage": sorted([list(u) for u in usage]),
        "queue": sorted([list(q) for q in queue]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=5000)
    parser.add_argument("--sessions", type=int, default=50)
    parser.add_argument("--embedder", choices=("local", "fake"), default="local")
    parser.add_argument("--mode", choices=("model", "none"), default="model")
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--batch", type=int, default=50, help="PARLEY_DERIVER_BATCH_MESSAGES")
    parser.add_argument("--database-url", default=None)
    parser.add_argument(
        "--dump",
        type=Path,
        default=None,
        help="write what the drain stored (observations, cards, usage, queue) as JSON, with "
        "message ids replaced by their contents, to compare two versions' results",
    )
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
