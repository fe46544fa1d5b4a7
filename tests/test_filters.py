"""The filter language through the HTTP API: every case runs on SQLite and on PostgreSQL and must
give the same exact rows, in order, on both (the `client` fixture is parametrized by backend).

Each table below is a list of (filters, expected message contents); a test seeds the same ten
messages, runs every filter of its table and compares the whole table at once, so a failure shows
every case that differs. Honcho filters messages on neither `content` nor `id`; the tables of
text operators on those run on observations (its documents), which hold the same ten texts.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient

WS = "/v2/workspaces/w"
MESSAGES = f"{WS}/sessions/s/messages"

HELLO = "Hello world"
ARGER = "Ärger im Büro"
ECOLE_UP = "ÉCOLE normale"
ECOLE = "école du soir 😀"
PERCENT = "100% sure_thing"
SQL = "'; DROP TABLE messages; --"
APPLE = "apple"
BANANA = "Banana"
ZEBRA = "zebra"
ECLAIR = "éclair 🍰"

# (content, peer_id, created_at, metadata), stored in this order (the list order).
SEED: list[tuple[str, str, str, dict[str, Any]]] = [
    (
        HELLO,
        "alice",
        "2025-01-01T00:00:00Z",
        {
            "topic": "travel",
            "score": 5,
            "tags": ["a", "b"],
            "flag": True,
            "n": 1,
            "note": None,
            "place": {"city": "Lisbon", "geo": {"lat": 38.7}},
        },
    ),
    (
        ARGER,
        "bob",
        "2025-01-02T00:00:00Z",
        {
            "topic": "work",
            "score": 10,
            "tags": ["b", "c"],
            "flag": False,
            "n": "1",
            "place": {"city": "Berlin"},
        },
    ),
    (
        ECOLE_UP,
        "carol",
        "2025-01-03T12:00:00+02:00",  # 10:00 UTC
        {
            "topic": "school",
            "score": 7.5,
            "tags": ["a"],
            "n": True,
            "place": {"city": "Paris", "geo": {"lat": 48.9}},
        },
    ),
    (
        ECOLE,
        "alice",
        "2025-01-04T00:00:00Z",
        {"topic": "School", "score": "high", "tags": "a", "n": 1.0, "place": "Paris"},
    ),
    (PERCENT, "bob", "2025-01-05T00:00:00Z", {"topic": "a%b", "score": -3, "tags": [], "n": [1]}),
    (
        SQL,
        "Zed",
        "2025-01-06T00:00:00Z",
        {"topic": "x' OR '1'='1", "score": None, "tags": ["x", 1, True, None]},
    ),
    (APPLE, "Zed", "2025-01-07T00:00:00Z", {"word": "apple"}),
    (BANANA, "carol", "2025-01-08T00:00:00Z", {"word": "Banana"}),
    (ZEBRA, "dave", "2025-01-09T00:00:00Z", {"word": "zebra"}),
    (ECLAIR, "dave", "2025-01-10T00:00:00Z", {"word": "éclair"}),
]
ALL = [content for content, *_ in SEED]
TOKENS = [2, 6, 5, 5, 5, 6, 1, 2, 2, 4]  # cl100k_base counts of the contents above


def but(*excluded: str) -> list[str]:
    return [c for c in ALL if c not in excluded]


Cases = list[tuple[dict[str, Any], list[str]]]


@pytest.fixture
def seeded(client: TestClient) -> list[dict[str, Any]]:
    """Workspace w, session s and the SEED messages; returns the created messages."""
    assert client.post("/v2/workspaces", json={"id": "w"}).status_code == 200
    body = {
        "messages": [
            {"content": c, "peer_id": p, "created_at": t, "metadata": m} for c, p, t, m in SEED
        ]
    }
    response = client.post(f"{MESSAGES}/", json=body)
    assert response.status_code == 200, response.text
    created = response.json()
    assert [m["content"] for m in created] == ALL
    assert [m["token_count"] for m in created] == TOKENS
    return list(created)


@pytest.fixture
def notes(client: TestClient, seeded: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The SEED contents again as observations, each by its message's sender about itself, in
    session s; returns the created observations."""
    body = {
        "observations": [
            {"content": c, "observer_id": p, "observed_id": p, "session_id": "s"}
            for c, p, _, _ in SEED
        ]
    }
    response = client.post(f"{WS}/observations", json=body)
    assert response.status_code == 200, response.text
    assert [o["content"] for o in response.json()] == ALL
    return list(response.json())


def listing(client: TestClient, path: str, filters: Any, **params: Any) -> dict[str, Any]:
    response = client.post(path, json={"filters": filters}, params=params)
    assert response.status_code == 200, f"{filters}: {response.status_code} {response.text}"
    return dict(response.json())


def contents(client: TestClient, filters: Any, **params: Any) -> list[str]:
    return [m["content"] for m in listing(client, f"{MESSAGES}/list", filters, **params)["items"]]


def check(client: TestClient, cases: Cases) -> None:
    """Every filter of the table gives exactly its expected contents, in stored order."""
    got = [(json.dumps(f, ensure_ascii=False), contents(client, f)) for f, _ in cases]
    want = [(json.dumps(f, ensure_ascii=False), expected) for f, expected in cases]
    assert got == want


def note_contents(client: TestClient, filters: Any) -> list[str]:
    """Observations matching `filters`, in stored order (oldest first)."""
    page = listing(client, f"{WS}/observations/list", filters, reverse=True)
    return [o["content"] for o in page["items"]]


def check_notes(client: TestClient, cases: Cases) -> None:
    """`check` over the observations."""
    got = [(json.dumps(f, ensure_ascii=False), note_contents(client, f)) for f, _ in cases]
    want = [(json.dumps(f, ensure_ascii=False), expected) for f, expected in cases]
    assert got == want


def rejected(client: TestClient, filters: Any, path: str = f"{MESSAGES}/list") -> tuple[int, Any]:
    response = client.post(path, json={"filters": filters})
    return response.status_code, response.json()


# --- no filter -----------------------------------------------------------------------------


def test_no_filter_lists_everything(client: TestClient, seeded: list[dict[str, Any]]) -> None:
    assert [m["content"] for m in client.post(f"{MESSAGES}/list").json()["items"]] == ALL
    assert contents(client, None) == ALL
    assert contents(client, {}) == ALL
    assert contents(client, {}, reverse=True) == ALL[::-1]


def test_filters_apply_before_paging(client: TestClient, seeded: list[dict[str, Any]]) -> None:
    page = listing(client, f"{MESSAGES}/list", {"peer_id": ["alice", "bob"]}, size=3, page=2)
    assert [m["content"] for m in page["items"]] == [PERCENT]
    assert (page["total"], page["page"], page["size"], page["pages"]) == (4, 2, 3, 2)
    page = listing(client, f"{MESSAGES}/list", {"peer_id": "bob"}, reverse=True)
    assert [m["content"] for m in page["items"]] == [PERCENT, ARGER]
    assert page["total"] == 2


def test_or_filters_stay_inside_the_session_and_workspace(
    client: TestClient, seeded: list[dict[str, Any]]
) -> None:
    """An OR filter is one term of the statement's WHERE: `peer_id = a OR peer_id = b` must not
    turn `session_id = s AND ...` into `(session_id = s AND peer_id = a) OR peer_id = b`."""
    other = {"messages": [{"content": "elsewhere", "peer_id": "bob"}]}
    assert client.post(f"{WS}/sessions/s2/messages", json=other).status_code == 200
    assert client.post("/v2/workspaces/w2/sessions/s/messages", json=other).status_code == 200
    either = {"OR": [{"peer_id": "alice"}, {"peer_id": "bob"}]}
    assert contents(client, either) == [HELLO, ARGER, ECOLE, PERCENT]
    assert contents(client, {"NOT": [{"peer_id": "alice"}], **either}) == [ARGER, PERCENT]
    peers = listing(client, f"{WS}/peers/list", {"OR": [{"id": "bob"}, {"id": "nobody"}]})
    assert [(p["workspace_id"], p["id"]) for p in peers["items"]] == [("w", "bob")]


