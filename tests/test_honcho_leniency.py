"""Honcho 2.5.1's lenient behaviours that its clients rely on: get-or-create on first use,
empty results (not 404s) for unknown ids, the other spellings of its create bodies, and its
update rules. Through the real SDK (honcho-ai 1.6.0 over honcho-core 1.6.1) and raw HTTP, on
both backends."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi.testclient import TestClient

EMPTY_PAGE = {"items": [], "total": 0, "page": 1, "size": 50, "pages": 0}
NO_WORK = {
    "total_work_units": 0,
    "completed_work_units": 0,
    "in_progress_work_units": 0,
    "pending_work_units": 0,
}


def ids(page: dict[str, Any]) -> list[str]:
    return [item["id"] for item in page["items"]]


def test_add_peers_get_or_creates_the_session(honcho: Any, client: TestClient) -> None:
    """What `session.add_peers()` sends on a session nobody has stored yet."""
    session = honcho.session("first-chat")  # lazy: no request yet
    from honcho.session import SessionPeerConfig

    session.add_peers(
        [honcho.peer("alice"), (honcho.peer("bot"), SessionPeerConfig(observe_me=False))]
    )
    assert sorted(p.id for p in session.get_peers()) == ["alice", "bot"]
    assert [s.id for s in honcho.get_sessions()] == ["first-chat"]
    config = client.get("/v2/workspaces/sdk-ws/sessions/first-chat/peers/bot/config").json()
    assert config == {"observe_me": False, "observe_others": None}  # as stored, as Honcho


def test_first_use_creates_the_workspace(honcho: Any, client: TestClient) -> None:
    # a peer, a session, and messages (with their session and senders) in new workspaces
    peer = client.post("/v2/workspaces/w-peer/peers", json={"id": "alice"})
    assert (peer.status_code, peer.json()["workspace_id"]) == (200, "w-peer")
    session = client.post("/v2/workspaces/w-session/sessions", json={"id": "s1"})
    assert (session.status_code, session.json()["workspace_id"]) == (200, "w-session")
    sent = client.post(
        "/v2/workspaces/w-messages/sessions/s1/messages/",
        json={"messages": [{"content": "hello", "peer_id": "alice"}]},
    )
    assert (sent.status_code, [m["content"] for m in sent.json()]) == (200, ["hello"])
    assert ids(client.post("/v2/workspaces/w-messages/sessions/list").json()) == ["s1"]
    assert ids(client.get("/v2/workspaces/w-messages/sessions/s1/peers").json()) == ["alice"]
    workspaces = client.post("/v2/workspaces/list").json()
    assert ids(workspaces) == ["sdk-ws", "w-peer", "w-session", "w-messages"]

    # the SDK after its workspace was deleted under it: the next write recreates it
    honcho.delete_workspace("sdk-ws")
    honcho.session("s2").add_messages([honcho.peer("bob").message("back again")])
    assert [m.content for m in honcho.session("s2").get_messages()] == ["back again"]
    assert honcho.get_workspaces() == ["w-peer", "w-session", "w-messages", "sdk-ws"]


def test_unknown_ids_answer_empty_results(honcho: Any, client: TestClient) -> None:
    honcho.session("s1").add_messages([honcho.peer("alice").message("I like tea.")])
    before = client.post("/v2/workspaces/list").json()
    for method, path, body, expected in [
        ("POST", "/v2/workspaces/nope/peers/list", None, EMPTY_PAGE),
        ("POST", "/v2/workspaces/nope/sessions/list", None, EMPTY_PAGE),
        ("POST", "/v2/workspaces/nope/sessions/s1/messages/list", None, EMPTY_PAGE),
        ("POST", "/v2/workspaces/sdk-ws/sessions/nope/messages/list", {}, EMPTY_PAGE),
        ("GET", "/v2/workspaces/sdk-ws/sessions/nope/peers", None, EMPTY_PAGE),
        ("POST", "/v2/workspaces/sdk-ws/peers/nope/sessions", None, EMPTY_PAGE),
        ("POST", "/v2/workspaces/nope/search", {"query": "tea"}, []),
        ("POST", "/v2/workspaces/sdk-ws/peers/nope/search", {"query": "tea"}, []),
        ("POST", "/v2/workspaces/sdk-ws/sessions/nope/search", {"query": "tea"}, []),
        (
            "GET",
            "/v2/workspaces/sdk-ws/sessions/nope/summaries",
            None,
            {"id": "nope", "short_summary": None, "long_summary": None},
        ),
        ("GET", "/v2/workspaces/sdk-ws/peers/nope/card", None, {"peer_card": None}),
        (
            "GET",
            "/v2/workspaces/sdk-ws/peers/alice/card?target=nope",
            None,
            {"peer_card": None},
        ),
        (
            "POST",
            "/v2/workspaces/sdk-ws/peers/alice/representation",
            {"target": "nope"},
            {"representation": {"explicit": [], "deductive": []}},
        ),
        (
            "POST",
            "/v2/workspaces/sdk-ws/peers/alice/representation",
            {"session_id": "nope"},
            {"representation": {"explicit": [], "deductive": []}},
        ),
        (
            "GET",
            "/v2/workspaces/sdk-ws/peers/nope/context",
            None,
            {
                "peer_id": "nope",
                "target_id": "nope",
                "representation": {"explicit": [], "deductive": []},
                "peer_card": None,
            },
        ),
    ]:
        response = client.request(method, path, json=body)
        assert (response.status_code, response.json()) == (200, expected), path
    # nothing was created by those reads
    assert client.post("/v2/workspaces/list").json() == before
    assert ids(client.post("/v2/workspaces/sdk-ws/peers/list").json()) == ["alice"]

    # the queue status of unknown ids, and with Honcho's empty-string ids (no filter)
    for query in ("observer_id=nope", "sender_id=nope", "session_id=nope"):
        status = client.get(f"/v2/workspaces/sdk-ws/deriver/status?{query}").json()
        assert {k: status[k] for k in NO_WORK} == NO_WORK, query
    status = client.get("/v2/workspaces/nope/deriver/status?observer_id=&session_id=").json()
    assert ({k: status[k] for k in NO_WORK}, status["sessions"]) == (NO_WORK, None)
    everything = client.get("/v2/workspaces/sdk-ws/deriver/status?observer_id=&session_id=")
    assert (everything.json()["pending_work_units"], list(everything.json()["sessions"])) == (
        1,
        ["s1"],
    )

    # through the SDK
    assert list(honcho.session("nope").get_messages()) == []
    assert honcho.session("nope").search("tea") == []
    assert honcho.peer("nope").card() == ""  # the SDK's rendering of a null card


def test_create_bodies_take_name_for_id_and_peer_names_for_peers(client: TestClient) -> None:
    workspace = client.post("/v2/workspaces", json={"name": "by-name"})
    assert (workspace.status_code, workspace.json()["id"]) == (200, "by-name")
    peer = client.post("/v2/workspaces/by-name/peers", json={"name": "alice"})
    assert (peer.status_code, peer.json()["id"]) == (200, "alice")
    session = client.post(
        "/v2/workspaces/by-name/sessions",
        json={"name": "s1", "peer_names": {"alice": {}, "bob": {"observe_others": True}}},
    )
    assert (session.status_code, session.json()["id"]) == (200, "s1")
    # the peers given as peer_names are stored, not dropped
    assert ids(client.get("/v2/workspaces/by-name/sessions/s1/peers").json()) == ["alice", "bob"]
    config = client.get("/v2/workspaces/by-name/sessions/s1/peers/bob/config").json()
    assert config == {"observe_me": None, "observe_others": True}  # as stored, as Honcho

    # when both spellings are sent, `id` wins; errors point at the spelling that was sent
    both = client.post("/v2/workspaces/by-name/peers", json={"id": "carol", "name": "dave"})
    assert both.json()["id"] == "carol"
    for body, loc, kind in [
        ({"name": "bad name"}, ["body", "name"], "string_pattern_mismatch"),
        ({"id": "bad name"}, ["body", "id"], "string_pattern_mismatch"),
        ({"name": "x" * 101}, ["body", "name"], "string_too_long"),
        ({}, ["body", "id"], "missing"),
    ]:
        for path in ("/v2/workspaces", "/v2/workspaces/by-name/peers"):
            response = client.post(path, json=body)
            errors = response.json()["detail"]
            assert response.status_code == 422
            assert [(e["loc"], e["type"]) for e in errors] == [(loc, kind)], (path, body)
    assert ids(client.post("/v2/workspaces/by-name/peers/list").json()) == [
        "alice",
        "bob",
        "carol",
    ]


def test_update_rules_follow_honcho(client: TestClient) -> None:
    """POST of an existing workspace changes nothing; PUT replaces metadata and merges
    configuration (workspaces and sessions); a session's POST does the same to an existing
    session; a peer's configuration is replaced."""
    first = {
        "id": "w",
        "metadata": {"plan": "free"},
        "configuration": {"deriver": {"enabled": False}},
    }
    client.post("/v2/workspaces", json=first)
    again = client.post("/v2/workspaces", json={"id": "w", "metadata": {"plan": "pro"}}).json()
    assert (again["metadata"], again["configuration"]) == (
        {"plan": "free"},
        {"deriver": {"enabled": False}},
    )
    updated = client.put(
        "/v2/workspaces/w",
        json={"metadata": {"plan": "pro"}, "configuration": {"summary": {"enabled": False}}},
    ).json()
    assert (updated["metadata"], updated["configuration"]) == (
        {"plan": "pro"},
        {"deriver": {"enabled": False}, "summary": {"enabled": False}},
    )

    client.post(
        "/v2/workspaces/w/sessions",
        json={"id": "s", "metadata": {"a": 1}, "configuration": {"deriver": {"enabled": False}}},
    )
    session = client.post(
        "/v2/workspaces/w/sessions",
        json={"id": "s", "metadata": {"b": 2}, "configuration": {"dream": {"enabled": False}}},
    ).json()
    assert (session["metadata"], session["configuration"]) == (
        {"b": 2},
        {"deriver": {"enabled": False}, "dream": {"enabled": False}},
    )
    session = client.put(
        "/v2/workspaces/w/sessions/s", json={"configuration": {"deriver": {"enabled": True}}}
    ).json()
    assert (session["metadata"], session["configuration"]) == (
        {"b": 2},
        {"deriver": {"enabled": True}, "dream": {"enabled": False}},
    )

    client.post("/v2/workspaces/w/peers", json={"id": "p", "configuration": {"observe_me": False}})
    peer = client.put("/v2/workspaces/w/peers/p", json={"configuration": {"x": 1}}).json()
    assert peer["configuration"] == {"x": 1}


