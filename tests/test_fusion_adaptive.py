"""The hybrid search's query-dependent fusion (memory.fusion.fuse_hybrid), on small hand-built
lists."""

from __future__ import annotations

import pytest

from parley.memory.fusion import TEXT_WEIGHT, fuse_hybrid, names_or_numbers, text_weight

# ten vector candidates evenly spread (the best's z-score is 1.567) and ten full-text ones where
# one hit stands far above nine equal ones (its z-score is 3)
EVEN_VECTOR = [(seq, 1.0 - 0.01 * seq) for seq in range(1, 11)]
PEAKED_TEXT = [(20, 9.0)] + [(seq, 1.0) for seq in range(21, 30)]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("When did Caroline go to the support group?", True),
        ("What did I buy on 8 May?", True),
        ("how many weeks until the 2024 deadline", True),
        ("What is the average response time of the dashboard API?", True),
        ("When does my first sprint end?", False),
        ("Which libraries are used in this project? What did I pick?", False),  # sentence starts
        ("Have I said that I like tea?", False),  # "I" is no name
        ("", False),
    ],
)
def test_names_or_numbers(query: str, expected: bool) -> None:
    assert names_or_numbers(query) is expected


def test_text_weight() -> None:
    assert text_weight("When does my first sprint end?") == TEXT_WEIGHT == 0.5
    assert text_weight("When did Caroline move?") == 0.75


def test_a_side_alone_keeps_its_order() -> None:
    assert fuse_hybrid(EVEN_VECTOR, [], query="sprint", limit=3) == [1, 2, 3]
    assert fuse_hybrid([], PEAKED_TEXT, query="Caroline", limit=2) == [20, 21]
    assert fuse_hybrid([], [], query="anything", limit=5) == []


def test_a_name_gives_the_full_text_hit_the_lead() -> None:
    # the text hit's z-score 3 against the vector's best 1.567: 3 x 0.5 = 1.5 stays behind,
    # 3 x 0.75 = 2.25 goes first
    assert fuse_hybrid(EVEN_VECTOR, PEAKED_TEXT, query="when was the trip", limit=4) == [
        1,
        20,
        2,
        3,
    ]
    assert fuse_hybrid(EVEN_VECTOR, PEAKED_TEXT, query="when was the trip to Lima", limit=4) == [
        20,
        1,
        2,
        3,
    ]


def test_a_flat_full_text_list_barely_moves_the_vector_order() -> None:
    # text z-scores 1.225, 0, -1.225 at weight 0.5 only reorder the vector's last three:
    # seq 10 gets -1.567 + 0.612, seq 9 -1.219, seq 8 -0.870 - 0.612
    flat_text = [(10, 2.0), (9, 1.9), (8, 1.8)]
    assert fuse_hybrid(EVEN_VECTOR, flat_text, query="sprint", limit=10) == [
        1,
        2,
        3,
        4,
        5,
        6,
        7,
        10,
        9,
        8,
    ]


def test_found_by_both_sides_adds_up() -> None:
    # z-scores (1, -1) on each side, weight 0.5: seq 1 gets 1 - 0.5, seq 2 gets -1 + 0.5
    assert fuse_hybrid([(1, 0.9), (2, 0.1)], [(2, 5.0), (1, 1.0)], query="x", limit=2) == [1, 2]


def test_ties_go_to_the_newer_message() -> None:
    # equal vector scores all count 1; the single text hit 0.5
    assert fuse_hybrid([(5, 0.9), (6, 0.9)], [(7, 2.0)], query="x", limit=3) == [6, 5, 7]


def test_a_score_that_is_not_a_number_counts_as_the_sides_worst() -> None:
    # (0.8, 0.4, 0.4): z-scores 1.414, -0.707, -0.707; the single text hit 0.5; seqs 2 and 3
    # tie, and the newer goes first
    vector = [(1, 0.8), (2, 0.4), (3, float("nan"))]
    assert fuse_hybrid(vector, [(4, 1.0)], query="x", limit=4) == [1, 4, 3, 2]