# --- plain columns -------------------------------------------------------------------------


def test_equality_in_and_wildcard_on_columns(
    client: TestClient, notes: list[dict[str, Any]]
) -> None:
    check(
        client,
        [
            ({"peer_id": "alice"}, [HELLO, ECOLE]),
            ({"peer_id": "ALICE"}, []),
            ({"peer_id": "nobody"}, []),
            ({"peer_id": ["alice", "dave"]}, [HELLO, ECOLE, ZEBRA, ECLAIR]),
            ({"peer_id": {"in": ["carol"]}}, [ECOLE_UP, BANANA]),
            ({"peer_id": []}, []),
            ({"peer_id": {"in": []}}, []),
            ({"peer_id": {"ne": "alice"}}, but(HELLO, ECOLE)),
            ({"peer_id": "*"}, ALL),
            ({"peer_id": ["alice", "*"]}, ALL),
            ({"peer_id": {"in": ["*"]}}, ALL),
            ({"peer_id": {"ne": "*"}}, ALL),
            ({"peer_id": {"gte": "*", "lt": "a"}}, [SQL, APPLE]),
            ({"session_id": "s"}, ALL),
            ({"session_id": "other"}, []),
            ({"workspace_id": "w"}, ALL),
            ({"workspace_id": ["x", "y"]}, []),
        ],
    )
    check_notes(
        client,
        [
            ({"content": HELLO}, [HELLO]),
            ({"content": "hello world"}, []),
            ({"content": "Hello"}, []),
            ({"content": [APPLE, ZEBRA, "nope"]}, [APPLE, ZEBRA]),
            ({"content": {"ne": APPLE}}, but(APPLE)),
            ({"observer_id": "carol", "content": BANANA}, [BANANA]),
            ({"observer_id": "carol", "content": APPLE}, []),
        ],
    )


def test_id_filters(client: TestClient, notes: list[dict[str, Any]]) -> None:
    ids = [o["id"] for o in notes]
    check_notes(
        client,
        [
            ({"id": ids[2]}, [ECOLE_UP]),
            ({"id": [ids[9], ids[0], "missing-id"]}, [HELLO, ECLAIR]),
            ({"id": {"in": [ids[4]]}}, [PERCENT]),
            ({"id": {"ne": ids[0]}}, but(HELLO)),
            ({"id": ids[0][:-1]}, []),
            ({"id": {"contains": ids[0][1:-1]}}, [HELLO]),
            ({"id": "*"}, ALL),
        ],
    )


def test_token_count(client: TestClient, seeded: list[dict[str, Any]]) -> None:
    check(
        client,
        [
            ({"token_count": 5}, [ECOLE_UP, ECOLE, PERCENT]),
            ({"token_count": 0}, []),
            ({"token_count": {"gt": 5}}, [ARGER, SQL]),
            ({"token_count": {"gte": 6}}, [ARGER, SQL]),
            ({"token_count": {"lt": 2}}, [APPLE]),
            ({"token_count": {"lte": 2}}, [HELLO, APPLE, BANANA, ZEBRA]),
            ({"token_count": {"gte": 2, "lt": 5}}, [HELLO, BANANA, ZEBRA, ECLAIR]),
            ({"token_count": {"ne": 5}}, but(ECOLE_UP, ECOLE, PERCENT)),
            ({"token_count": [1, 4]}, [APPLE, ECLAIR]),
            ({"token_count": {"in": [6]}}, [ARGER, SQL]),
            # Past PostgreSQL's int4 column type, within 64 bits: compared, not an error.
            ({"token_count": {"gt": 2**40}}, []),
            ({"token_count": {"gt": -(2**40)}}, ALL),
            ({"token_count": {"lte": 2**63 - 1}}, ALL),
            ({"token_count": {"gte": -(2**63)}}, ALL),
            ({"token_count": 2**40}, []),
            ({"token_count": [2**40, 1]}, [APPLE]),
            ({"token_count": {"in": [-(2**63), 2**63 - 1]}}, []),
            ({"token_count": "*"}, ALL),
        ],
    )


def test_created_at_with_dates_and_offsets(
    client: TestClient, seeded: list[dict[str, Any]]
) -> None:
    stored = datetime.fromisoformat(seeded[2]["created_at"])
    assert stored == datetime(2025, 1, 3, 10, tzinfo=UTC)
    check(
        client,
        [
            ({"created_at": "2025-01-03T10:00:00Z"}, [ECOLE_UP]),
            ({"created_at": "2025-01-03T10:00:00+00:00"}, [ECOLE_UP]),
            ({"created_at": "2025-01-03T12:00:00+02:00"}, [ECOLE_UP]),
            ({"created_at": "2025-01-03T05:00:00-05:00"}, [ECOLE_UP]),
            ({"created_at": "2025-01-03T10:00:00"}, [ECOLE_UP]),  # no offset: UTC
            ({"created_at": "2025-01-03 10:00:00"}, [ECOLE_UP]),
            ({"created_at": "2025-01-03T12:00:00Z"}, []),
            ({"created_at": "2025-01-01"}, [HELLO]),  # a date is its midnight, UTC
            ({"created_at": {"gte": "2025-01-09"}}, [ZEBRA, ECLAIR]),
            ({"created_at": {"lt": "2025-01-02"}}, [HELLO]),
            (
                {"created_at": {"gt": "2025-01-01T00:00:00Z", "lte": "2025-01-03T10:00:00Z"}},
                [
                    ARGER,
                    ECOLE_UP,
                ],
            ),
            ({"created_at": {"lt": "2025-01-03T11:00:00+01:00"}}, [HELLO, ARGER]),
            ({"created_at": {"lte": "2025-01-03T11:00:00+01:00"}}, [HELLO, ARGER, ECOLE_UP]),
            ({"created_at": {"gt": "2025-01-03T09:59:59.999999Z"}}, ALL[2:]),
            ({"created_at": {"gte": "2025-01-04T00:00:00.000001Z"}}, ALL[4:]),
            ({"created_at": {"gte": "2025-01-04T01:00:00+01:00"}}, ALL[3:]),
            ({"created_at": {"ne": "2025-01-01T00:00:00Z"}}, but(HELLO)),
            (
                {"created_at": ["2025-01-01T00:00:00Z", "2025-01-02T01:00:00+01:00"]},
                [
                    HELLO,
                    ARGER,
                ],
            ),
            ({"created_at": {"in": ["2025-01-10T00:00:00Z"]}}, [ECLAIR]),
            ({"created_at": {"gte": "2025-01-05", "lt": "2025-01-05T00:00:00.000001Z"}}, [PERCENT]),
            ({"created_at": {"gte": "2030-01-01T00:00:00Z"}}, []),
            ({"created_at": {"gte": "*"}}, ALL),
        ],
    )


