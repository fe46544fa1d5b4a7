"""Retrieval recall on BEAM (100K tier): vector, full-text and hybrid message search.

In-process, no server: builds a throwaway SQLite database, ingests each BEAM conversation as one
workspace (`beam-<n>`, peers `user` and `assistant`, one session per batch) through
`parley.memory.messages.create_messages`, embeds every message with the configured default
embedder (`EmbeddingIndexer.catch_up`), then asks every probing question that has
`source_chat_ids` through `MessageSearch.search` in each mode ("vector", "text", "hybrid"),
scoped to the question's workspace, limit 20.

Metrics, for k in 5, 10, 20, per mode, overall and per category:

* any@k: share of questions for which at least one evidence message is in the top k;
* all@k: share of questions for which every evidence message is in the top k;
* frac@k: mean, over questions, of the fraction of evidence messages found in the top k.

Embeddings are cached on disk (`--cache`, a SQLite file keyed by the model's checksum and each
text's sha256), so only the first run pays for embedding the long BEAM messages; `--no-cache`
turns that off.

Usage:
    python bench/beam_retrieval.py [--data DIR] [--limit-conversations N]
        [--conversations FIRST-LAST] [--cache ~/.cache/parley/beam-embeddings.sqlite | --no-cache]

`--conversations 1-5` scores only the questions of conversations 1 to 5 (the tuning set in
docs/benchmarks.md; `6-20` is the held-out set); every conversation is still stored, so the
searches see the same database either way.

Prints Markdown tables. Exit status: 0 on success, 2 if the data could not be read.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import sqlite3
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from beam_data import default_beam

from parley.llm import default_embedder
from parley.llm.embeddings import Embedder, FloatArray
from parley.memory.embedding_indexer import EmbeddingIndexer
from parley.memory.messages import NewMessage, create_messages
from parley.memory.peers import ensure_peers
from parley.memory.search import MessageSearch, Mode, SearchScope
from parley.memory.vector_index import MessageVectorIndex
from parley.memory.workspaces import get_or_create_workspace
from parley.store import migrate
from parley.store.engine import Database, create_database
from parley.store.meta import ensure_embedding_model

DEFAULT_CACHE = Path.home() / ".cache" / "parley" / "beam-embeddings.sqlite"
MODES: tuple[Mode, ...] = ("vector", "text", "hybrid")
KS = (5, 10, 20)
SEARCH_LIMIT = max(KS)
WRITE_BATCH = 100
PEERS = ("user", "assistant")
METRICS = ("any", "all", "frac")


@dataclass
class Question:
    conversation: str
    category: str
    text: str
    evidence: frozenset[int]


@dataclass
class Scores:
    """Per-question scores, keyed by (metric, k)."""

    values: dict[tuple[str, int], list[float]] = field(default_factory=lambda: defaultdict(list))

    def add(self, evidence: frozenset[int], ranked: Sequence[int]) -> None:
        for k in KS:
            found = len(evidence & set(ranked[:k]))
            self.values[("any", k)].append(1.0 if found else 0.0)
            self.values[("all", k)].append(1.0 if found == len(evidence) else 0.0)
            self.values[("frac", k)].append(found / len(evidence))

    def mean(self, metric: str, k: int) -> float:
        values = self.values[(metric, k)]
        return sum(values) / len(values) if values else 0.0

    def count(self) -> int:
        return len(self.values[("any", KS[0])])


class CachedEmbedder:
    """An Embedder that keeps every vector it computes in a SQLite file, keyed by the model
    (name and model file checksum) and the text's sha256: tuning runs skip the model."""

    def __init__(self, inner: Embedder, path: Path) -> None:
        self._inner = inner
        manifest = getattr(inner, "manifest", None)
        checksum = getattr(manifest, "model_sha256", "")
        self._model = f"{inner.name}:{inner.dimensions}:{checksum}"
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path)
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS vectors (model TEXT NOT NULL, text_sha256 TEXT NOT NULL,"
            " vector BLOB NOT NULL, PRIMARY KEY (model, text_sha256))"
        )
        self.hits = 0
        self.misses = 0

    @property
    def name(self) -> str:
        return self._inner.name

    @property
    def dimensions(self) -> int:
        return self._inner.dimensions

    async def embed(self, texts: list[str]) -> FloatArray:
        keys = [hashlib.sha256(text.encode()).hexdigest() for text in texts]
        found: dict[str, bytes] = {}
        for start in range(0, len(keys), 500):
            chunk = keys[start : start + 500]
            marks = ",".join("?" * len(chunk))
            found.update(
                self._db.execute(
                    f"SELECT text_sha256, vector FROM vectors WHERE model = ? "
                    f"AND text_sha256 IN ({marks})",
                    [self._model, *chunk],
                ).fetchall()
            )
        todo = sorted({i for i, key in enumerate(keys) if key not in found}, key=keys.__getitem__)
        todo_texts = {keys[i]: texts[i] for i in todo}
        self.hits += len(texts) - len(todo)
        self.misses += len(todo_texts)
        if todo_texts:
            vectors = await self._inner.embed(list(todo_texts.values()))
            rows = [
                (self._model, key, vector.astype(np.float32).tobytes())
                for key, vector in zip(todo_texts, vectors, strict=True)
            ]
            self._db.executemany("INSERT OR REPLACE INTO vectors VALUES (?, ?, ?)", rows)
            self._db.commit()
            found.update((key, blob) for _, key, blob in rows)
        return np.stack([np.frombuffer(found[key], dtype=np.float32) for key in keys])

    async def close(self) -> None:
        self._db.close()


