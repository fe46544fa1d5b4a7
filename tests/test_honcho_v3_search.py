"""/v3 search at three scopes, queue status and schedule_dream (Honcho 3.0.12): honcho-ai 2.7.0
over real HTTP, then in process on SQLite and PostgreSQL: the same answers as /v2's search
and deriver status on the same data, v3's 204 for a dream, bad input in v3's 422 shape, unknown
ids, and workspace isolation with auth on."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from conftest import TEST_SECRET, run_honcho_v3
from helpers import ok
from parley.auth.keys import ADMIN, Principal, create_key

SDK = r"""
import json, sys, time
import honcho
from honcho import Honcho

assert honcho.__version__ == "2.7.0", honcho.__version__
client = Honcho(base_url=sys.argv[1], workspace_id="v3-search", max_retries=0)
alice, bob = client.peer("alice"), client.peer("bob")
chat, other = client.session("chat"), client.session("other")
chat.add_peers([alice, bob])
other.add_peers([alice])
chat.add_messages([alice.message("I moved to Lisbon last spring."), bob.message("Lisbon is sunny.")])
other.add_messages([alice.message("My cello lessons start in Lisbon.", metadata={"k": 1})])


def settled(status):
    return status.pending_work_units == 0 and status.in_progress_work_units == 0


def wait(read):
    deadline = time.monotonic() + 60
    while not settled(status := read()):
        assert time.monotonic() < deadline, status
        time.sleep(0.1)
    return status


workspace_status = wait(client.queue_status)
chat_status = wait(chat.queue_status)
dreamt = client.schedule_dream(alice)
after_dream = wait(lambda: client.queue_status(observer=alice))


def contents(found):
    return sorted(m.content for m in found)