def test_error_texts_clients_compare(honcho: Any, client: TestClient) -> None:
    honcho.session("s1").add_messages([honcho.peer("alice").message("hi")])
    deleted = client.delete("/v2/workspaces/sdk-ws/sessions/s1")
    assert (deleted.status_code, deleted.json()) == (
        202,
        {"message": "Session deleted successfully"},
    )
    too_long = client.post(
        "/v2/workspaces/sdk-ws/peers/alice/chat", json={"query": "x" * 10_001}
    ).json()["detail"]
    assert [(e["type"], e["loc"], e["msg"]) for e in too_long] == [
        ("string_too_long", ["body", "query"], "String should have at most 10000 characters")
    ]
    empty = client.post("/v2/workspaces/sdk-ws/peers/alice/chat", json={"query": ""}).json()
    assert [e["type"] for e in empty["detail"]] == ["string_too_short"]


def _store_summary(client: TestClient, kind: str, content: str, upto: dict[str, Any]) -> None:
    """A summary as the summarizer writes one (no summary model runs in these tests)."""
    from sqlalchemy import insert, select

    from parley.store.models import Message, SessionSummary

    state = client.app.state.parley  # type: ignore[attr-defined]

    async def write() -> None:
        async with state.database.write() as db:
            seq = await db.scalar(select(Message.seq).where(Message.id == upto["id"]))
            await db.execute(
                insert(SessionSummary).values(
                    workspace_id=upto["workspace_id"],
                    session_id=upto["session_id"],
                    kind=kind,
                    content=content,
                    message_id=upto["id"],
                    message_seq=seq,
                    token_count=len(content.split()),
                    created_at=datetime(2025, 1, 2, 3, 4, 5, 678_000, tzinfo=UTC),
                )
            )

    client.portal.call(write)  # type: ignore[union-attr]


