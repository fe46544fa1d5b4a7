"""Fusing the vector and full-text rankings of a hybrid search into one.

Each side's candidates come with its own scores (cosine similarity; bm25 or ts_rank_cd). The
scores are standardised per side and per query (z-scores over that side's candidates), then
added with a weight per side; a candidate one side did not return gets that side's mean (0).
Unlike reciprocal rank fusion, this keeps how far apart the candidates are: a full-text hit far
above the other matches (a rare name, an exact phrase) moves up a lot, while a flat full-text
list (common words matched everywhere) barely moves the vector order.

Chosen on BEAM (docs/benchmarks.md): on the first five conversations, z-scores with the full
text weighted 0.3 beat both sides alone at any@k, all@k and frac@k for k = 5, 10, 20, where
reciprocal rank fusion (k = 60, text weight 0.25) lost to vector search at k = 5 and 10.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

Scored = Sequence[tuple[int, float]]  # (seq, score), best first; higher scores are better

VECTOR_WEIGHT = 1.0
TEXT_WEIGHT = 0.3


def standardised(scores: Sequence[float]) -> np.ndarray:
    """z-scores; all zeros when the scores do not spread (one candidate, or all equal)."""
    values = np.asarray(scores, dtype=np.float64)
    spread = values.std() if values.size else 0.0
    if not np.isfinite(spread) or spread <= 1e-12:
        return np.zeros_like(values)
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
