"""The pure rule that decides whether a derived observation confirms a stored one (SAME: a
merge), replaces it (CHANGED) or stands beside it (DIFFERENT). Distances are given, so each
case pins the rule itself, not the embedding model (bench/merge_rule.py measures the two
together)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from parley.memory.deriver import Said, sentence_facts
from parley.memory.fact_identity import (
    CHANGE_DISTANCE,
    MERGE_DISTANCE,
    Anchors,
    Relation,
    anchors,
    relation,
)

SAME, CHANGED, DIFFERENT = Relation.SAME, Relation.CHANGED, Relation.DIFFERENT
CLOSE = 0.01  # closer than any threshold: only the anchors decide


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        # the cases: a new date, a negation, short numbered facts
        (
            "Alice has a dentist appointment on March 3",
            "Alice has a dentist appointment on March 9",
            CHANGED,
        ),
        ("I am allergic to peanuts", "I am not allergic to peanuts", CHANGED),
        ("Observation 1", "Observation 2", DIFFERENT),
        (
            "alice said on 2024-05-02: Observation 1",
            "alice said on 2024-05-02: Observation 2",
            DIFFERENT,
        ),
        # repeats and paraphrases with the same anchors
        ("Alice has a golden retriever", "Alice has a golden retriever", SAME),
        ("carol has three cats", "Carol has 3 cats", SAME),
        ("The meeting is on March 3rd", "The meeting is on 3 March", SAME),
        ("The meeting is on 2024-03-03", "The meeting is on March 3, 2024", SAME),
        ("Alice's flight leaves at 15:00", "Alice's flight leaves at 3 p.m.", SAME),
        ("The rent is $1,200 a month", "The rent is $1200 a month", SAME),
        ("The user goes to the gym twice a week", "The user goes to the gym 2 times a week", SAME),
        ("The user does not drink alcohol", "The user doesn't drink alcohol", SAME),
        ("Alice dislikes loud music", "Alice does not like loud music", SAME),
        # changed values of one subject
        ("Alice has 2 cats", "Alice has 3 cats", CHANGED),
        ("dave is 34 years old", "dave is thirty-five years old", CHANGED),
        ("bob's flight to Rome is on Friday", "bob's flight to Rome is on Sunday", CHANGED),
        ("bob's shift starts at 9 am", "bob's shift starts at 11 am", CHANGED),
        ("carol goes jogging in the morning", "carol goes jogging in the evening", CHANGED),
        ("bob lives in Berlin", "bob no longer lives in Berlin", CHANGED),
        ("The user has pets", "The user doesn't have any pets", CHANGED),
        ("Alice takes sugar in her coffee", "Alice takes her coffee without sugar", CHANGED),
        ("dave is older than his sister", "dave is younger than his sister", CHANGED),
        ("Alice loves dogs", "Alice hates dogs", CHANGED),
        ("The user is happy at work", "The user is unhappy at work", CHANGED),
        # different facts
        ("Alice has 2 cats", "Alice has 3 dogs", DIFFERENT),  # another subject
        ("Bob has 2 cats", "Alice has 2 cats", DIFFERENT),  # another name
        ("Alice lives in Berlin", "Alice lives in Paris", DIFFERENT),
        ("bob's father is a doctor", "bob's mother is a doctor", DIFFERENT),  # another person
        ("Room 12 is booked", "Room 14 is booked", DIFFERENT),  # labels
        ("Item #7 shipped", "Item #9 shipped", DIFFERENT),
        ("The user tested v1.2.0", "The user tested v1.3.0", DIFFERENT),
        ("Alice has cats", "Alice has 2 cats", DIFFERENT),  # only more detail
        ("The user has a meeting", "The user has a meeting on Monday", DIFFERENT),
        # a "said on" day counts only for a sentence relative to it
        (
            "alice said on 2024-05-02: I live in Berlin.",
            "alice said on 2024-05-09: I live in Berlin.",
            SAME,
        ),
        (
            "alice said on 2024-05-02: I have a meeting tomorrow.",
            "alice said on 2024-05-09: I have a meeting tomorrow.",
            DIFFERENT,
        ),
        (
            "carol said on 2024-07-01: My sister visits next week.",
            "carol said on 2024-07-01: My sister visits next week!",
            SAME,
        ),
        (
            "alice said on 2024-05-02: I am allergic to peanuts.",
            "alice said on 2024-06-01: I am not allergic to peanuts.",
            CHANGED,
        ),
    ],
)
def test_relation_when_close(old: str, new: str, expected: Relation) -> None:
    assert relation(new, old, CLOSE) is expected


def test_distance_bounds_each_relation() -> None:
    """SAME needs the merge distance, CHANGED the change distance; past both, DIFFERENT."""
    repeat = ("Alice owns a golden retriever", "Alice has a golden retriever")
    update = ("Alice has 3 cats", "Alice has 2 cats")
    assert MERGE_DISTANCE < CHANGE_DISTANCE
    assert relation(*repeat, MERGE_DISTANCE) is SAME
    assert relation(*repeat, MERGE_DISTANCE + 0.001) is DIFFERENT
    assert relation(*update, CHANGE_DISTANCE) is CHANGED
    assert relation(*update, CHANGE_DISTANCE + 0.001) is DIFFERENT
    assert relation(*repeat, 0.2, merge_distance=0.25) is SAME
    assert relation(*update, 0.2, change_distance=0.1) is DIFFERENT


def test_anchors_of_one_text() -> None:
    found = anchors("Bob met Carol in Paris on 2024-03-03 at 3:30 pm and paid $1,250.50 twice")
    assert found == Anchors(
        values=("month:3", "n:1250.5", "n:2", "n:2024", "n:3", "time:15:30"),
        names=frozenset({"bob", "carol", "paris"}),
        labels=frozenset(),
        negations=0,
        said_on=None,
        words=found.words,
        content=frozenset({"met", "paid"}),
    )


@pytest.mark.parametrize(
    ("text", "values", "names", "labels", "negations"),
    [
        ("Alice may visit in May", ("month:5",), {"alice"}, set(), 0),
        ("Alice will march in March", ("month:3",), {"alice"}, set(), 0),
        ("She goes to the gym twice a week on Mondays", ("n:2", "weekday:1"), set(), set(), 0),
        ("Next week Alice flies to NYC", ("day:next week",), {"alice", "nyc"}, set(), 0),
        ("No one likes the twenty-first floor", ("n:21",), set(), set(), 1),
        ("Alice uses Python 3.11 on her iPhone", (), {"alice", "python", "iphone"}, {"3.11"}, 0),
        ("Observation 1", (), {"observation"}, {"1"}, 0),
        ("The user's mom can't swim", (), {"kin:mother"}, set(), 1),
        ("Alice never eats meat and has no pets", (), {"alice"}, set(), 2),
    ],
)
def test_anchors(
    text: str, values: tuple[str, ...], names: set[str], labels: set[str], negations: int
) -> None:
    found = anchors(text)
    assert (found.values, found.names, found.labels, found.negations) == (
        values,
        frozenset(names),
        frozenset(labels),
        negations,
    )


def test_the_said_on_form_is_the_derivers() -> None:
    """The rule reads the day off what the retrieval-only deriver writes."""
    said = Said(
        1, "m1", "alice", "I have a meeting tomorrow.", datetime(2024, 5, 2, tzinfo=UTC), {}
    )
    [fact] = sentence_facts("alice", [said], [])
    assert fact.content == "alice said on 2024-05-02: I have a meeting tomorrow."
    assert anchors(fact.content).said_on == "2024-05-02"
    assert anchors(fact.content).values == ("day:tomorrow",)