def test_session_context_starts_at_the_summary(client: TestClient) -> None:
    """Honcho's get_context: with a summary, the messages start at the last one it covers;
    the long summary is taken only if it fits and is longer than the short one."""
    base = "/v2/workspaces/w/sessions/s"
    sent = client.post(
        f"{base}/messages/",
        json={"messages": [{"content": f"message {i}", "peer_id": "alice"} for i in range(8)]},
    ).json()
    _store_summary(client, "short", "alice counted to five", sent[5])
    context = client.get(f"{base}/context").json()
    assert [m["content"] for m in context["messages"]] == ["message 5", "message 6", "message 7"]
    assert context["summary"] == {
        "content": "alice counted to five",
        "message_id": sent[5]["id"],
        "summary_type": "honcho_chat_summary_short",
        "created_at": "2025-01-02T03:04:05Z",
        "token_count": 4,
    }
    assert client.get(f"{base}/summaries").json()["short_summary"] == context["summary"]
    # without the summary, every message
    whole = client.get(f"{base}/context", params={"summary": "false"}).json()
    assert (whole["summary"], len(whole["messages"])) == (None, 8)

    # a long summary shorter than the short one is not taken; a longer one is
    _store_summary(client, "long", "counting", sent[2])
    assert client.get(f"{base}/context").json()["summary"]["summary_type"] == (
        "honcho_chat_summary_short"
    )
    _store_summary(client, "long", "alice counted from zero up to six", sent[6])
    context = client.get(f"{base}/context").json()
    assert context["summary"]["summary_type"] == "honcho_chat_summary_long"
    assert [m["content"] for m in context["messages"]] == ["message 6", "message 7"]
    # a budget too small for the long one falls back to the short one (40% of 12 is 4)
    small = client.get(f"{base}/context", params={"tokens": 12}).json()
    assert small["summary"]["summary_type"] == "honcho_chat_summary_short"


