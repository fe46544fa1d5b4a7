"""Fusing the vector and full-text rankings of a hybrid search into one.

Each side's candidates come with its own scores (cosine similarity; bm25 or ts_rank_cd). The
scores are standardised per side and per query (z-scores over that side's candidates), then
added with a weight per side; a candidate one side did not return gets that side's mean (0).
Unlike reciprocal rank fusion, this keeps how far apart the candidates are: a full-text hit far
above the other matches (a rare name, an exact phrase) moves up a lot, while a flat full-text
list (common words matched everywhere) barely moves the vector order.

Chosen on BEAM conversations 1-5 (docs/benchmarks.md). With the full-text score divided by a
function of the message's length (memory.search), the text side is about as strong as the
vector side there, and weights 0.3 to 0.7 for it all beat both sides alone on the 9 measures
(any@, all@, frac@ 5/10/20) on SQLite; 0.5 is the middle of that range. Over all 20 conversations it
beats both sides on all 9 measures, on SQLite and on PostgreSQL.

Since issue 18 the text weight depends on the query (`fuse_hybrid`): 0.75 instead of 0.5 when it
holds a name or a number, which full text matches exactly and a small embedding blurs (issue 18
saw a fixed 0.5 drag full text down on short turns full of names and dates). Chosen on BEAM
conversations 1-5 from fixed weights, RRF, per-query weights from each side's confidence (top
z-score or gap to the fifth, ratio powers 0.5-3), a bonus for dated messages on temporal
questions, and this boost (bench/fusion_tuning.py; figures in docs/benchmarks.md).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

Scored = Sequence[tuple[int, float]]  # (seq, score), best first; higher scores are better

VECTOR_WEIGHT = 1.0
TEXT_WEIGHT = 0.5
# the text weight's factor for a query with a name or a number in it (names_or_numbers)
NAMES_BOOST = 1.5


def standardised(scores: Sequence[float]) -> np.ndarray:
    """z-scores. A score that is not a number (pgvector's distance to a zero vector) counts as
    the side's worst. Scores that do not spread (one candidate, or all equal) all get 1: being
    found at all is what that side says, like a typical top hit."""
    values = np.asarray(scores, dtype=np.float64)
    finite = np.isfinite(values)
    if not finite.all():
        values = np.where(finite, values, values[finite].min() if finite.any() else 0.0)
    spread = values.std() if values.size else 0.0
    if spread <= 1e-12:
        return np.ones_like(values)
    return (values - values.mean()) / spread


def fuse(rankings: Sequence[tuple[Scored, float]], limit: int) -> list[int]:
    """The `limit` best seqs of (ranking, weight) pairs by weighted z-score; ties go to the
    newer message. A single ranking is returned in its own order."""
    rankings = [(ranking, weight) for ranking, weight in rankings if ranking]
    if not rankings:
        return []
    if len(rankings) == 1:
        return [seq for seq, _ in rankings[0][0][:limit]]
    fused: dict[int, float] = {}
    for ranking, weight in rankings:
        z = standardised([score for _, score in ranking])
        for (seq, _), value in zip(ranking, z, strict=True):
            fused[seq] = fused.get(seq, 0.0) + weight * float(value)
    return sorted(fused, key=lambda seq: (-fused[seq], -seq))[:limit]


def names_or_numbers(query: str) -> bool:
    """Whether the query holds a number (a date, an amount) or a capitalised word that does not
    start a sentence (a name): words that full text matches exactly and an embedding blurs."""
    words = query.split()
    for i, raw in enumerate(words):
        word = raw.strip("\"'()?,.!:;")
        if any(c.isdigit() for c in word):
            return True
        sentence_start = i == 0 or words[i - 1].endswith((".", "?", "!"))
        if word[:1].isupper() and word != "I" and not sentence_start:
            return True
    return False


def text_weight(query: str) -> float:
    """The full-text side's weight for this query."""
    return TEXT_WEIGHT * NAMES_BOOST if names_or_numbers(query) else TEXT_WEIGHT


def fuse_hybrid(vector: Scored, text: Scored, *, query: str, limit: int) -> list[int]:
    """The hybrid search's fusion: `fuse` with the vector side weighed VECTOR_WEIGHT and the
    full-text side `text_weight(query)`."""
    return fuse([(vector, VECTOR_WEIGHT), (text, text_weight(query))], limit)