def test_text_ordering_is_by_code_point(client: TestClient, notes: list[dict[str, Any]]) -> None:
    """Not by any locale: "B" < "Z" < "a" < "z" < "É" < "é", on both backends."""
    check(
        client,
        [
            ({"peer_id": {"lt": "a"}}, [SQL, APPLE]),  # "Zed" < "alice"
            ({"peer_id": {"gt": "Zed"}}, but(SQL, APPLE)),
            ({"peer_id": {"gte": "bob", "lt": "dave"}}, [ARGER, ECOLE_UP, PERCENT, BANANA]),
            ({"metadata": {"word": {"lt": "a"}}}, [BANANA]),
            ({"metadata": {"word": {"gt": "z"}}}, [ZEBRA, ECLAIR]),
            ({"metadata": {"word": {"gte": "apple", "lte": "zebra"}}}, [APPLE, ZEBRA]),
            ({"metadata": {"word": {"gt": "Banana", "lt": "apple"}}}, []),
            ({"metadata": {"topic": {"lt": "a"}}}, [ECOLE]),  # "School"
            ({"metadata": {"place": {"city": {"gt": "B", "lt": "M"}}}}, [HELLO, ARGER]),
            ({"metadata": {"place": {"city": {"lt": "b", "ne": "Berlin"}}}}, [HELLO, ECOLE_UP]),
        ],
    )
    check_notes(
        client,
        [
            ({"content": {"lt": "B"}}, [PERCENT, SQL]),
            ({"content": {"lt": "a"}}, [HELLO, PERCENT, SQL, BANANA]),
            ({"content": {"gt": "Banana", "lt": "apple"}}, [HELLO]),
            ({"content": {"gte": "a", "lt": "b"}}, [APPLE]),
            ({"content": {"gt": "z"}}, [ARGER, ECOLE_UP, ECOLE, ZEBRA, ECLAIR]),
            ({"content": {"gt": "zz"}}, [ARGER, ECOLE_UP, ECOLE, ECLAIR]),
            ({"content": {"gte": "É", "lt": "é"}}, [ECOLE_UP]),
            ({"content": {"gt": "éclair"}}, [ECOLE, ECLAIR]),
            ({"content": {"gt": "éclair 🍰"}}, [ECOLE]),
            ({"content": {"lte": "éclair 🍰", "gt": "éclair 😀"}}, []),
        ],
    )


# --- substrings: case, non-ASCII, LIKE wildcards, SQL-looking text -------------------------


def test_contains_and_icontains(client: TestClient, notes: list[dict[str, Any]]) -> None:
    check(
        client,
        [
            ({"peer_id": {"contains": "a"}}, [HELLO, ECOLE_UP, ECOLE, BANANA, ZEBRA, ECLAIR]),
            ({"peer_id": {"icontains": "Z"}}, [SQL, APPLE]),
            ({"peer_id": {"contains": "z"}}, []),
            ({"metadata": {"topic": {"contains": "School"}}}, [ECOLE]),
            ({"metadata": {"topic": {"contains": "school"}}}, [ECOLE_UP]),
            ({"metadata": {"topic": {"icontains": "SCHOOL"}}}, [ECOLE_UP, ECOLE]),
            ({"metadata": {"word": {"icontains": "ÉCLAIR"}}}, [ECLAIR]),
            ({"metadata": {"word": {"contains": "ÉCLAIR"}}}, []),
            ({"metadata": {"place": {"city": {"icontains": "LIS"}}}}, [HELLO]),
            ({"metadata": {"place": {"city": {"contains": "is"}}}}, [HELLO, ECOLE_UP]),
            ({"metadata": {"place": {"icontains": "paris"}}}, [ECOLE]),  # strings only
            ({"metadata": {"score": {"contains": "1"}}}, []),  # 10 is a number, not text
            ({"metadata": {"score": {"icontains": "HIGH"}}}, [ECOLE]),
        ],
    )
    check_notes(
        client,
        [
            ({"content": {"contains": "world"}}, [HELLO]),
            ({"content": {"contains": "World"}}, []),
            ({"content": {"icontains": "WORLD"}}, [HELLO]),
            ({"content": {"contains": "HELLO"}}, []),
            ({"content": {"icontains": "hello"}}, [HELLO]),
            ({"content": {"contains": "école"}}, [ECOLE]),
            ({"content": {"contains": "ÉCOLE"}}, [ECOLE_UP]),
            ({"content": {"icontains": "école"}}, [ECOLE_UP, ECOLE]),
            ({"content": {"icontains": "ÉCOLE"}}, [ECOLE_UP, ECOLE]),
            ({"content": {"icontains": "eCOLE"}}, []),  # é is not e
            ({"content": {"contains": "ärger"}}, []),
            ({"content": {"icontains": "ärger"}}, [ARGER]),
            ({"content": {"icontains": "ÄRGER IM BÜRO"}}, [ARGER]),
            ({"content": {"contains": "Büro"}}, [ARGER]),
            ({"content": {"icontains": "büro"}}, [ARGER]),
            ({"content": {"contains": "😀"}}, [ECOLE]),
            ({"content": {"icontains": "😀"}}, [ECOLE]),
            ({"content": {"icontains": "SOIR 😀"}}, [ECOLE]),
            ({"content": {"contains": "🍰"}}, [ECLAIR]),
            ({"content": {"icontains": "ÉCLAIR 🍰"}}, [ECLAIR]),
            ({"content": {"icontains": "É"}}, [ECOLE_UP, ECOLE, ECLAIR]),
            ({"content": {"contains": "é"}}, [ECOLE, ECLAIR]),
            ({"content": {"contains": ""}}, ALL),
            ({"content": {"icontains": ""}}, ALL),
            ({"content": {"contains": "an", "icontains": "B"}}, [BANANA]),
            ({"content": {"contains": "apple pie"}}, []),
        ],
    )


def test_like_wildcards_and_sql_are_literal(
    client: TestClient, notes: list[dict[str, Any]]
) -> None:
    check(
        client,
        [
            ({"peer_id": "alice' OR '1'='1"}, []),
            ({"peer_id": {"in": ["x') OR 1=1 --", "alice"]}}, [HELLO, ECOLE]),
            ({"metadata": {"topic": "x' OR '1'='1"}}, [SQL]),
            ({"metadata": {"topic": {"contains": "'1'='1"}}}, [SQL]),
            ({"metadata": {"topic": {"contains": "%"}}}, [PERCENT]),
            ({"metadata": {"topic": {"contains": "_"}}}, []),
            ({"metadata": {"topic": "a_b"}}, []),
            ({"metadata": {"topic": "a%b"}}, [PERCENT]),
            ({"metadata": {"a') OR 1=1 --": 1}}, []),
            ({"metadata": {"topic') OR ('1'='1": {"ne": 1}}}, ALL),
            ({"metadata": {"$.topic": "travel"}}, []),  # a key, not a JSON path
            ({"metadata": {"place.city": "Paris"}}, []),  # a dotted key, not a path
            ({"metadata": {"topic[0]": "travel"}}, []),
        ],
    )
    check_notes(
        client,
        [
            ({"content": {"contains": "%"}}, [PERCENT]),
            ({"content": {"icontains": "%"}}, [PERCENT]),
            ({"content": {"contains": "_"}}, [PERCENT]),
            ({"content": {"icontains": "_"}}, [PERCENT]),
            ({"content": {"contains": "0% s"}}, [PERCENT]),
            ({"content": {"contains": "%s"}}, []),
            ({"content": {"contains": "e_t"}}, [PERCENT]),
            ({"content": {"contains": "e_x"}}, []),
            ({"content": {"contains": "H_llo"}}, []),
            ({"content": {"contains": "%%"}}, []),
            ({"content": {"contains": "\\"}}, []),
            ({"content": {"contains": "["}}, []),
            ({"content": {"contains": "*"}}, ALL),  # the wildcard, as everywhere
            ({"content": {"icontains": "*"}}, ALL),
            ({"content": "%"}, []),
            ({"content": "_"}, []),
            ({"content": {"gte": "%"}}, ALL),
            ({"content": {"lt": "("}}, [SQL]),
            ({"content": {"contains": "'"}}, [SQL]),
            ({"content": {"contains": "DROP TABLE"}}, [SQL]),
            ({"content": SQL}, [SQL]),
            ({"content": "' OR '1'='1"}, []),
            ({"content": {"contains": "' OR '1'='1"}}, []),
        ],
    )
    assert contents(client, {}) == ALL  # nothing above ran as SQL
    assert note_contents(client, {}) == ALL


# --- metadata ------------------------------------------------------------------------------