def flatten_ids(value: Any) -> Iterable[int]:
    """`source_chat_ids` is a list of ids, or a dict of lists (possibly nested): all the ids."""
    if isinstance(value, dict):
        for item in value.values():
            yield from flatten_ids(item)
    elif isinstance(value, list):
        for item in value:
            yield from flatten_ids(item)
    elif isinstance(value, int) and not isinstance(value, bool):
        yield value
    elif isinstance(value, str) and value.strip().isdigit():
        yield int(value)


def conversation_range(value: str) -> tuple[int, int]:
    first, _, last = value.partition("-")
    return int(first), int(last or first)


def conversations(data: Path, limit: int | None) -> list[str]:
    names = sorted((p.name for p in data.iterdir() if (p / "chat.json").is_file()), key=int)
    return names[:limit] if limit else names


def load_questions(data: Path, conversation: str) -> list[Question]:
    path = data / conversation / "probing_questions" / "probing_questions.json"
    raw: dict[str, list[dict[str, Any]]] = json.loads(path.read_text())
    out = []
    for category, items in raw.items():
        for item in items:
            evidence = frozenset(flatten_ids(item.get("source_chat_ids")))
            if evidence:
                out.append(Question(conversation, category, str(item["question"]), evidence))
    return out


async def ingest(database: Database, data: Path, conversation: str) -> tuple[dict[str, int], int]:
    """Store one conversation; returns {stored message id: BEAM id} and the message count."""
    workspace_id = f"beam-{conversation}"
    batches: list[dict[str, Any]] = json.loads((data / conversation / "chat.json").read_text())
    async with database.write() as db:
        await get_or_create_workspace(db=db, workspace_id=workspace_id)
        await ensure_peers(db=db, workspace_id=workspace_id, peer_ids=PEERS)
    beam_ids: dict[str, int] = {}
    for batch in batches:
        session_id = f"batch-{batch['batch_number']}"
        messages = [
            NewMessage(
                content=str(m["content"]),
                peer_id=str(m["role"]),
                internal_metadata={"beam_id": int(m["id"])},
            )
            for turn in batch["turns"]
            for m in turn
        ]
        for start in range(0, len(messages), WRITE_BATCH):
            chunk = messages[start : start + WRITE_BATCH]
            async with database.write() as db:
                stored = await create_messages(
                    reasoning=None,
                    db=db,
                    workspace_id=workspace_id,
                    session_id=session_id,
                    messages=chunk,
                )
            for row in stored:
                beam_ids[row.id] = int(row.internal_metadata["beam_id"])
    return beam_ids, len(beam_ids)


def fmt(value: float) -> str:
    return f"{value:.3f}"


def recall_table(scores: dict[Mode, Scores], metric: str) -> str:
    header = "| mode | " + " | ".join(f"{metric}@{k}" for k in KS) + " |"
    lines = [header, "|---|" + "---:|" * len(KS)]
    for mode in MODES:
        cells = " | ".join(fmt(scores[mode].mean(metric, k)) for k in KS)
        lines.append(f"| {mode} | {cells} |")
    return "\n".join(lines)


