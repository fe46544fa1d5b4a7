"""The hybrid search's adaptive fusion (memory.fusion.fuse_hybrid), on small hand-built lists."""

from __future__ import annotations

import math

import numpy as np

from parley.memory.fusion import TEXT_WEIGHT, confidence, fuse, fuse_hybrid, text_weight

# ten vector candidates evenly spread (the best's z-score is 1.567) and ten full-text ones where
# one hit stands far above nine equal ones (its z-score is 3)
EVEN_VECTOR = [(seq, 1.0 - 0.01 * seq) for seq in range(1, 11)]
PEAKED_TEXT = [(20, 9.0)] + [(seq, 1.0) for seq in range(21, 30)]


def test_a_side_alone_keeps_its_order() -> None:
    assert fuse_hybrid(EVEN_VECTOR, [], limit=3) == [1, 2, 3]
    assert fuse_hybrid([], PEAKED_TEXT, limit=2) == [20, 21]
    assert fuse_hybrid([], [], limit=5) == []


def test_confidence_is_the_best_z_score() -> None:
    assert confidence(np.array([2.0, -1.0, -1.0])) == 2.0
    assert confidence(np.array([1.0])) == 1.0  # one candidate
    assert confidence(np.array([0.0, 0.0])) == 1e-3  # floored, never zero


def test_text_weight_follows_the_ratio_of_confidences() -> None:
    even = np.array([1.0, -1.0])
    assert text_weight(even, even) == TEXT_WEIGHT
    assert math.isclose(text_weight(np.array([1.0, -1.0]), np.array([4.0, -1.0])), 1.0)
    assert math.isclose(text_weight(np.array([4.0, -1.0]), np.array([1.0, -1.0])), 0.25)
    # kept within a quarter and four times TEXT_WEIGHT
    assert text_weight(np.array([0.1, -0.1]), np.array([4.0, -1.0])) == 4 * TEXT_WEIGHT
    assert text_weight(np.array([4.0, -1.0]), np.array([0.1, -0.1])) == TEXT_WEIGHT / 4


def test_a_full_text_hit_that_stands_out_goes_first() -> None:
    # the fixed weight 0.5 gives the text hit 1.5 against the vector's best 1.567; the adaptive
    # weight, 0.5 * sqrt(3 / 1.567) = 0.692, gives it 2.076
    assert fuse([(EVEN_VECTOR, 1.0), (PEAKED_TEXT, TEXT_WEIGHT)], limit=4) == [1, 20, 2, 3]
    assert fuse_hybrid(EVEN_VECTOR, PEAKED_TEXT, limit=4) == [20, 1, 2, 3]


def test_a_flat_full_text_list_barely_moves_the_vector_order() -> None:
    flat_text = [(10, 2.0), (9, 1.9), (8, 1.8)]
    # text z-scores 1.225, 0, -1.225 and weight 0.5 * sqrt(1.225 / 1.567) = 0.442 only reorder
    # the vector's last three: seq 10 gets -1.567 + 0.541, seq 9 -1.219, seq 8 -0.870 - 0.541
    assert fuse_hybrid(EVEN_VECTOR, flat_text, limit=10) == [1, 2, 3, 4, 5, 6, 7, 10, 9, 8]


def test_found_by_both_sides_adds_up() -> None:
    # z-scores (1, -1) on each side, weight 0.5: seq 1 gets 1 - 0.5, seq 2 gets -1 + 0.5
    assert fuse_hybrid([(1, 0.9), (2, 0.1)], [(2, 5.0), (1, 1.0)], limit=2) == [1, 2]


def test_ties_go_to_the_newer_message() -> None:
    # equal vector scores all count 1; the single text hit 0.5
    assert fuse_hybrid([(5, 0.9), (6, 0.9)], [(7, 2.0)], limit=3) == [6, 5, 7]


def test_a_score_that_is_not_a_number_counts_as_the_sides_worst() -> None:
    # (0.8, 0.4, 0.4): z-scores 1.414, -0.707, -0.707; the single text hit gets
    # 0.5 * sqrt(1 / 1.414) = 0.420; seqs 2 and 3 tie, and the newer goes first
    vector = [(1, 0.8), (2, 0.4), (3, float("nan"))]
    assert fuse_hybrid(vector, [(4, 1.0)], limit=4) == [1, 4, 3, 2]