def test_metadata_typed_equality(client: TestClient, seeded: list[dict[str, Any]]) -> None:
    """1, 1.0, "1", true and [1] are matched by type: numbers equal numbers only."""
    check(
        client,
        [
            ({"metadata": {"n": 1}}, [HELLO, ECOLE]),
            ({"metadata": {"n": 1.0}}, [HELLO, ECOLE]),
            ({"metadata": {"n": "1"}}, [ARGER]),
            ({"metadata": {"n": True}}, [ECOLE_UP]),
            ({"metadata": {"n": False}}, []),
            ({"metadata": {"n": 0}}, []),
            ({"metadata": {"n": [1]}}, [PERCENT]),
            ({"metadata": {"n": ["1"]}}, []),
            ({"metadata": {"n": {"in": [1, "1"]}}}, [HELLO, ARGER, ECOLE]),
            ({"metadata": {"n": {"in": [True]}}}, [ECOLE_UP]),
            ({"metadata": {"n": {"in": ["1", True]}}}, [ARGER, ECOLE_UP]),
            ({"metadata": {"n": {"in": []}}}, []),
            ({"metadata": {"n": {"in": ["*"]}}}, ALL),
            ({"metadata": {"flag": True}}, [HELLO]),
            ({"metadata": {"flag": False}}, [ARGER]),
            ({"metadata": {"flag": "true"}}, []),
            ({"metadata": {"flag": 1}}, []),
            ({"metadata": {"flag": {"in": [True, False]}}}, [HELLO, ARGER]),
            ({"metadata": {"flag": {"ne": True}}}, but(HELLO)),
            ({"metadata": {"flag": {"ne": False}}}, but(ARGER)),
            ({"metadata": {"note": None}}, [HELLO]),
            ({"metadata": {"score": None}}, [SQL]),
            ({"metadata": {"note": "null"}}, []),
            ({"metadata": {"note": {"ne": None}}}, but(HELLO)),
            ({"metadata": {"score": {"in": [None, "high"]}}}, [ECOLE, SQL]),
            ({"metadata": {"score": "5"}}, []),
            ({"metadata": {"score": 5}}, [HELLO]),
            ({"metadata": {"score": 7.5}}, [ECOLE_UP]),
            ({"metadata": {"score": -3}}, [PERCENT]),
            ({"metadata": {"score": -3.0}}, [PERCENT]),
            ({"metadata": {"topic": "travel", "score": 5}}, [HELLO]),
            ({"metadata": {"topic": "travel", "score": 6}}, []),
            ({"metadata": {"topic": "School"}}, [ECOLE]),
            ({"metadata": {"topic": "school"}}, [ECOLE_UP]),
            ({"metadata": {"topic": ["travel", "work"]}}, []),  # a list means array containment
            ({"metadata": {"topic": {"in": ["travel", "work"]}}}, [HELLO, ARGER]),
            ({"metadata": {"missing": 1}}, []),
            ({"metadata": {"missing": None}}, []),
            ({"metadata": {"missing": "*"}}, ALL),
            ({"metadata": {"missing": {"ne": 1}}}, ALL),
            ({"metadata": {"word": {"ne": "apple"}}}, but(APPLE)),
            ({"metadata": {}}, ALL),
            ({"metadata": "*"}, ALL),
        ],
    )


def test_metadata_number_comparisons(client: TestClient, seeded: list[dict[str, Any]]) -> None:
    """Numbers compare with numbers only; "high" and null are never >= 5."""
    check(
        client,
        [
            ({"metadata": {"score": {"gte": 5}}}, [HELLO, ARGER, ECOLE_UP]),
            ({"metadata": {"score": {"gt": 5}}}, [ARGER, ECOLE_UP]),
            ({"metadata": {"score": {"gt": 7.4, "lt": 7.6}}}, [ECOLE_UP]),
            ({"metadata": {"score": {"gte": 5, "lt": 10}}}, [HELLO, ECOLE_UP]),
            ({"metadata": {"score": {"lte": 7.5}}}, [HELLO, ECOLE_UP, PERCENT]),
            ({"metadata": {"score": {"lt": 0}}}, [PERCENT]),
            ({"metadata": {"score": {"gt": -3.5}}}, [HELLO, ARGER, ECOLE_UP, PERCENT]),
            ({"metadata": {"score": {"gte": -1e308}}}, [HELLO, ARGER, ECOLE_UP, PERCENT]),
            ({"metadata": {"score": {"gt": 2**62}}}, []),
            ({"metadata": {"score": {"ne": 5}}}, but(HELLO)),
            ({"metadata": {"score": {"gte": "a"}}}, [ECOLE]),  # strings compare with strings
            ({"metadata": {"score": {"lt": "a"}}}, []),
            ({"metadata": {"score": {"gte": "*", "lte": 5}}}, [HELLO, PERCENT]),
            ({"metadata": {"n": {"gte": 1}}}, [HELLO, ECOLE]),
            ({"metadata": {"n": {"gt": 0.5, "lt": 1.5}}}, [HELLO, ECOLE]),
            ({"metadata": {"place": {"geo": {"lat": {"gt": 40}}}}}, [ECOLE_UP]),
            ({"metadata": {"place": {"geo": {"lat": {"lt": 40}}}}}, [HELLO]),
            ({"metadata": {"place": {"geo": {"lat": 38.7}}}}, [HELLO]),
            ({"metadata": {"place": {"geo": {"lat": 38.70}}}}, [HELLO]),
            ({"metadata": {"place": {"geo": {"lat": 38.71}}}}, []),
        ],
    )


def test_metadata_nested_objects(client: TestClient, seeded: list[dict[str, Any]]) -> None:
    """Keys walk through objects only; an empty object `{}` matches any object there."""
    check(
        client,
        [
            ({"metadata": {"place": {"city": "Paris"}}}, [ECOLE_UP]),
            ({"metadata": {"place": "Paris"}}, [ECOLE]),
            ({"metadata": {"place": {"city": "Lisbon", "geo": {"lat": 38.7}}}}, [HELLO]),
            ({"metadata": {"place": {"city": "Lisbon", "geo": {"lat": 48.9}}}}, []),
            ({"metadata": {"place": {"city": {"in": ["Paris", "Berlin"]}}}}, [ARGER, ECOLE_UP]),
            ({"metadata": {"place": {"city": {"ne": "Paris"}}}}, but(ECOLE_UP)),
            ({"metadata": {"place": {}}}, [HELLO, ARGER, ECOLE_UP]),
            ({"metadata": {"place": {"city": "*"}}}, ALL),  # the wildcard matches everything
            ({"metadata": {"place": {"geo": {}}}}, [HELLO, ECOLE_UP]),
            ({"metadata": {"place": {"geo": "*"}}}, ALL),
            ({"metadata": {"place": {"city": {"ne": "Paris"}, "geo": {}}}}, [HELLO]),
            ({"metadata": {"place": {"country": None}}}, []),
            ({"metadata": {"place": {"geo": {"lat": {"gte": 0}, "lon": "*"}}}}, [HELLO, ECOLE_UP]),
            ({"metadata": {"place": "*"}}, ALL),
            ({"metadata": {"tags": {}}}, []),  # arrays are not objects
            ({"metadata": {"tags": {"0": "a"}}}, []),  # keys never index arrays
            ({"metadata": {"n": {"0": 1}}}, []),
            ({"metadata": {"word": {"0": "a"}}}, []),
        ],
    )


