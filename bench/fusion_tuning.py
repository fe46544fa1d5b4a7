"""Offline comparison of hybrid fusions on BEAM (100K tier): each question's vector and
full-text candidates (with scores) are collected once through `MessageSearch.side_rankings`,
then every fusion in `FUSIONS` ranks them, and any@k / all@k / frac@k are printed per split.

Same setup as bench/beam_retrieval.py (one workspace per conversation, the bundled embedder,
its on-disk embedding cache). `--candidates FILE` keeps the collected lists in a JSON file, so
a later run with the same file skips the database and the embedder.

Usage:
    python bench/fusion_tuning.py [--data DIR] [--limit-conversations N] [--cache FILE]
        [--candidates /tmp/beam-candidates.json] [--tuning 1-5]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from beam_data import default_beam
from beam_retrieval import (
    DEFAULT_CACHE,
    KS,
    METRICS,
    CachedEmbedder,
    Scores,
    conversation_range,
    conversations,
    ingest,
    load_questions,
)
from sqlalchemy import select

from parley.llm import default_embedder
from parley.memory import fusion
from parley.memory.embedding_indexer import EmbeddingIndexer
from parley.memory.search import MessageSearch, SearchScope
from parley.memory.vector_index import MessageVectorIndex
from parley.store import migrate
from parley.store.engine import create_database
from parley.store.meta import ensure_embedding_model
from parley.store.models import Message

DEPTH = 60  # what MessageSearch.search asks each side for at limit 20
LIMIT = 20
Hits = list[tuple[int, float]]
Fusion = Callable[[Hits, Hits, str], list[int]]


async def collect(data: Path, limit: int | None, cache: Path | None) -> list[dict[str, Any]]:
    names = conversations(data, limit)
    embedder: Any = default_embedder()
    if cache is not None:
        embedder = CachedEmbedder(embedder, cache)
    out: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="fusion-") as tmp:
        url = f"sqlite+aiosqlite:///{tmp}/beam.sqlite"
        await asyncio.to_thread(migrate.upgrade, url)
        database = create_database(url)
        try:
            async with database.write() as db:
                await ensure_embedding_model(db, name=embedder.name, dimensions=embedder.dimensions)
            ids: dict[str, dict[int, int]] = {}
            for name in names:
                by_id, _ = await ingest(database, data, name)
                ids[name] = {}
                async with database.read() as db:
                    rows = await db.execute(
                        select(Message.id, Message.seq).where(
                            Message.workspace_id == f"beam-{name}"
                        )
                    )
                    for message_id, seq in rows.all():
                        ids[name][seq] = by_id[message_id]
            await EmbeddingIndexer(database, embedder).catch_up()
            search = MessageSearch(database, embedder, MessageVectorIndex(embedder.dimensions))
            for name in names:
                for q in load_questions(data, name):
                    vector, text = await search.side_rankings(
                        SearchScope(f"beam-{name}"), q.text, filters=None, depth=DEPTH
                    )
                    out.append(
                        {
                            "conversation": name,
                            "category": q.category,
                            "question": q.text,
                            "evidence": sorted(q.evidence),
                            "vector": [[ids[name][s], v] for s, v in vector],
                            "text": [[ids[name][s], v] for s, v in text],
                        }
                    )
        finally:
            await database.dispose()
            await embedder.close()
    return out


def old_hybrid(vector: Hits, text: Hits, query: str) -> list[int]:
    return fusion.fuse([(vector, 1.0), (text, 0.5)], LIMIT)


def new_hybrid(vector: Hits, text: Hits, query: str) -> list[int]:
    return fusion.fuse_hybrid(vector, text, query=query, limit=LIMIT)


def side(which: str) -> Fusion:
    def ranked(vector: Hits, text: Hits, query: str) -> list[int]:
        return [seq for seq, _ in (vector if which == "vector" else text)[:LIMIT]]

    return ranked


def rrf(k: float, text_weight: float) -> Fusion:
    def fused(vector: Hits, text: Hits, query: str) -> list[int]:
        score: dict[int, float] = {}
        for hits, weight in ((vector, 1.0), (text, text_weight)):
            for rank, (seq, _) in enumerate(hits):
                score[seq] = score.get(seq, 0.0) + weight / (k + rank + 1)
        return sorted(score, key=lambda s: (-score[s], -s))[:LIMIT]

    return fused


def zsum(text_weight: float) -> Fusion:
    def fused(vector: Hits, text: Hits, query: str) -> list[int]:
        return fusion.fuse([(vector, 1.0), (text, text_weight)], LIMIT)

    return fused


def has_names_or_numbers(query: str) -> bool:
    words = query.split()
    for i, word in enumerate(words):
        w = word.strip("\"'()?,.!:;")
        if any(c.isdigit() for c in w):
            return True
        if i > 0 and w[:1].isupper() and w != "I" and not words[i - 1].endswith((".", "?", "!")):
            return True
    return False


def confidence(z: Any, how: str) -> float:
    if len(z) < 2:
        return 1.0
    if how == "top":
        return float(z[0])
    if how == "gap":
        return float(z[0] - z[min(4, len(z) - 1)])
    raise ValueError(how)


def adaptive(base: float, power: float, how: str = "top", names: float = 1.0) -> Fusion:
    def fused(vector: Hits, text: Hits, query: str) -> list[int]:
        if not vector or not text:
            return [s for s, _ in (vector or text)[:LIMIT]]
        zv = fusion.standardised([v for _, v in vector])
        zt = fusion.standardised([v for _, v in text])
        cv, ct = max(confidence(zv, how), 1e-3), max(confidence(zt, how), 1e-3)
        weight = base * min(4.0, max(0.25, (ct / cv) ** power))
        if names != 1.0 and has_names_or_numbers(query):
            weight *= names
        score: dict[int, float] = {}
        for (seq, _), z in zip(vector, zv, strict=True):
            score[seq] = float(z)
        for (seq, _), z in zip(text, zt, strict=True):
            score[seq] = score.get(seq, 0.0) + weight * float(z)
        return sorted(score, key=lambda s: (-score[s], -s))[:LIMIT]

    return fused


CONTENT: dict[int, str] = {}  # beam id -> content, of the conversation being scored
TEMPORAL = re.compile(
    r"\b(when|date|dates|how long|how many (days|weeks|months|years)|before|after|first|"
    r"last|earlier|later|order|deadline)\b",
    re.IGNORECASE,
)
DATED = re.compile(
    r"\b(\d{1,2}[/-]\d{1,2}|\d{4}|january|february|march|april|may|june|july|august|"
    r"september|october|november|december|monday|tuesday|wednesday|thursday|friday|"
    r"saturday|sunday|week|weeks|month|months)\b",
    re.IGNORECASE,
)


def dated_boost(bonus: float) -> Fusion:
    """The confidence-ratio fusion (base 0.5, power 0.5), then for a temporal question a bonus
    (in z units) to candidates that mention a date or a span of time."""

    def fused(vector: Hits, text: Hits, query: str) -> list[int]:
        if not TEMPORAL.search(query) or not vector or not text:
            return adaptive(0.5, 0.5)(vector, text, query)
        zv = fusion.standardised([v for _, v in vector])
        zt = fusion.standardised([v for _, v in text])
        weight = 0.5 * min(
            4.0, max(0.25, (confidence(zt, "top") / max(confidence(zv, "top"), 1e-3)) ** 0.5)
        )
        score: dict[int, float] = {}
        for (seq, _), z in zip(vector, zv, strict=True):
            score[seq] = float(z)
        for (seq, _), z in zip(text, zt, strict=True):
            score[seq] = score.get(seq, 0.0) + weight * float(z)
        for seq in score:
            if DATED.search(CONTENT.get(seq, "")):
                score[seq] += bonus
        return sorted(score, key=lambda s: (-score[s], -s))[:LIMIT]

    return fused


FUSIONS: dict[str, Fusion] = {
    "vector": side("vector"),
    "text": side("text"),
    "old hybrid (z, text x 0.5)": old_hybrid,
    "new hybrid": new_hybrid,
    "rrf k=60 x1": rrf(60, 1.0),
    "rrf k=60 x0.5": rrf(60, 0.5),
    "rrf k=10 x1": rrf(10, 1.0),
    "z text x 0.3": zsum(0.3),
    "z text x 0.7": zsum(0.7),
    "z text x 1.0": zsum(1.0),
    **{
        f"adaptive {how} base {b} pow {p}": adaptive(b, p, how)
        for how in ("top", "gap")
        for b in (0.5, 0.7, 1.0)
        for p in (1.0, 2.0, 3.0)
    },
    **{
        f"z x{b} names x{n}": adaptive(b, 0.0, "top", n)
        for b in (0.5, 0.7, 1.0)
        for n in (1.5, 2.0)
    },
    "adaptive top base 1.0 pow 0.5": adaptive(1.0, 0.5, "top"),
    "adaptive top base 0.5 pow 1.0 names x1.5": adaptive(0.5, 1.0, "top", 1.5),
    "adaptive top base 0.4 pow 1.0": adaptive(0.4, 1.0, "top"),
    "adaptive top base 0.6 pow 1.0": adaptive(0.6, 1.0, "top"),
    "adaptive top base 0.5 pow 0.5": adaptive(0.5, 0.5, "top"),
    "adaptive top base 0.5 pow 1.5": adaptive(0.5, 1.5, "top"),
    **{f"new + dated bonus {b}": dated_boost(b) for b in (0.25, 0.5, 1.0)},
    "adaptive top base 0.7 pow 0.5": adaptive(0.7, 0.5, "top"),
}


_CONTENT: dict[str, dict[int, str]] = {}


def content(conversation: str) -> dict[int, str]:
    if conversation not in _CONTENT:
        path = default_beam() / conversation / "chat.json"
        batches = json.loads(path.read_text()) if path.is_file() else []
        _CONTENT[conversation] = {
            int(m["id"]): str(m["content"]) for b in batches for turn in b["turns"] for m in turn
        }
    return _CONTENT[conversation]


def report(items: list[dict[str, Any]], fusions: dict[str, Fusion], title: str) -> None:
    print(f"### {title} ({len(items)} questions)\n")
    cols = [f"{m}@{k}" for m in METRICS for k in KS]
    print("| fusion | " + " | ".join(cols) + " | mean | worst gap |")
    print("|---|" + "---:|" * (len(cols) + 2))
    per_category: dict[str, dict[str, list[list[float]]]] = {}
    lines = []
    for name, fuse in fusions.items():
        scores = Scores()
        for item in items:
            CONTENT.clear()
            CONTENT.update(content(item["conversation"]))
            vector = [(int(s), float(v)) for s, v in item["vector"]]
            text = [(int(s), float(v)) for s, v in item["text"]]
            scores.add(frozenset(item["evidence"]), fuse(vector, text, item["question"]))
        values = [scores.mean(m, k) for m in METRICS for k in KS]
        per_category[name] = {}
        for item, i in zip(items, range(len(items)), strict=True):
            per_category[name].setdefault(item["category"], []).append(
                [scores.values[(m, k)][i] for m in METRICS for k in KS]
            )
        cells = " | ".join(f"{v:.3f}" for v in values)
        lines.append((name, cells, sum(values) / len(values)))
    for name, cells, mean in lines:
        # the worst shortfall against the better side, over categories and the 9 measures
        worst = 0.0
        for category, rows in per_category[name].items():
            own = np.mean(rows, axis=0)
            best = np.maximum(
                np.mean(per_category["vector"][category], axis=0),
                np.mean(per_category["text"][category], axis=0),
            )
            worst = max(worst, float((best - own).max()) * len(rows) / len(items))
        print(f"| {name} | {cells} | {mean:.3f} | {worst:.3f} |")
    print()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=default_beam())
    parser.add_argument("--limit-conversations", type=int, default=None, metavar="N")
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    parser.add_argument("--candidates", type=Path, default=None)
    parser.add_argument("--tuning", type=conversation_range, default=(1, 5))
    args = parser.parse_args()
    if args.candidates is not None and args.candidates.is_file():
        items = json.loads(args.candidates.read_text())
    else:
        if not args.data.is_dir():
            print(f"no such directory: {args.data}", file=sys.stderr)
            sys.exit(2)
        items = asyncio.run(collect(args.data, args.limit_conversations, args.cache))
        if args.candidates is not None:
            args.candidates.write_text(json.dumps(items))
    first, last = args.tuning
    tuning = [i for i in items if first <= int(i["conversation"]) <= last]
    held = [i for i in items if not first <= int(i["conversation"]) <= last]
    report(tuning, FUSIONS, f"tuning, conversations {first}-{last}")
    if held:
        report(held, FUSIONS, "held out")


if __name__ == "__main__":
    main()
