"""The near-duplicate rule of derived observations on labelled pairs: same, changed, different.

Runs the real rule (`parley.memory.fact_identity.relation`) on the cosine distances of the
bundled embedding model (all-MiniLM-L6-v2, int8 ONNX) over `bench/data/observation_pairs.jsonl`:
each line an `old` (stored) and a `new` observation text, a `label` (same: the new one confirms
the old one, a merge is right; changed: it replaces the old one; different: both stand) and a
`kind` (paraphrase, number, date, negation, label, name, ...).

The pairs are split in two halves: within each (label, kind) group, in file order, the 1st, 3rd,
5th, ... pair is for tuning, the others are held out. `--tune` searches the two thresholds
(merge distance, then change distance) on the tuning half only: the merge distance that
maximizes F0.5 of "same" (precision counts more: a wrong merge loses a fact), then the change
distance that maximizes F1 of "changed". Both halves are then scored apart, with the thresholds
given (default: the shipped ones), and so is the rule this replaced (merge at distance <= 0.05,
anything else kept), for comparison.

`--fresh` (default `bench/data/observation_pairs_fresh.jsonl`): 64 more pairs, written after the
rule and its thresholds were frozen, scored on their own: the held-out half was seen while the
anchor rules were written (only its totals, not its pairs), the fresh pairs never were.

BEAM (`--beam`, default `beam_data.default_beam()` when present): the 40 knowledge-update
questions name an original and an updated fact (`conversation_references`); both are scored
too, as a held-out check that updates are never merged. They are longer than atomic facts and
often reworded, so most fall to "different" (both kept), which loses nothing.

Usage:
    python bench/merge_rule.py [--pairs bench/data/observation_pairs.jsonl] [--tune]
        [--fresh FILE | --no-fresh]
        [--merge-distance D] [--change-distance D] [--beam DIR | --no-beam]
        [--errors] [--held-out-errors]

Prints Markdown tables. Exit status: 0 on success, 2 if the pairs could not be read.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sys
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from beam_data import default_beam

from parley.llm import default_embedder
from parley.memory.fact_identity import CHANGE_DISTANCE, MERGE_DISTANCE, Relation, relation

DEFAULT_PAIRS = Path(__file__).parent / "data" / "observation_pairs.jsonl"
DEFAULT_FRESH = Path(__file__).parent / "data" / "observation_pairs_fresh.jsonl"
# "Project Management & Workflow Labels:Feature Implementation: Completed sprint 1 ..."
HEADINGS = re.compile(r"^(?:[^:]{1,60}:\s*)+(?=\S)")
CLASSES = ("same", "changed", "different")
OLD_MERGE_DISTANCE = 0.05  # the rule before fact identity: merge when this close, nothing else
MERGE_GRID = [round(0.01 + 0.005 * i, 3) for i in range(27)]  # 0.01 .. 0.14
CHANGE_GRID = [round(0.02 + 0.01 * i, 3) for i in range(29)]  # 0.02 .. 0.30


@dataclass(frozen=True)
class Pair:
    id: int
    label: str
    kind: str
    old: str
    new: str
    distance: float = 0.0


Rule = Callable[[Pair], str]


def load(path: Path) -> list[Pair]:
    pairs = []
    for line in path.read_text().splitlines():
        if line.strip():
            row = json.loads(line)
            if row["label"] not in CLASSES:
                raise ValueError(f"pair {row['id']}: unknown label {row['label']!r}")
            pairs.append(Pair(row["id"], row["label"], row["kind"], row["old"], row["new"]))
    return pairs


def split(pairs: Sequence[Pair]) -> tuple[list[Pair], list[Pair]]:
    """Tuning and held-out halves: alternate within each (label, kind) group."""
    seen: Counter[tuple[str, str]] = Counter()
    tuning, held_out = [], []
    for pair in pairs:
        group = (pair.label, pair.kind)
        (tuning if seen[group] % 2 == 0 else held_out).append(pair)
        seen[group] += 1
    return tuning, held_out


async def with_distances(pairs: Sequence[Pair]) -> list[Pair]:
    embedder = default_embedder()
    texts = sorted({t for p in pairs for t in (p.old, p.new)})
    vectors = np.asarray(await embedder.embed(texts), dtype=np.float32)
    row = {text: vectors[i] for i, text in enumerate(texts)}
    return [
        Pair(p.id, p.label, p.kind, p.old, p.new, float(1.0 - row[p.old] @ row[p.new]))
        for p in pairs
    ]


def fact_rule(merge_distance: float, change_distance: float) -> Rule:
    def rule(pair: Pair) -> str:
        found = relation(
            pair.new,
            pair.old,
            pair.distance,
            merge_distance=merge_distance,
            change_distance=change_distance,
        )
        return found.value

    return rule


def old_rule(pair: Pair) -> str:
    return Relation.SAME.value if pair.distance <= OLD_MERGE_DISTANCE else "different"


def confusion(pairs: Sequence[Pair], rule: Rule) -> Counter[tuple[str, str]]:
    return Counter((p.label, rule(p)) for p in pairs)


def precision_recall(counts: Counter[tuple[str, str]], cls: str) -> tuple[float, float, int, int]:
    """Precision, recall, pairs predicted as `cls`, pairs labelled `cls`."""
    predicted = sum(n for (_, got), n in counts.items() if got == cls)
    actual = sum(n for (label, _), n in counts.items() if label == cls)
    right = counts[(cls, cls)]
    return (
        right / predicted if predicted else float("nan"),
        right / actual if actual else float("nan"),
        predicted,
        actual,
    )


def f_beta(counts: Counter[tuple[str, str]], cls: str, beta: float) -> float:
    precision, recall, predicted, _ = precision_recall(counts, cls)
    if not predicted or not precision or not recall:
        return 0.0
    return (1 + beta**2) * precision * recall / (beta**2 * precision + recall)


def tune(pairs: Sequence[Pair]) -> tuple[float, float]:
    """The merge distance with the best F0.5 of "same" (the smallest on a tie), then the
    change distance with the best F1 of "changed" (the smallest on a tie)."""
    top = max(CHANGE_GRID)

    def merge_score(d: float) -> tuple[float, float]:
        return f_beta(confusion(pairs, fact_rule(d, top)), "same", 0.5), -d

    merge = max(MERGE_GRID, key=merge_score)

    def change_score(d: float) -> tuple[float, float]:
        return f_beta(confusion(pairs, fact_rule(merge, d)), "changed", 1.0), -d

    return merge, max(CHANGE_GRID, key=change_score)


def table(name: str, pairs: Sequence[Pair], rule: Rule) -> str:
    counts = confusion(pairs, rule)
    lines = [
        f"### {name} ({len(pairs)} pairs)\n",
        "| class | precision | recall | predicted | labelled |",
        "|---|---|---|---|---|",
    ]
    for cls in CLASSES:
        precision, recall, predicted, actual = precision_recall(counts, cls)
        lines.append(f"| {cls} | {precision:.3f} | {recall:.3f} | {predicted} | {actual} |")
    lines += ["", "| labelled \\ rule says | " + " | ".join(CLASSES) + " |", "|---|---|---|---|"]
    for label in CLASSES:
        lines.append(f"| {label} | " + " | ".join(str(counts[(label, g)]) for g in CLASSES) + " |")
    return "\n".join(lines) + "\n"


def per_kind(pairs: Sequence[Pair], rule: Rule) -> str:
    groups: dict[tuple[str, str], list[Pair]] = defaultdict(list)
    for pair in pairs:
        groups[(pair.label, pair.kind)].append(pair)
    lines = ["| label | kind | pairs | rule says same / changed / different |", "|---|---|---|---|"]
    for (label, kind), group in sorted(groups.items()):
        said = Counter(rule(p) for p in group)
        lines.append(
            f"| {label} | {kind} | {len(group)} | "
            + " / ".join(str(said[c]) for c in CLASSES)
            + " |"
        )
    return "\n".join(lines) + "\n"


def errors(pairs: Sequence[Pair], rule: Rule) -> str:
    lines = []
    for pair in pairs:
        got = rule(pair)
        if got != pair.label:
            lines.append(
                f"- #{pair.id} {pair.label} -> {got} (d={pair.distance:.3f}): "
                f"{pair.old!r} / {pair.new!r}"
            )
    return "\n".join(lines) + "\n"


def beam_pairs(root: Path) -> list[Pair]:
    pairs = []
    for conversation in sorted(root.iterdir(), key=lambda p: p.name):
        path = conversation / "probing_questions" / "probing_questions.json"
        if not path.is_file():
            continue
        questions = json.loads(path.read_text())
        for question in questions.get("knowledge_update", []):
            references = question.get("conversation_references") or []
            if len(references) == 2 and all(isinstance(r, str) for r in references):
                old, new = (HEADINGS.sub("", r).strip() for r in references)
                pairs.append(Pair(len(pairs) + 1, "changed", "beam", old, new))
    return pairs


async def run(args: argparse.Namespace) -> int:
    try:
        pairs = load(args.pairs)
    except (OSError, ValueError, KeyError) as exc:
        print(f"cannot read {args.pairs}: {exc}", file=sys.stderr)
        return 2
    try:
        fresh = load(args.fresh) if args.fresh is not None else []
    except (OSError, ValueError, KeyError) as exc:
        print(f"cannot read {args.fresh}: {exc}", file=sys.stderr)
        return 2
    beam = beam_pairs(args.beam) if args.beam is not None and args.beam.is_dir() else []
    scored = await with_distances([*pairs, *fresh, *beam])
    pairs, fresh, beam = (
        scored[: len(pairs)],
        scored[len(pairs) : len(pairs) + len(fresh)],
        scored[len(pairs) + len(fresh) :],
    )
    tuning, held_out = split(pairs)
    merge, change = args.merge_distance, args.change_distance
    if args.tune:
        merge, change = tune(tuning)
        print(f"tuned on {len(tuning)} pairs: merge distance {merge}, change distance {change}\n")
    rule = fact_rule(merge, change)
    print(f"## Fact identity (merge distance {merge}, change distance {change})\n")
    print(table("Tuning half", tuning, rule))
    print(table("Held-out half", held_out, rule))
    if fresh:
        print(table("Fresh pairs, written after the rule was frozen", fresh, rule))
    print("### Per kind, both halves\n")
    print(per_kind(pairs, rule))
    print(f"## Before: merge at distance <= {OLD_MERGE_DISTANCE}, nothing else\n")
    print(table("Tuning half", tuning, old_rule))
    print(table("Held-out half", held_out, old_rule))
    if fresh:
        print(table("Fresh pairs", fresh, old_rule))
    if beam:
        said = Counter(rule(p) for p in beam)
        before = Counter(old_rule(p) for p in beam)
        print(f"## BEAM knowledge updates ({len(beam)} changed pairs)\n")
        print("| rule | same (merged) | changed | different |\n|---|---|---|---|")
        print("| fact identity | " + " | ".join(str(said[c]) for c in CLASSES) + " |")
        print("| before | " + " | ".join(str(before[c]) for c in CLASSES) + " |\n")
    if args.errors:
        print("## Disagreements, tuning half\n")
        print(errors(tuning, rule))
    if args.held_out_errors:
        print("## Disagreements, held-out half\n")
        print(errors(held_out, rule))
        if fresh:
            print("## Disagreements, fresh pairs\n")
            print(errors(fresh, rule))
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=Path, default=DEFAULT_PAIRS)
    parser.add_argument("--tune", action="store_true", help="search thresholds on the tuning half")
    parser.add_argument("--merge-distance", type=float, default=MERGE_DISTANCE)
    parser.add_argument("--change-distance", type=float, default=CHANGE_DISTANCE)
    parser.add_argument("--fresh", type=Path, default=DEFAULT_FRESH)
    parser.add_argument("--no-fresh", dest="fresh", action="store_const", const=None)
    parser.add_argument("--beam", type=Path, default=default_beam())
    parser.add_argument("--no-beam", dest="beam", action="store_const", const=None)
    parser.add_argument(
        "--errors", action="store_true", help="list the tuning pairs the rule gets wrong"
    )
    parser.add_argument(
        "--held-out-errors", action="store_true", help="list the held-out pairs it gets wrong"
    )
    sys.exit(asyncio.run(run(parser.parse_args())))


if __name__ == "__main__":
    main()