def test_observation_cap_counts_both_levels_and_defaults_to_fifty(client: TestClient) -> None:
    observations = [
        {
            "content": f"Alice fact number {i}.",
            "observer_id": "alice",
            "observed_id": "alice",
            "session_id": "s",
        }
        for i in range(60)
    ]
    client.post("/v2/workspaces/w/sessions", json={"id": "s", "peers": {"alice": {}}})
    for start in (0, 50):
        stored = client.post(
            "/v2/workspaces/w/observations", json={"observations": observations[start : start + 50]}
        )
        assert stored.status_code == 200, stored.text
    deductions = [
        o | {"content": f"Alice likes numbers {i}.", "level": "deductive", "premises": ["x"]}
        for i, o in enumerate(observations[:10])
    ]
    stored = client.post("/v2/workspaces/w/observations", json={"observations": deductions})
    assert stored.status_code == 200, stored.text
    rep = "/v2/workspaces/w/peers/alice/representation"

    def count(response: Any) -> int:
        body = response.json()["representation"]
        return len(body["explicit"]) + len(body["deductive"])

    assert count(client.post(rep, json={})) == 25  # the body's default, as in Honcho
    assert count(client.post(rep, json={"max_observations": None})) == 50  # the server's
    assert count(client.post(rep, json={"max_observations": 7})) == 7  # both levels together
    context = client.get("/v2/workspaces/w/peers/alice/context").json()["representation"]
    assert len(context["explicit"]) + len(context["deductive"]) == 50


def test_setting_a_peers_config_joins_it_to_the_session(client: TestClient) -> None:
    """Honcho's set_peer_config: the session and the peer must exist; a peer that is not a
    member joins with the given settings."""
    client.post("/v2/workspaces/w/sessions", json={"id": "s", "peers": {"alice": {}}})
    client.post("/v2/workspaces/w/peers", json={"id": "bob"})
    base = "/v2/workspaces/w/sessions/s/peers"
    response = client.post(f"{base}/bob/config", json={"observe_others": True})
    assert response.status_code == 200
    assert client.get(f"{base}/bob/config").json() == {"observe_me": None, "observe_others": True}
    assert ids(client.get(base).json()) == ["alice", "bob"]
    missing = client.post(f"{base}/nobody/config", json={"observe_me": False})
    assert (missing.status_code, missing.json()) == (
        404,
        {"detail": "Peer nobody not found in workspace w"},
    )
    unknown = client.post("/v2/workspaces/w/sessions/nope/peers/bob/config", json={})
    assert (unknown.status_code, unknown.json()) == (
        404,
        {"detail": "Session nope not found in workspace w"},
    )