def test_metadata_arrays(client: TestClient, seeded: list[dict[str, Any]]) -> None:
    """A list at a JSON path: the value there is an array holding every item (typed)."""
    check(
        client,
        [
            ({"metadata": {"tags": ["a"]}}, [HELLO, ECOLE_UP]),
            ({"metadata": {"tags": ["b"]}}, [HELLO, ARGER]),
            ({"metadata": {"tags": ["a", "b"]}}, [HELLO]),
            ({"metadata": {"tags": ["b", "a"]}}, [HELLO]),
            ({"metadata": {"tags": ["a", "a"]}}, [HELLO, ECOLE_UP]),
            ({"metadata": {"tags": ["a", "c"]}}, []),
            ({"metadata": {"tags": ["A"]}}, []),
            ({"metadata": {"tags": []}}, [HELLO, ARGER, ECOLE_UP, PERCENT, SQL]),
            ({"metadata": {"tags": "a"}}, [ECOLE]),
            ({"metadata": {"tags": ["x"]}}, [SQL]),
            ({"metadata": {"tags": [1]}}, [SQL]),
            ({"metadata": {"tags": [1.0]}}, [SQL]),
            ({"metadata": {"tags": ["1"]}}, []),
            ({"metadata": {"tags": [True]}}, [SQL]),
            ({"metadata": {"tags": [False]}}, []),
            ({"metadata": {"tags": [None]}}, [SQL]),
            ({"metadata": {"tags": ["x", 1, True, None]}}, [SQL]),
            ({"metadata": {"tags": [2]}}, []),
            ({"metadata": {"n": [1]}}, [PERCENT]),
            ({"metadata": {"n": [True]}}, []),
            ({"metadata": {"word": ["apple"]}}, []),  # a string is not an array
            ({"metadata": {"missing": []}}, []),
            ({"metadata": {"place": {"city": ["Paris"]}}}, []),
        ],
    )


def test_metadata_deep_paths(client: TestClient) -> None:
    assert client.post("/v2/workspaces", json={"id": "w"}).status_code == 200
    deep: Any = {"leaf": "yes", "n": 3}
    for i in range(30):
        deep = {f"k{i}": deep}
    messages = [
        {"content": "deep", "peer_id": "p", "metadata": deep},
        {"content": "flat", "peer_id": "p", "metadata": {"k29": "x"}},
    ]
    assert client.post(f"{MESSAGES}/", json={"messages": messages}).status_code == 200

    def nest(leaf: Any) -> dict[str, Any]:
        node = leaf
        for i in range(30):
            node = {f"k{i}": node}
        return {"metadata": node}

    check(
        client,
        [
            (nest({"leaf": "yes"}), ["deep"]),
            (nest({"leaf": "no"}), []),
            (nest({"n": {"gte": 3}, "leaf": {"icontains": "YES"}}), ["deep"]),
            (nest({"n": {"gt": 3}}), []),
            (nest({}), ["deep"]),
            ({"metadata": {"k29": {"k28": "*"}}}, ["deep", "flat"]),
            ({"metadata": {"k29": {"k28": {}}}}, ["deep"]),
            ({"metadata": {"k29": {"k28": {"ne": 1}}}}, ["deep", "flat"]),
            ({"metadata": {"k29": {"ne": "x"}}}, ["deep"]),
        ],
    )


def test_exact_numbers_past_two_to_the_53(client: TestClient) -> None:
    """Floats would round 2**53 + 1 to 2**53; both backends compare JSON numbers exactly."""
    assert client.post("/v2/workspaces", json={"id": "w"}).status_code == 200
    messages = [
        {"content": "odd", "peer_id": "p", "metadata": {"big": 2**53 + 1, "f": 0.1}},
        {"content": "even", "peer_id": "p", "metadata": {"big": 2**53, "f": 0.3}},
        {"content": "max", "peer_id": "p", "metadata": {"big": 2**63 - 1, "f": 1e-300}},
    ]
    assert client.post(f"{MESSAGES}/", json={"messages": messages}).status_code == 200
    check(
        client,
        [
            ({"metadata": {"big": 2**53 + 1}}, ["odd"]),
            ({"metadata": {"big": 2**53}}, ["even"]),
            ({"metadata": {"big": {"gt": 2**53}}}, ["odd", "max"]),
            ({"metadata": {"big": {"lt": 2**53 + 1}}}, ["even"]),
            ({"metadata": {"big": 2**63 - 1}}, ["max"]),
            ({"metadata": {"big": {"in": [2**53 + 1, 2**63 - 1]}}}, ["odd", "max"]),
            ({"metadata": {"f": 0.1}}, ["odd"]),
            ({"metadata": {"f": {"lte": 0.1}}}, ["odd", "max"]),
            ({"metadata": {"f": {"gt": 0.1, "lt": 0.30000000000000004}}}, ["even"]),
            ({"metadata": {"f": {"gt": 0}}}, ["odd", "even", "max"]),
        ],
    )


# --- AND / OR / NOT ------------------------------------------------------------------------


def test_logic(client: TestClient, seeded: list[dict[str, Any]]) -> None:
    alice_or_bob = [HELLO, ARGER, ECOLE, PERCENT]
    check(
        client,
        [
            ({"AND": [{"peer_id": "alice"}, {"metadata": {"topic": "travel"}}]}, [HELLO]),
            ({"AND": [{"peer_id": "alice"}, {"peer_id": "bob"}]}, []),
            ({"AND": [{"peer_id": "alice"}]}, [HELLO, ECOLE]),
            ({"OR": [{"peer_id": "alice"}, {"peer_id": "bob"}]}, alice_or_bob),
            (
                {"OR": [{"peer_id": "dave"}, {"metadata": {"score": {"gte": 10}}}]},
                [
                    ARGER,
                    ZEBRA,
                    ECLAIR,
                ],
            ),
            ({"OR": [{"peer_id": "nobody"}]}, []),
            ({"NOT": [{"peer_id": "alice"}]}, but(HELLO, ECOLE)),
            # NOT over a list: rows matching none of them (as in Honcho).
            ({"NOT": [{"peer_id": "alice"}, {"peer_id": "bob"}]}, but(*alice_or_bob)),
            ({"NOT": [{"OR": [{"peer_id": "alice"}, {"peer_id": "bob"}]}]}, but(*alice_or_bob)),
            ({"NOT": [{"peer_id": "alice", "metadata": {"topic": "travel"}}]}, but(HELLO)),
            (
                {"NOT": [{"AND": [{"peer_id": "alice"}, {"metadata": {"topic": "travel"}}]}]},
                but(HELLO),
            ),
            ({"NOT": [{"NOT": [{"peer_id": "alice"}]}]}, [HELLO, ECOLE]),
            # A row without the key does not match the condition, so NOT keeps it.
            ({"NOT": [{"metadata": {"score": 5}}]}, but(HELLO)),
            ({"NOT": [{"metadata": {"score": {"gte": 5}}}]}, but(HELLO, ARGER, ECOLE_UP)),
            ({"NOT": [{"metadata": {"place": {"city": "Paris"}}}]}, but(ECOLE_UP)),
            ({"NOT": [{"metadata": {"tags": ["a"]}}]}, but(HELLO, ECOLE_UP)),
            ({"NOT": [{"metadata": {"word": "*"}}]}, []),
            ({"NOT": [{"peer_id": "*"}]}, []),
            # Fields and logic side by side are ANDed.
            (
                {
                    "peer_id": "alice",
                    "OR": [
                        {"metadata": {"topic": {"contains": "travel"}}},
                        {"metadata": {"topic": {"contains": "School"}}},
                    ],
                },
                [HELLO, ECOLE],
            ),
            (
                {"peer_id": ["bob", "carol"], "NOT": [{"metadata": {"tags": ["b"]}}]},
                [ECOLE_UP, PERCENT, BANANA],
            ),
            (
                {
                    "OR": [
                        {"AND": [{"peer_id": "alice"}, {"metadata": {"n": 1}}]},
                        {"AND": [{"peer_id": "dave"}, {"NOT": [{"metadata": {"word": "zebra"}}]}]},
                    ]
                },
                [HELLO, ECOLE, ECLAIR],
            ),
            (
                {
                    "AND": [
                        {
                            "OR": [
                                {"token_count": {"gte": 5}},
                                {"metadata": {"word": {"icontains": "A"}}},
                            ]
                        },
                        {"NOT": [{"peer_id": "Zed"}, {"metadata": {"flag": False}}]},
                        {"created_at": {"lt": "2025-01-09"}},
                    ]
                },
                [ECOLE_UP, ECOLE, PERCENT, BANANA],
            ),
            (
                {
                    "OR": [{"peer_id": "alice"}],
                    "NOT": [{"metadata": {"topic": "travel"}}],
                    "AND": [{"created_at": {"gte": "2025-01-02"}}],
                },
                [ECOLE],
            ),
            # Empty lists add no condition (as in Honcho).
            ({"AND": []}, ALL),
            ({"OR": []}, ALL),
            ({"NOT": []}, ALL),
            ({"AND": [{}]}, ALL),
            ({"OR": [{}, {"peer_id": "nobody"}]}, ALL),
            ({"NOT": [{}]}, []),
        ],
    )


