"""Hybrid search (vector + full text, fused by rank) on both backends, through HTTP and the SDK."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

W = "w"
TEXTS = {
    "s1": [
        ("alice", "I adopted a golden retriever puppy last month"),
        ("bot", "Congratulations! What did you name the dog?"),
        ("alice", "We moved to Lisbon in the spring of 2023"),
        ("alice", "My favourite food is spicy ramen with extra garlic"),
    ],
    "s2": [
        ("bob", "The quarterly revenue report is due on Friday"),
        ("bob", "I play the cello in a community orchestra"),
        ("alice", "Lisbon has wonderful tiled buildings"),
    ],
}


def catch_up(client: TestClient) -> None:
    client.portal.call(client.app.state.parley.indexer.catch_up)


@pytest.fixture
def seeded(client: TestClient) -> TestClient:
    assert client.post("/v2/workspaces", json={"id": W}).status_code == 200
    for session, messages in TEXTS.items():
        batch = [
            {"peer_id": p, "content": c, "metadata": {"session": session}} for p, c in messages
        ]
        response = client.post(
            f"/v2/workspaces/{W}/sessions/{session}/messages/", json={"messages": batch}
        )
        assert response.status_code == 200
    catch_up(client)
    return client


def search(client: TestClient, path: str, query: str, **body: Any) -> list[str]:
    response = client.post(f"/v2/workspaces/{W}{path}/search", json={"query": query} | body)
    assert response.status_code == 200, response.text
    return [m["content"] for m in response.json()]


def test_finds_by_meaning(seeded: TestClient) -> None:
    # no word in common with what they find: only the vectors can
    assert sorted(search(seeded, "", "canine companion", limit=2)) == [
        "Congratulations! What did you name the dog?",
        "I adopted a golden retriever puppy last month",
    ]
    assert search(seeded, "", "musician hobby", limit=1) == [
        "I play the cello in a community orchestra"
    ]
    assert search(seeded, "", "noodles", limit=1) == [
        "My favourite food is spicy ramen with extra garlic"
    ]


def test_finds_by_words_with_stemming(seeded: TestClient) -> None:
    top = search(seeded, "", "Lisbon", limit=2)
    assert sorted(top) == [
        "Lisbon has wonderful tiled buildings",
        "We moved to Lisbon in the spring of 2023",
    ]
    assert search(seeded, "", "reports due", limit=1) == [
        "The quarterly revenue report is due on Friday"
    ]


def test_scopes_and_filters(seeded: TestClient) -> None:
    in_s2 = search(seeded, "/sessions/s2", "Lisbon", limit=10)
    assert set(in_s2) == {t for _, t in TEXTS["s2"]}
    assert in_s2[0] == "Lisbon has wonderful tiled buildings"
    by_bob = search(seeded, "/peers/bob", "anything at all", limit=10)
    assert sorted(by_bob) == sorted(t for p, t in TEXTS["s2"] if p == "bob")
    filtered = search(seeded, "", "Lisbon", limit=10, filters={"metadata": {"session": "s1"}})
    assert filtered[0] == "We moved to Lisbon in the spring of 2023"
    assert set(filtered) <= {t for _, t in TEXTS["s1"]}
    assert search(seeded, "", "Lisbon", limit=3, filters={"peer_id": "bob"})[0] in {
        t for p, t in TEXTS["s2"] if p == "bob"
    }


def test_limit_is_respected_and_bounded(seeded: TestClient) -> None:
    assert len(search(seeded, "", "the", limit=3)) == 3
    for bad in (0, 101):
        response = seeded.post(f"/v2/workspaces/{W}/search", json={"query": "x", "limit": bad})
        assert response.status_code == 422


@pytest.mark.parametrize(
    "query",
    [
        "",
        "   ",
        "!!!",
        '"',
        "'; DROP TABLE messages; --",
        "AND OR NOT (",
        "NEAR(a b)",
        "a*",
        "col:val",
        "ünïcødé 漢字 🎉",
        "x" * 5000,
    ],
)
def test_odd_queries_never_fail(seeded: TestClient, query: str) -> None:
    response = seeded.post(f"/v2/workspaces/{W}/search", json={"query": query, "limit": 5})
    assert response.status_code == 200
    assert len(response.json()) <= 5


def test_bad_filter_and_unknown_scope(seeded: TestClient) -> None:
    response = seeded.post(
        f"/v2/workspaces/{W}/search", json={"query": "x", "filters": {"nope": 1}}
    )
    assert response.status_code == 422
    assert response.json()["detail"].startswith("unknown filter field 'nope'")
    # an unknown scope has no messages: an empty result, as in Honcho
    for path in (
        "/v2/workspaces/nope/search",
        f"/v2/workspaces/{W}/sessions/zzz/search",
        f"/v2/workspaces/{W}/peers/zzz/search",
    ):
        missing = seeded.post(path, json={"query": "x"})
        assert (missing.status_code, missing.json()) == (200, []), path


def test_words_are_findable_before_embedding(client: TestClient) -> None:
    client.post("/v2/workspaces", json={"id": W})
    batch = [{"peer_id": "p", "content": "the zanzibar expedition starts tomorrow"}]
    client.post(f"/v2/workspaces/{W}/sessions/s/messages/", json={"messages": batch})
    assert search(client, "", "zanzibar") == ["the zanzibar expedition starts tomorrow"]


def test_new_messages_are_embedded_in_the_background(client: TestClient) -> None:
    import time

    client.post("/v2/workspaces", json={"id": W})
    batch = [{"peer_id": "p", "content": "a note about quantum chromodynamics"}]
    client.post(f"/v2/workspaces/{W}/sessions/s/messages/", json={"messages": batch})
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        # no shared word with the message: only the vector side can find it
        if search(client, "", "particle physics theory") == ["a note about quantum chromodynamics"]:
            return
        time.sleep(0.1)
    pytest.fail("the message was not embedded within 10 s")


def test_deleted_messages_never_come_back(seeded: TestClient) -> None:
    assert "I play the cello in a community orchestra" in search(seeded, "", "cello orchestra")
    assert seeded.delete(f"/v2/workspaces/{W}/sessions/s2").status_code == 202
    for query in (
        "I play the cello in a community orchestra",
        "cello",
        "musical instrument",
        "Lisbon",
    ):
        found = search(seeded, "", query, limit=100)
        assert not set(found) & {t for _, t in TEXTS["s2"]}, query
    remaining = search(seeded, "", "anything", limit=100)
    assert sorted(remaining) == sorted(t for _, t in TEXTS["s1"])


def test_sdk_search(seeded: TestClient, honcho_for: Any) -> None:
    honcho = honcho_for(W)
    assert [m.content for m in honcho.search("golden retriever", limit=1)] == [
        "I adopted a golden retriever puppy last month"
    ]
    assert [m.content for m in honcho.session("s2").search("cello", limit=1)] == [
        "I play the cello in a community orchestra"
    ]
    assert {m.peer_id for m in honcho.peer("bob").search("report", limit=5)} == {"bob"}


def test_score_fusion() -> None:
    from parley.memory.fusion import fuse

    vector = [(1, 0.9), (2, 0.8), (3, 0.7)]  # z-scores 1.22, 0, -1.22
    text = [(3, 4.0), (4, 0.0)]  # z-scores 1, -1
    # found by both, 3 overtakes 2 only when the words weigh enough; 4, found by words
    # alone, gets the vector side's mean (0)
    assert fuse([(vector, 1.0), (text, 1.0)], limit=4) == [1, 2, 3, 4]
    assert fuse([(vector, 1.0), (text, 2.0)], limit=4) == [1, 3, 2, 4]
    assert fuse([(vector, 1.0), (text, 2.0)], limit=2) == [1, 3]
    # scores are standardised per side: their scale does not matter
    scaled = [(seq, 100 * score - 7) for seq, score in text]
    assert fuse([(vector, 1.0), (scaled, 2.0)], limit=4) == [1, 3, 2, 4]
    # a tie goes to the newer message; one side alone keeps its own order
    assert fuse([([(1, 1.0), (2, 0.0)], 1.0), ([(2, 1.0), (1, 0.0)], 1.0)], limit=2) == [2, 1]
    assert fuse([([(5, 0.3), (4, 0.3), (9, 0.1)], 1.0)], limit=2) == [5, 4]
    assert fuse([([], 1.0), ([(1, 2.0)], 0.3)], limit=5) == [1]
    # a side whose scores do not spread (here one candidate) gives its candidates 1
    assert fuse([(vector, 1.0), ([(2, 7.0)], 1.5)], limit=3) == [2, 1, 3]
    assert fuse([(vector, 1.0), ([(2, 7.0)], 0.3)], limit=3) == [1, 2, 3]
    # a score that is not a number is the side's worst
    nan = float("nan")
    assert fuse([([(1, nan), (2, 0.8), (3, 0.7)], 1.0), ([(3, 1.0), (2, 0.0)], 0.1)], 3) == [
        2,
        3,
        1,
    ]
    assert fuse([], limit=5) == []


def test_full_text_does_not_favour_long_messages(client: TestClient) -> None:
    """A long message that repeats the query's words outscores a short one that holds them
    once (bm25 and ts_rank_cd both grow with repeats); divided by the log of each message's
    length (SQLite: bm25 / ln(2 + tokens); PostgreSQL: ts_rank_cd's normalization 1), the
    short message ranks first."""
    from parley.memory.search import SearchScope

    def filler(tag: str, n: int) -> str:
        return " ".join(f"{tag}{i} words about nothing much" for i in range(n))

    short = "Wilhelmina visits us in June"
    long = " ".join(f"{filler('a', 8)} Wilhelmina will visit in June." for _ in range(6))
    others = [filler(tag, 40) for tag in "bcdef"]  # long messages that match nothing
    client.post("/v2/workspaces", json={"id": W})
    batch = [{"peer_id": "p", "content": content} for content in [short, long, *others]]
    response = client.post(f"/v2/workspaces/{W}/sessions/s/messages/", json={"messages": batch})
    assert response.status_code == 200
    search_ = client.app.state.parley.search
    found = client.portal.call(
        lambda: search_.search(
            SearchScope(W), "Wilhelmina visit June", filters=None, limit=5, mode="text"
        )
    )
    assert [m.content for m in found] == [short, long]


def test_peer_perspective(client: TestClient, honcho_for: Any) -> None:
    """Honcho's `peer_perspective`: the messages of the sessions the peer is or was in, sent
    while it was in them, for every scope; top level only; a peer id."""
    ws = "/v2/workspaces/w"
    assert client.post("/v2/workspaces", json={"id": "w"}).status_code == 200
    members = (("s1", {"alice": {}, "bob": {}}), ("s2", {"alice": {}}), ("s3", {"alice": {}}))
    for session, peers in members:
        body = {"id": session, "peers": peers}
        assert client.post(f"{ws}/sessions", json=body).status_code == 200

    def say(session: str, peer: str, content: str) -> None:
        batch = {"messages": [{"peer_id": peer, "content": content}]}
        assert client.post(f"{ws}/sessions/{session}/messages/", json=batch).status_code == 200

    say("s1", "alice", "apple pie with cinnamon")
    say("s2", "alice", "apple tart before bob came")
    assert client.post(f"{ws}/sessions/s2/peers", json={"bob": {}}).status_code == 200
    say("s2", "carol", "apple crumble after bob came")
    say("s3", "alice", "apple juice where bob never was")
    catch_up(client)

    def found(path: str, filters: Any) -> list[str]:
        response = client.post(
            f"{ws}{path}/search", json={"query": "apple", "filters": filters, "limit": 10}
        )
        assert response.status_code == 200, response.text
        return sorted(m["content"] for m in response.json())

    seen = ["apple crumble after bob came", "apple pie with cinnamon"]
    assert found("", {"peer_perspective": "bob"}) == seen
    assert found("", {"peer_perspective": "bob", "peer_id": "carol"}) == [seen[0]]
    assert found("/sessions/s2", {"peer_perspective": "bob"}) == [seen[0]]
    assert found("/peers/alice", {"peer_perspective": "bob"}) == [seen[1]]
    assert found("", {"peer_perspective": "nobody"}) == []
    # the real SDK sends it as it is
    sdk = honcho_for("w")
    assert sorted(m.content for m in sdk.search("apple", filters={"peer_perspective": "bob"})) == (
        seen
    )
    # after leaving, the session's messages up to `left_at` stay in view, later ones do not
    response = client.request("DELETE", f"{ws}/sessions/s2/peers", json=["bob"])
    assert response.status_code == 200, response.text
    say("s2", "carol", "apple strudel after bob left")
    catch_up(client)
    assert found("", {"peer_perspective": "bob"}) == seen
    for filters, detail in (
        ({"peer_perspective": 1}, "filter on 'peer_perspective' needs a peer id, got 1"),
        ({"peer_perspective": None}, "filter on 'peer_perspective' needs a peer id, got None"),
    ):
        response = client.post(f"{ws}/search", json={"query": "apple", "filters": filters})
        assert (response.status_code, response.json()) == (422, {"detail": detail})
    nested = {"AND": [{"peer_perspective": "bob"}]}
    response = client.post(f"{ws}/search", json={"query": "apple", "filters": nested})
    assert response.status_code == 422
    assert response.json()["detail"].startswith("unknown filter field 'peer_perspective'")