print(json.dumps({
    "workspace": contents(client.search("Lisbon")),
    "workspace_limited": len(client.search("Lisbon", limit=2)),
    "filtered": contents(client.search("Lisbon", filters={"metadata": {"k": 1}})),
    "peer": contents(alice.search("Lisbon")),
    "session": contents(chat.search("Lisbon")),
    "session_ids": sorted({m.session_id for m in client.search("Lisbon")}),
    "status": [
        workspace_status.total_work_units,
        workspace_status.completed_work_units,
        sorted(workspace_status.sessions or {}),
    ],
    "chat_status": [chat_status.total_work_units, chat_status.sessions],
    "dream": [dreamt, after_dream.total_work_units, after_dream.completed_work_units],
}))
"""

ALICE = ["I moved to Lisbon last spring.", "My cello lessons start in Lisbon."]
BOB = ["Lisbon is sunny."]


def test_honcho_ai_2_7_searches_reads_the_queue_and_schedules_a_dream(
    served_each_backend: str,
) -> None:
    assert run_honcho_v3(SDK, served_each_backend) == {
        "workspace": sorted(ALICE + BOB),
        "workspace_limited": 2,
        "filtered": [ALICE[1]],
        "peer": ALICE,
        "session": sorted([ALICE[0], *BOB]),
        "session_ids": ["chat", "other"],
        # one reasoning task per message (each sender observes itself), all done
        "status": [3, 3, ["chat", "other"]],
        "chat_status": [2, None],
        # the dream is queued (204: None) and done; alice's own messages are two of her tasks
        "dream": [None, 3, 3],
    }
    # the same search through /v2 answers the same messages
    with httpx.Client(base_url=served_each_backend) as http:
        for path in ("/search", "/peers/alice/search", "/sessions/chat/search"):
            body = {"query": "Lisbon", "limit": 10}
            v3 = http.post(f"/v3/workspaces/v3-search{path}", json=body)
            v2 = http.post(f"/v2/workspaces/v3-search{path}", json=body)
            assert (v3.status_code, v2.status_code) == (200, 200)
            assert v3.json() == v2.json(), path


# --- in process, on both backends ------------------------------------------------------------

W = "w"
BASE = f"/v3/workspaces/{W}"
TEXTS = {
    "s1": [("alice", "We moved to Lisbon in the spring"), ("bob", "Lisbon has tiled buildings")],
    "s2": [("alice", "I play the cello in Lisbon"), ("carol", "The report is due on Friday")],
}


@pytest.fixture
def seeded(client: TestClient) -> TestClient:
    for session, messages in TEXTS.items():
        peers = {peer: {} for peer, _ in messages}
        made = client.post(f"{BASE}/sessions", json={"id": session, "peers": peers})
        assert made.status_code == 201, made.text
        batch = [{"peer_id": p, "content": c, "metadata": {"in": session}} for p, c in messages]
        sent = client.post(f"{BASE}/sessions/{session}/messages", json={"messages": batch})
        assert sent.status_code == 201, sent.text
    client.portal.call(client.app.state.parley.indexer.catch_up)
    return client


def found(client: TestClient, path: str, query: str, **body: Any) -> list[str]:
    response = client.post(f"{BASE}{path}/search", json={"query": query} | body)
    assert response.status_code == 200, response.text
    return [m["content"] for m in response.json()]


def test_search_at_three_scopes_answers_as_v2(seeded: TestClient) -> None:
    lisbon = {"We moved to Lisbon in the spring", "Lisbon has tiled buildings"}
    top = found(seeded, "", "Lisbon", limit=2)
    assert len(top) == 2 and set(top) <= lisbon | {"I play the cello in Lisbon"}
    assert sorted(found(seeded, "/sessions/s1", "Lisbon")) == sorted(lisbon)
    assert sorted(found(seeded, "/peers/alice", "Lisbon")) == [
        "I play the cello in Lisbon",
        "We moved to Lisbon in the spring",
    ]
    filtered = found(seeded, "", "Lisbon", filters={"metadata": {"in": "s2"}, "peer_id": "alice"})
    assert filtered == ["I play the cello in Lisbon"]
    for path, body in (
        ("", {"query": "Lisbon", "limit": 3}),
        ("/peers/alice", {"query": "cello", "filters": {"session_id": "s2"}}),
        ("/sessions/s2", {"query": "report due", "filters": None, "limit": 1}),
    ):
        v3 = seeded.post(f"{BASE}{path}/search", json=body)
        v2 = seeded.post(f"/v2/workspaces/{W}{path}/search", json=body)
        assert (v3.status_code, v2.status_code) == (200, 200)
        assert v3.json() == v2.json(), path
    [message] = seeded.post(
        f"{BASE}/sessions/s2/search", json={"query": "Friday", "limit": 1}
    ).json()
    assert set(message) == {
        "id",
        "content",
        "peer_id",
        "session_id",
        "metadata",
        "created_at",
        "workspace_id",
        "token_count",
    }
    assert (message["peer_id"], message["session_id"], message["workspace_id"]) == (
        "carol",
        "s2",
        W,
    )
    assert message["metadata"] == {"in": "s2"}


def test_search_drops_nul_from_the_query_and_ignores_unknown_fields(seeded: TestClient) -> None:
    """Honcho 3 strips NUL characters from the query; honcho-ai 2.7.0 may send a `scope`,
    which 3.0.12 does not know and ignores."""
    plain = seeded.post(f"{BASE}/search", json={"query": "cello"}).json()
    assert plain[0]["content"] == "I play the cello in Lisbon"
    assert seeded.post(f"{BASE}/search", json={"query": "cel\u0000lo"}).json() == plain
    assert seeded.post(f"{BASE}/search", json={"query": "cello", "scope": "x"}).json() == plain


def test_search_of_unknown_ids_is_empty(seeded: TestClient) -> None:
    for path in (
        "/v3/workspaces/nope/search",
        f"{BASE}/sessions/nope/search",
        f"{BASE}/peers/nope/search",
    ):
        response = seeded.post(path, json={"query": "Lisbon"})
        assert (response.status_code, response.json()) == (200, []), path


def _issue(response: Any) -> tuple[str, list[Any]]:
    assert response.status_code == 422, response.text
    [issue] = response.json()["detail"]
    return issue["type"], issue["loc"]


def test_bad_search_bodies_are_422_in_v3s_shape(seeded: TestClient) -> None:
    for path in ("/search", "/peers/alice/search", "/sessions/s1/search"):
        url = f"{BASE}{path}"
        assert _issue(seeded.post(url, json={})) == ("missing", ["body", "query"])
        assert _issue(seeded.post(url, json={"query": "x", "limit": 0})) == (
            "greater_than_equal",
            ["body", "limit"],
        )
        assert _issue(seeded.post(url, json={"query": "x", "limit": 101})) == (
            "less_than_equal",
            ["body", "limit"],
        )
        assert _issue(seeded.post(url, json={"query": 5})) == ("string_type", ["body", "query"])
        assert _issue(seeded.post(url, json={"query": "x", "filters": [1]})) == (
            "dict_type",
            ["body", "filters"],
        )
    unknown = seeded.post(f"{BASE}/search", json={"query": "x", "filters": {"nope": 1}})
    assert unknown.status_code == 422
    assert unknown.json()["detail"].startswith("unknown filter field 'nope'")
    bad_id = seeded.post(f"{BASE}/peers/no%20spaces/search", json={"query": "x"})
    assert _issue(bad_id) == ("string_pattern_mismatch", ["path", "peer_id"])


# --- queue status and schedule_dream -----------------------------------------------------------

NOTES = [
    "No deriver model is configured: each sentence a peer writes is kept as a dated explicit "
    "observation; no deductions and no peer cards are made.",
    "No summary model is configured: session summaries are skipped.",
]


def counts(total: int, pending: int, **extra: Any) -> dict[str, Any]:
    return {
        "total_work_units": total,
        "completed_work_units": 0,
        "in_progress_work_units": 0,
        "pending_work_units": pending,
    } | extra


def status(client: TestClient, workspace_id: str = W, **params: str) -> dict[str, Any]:
    body = ok(client.get(f"/v3/workspaces/{workspace_id}/queue/status", params=params))
    v2 = ok(client.get(f"/v2/workspaces/{workspace_id}/deriver/status", params=params))
    assert body == v2  # the same handler
    assert body["reasoning_mode"] == "retrieval_only" and body["notes"] == NOTES
    assert (body["failed_work_units"], body["failures"]) == (0, [])
    return {k: v for k, v in body.items() if k.endswith("_work_units") or k == "sessions"}


def per_session(session_id: str, total: int) -> dict[str, Any]:
    return counts(total, total, session_id=session_id, failed_work_units=0, embedding_backlog=0)


def test_queue_status_counts_the_reasoning_queue(seeded: TestClient) -> None:
    """The worker is off in these tests: each message's task waits (one per message: each
    sender observes itself)."""
    assert status(seeded) == counts(
        4, 4, failed_work_units=0, sessions={"s1": per_session("s1", 2), "s2": per_session("s2", 2)}
    )
    # a session filter answers no per-session part, as in Honcho
    assert status(seeded, session_id="s2") == counts(2, 2, failed_work_units=0, sessions=None)
    assert status(seeded, observer_id="alice") == counts(
        2, 2, failed_work_units=0, sessions={"s1": per_session("s1", 1), "s2": per_session("s2", 1)}
    )
    # an observer and a sender match work of either; empty ids are no filter
    assert status(seeded, observer_id="alice", sender_id="bob")["total_work_units"] == 3
    assert status(seeded, observer_id="", sender_id="", session_id="")["total_work_units"] == 4
    # unknown ids have no work
    zero = counts(0, 0, failed_work_units=0, sessions=None)
    assert status(seeded, session_id="nope") == zero
    assert status(seeded, "nowhere") == zero
    too_long = seeded.get(f"{BASE}/queue/status", params={"observer_id": "x" * 513})
    assert _issue(too_long) == ("string_too_long", ["query", "observer_id"])


def test_schedule_dream_answers_204_and_queues_a_dream_or_a_card(seeded: TestClient) -> None:
    def schedule(body: dict[str, Any]) -> None:
        response = seeded.post(f"{BASE}/schedule_dream", json=body)
        assert (response.status_code, response.content) == (204, b""), response.text

    def alices() -> int:
        return int(status(seeded, observer_id="alice")["total_work_units"])

    assert alices() == 2
    schedule({"observer": "alice", "dream_type": "omni"})
    assert alices() == 3
    # one dream waits for the pair at a time (it will see everything known when it runs)
    schedule({"observer": "alice", "observed": "alice", "dream_type": "omni", "session_id": "s1"})
    assert alices() == 3
    schedule({"observer": "alice", "observed": "bob", "dream_type": "card_refresh"})
    assert alices() == 4
    schedule(
        {"observer": "alice", "observed": "bob", "dream_type": "card_refresh", "rebuild": True}
    )
    assert alices() == 4
    # dreams span sessions: the session view is unchanged
    assert status(seeded, session_id="s1")["total_work_units"] == 2
    # as in Honcho: 204 whatever the peers; unknown ones have nothing to dream about
    schedule({"observer": "ghost", "dream_type": "omni"})
    schedule({"observer": "alice", "observed": "ghost", "dream_type": "card_refresh"})
    schedule({"observer": "", "dream_type": "omni"})
    response = seeded.post(
        "/v3/workspaces/nowhere/schedule_dream", json={"observer": "a", "dream_type": "omni"}
    )
    assert response.status_code == 204
    assert status(seeded)["total_work_units"] == 6
    assert status(seeded, "nowhere")["total_work_units"] == 0


def test_bad_dream_requests_are_422_in_v3s_shape(seeded: TestClient) -> None:
    url = f"{BASE}/schedule_dream"
    assert _issue(seeded.post(url, json={"dream_type": "omni"})) == (
        "missing",
        ["body", "observer"],
    )
    assert _issue(seeded.post(url, json={"observer": "alice"})) == (
        "missing",
        ["body", "dream_type"],
    )
    # /v2's dream types are not v3's
    wrong = seeded.post(url, json={"observer": "alice", "dream_type": "consolidate"})
    assert _issue(wrong) == ("enum", ["body", "dream_type"])
    assert wrong.json()["detail"][0]["msg"] == "Input should be 'omni' or 'card_refresh'"
    assert _issue(
        seeded.post(url, json={"observer": "alice", "dream_type": "omni", "rebuild": "x"})
    ) == (
        "bool_parsing",
        ["body", "rebuild"],
    )
    assert _issue(seeded.post(url, json={"observer": "a" * 513, "dream_type": "omni"})) == (
        "string_too_long",
        ["body", "observer"],
    )
    assert status(seeded)["total_work_units"] == 4  # nothing was queued


# --- auth ----------------------------------------------------------------------------------------


def bearer(principal: Principal) -> dict[str, str]:
    return {"Authorization": f"Bearer {create_key(principal, secret=TEST_SECRET)}"}


ROUTES = [
    ("POST", "/search", {"json": {"query": "Lisbon"}}),
    ("POST", "/peers/alice/search", {"json": {"query": "Lisbon"}}),
    ("POST", "/sessions/s1/search", {"json": {"query": "Lisbon"}}),
    ("GET", "/queue/status", {}),
    ("POST", "/schedule_dream", {"json": {"observer": "alice", "dream_type": "omni"}}),
]


@pytest.mark.parametrize("settings_overrides", [{"auth_enabled": True}])
def test_keys_reach_only_their_own_workspace(client: TestClient) -> None:
    admin = bearer(ADMIN)
    for session, messages in TEXTS.items():
        batch = [{"peer_id": p, "content": c} for p, c in messages]
        sent = client.post(
            f"{BASE}/sessions/{session}/messages", json={"messages": batch}, headers=admin
        )
        assert sent.status_code == 201, sent.text
    other = bearer(Principal(workspace="other"))
    own = bearer(Principal(workspace=W))
    for method, path, body in ROUTES:
        refused = client.request(method, f"{BASE}{path}", headers=other, **body)
        assert refused.status_code == 403, (path, refused.text)
        assert refused.json() == {"detail": "a key for workspace other cannot reach workspace w"}
        assert "Lisbon" not in refused.text
        missing = client.request(method, f"{BASE}{path}", **body)
        assert missing.status_code == 401, path
        allowed = client.request(method, f"{BASE}{path}", headers=own, **body)
        assert allowed.status_code == (204 if path == "/schedule_dream" else 200), path

    # narrow keys, as on /v2: a peer searches its own messages and the sessions it is in
    alice = bearer(Principal(workspace=W, peer="alice"))
    carol = bearer(Principal(workspace=W, peer="carol"))
    assert (
        client.post(f"{BASE}/peers/alice/search", json={"query": "x"}, headers=alice).status_code
        == 200
    )
    assert (
        client.post(f"{BASE}/sessions/s1/search", json={"query": "x"}, headers=alice).status_code
        == 200
    )
    for headers, path in (
        (carol, "/sessions/s1/search"),
        (alice, "/peers/bob/search"),
        (alice, "/search"),
    ):
        response = client.post(f"{BASE}{path}", json={"query": "Lisbon"}, headers=headers)
        assert response.status_code == 403, (path, response.text)
    for method, path, body in ROUTES[3:]:
        assert client.request(method, f"{BASE}{path}", headers=alice, **body).status_code == 403