def nested_logic(levels: int) -> dict[str, Any]:
    node: dict[str, Any] = {"peer_id": "alice"}
    for i in range(levels):
        node = {("AND", "OR", "NOT")[i % 3]: [node]}
    return node


def test_logic_nesting_up_to_the_limit(client: TestClient, seeded: list[dict[str, Any]]) -> None:
    # Levels cycle AND, OR, NOT: 7 or 8 levels hold two NOTs, which cancel out.
    assert contents(client, nested_logic(8)) == [HELLO, ECOLE]
    assert contents(client, nested_logic(7)) == [HELLO, ECOLE]
    assert contents(client, nested_logic(3)) == but(HELLO, ECOLE)
    status, body = rejected(client, nested_logic(9))
    assert (status, body) == (422, {"detail": "filters are nested deeper than 8 levels"})


# --- the other lists -----------------------------------------------------------------------


def ids(client: TestClient, path: str, filters: Any) -> list[str]:
    return [item["id"] for item in listing(client, path, filters)["items"]]


def test_peer_filters(client: TestClient) -> None:
    assert client.post("/v2/workspaces", json={"id": "w"}).status_code == 200
    peers = [
        ("alice", {"role": "user", "age": 30, "langs": ["pt", "en"]}),
        ("Bob", {"role": "admin", "age": 41.5, "vip": True}),
        ("carol", {"role": "User", "age": "30"}),
        ("dave", {}),
    ]
    for peer_id, metadata in peers:
        response = client.post(f"{WS}/peers", json={"id": peer_id, "metadata": metadata})
        assert response.status_code == 200, response.text
    path = f"{WS}/peers/list"
    cases = [
        ({}, ["alice", "Bob", "carol", "dave"]),
        ({"id": "alice"}, ["alice"]),
        ({"id": ["Bob", "dave"]}, ["Bob", "dave"]),
        ({"id": {"lt": "a"}}, ["Bob"]),
        ({"id": {"gt": "B", "lt": "c"}}, ["alice", "Bob"]),
        ({"id": {"icontains": "B"}}, ["Bob"]),
        ({"id": {"contains": "A"}}, []),
        ({"id": {"contains": "B"}}, ["Bob"]),
        ({"id": {"icontains": "A"}}, ["alice", "carol", "dave"]),
        ({"workspace_id": "w"}, ["alice", "Bob", "carol", "dave"]),
        ({"metadata": {"role": "user"}}, ["alice"]),
        ({"metadata": {"role": {"icontains": "USER"}}}, ["alice", "carol"]),
        ({"metadata": {"age": 30}}, ["alice"]),
        ({"metadata": {"age": "30"}}, ["carol"]),
        ({"metadata": {"age": {"gt": 30}}}, ["Bob"]),
        ({"metadata": {"langs": ["en"]}}, ["alice"]),
        ({"metadata": {"vip": True}}, ["Bob"]),
        ({"metadata": {"vip": {"ne": True}}}, ["alice", "carol", "dave"]),
        ({"NOT": [{"metadata": {"role": {"in": ["user", "User", "admin"]}}}]}, ["dave"]),
        ({"NOT": [{"metadata": {"role": "*"}}]}, []),  # "*" matches every row, keyless too
        ({"OR": [{"id": "dave"}, {"metadata": {"age": {"lt": 31}}}]}, ["alice", "dave"]),
        ({"created_at": {"gte": "2000-01-01T00:00:00+05:00"}}, ["alice", "Bob", "carol", "dave"]),
        ({"created_at": {"lt": "2000-01-01"}}, []),
    ]
    assert [(f, ids(client, path, f)) for f, _ in cases] == cases
    assert rejected(client, {"peer_id": "alice"}, path) == (
        422,
        {
            "detail": "unknown filter field 'peer_id'; allowed: AND, NOT, OR, created_at, id, "
            "metadata, workspace_id"
        },
    )
    # Honcho filters peers on id, created_at, workspace_id and metadata only
    for key in ("content", "configuration", "is_active", "session_id", "name"):
        status, body = rejected(client, {key: "x"}, path)
        assert (status, body["detail"].split(";")[0]) == (422, f"unknown filter field {key!r}")


def test_session_filters(client: TestClient) -> None:
    assert client.post("/v2/workspaces", json={"id": "w"}).status_code == 200
    sessions = [
        ("s1", {"topic": "travel", "rank": 1}, {"deriver": {"enabled": False}}),
        ("s2", {"topic": "work", "rank": 2, "tags": ["x", "y"]}, None),
        ("S3", {"topic": "Travel"}, {"summary": {"enabled": True}}),
    ]
    for session_id, metadata, configuration in sessions:
        body: dict[str, Any] = {"id": session_id, "metadata": metadata}
        if configuration is not None:
            body["configuration"] = configuration
        response = client.post(f"{WS}/sessions", json=body)
        assert response.status_code == 200, response.text
    path = f"{WS}/sessions/list"
    cases = [
        ({}, ["s1", "s2", "S3"]),
        ({"id": "s1"}, ["s1"]),
        ({"id": {"lt": "s"}}, ["S3"]),
        ({"id": {"ne": "s2"}}, ["s1", "S3"]),
        ({"is_active": True}, ["s1", "s2", "S3"]),
        ({"is_active": False}, []),
        ({"is_active": {"ne": True}}, []),
        ({"is_active": {"ne": False}}, ["s1", "s2", "S3"]),
        ({"is_active": [False, True]}, ["s1", "s2", "S3"]),
        ({"is_active": "*"}, ["s1", "s2", "S3"]),
        ({"metadata": {"topic": "travel"}}, ["s1"]),
        ({"metadata": {"topic": {"icontains": "TRAVEL"}}}, ["s1", "S3"]),
        ({"metadata": {"rank": {"gte": 1}}}, ["s1", "s2"]),
        ({"metadata": {"tags": ["y"]}}, ["s2"]),
        ({"NOT": [{"metadata": {"topic": "travel"}}]}, ["s2", "S3"]),
        ({"workspace_id": "w", "created_at": {"gte": "2000-01-01"}}, ["s1", "s2", "S3"]),
    ]
    assert [(f, ids(client, path, f)) for f, _ in cases] == cases
    # Honcho filters sessions on id, created_at, is_active, workspace_id and metadata only
    assert rejected(client, {"configuration": {"deriver": {"enabled": False}}}, path) == (
        422,
        {
            "detail": "unknown filter field 'configuration'; allowed: AND, NOT, OR, created_at, "
            "id, is_active, metadata, workspace_id"
        },
    )
    for key in ("peer_id", "session_id", "content"):
        status, body = rejected(client, {key: "x"}, path)
        assert (status, body["detail"].split(";")[0]) == (422, f"unknown filter field {key!r}")
    assert rejected(client, {"is_active": "yes"}, path) == (
        422,
        {"detail": "filter on 'is_active' needs a bool value, got 'yes'"},
    )
    assert rejected(client, {"is_active": 1}, path) == (
        422,
        {"detail": "filter on 'is_active' needs a bool value, got 1"},
    )
    assert rejected(client, {"is_active": {"gt": False}}, path) == (
        422,
        {"detail": "'gt' does not apply to the boolean field 'is_active'"},
    )
    assert rejected(client, {"is_active": {"contains": "t"}}, path) == (
        422,
        {"detail": "'contains' on 'is_active' needs a text field and a string value"},
    )


