"""The evaluation questions (questions.jsonl): one JSON object a line with `id`, `category`,
`question`, the gold `sql` over the demo database, and for follow-ups `chain` (the thread they
share) and `turn` (1, 2, ... in the order they are asked). A follow-up's gold SQL is the full
query it means, not a fragment."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

QUESTIONS = Path(__file__).with_name("questions.jsonl")


@dataclass(frozen=True)
class Question:
    id: str
    category: str
    question: str
    sql: str
    chain: str | None = None
    turn: int | None = None


def load_questions(path: Path = QUESTIONS) -> list[Question]:
    return [Question(**json.loads(line)) for line in path.read_text().splitlines() if line.strip()]


def conversations(questions: list[Question]) -> list[list[Question]]:
    """The questions as they are asked: a lone question is its own thread; a chain's turns
    share one thread, in turn order, where the chain first appears."""
    out: list[list[Question]] = []
    chains: dict[str, list[Question]] = {}
    for question in questions:
        if question.chain is None:
            out.append([question])
        elif question.chain in chains:
            chains[question.chain].append(question)
        else:
            chains[question.chain] = [question]
            out.append(chains[question.chain])
    for chain in chains.values():
        chain.sort(key=lambda q: q.turn or 0)
    return out
