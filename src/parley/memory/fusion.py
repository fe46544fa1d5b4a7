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

Since issue 18 the text weight adapts per query (`fuse_hybrid`): a fixed 0.5 favours the vector
side whatever the query, and on data where full text is the stronger side (short turns, names
and dates) that drags hybrid below full text alone. The side whose best hit stands out more
from its own candidates gets more say. Chosen on BEAM conversations 1-5 from fixed weights,
RRF, confidence ratios (top z-score or gap to the fifth, powers 0.5-3) and a boost for queries
with names or numbers (bench/fusion_tuning.py, docs/benchmarks.md).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

Scored = Sequence[tuple[int, float]]  # (seq, score), best first; higher scores are better

VECTOR_WEIGHT = 1.0
TEXT_WEIGHT = 0.5
# Per query, the text weight is scaled by (text confidence / vector confidence) ** 0.5, where a
# side's confidence is its best candidate's z-score, and kept within 1/4 to 4 times TEXT_WEIGHT.
CONFIDENCE_POWER = 0.5
TEXT_WEIGHT_RANGE = (0.25, 4.0)
MIN_CONFIDENCE = 1e-3


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


def confidence(z: np.ndarray) -> float:
    """How far a side's best candidate stands above its others: its z-score (at least
    MIN_CONFIDENCE, so that a flat or single-candidate side still has a finite ratio)."""
    return max(float(z[0]), MIN_CONFIDENCE) if z.size > 1 else 1.0


def text_weight(vector_z: np.ndarray, text_z: np.ndarray) -> float:
    """The full-text side's weight for one query: TEXT_WEIGHT times the square root of how much
    more (or less) its best hit stands out than the vector side's, kept within
    TEXT_WEIGHT_RANGE of TEXT_WEIGHT."""
    ratio = (confidence(text_z) / confidence(vector_z)) ** CONFIDENCE_POWER
    low, high = TEXT_WEIGHT_RANGE
    return TEXT_WEIGHT * min(high, max(low, ratio))


def fuse_hybrid(vector: Scored, text: Scored, *, limit: int) -> list[int]:
    """The hybrid search's fusion: z-scores added, the vector side's weighed VECTOR_WEIGHT and
    the full-text side's `text_weight` of this query; ties go to the newer message. A side
    with no candidates leaves the other's order as it is."""
    if not vector or not text:
        return [seq for seq, _ in (vector or text)[:limit]]
    vector_z = standardised([score for _, score in vector])
    text_z = standardised([score for _, score in text])
    weight = text_weight(vector_z, text_z)
    fused: dict[int, float] = {}
    for (seq, _), value in zip(vector, vector_z, strict=True):
        fused[seq] = VECTOR_WEIGHT * float(value)
    for (seq, _), value in zip(text, text_z, strict=True):
        fused[seq] = fused.get(seq, 0.0) + weight * float(value)
    return sorted(fused, key=lambda seq: (-fused[seq], -seq))[:limit]