def test_workspace_filters(client: TestClient) -> None:
    workspaces = [("w1", {"plan": "free", "seats": 3}), ("w2", {"plan": "pro", "seats": 30})]
    for workspace_id, metadata in workspaces:
        response = client.post("/v2/workspaces", json={"id": workspace_id, "metadata": metadata})
        assert response.status_code == 200, response.text
    path = "/v2/workspaces/list"
    cases = [
        ({}, ["w1", "w2"]),
        ({"id": "w2"}, ["w2"]),
        ({"id": {"in": ["w1", "w9"]}}, ["w1"]),
        ({"metadata": {"plan": "pro"}}, ["w2"]),
        ({"metadata": {"seats": {"lt": 10}}}, ["w1"]),
        ({"metadata": {"seats": {"gte": "10"}}}, []),
        ({"NOT": [{"metadata": {"plan": "pro"}}]}, ["w1"]),
        ({"created_at": {"lt": "2999-12-31T23:59:59Z"}}, ["w1", "w2"]),
    ]
    assert [(f, ids(client, path, f)) for f, _ in cases] == cases
    assert rejected(client, {"session_id": "s"}, path) == (
        422,
        {
            "detail": "unknown filter field 'session_id'; allowed: AND, NOT, OR, created_at, id, "
            "metadata"
        },
    )
    # Honcho filters workspaces on id, created_at and metadata only
    for key in ("workspace_id", "is_active", "configuration", "peer_id"):
        status, body = rejected(client, {key: "x"}, path)
        assert (status, body["detail"].split(";")[0]) == (422, f"unknown filter field {key!r}")


# --- bad filters ---------------------------------------------------------------------------

MESSAGE_FIELDS = (
    "AND, NOT, OR, created_at, metadata, peer_id, session_id, token_count, workspace_id"
)
OPERATOR_LIST = "contains, gt, gte, icontains, in, lt, lte, ne"


def deep_metadata(levels: int) -> dict[str, Any]:
    node: Any = 1
    for _ in range(levels):
        node = {"k": node}
    return {"metadata": node}


BAD_FILTERS: list[tuple[Any, str]] = [
    # unknown fields and operators
    ({"nope": 1}, f"unknown filter field 'nope'; allowed: {MESSAGE_FIELDS}"),
    ({"and": []}, f"unknown filter field 'and'; allowed: {MESSAGE_FIELDS}"),
    ({"is_active": True}, f"unknown filter field 'is_active'; allowed: {MESSAGE_FIELDS}"),
    ({"OR": [{"peer": "a"}]}, f"unknown filter field 'peer'; allowed: {MESSAGE_FIELDS}"),
    # Honcho filters messages on neither their text nor their id
    ({"content": "Hello world"}, f"unknown filter field 'content'; allowed: {MESSAGE_FIELDS}"),
    ({"id": {"in": ["x"]}}, f"unknown filter field 'id'; allowed: {MESSAGE_FIELDS}"),
    ({"NOT": [{"content": "x"}]}, f"unknown filter field 'content'; allowed: {MESSAGE_FIELDS}"),
    ({"peer_name": "alice"}, f"unknown filter field 'peer_name'; allowed: {MESSAGE_FIELDS}"),
    (
        {"peer_id": {"like": "a%"}},
        f"unknown operator 'like' on 'peer_id'; allowed: {OPERATOR_LIST}",
    ),
    (
        {"peer_id": {"in": ["a"], "x": 1}},
        f"unknown operator 'x' on 'peer_id'; allowed: {OPERATOR_LIST}",
    ),
    (
        {"created_at": {"after": "2025-01-01"}},
        f"unknown operator 'after' on 'created_at'; allowed: {OPERATOR_LIST}",
    ),
    ({"peer_id": {}}, "filter on 'peer_id' is an empty object"),
    # wrong value types
    ({"peer_id": 1}, "filter on 'peer_id' needs a text value, got 1"),
    ({"peer_id": None}, "filter on 'peer_id' needs a text value, got None"),
    ({"peer_id": True}, "filter on 'peer_id' needs a text value, got True"),
    ({"peer_id": {"gt": 1}}, "filter on 'peer_id' needs a text value, got 1"),
    ({"peer_id": {"in": [1]}}, "filter on 'peer_id' needs a text value, got 1"),
    ({"peer_id": [["alice"]]}, "filter on 'peer_id' needs a text value, got ['alice']"),
    ({"peer_id": {"in": "alice"}}, "'in' on 'peer_id' takes a list of at most 1000 values"),
    (
        {"peer_id": {"in": ["x"] * 1001}},
        "'in' on 'peer_id' takes a list of at most 1000 values",
    ),
    ({"token_count": "5"}, "filter on 'token_count' needs an int value, got '5'"),
    ({"token_count": 1.5}, "filter on 'token_count' needs an int value, got 1.5"),
    ({"token_count": True}, "filter on 'token_count' needs an int value, got True"),
    ({"token_count": {"gte": None}}, "filter on 'token_count' needs an int value, got None"),
    (
        {"token_count": 2**63},
        f"filter on 'token_count': {2**63} is out of the 64-bit integer range",
    ),
    (
        {"token_count": {"contains": "1"}},
        "'contains' on 'token_count' needs a text field and a string value",
    ),
    # dates
    ({"created_at": "yesterday"}, "filter on 'created_at': 'yesterday' is not an ISO 8601 date"),
    ({"created_at": "2025-02-30"}, "filter on 'created_at': '2025-02-30' is not an ISO 8601 date"),
    (
        {"created_at": {"gte": "2025-01-01T25:00:00Z"}},
        "filter on 'created_at': '2025-01-01T25:00:00Z' is not an ISO 8601 date",
    ),
    (
        {"created_at": {"gte": "1700000000"}},
        "filter on 'created_at': '1700000000' is not an ISO 8601 date",
    ),
    (
        {"created_at": {"lt": "01/02/2025"}},
        "filter on 'created_at': '01/02/2025' is not an ISO 8601 date",
    ),
    ({"created_at": ""}, "filter on 'created_at': '' is not an ISO 8601 date"),
    (
        {"created_at": {"gte": "0001-01-01T00:00:00+01:00"}},
        "filter on 'created_at': '0001-01-01T00:00:00+01:00' is out of range",
    ),
    ({"created_at": 1700000000}, "filter on 'created_at' needs a datetime value, got 1700000000"),
    (
        {"created_at": {"contains": "2025"}},
        "'contains' on 'created_at' needs a text field and a string value",
    ),
    # metadata
    ({"metadata": "travel"}, "filter on 'metadata' takes an object of keys to match"),
    ({"metadata": ["a"]}, "filter on 'metadata' takes an object of keys to match"),
    ({"metadata": None}, "filter on 'metadata' takes an object of keys to match"),
    (
        {"metadata": {"score": {"gte": True}}},
        "'gte' on 'metadata.score' takes a number or a string, got True",
    ),
    (
        {"metadata": {"score": {"gt": None}}},
        "'gt' on 'metadata.score' takes a number or a string, got None",
    ),
    (
        {"metadata": {"score": {"lt": [1]}}},
        "'lt' on 'metadata.score' takes a number or a string, got [1]",
    ),
    (
        {"metadata": {"score": {"gte": 1, "city": "x"}}},
        "filter on 'metadata.score' mixes operators and keys",
    ),
    (
        {"metadata": {"place": {"city": {"in": ["a"], "x": 1}}}},
        "filter on 'metadata.place.city' mixes operators and keys",
    ),
    ({"metadata": {"topic": {"contains": 5}}}, "'contains' on 'metadata.topic' takes a string"),
    (
        {"metadata": {"topic": {"in": "travel"}}},
        "'in' on 'metadata.topic' takes a list of at most 1000 values",
    ),
    ({"metadata": {"topic": {"in": [["a"]]}}}, "filter on 'metadata.topic' cannot match ['a']"),
    ({"metadata": {"topic": {"ne": {"a": 1}}}}, "filter on 'metadata.topic' cannot match {'a': 1}"),
    ({"metadata": {"tags": [["a"]]}}, "filter on 'metadata.tags': list items must be scalars"),
    ({"metadata": {"tags": [{"a": 1}]}}, "filter on 'metadata.tags': list items must be scalars"),
    ({"metadata": {'bad"key': 1}}, "bad key 'bad\"key' in the filter on 'metadata'"),
    ({"metadata": {"back\\slash": 1}}, "bad key 'back\\\\slash' in the filter on 'metadata'"),
    ({"metadata": {"": 1}}, "bad key '' in the filter on 'metadata'"),
    ({"metadata": {"place": {"": 1}}}, "bad key '' in the filter on 'metadata'"),
    (
        {"metadata": {"x": 2**64}},
        f"filter on 'metadata.x': {2**64} is out of the 64-bit integer range",
    ),
    (
        {"metadata": {"x": {"gt": -(2**63) - 1}}},
        f"filter on 'metadata.x': {-(2**63) - 1} is out of the 64-bit integer range",
    ),
    (
        {"metadata": {"tags": [2**64]}},
        f"filter on 'metadata.tags': {2**64} is out of the 64-bit integer range",
    ),
    (
        {"metadata": {"x": "a\u0000"}},
        "filter on 'metadata.x': strings cannot contain the NUL character",
    ),
    (deep_metadata(33), "filter on 'metadata' is nested deeper than 32 levels"),
    # logic
    ({"AND": {"peer_id": "alice"}}, "AND takes a list of filter objects"),
    ({"OR": "alice"}, "OR takes a list of filter objects"),
    ({"NOT": None}, "NOT takes a list of filter objects"),
    ({"NOT": {"peer_id": "alice"}}, "NOT takes a list of filter objects"),
    ({"AND": [1]}, "each filter must be a JSON object"),
    ({"OR": [["peer_id", "alice"]]}, "each filter must be a JSON object"),
    ({"NOT": ["peer_id"]}, "each filter must be a JSON object"),
    ({"AND": [{"OR": [None]}]}, "each filter must be a JSON object"),
    (nested_logic(9), "filters are nested deeper than 8 levels"),
]