def category_table(per_category: dict[str, dict[Mode, Scores]], metric: str, k: int) -> str:
    header = "| category | n | " + " | ".join(MODES) + " |"
    lines = [header, "|---|---:|" + "---:|" * len(MODES)]
    for category in sorted(per_category):
        row = per_category[category]
        cells = " | ".join(fmt(row[mode].mean(metric, k)) for mode in MODES)
        lines.append(f"| {category} | {row[MODES[0]].count()} | {cells} |")
    return "\n".join(lines)


async def run(
    data: Path, limit: int | None, cache: Path | None, scored: tuple[int, int] | None = None
) -> int:
    names = conversations(data, limit)
    if not names:
        print(f"no conversations under {data}", file=sys.stderr)
        return 2
    embedder: Embedder = default_embedder()
    if cache is not None:
        embedder = CachedEmbedder(embedder, cache)
    with tempfile.TemporaryDirectory(prefix="beam-") as tmp:
        url = f"sqlite+aiosqlite:///{tmp}/beam.sqlite"
        await asyncio.to_thread(migrate.upgrade, url)
        database = create_database(url)
        try:
            async with database.write() as db:
                await ensure_embedding_model(db, name=embedder.name, dimensions=embedder.dimensions)

            started = time.perf_counter()
            beam_ids: dict[str, dict[str, int]] = {}
            total = 0
            for name in names:
                beam_ids[name], count = await ingest(database, data, name)
                total += count
            ingest_s = time.perf_counter() - started
            print(f"ingested {total} messages in {len(names)} workspaces in {ingest_s:.1f} s")

            started = time.perf_counter()
            embedded = await EmbeddingIndexer(database, embedder).catch_up()
            embed_s = time.perf_counter() - started
            print(f"embedded {embedded} messages in {embed_s:.1f} s ({embedded / embed_s:.0f}/s)")
            if isinstance(embedder, CachedEmbedder):
                print(f"embedding cache {cache}: {embedder.hits} hits, {embedder.misses} computed")

            search = MessageSearch(database, embedder, MessageVectorIndex(embedder.dimensions))
            overall: dict[Mode, Scores] = {mode: Scores() for mode in MODES}
            per_category: dict[str, dict[Mode, Scores]] = defaultdict(
                lambda: {mode: Scores() for mode in MODES}
            )
            asked = [n for n in names if scored is None or scored[0] <= int(n) <= scored[1]]
            questions = [q for name in asked for q in load_questions(data, name)]
            missing = 0
            started = time.perf_counter()
            for q in questions:
                known = set(beam_ids[q.conversation].values())
                missing += len(q.evidence - known)
                scope = SearchScope(f"beam-{q.conversation}")
                for mode in MODES:
                    rows = await search.search(
                        scope, q.text, filters=None, limit=SEARCH_LIMIT, mode=mode
                    )
                    ranked = [beam_ids[q.conversation][row.id] for row in rows]
                    overall[mode].add(q.evidence, ranked)
                    per_category[q.category][mode].add(q.evidence, ranked)
            search_s = time.perf_counter() - started
        finally:
            await database.dispose()
            await embedder.close()

    n_searches = len(questions) * len(MODES)
    print(
        f"{len(questions)} questions with evidence, {n_searches} searches in {search_s:.1f} s; "
        f"{missing} evidence ids not among the conversation's messages\n"
    )
    print(f"## Overall ({len(questions)} questions)\n")
    for metric in METRICS:
        print(recall_table(overall, metric) + "\n")
    for k in KS:
        print(f"## Per category, any@{k}\n")
        print(category_table(per_category, "any", k) + "\n")
    print("## Per category, frac@10\n")
    print(category_table(per_category, "frac", 10) + "\n")
    print("## Per category, all@20\n")
    print(category_table(per_category, "all", 20))
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=default_beam())
    parser.add_argument("--limit-conversations", type=int, default=None, metavar="N")
    parser.add_argument(
        "--conversations",
        type=conversation_range,
        default=None,
        metavar="FIRST-LAST",
        help="score only these conversations' questions",
    )
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE, help="embedding cache file")
    parser.add_argument("--no-cache", action="store_true", help="embed everything afresh")
    args = parser.parse_args()
    if not args.data.is_dir():
        print(f"no such directory: {args.data}", file=sys.stderr)
        sys.exit(2)
    cache = None if args.no_cache else args.cache
    sys.exit(asyncio.run(run(args.data, args.limit_conversations, cache, args.conversations)))


if __name__ == "__main__":
    main()
