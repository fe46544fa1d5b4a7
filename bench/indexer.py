"""Embedding indexer throughput: how fast stored messages become findable by meaning.

Stores messages with reasoning off (so only the indexer has work), then times
`EmbeddingIndexer.catch_up` from an empty `message_embeddings`: messages/s, and the CPU per
message of this process, of PostgreSQL (the server it starts) and of the model server.
`--embedder fake` embeds with the fake OpenAI-compatible server's instant bag-of-words vectors
over real HTTP (what is left is Parley's own cost per batch: reads, the HTTP call, the insert
and, on PostgreSQL, the HNSW index); `--embedder local` with the bundled ONNX model (then the
model is the bound: compare with `bench/embed_throughput.py`).

Usage:
    python bench/indexer.py [--messages 5000] [--embedder fake|local] [--dims 384]
                            [--batch-size 64] [--backend sqlite|postgres]
                            [--database-url URL]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

from search import Postgres, cpu_seconds  # noqa: E402
from sqlalchemy import text  # noqa: E402

from parley.blas import one_blas_thread  # noqa: E402
from parley.config import Settings  # noqa: E402
from parley.llm import build_embedder  # noqa: E402
from parley.memory.embedding_indexer import EmbeddingIndexer  # noqa: E402
from parley.memory.messages import NewMessage, create_messages  # noqa: E402
from parley.memory.workspaces import get_or_create_workspace  # noqa: E402
from parley.store import migrate  # noqa: E402
from parley.store.engine import create_database  # noqa: E402
from parley.store.meta import ensure_embedding_model  # noqa: E402

WORKSPACE = "bench-indexer"
WORDS = [
    "moved",
    "apartment",
    "river",
    "month",
    "sister",
    "visiting",
    "holidays",
    "training",
    "marathon",
    "spring",
    "team",
    "finished",
    "quarterly",
    "report",
    "early",
    "prefer",
    "green",
    "tea",
    "coffee",
    "weekend",
    "dinner",
]


def start_fake_model(dims: int) -> tuple[subprocess.Popen[str], str]:
    """The fake model server in its own process (see tests/fake_openai.py), and its URL."""
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "tests" / "fake_openai.py"), str(dims)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    return process, process.stdout.readline().strip()


def sentence(i: int) -> str:
    return " ".join(WORDS[(i * 7 + k * 3) % len(WORDS)] for k in range(12)) + f" (note {i})"


def postgres_cpu(data_dir: Path | None) -> float:
    """CPU seconds so far of the PostgreSQL server under `data_dir` (the postmaster and its
    live children: backends, writers), 0 without one."""
    if data_dir is None:
        return 0.0
    postmaster = int((data_dir / "postmaster.pid").read_text().split()[0])
    total = cpu_seconds(postmaster)
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:  # it exited meanwhile
            continue
        if int(fields[1]) == postmaster:
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


async def measure(args: argparse.Namespace, base_url: str | None, model_pid: int | None) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(
            data_dir=Path(tmp),
            database_url=args.database_url,
            embedding_base_url=base_url,
            **({"embedding_model": "bow", "embedding_dimensions": args.dims} if base_url else {}),
        )
        url = settings.resolved_database_url
        await asyncio.to_thread(migrate.upgrade, url)
        database = create_database(url)
        embedder = await asyncio.to_thread(build_embedder, settings)
        async with database.write() as db:
            await ensure_embedding_model(db, name=embedder.name, dimensions=embedder.dimensions)
            await get_or_create_workspace(db=db, workspace_id=WORKSPACE)
            if args.no_hnsw and database.dialect == "postgresql":  # what maintaining it costs
                await db.execute(
                    text(f"DROP INDEX ix_message_embeddings_hnsw_{embedder.dimensions}")
                )
            elif args.hnsw and database.dialect == "postgresql":  # another build of it
                dims = embedder.dimensions
                await db.execute(text(f"DROP INDEX ix_message_embeddings_hnsw_{dims}"))
                await db.execute(
                    text(
                        f"CREATE INDEX ix_message_embeddings_hnsw_{dims} "
                        f"ON message_embeddings USING hnsw {args.hnsw}"
                    )
                )
        for start in range(0, args.messages, 100):
            batch = [
                NewMessage(content=sentence(i), peer_id="user" if i % 2 else "assistant")
                for i in range(start, min(args.messages, start + 100))
            ]
            async with database.write() as db:
                await create_messages(
                    db=db,
                    workspace_id=WORKSPACE,
                    session_id=f"s{start // 500}",
                    messages=batch,
                    reasoning=None,
                )
        indexer = EmbeddingIndexer(
            database,
            embedder,
            batch_size=args.batch_size,
            full_pass_every_s=None if database.dialect == "sqlite" else 60.0,
        )
        model_cpu = (lambda: cpu_seconds(model_pid)) if model_pid else (lambda: 0.0)
        cpu_started, model_started = time.process_time(), model_cpu()
        pg_started = postgres_cpu(args.postgres_data)
        started = time.perf_counter()
        embedded = await indexer.catch_up()
        wall = time.perf_counter() - started
        cpu, model = time.process_time() - cpu_started, model_cpu() - model_started
        pg = postgres_cpu(args.postgres_data) - pg_started
        print(
            f"backend={database.dialect} embedder={args.embedder} dims={embedder.dimensions} "
            f"batch_size={args.batch_size}"
        )
        print(
            f"embedded {embedded} messages in {wall:.2f} s: {embedded / wall:.0f} messages/s; "
            f"CPU per message: indexer process {1000 * cpu / embedded:.2f} ms, PostgreSQL "
            f"{1000 * pg / embedded:.2f} ms, model server {1000 * model / embedded:.2f} ms; "
            "load average "
            f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}"
        )
        await embedder.close()
        await database.dispose()


async def run(args: argparse.Namespace) -> None:
    one_blas_thread()  # as `parley serve` does
    if args.backend == "postgres":
        with tempfile.TemporaryDirectory() as tmp:
            postgres = await asyncio.to_thread(Postgres, Path(tmp))
            try:
                args.database_url = postgres.url
                args.postgres_data = Path(tmp) / "pgdata"
                await embed_with(args)
            finally:
                postgres.stop()
    else:
        await embed_with(args)


async def embed_with(args: argparse.Namespace) -> None:
    if args.embedder == "local":
        await measure(args, None, None)
        return
    server, base_url = start_fake_model(args.dims)
    try:
        await measure(args, base_url, server.pid)
    finally:
        server.terminate()
        server.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=5000)
    parser.add_argument("--embedder", choices=("local", "fake"), default="fake")
    parser.add_argument("--dims", type=int, default=384, help="the fake embedder's size")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument(
        "--no-hnsw", action="store_true", help="PostgreSQL: drop the HNSW index first"
    )
    parser.add_argument(
        "--hnsw",
        default=None,
        help="PostgreSQL: rebuild the HNSW index as this, e.g. "
        "'((embedding::vector(1536)) vector_cosine_ops) WITH (ef_construction = 32)'",
    )
    parser.add_argument("--backend", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--database-url", default=None, help="instead of a new database")
    args = parser.parse_args()
    args.postgres_data = None  # set when this run starts its own PostgreSQL
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