OBSERVATION_FIELDS = (
    "AND, NOT, OR, content, created_at, id, level, observed, observed_id, observer, "
    "observer_id, session_id, session_name, superseded, superseded_by, times_derived, "
    "workspace_id, workspace_name"
)
BAD_TEXT_FILTERS: list[tuple[Any, str]] = [
    ({"content": {"contains": 1}}, "'contains' on 'content' needs a text field and a string value"),
    (
        {"content": {"icontains": None}},
        "'icontains' on 'content' needs a text field and a string value",
    ),
    ({"times_derived": "1"}, "filter on 'times_derived' needs an int value, got '1'"),
    ({"superseded": "yes"}, "filter on 'superseded' needs a bool value, got 'yes'"),
    ({"superseded": {"gt": True}}, "'gt' does not apply to the boolean field 'superseded'"),
    ({"superseded_by": 3}, "filter on 'superseded_by' needs a text value, got 3"),
    ({"metadata": {"a": 1}}, f"unknown filter field 'metadata'; allowed: {OBSERVATION_FIELDS}"),
]


def test_bad_text_filters_on_observations_are_422(
    client: TestClient, notes: list[dict[str, Any]]
) -> None:
    path = f"{WS}/observations/list"
    got = [(f, rejected(client, f, path)) for f, _ in BAD_TEXT_FILTERS]
    assert got == [(f, (422, {"detail": detail})) for f, detail in BAD_TEXT_FILTERS]
    for nul in ({"content": "a\u0000b"}, {"content": {"contains": "\u0000"}}):
        assert rejected(client, nul, path)[0] == 422  # the body's own check refuses NUL
    assert note_contents(client, {}) == ALL


def test_bad_filters_are_422_with_a_clear_detail(
    client: TestClient, seeded: list[dict[str, Any]]
) -> None:
    got = [(f, rejected(client, f)) for f, _ in BAD_FILTERS]
    assert got == [(f, (422, {"detail": detail})) for f, detail in BAD_FILTERS]
    assert contents(client, {}) == ALL


@pytest.mark.parametrize(
    ("raw", "detail"),
    [
        ('{"metadata": {"x": NaN}}', "filter on 'metadata.x': nan is not a finite number"),
        (
            '{"metadata": {"x": {"gt": Infinity}}}',
            "filter on 'metadata.x': inf is not a finite number",
        ),
        ('{"metadata": {"x": [-Infinity]}}', "filter on 'metadata.x': -inf is not a finite number"),
    ],
)
def test_non_finite_numbers_are_422(
    client: TestClient, seeded: list[dict[str, Any]], raw: str, detail: str
) -> None:
    response = client.post(
        f"{MESSAGES}/list",
        content=f'{{"filters": {raw}}}',
        headers={"content-type": "application/json"},
    )
    assert (response.status_code, response.json()) == (422, {"detail": detail})


@pytest.mark.parametrize("filters", [[{"peer_id": "alice"}], "peer_id", 1, True])
def test_non_object_filters_body_is_a_validation_error(
    client: TestClient, seeded: list[dict[str, Any]], filters: Any
) -> None:
    """`filters` itself must be an object: FastAPI's standard request-validation 422."""
    status, body = rejected(client, filters)
    assert status == 422
    assert [(e["loc"], e["type"]) for e in body["detail"]] == [(["body", "filters"], "dict_type")]


def test_bad_filters_are_422_on_every_list(client: TestClient) -> None:
    assert client.post("/v2/workspaces", json={"id": "w"}).status_code == 200
    assert client.post(f"{WS}/sessions", json={"id": "s"}).status_code == 200
    for path in (f"{WS}/peers/list", f"{WS}/sessions/list", "/v2/workspaces/list"):
        assert rejected(client, {"metadata": {"a": {"gt": True}}}, path) == (
            422,
            {"detail": "'gt' on 'metadata.a' takes a number or a string, got True"},
        ), path
        assert rejected(client, {"created_at": "soon"}, path) == (
            422,
            {"detail": "filter on 'created_at': 'soon' is not an ISO 8601 date"},
        ), path
        assert rejected(client, {"OR": {}}, path) == (
            422,
            {"detail": "OR takes a list of filter objects"},
        ), path


def test_icontains_lowercases_like_postgresql(client: TestClient) -> None:
    """PostgreSQL's lower() maps one character to one (İ -> i, Σ -> σ everywhere); SQLite's
    lower() is ours (store.engine._py_lower) and must do the same, not str.lower(), which
    gives İ -> "i̇" (two characters) and Σ -> ς at the end of a word."""
    assert client.post("/v2/workspaces", json={"id": "w"}).status_code == 200
    messages = [
        {"content": "İstanbul", "peer_id": "p"},
        {"content": "ΟΔΟΣ ΜΕΓΑΛΗ", "peer_id": "p"},
    ]
    assert client.post(f"{MESSAGES}/", json={"messages": messages}).status_code == 200
    facts = [
        {"content": m["content"], "observer_id": "p", "observed_id": "p", "session_id": "s"}
        for m in messages
    ]
    assert client.post(f"{WS}/observations", json={"observations": facts}).status_code == 200
    check_notes(
        client,
        [
            ({"content": {"icontains": "istanbul"}}, ["İstanbul"]),
            ({"content": {"icontains": "οδοσ"}}, ["ΟΔΟΣ ΜΕΓΑΛΗ"]),
        ],
    )
