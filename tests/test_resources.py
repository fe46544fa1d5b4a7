"""Every core /v2 route through the real Honcho SDK (honcho-ai 1.6.0 over honcho-core 1.6.1),
on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from honcho.session import SessionPeerConfig
from honcho_core import NotFoundError


def test_workspace_get_or_create_update_list_delete(honcho: Any) -> None:
    core = honcho.core
    first = core.workspaces.get_or_create(id="w2", metadata={"plan": "free"})
    again = core.workspaces.get_or_create(id="w2")
    assert again.id == "w2" and again.metadata == {"plan": "free"}
    assert again.created_at == first.created_at
    # get-or-create returns an existing workspace as it is (Honcho 2.5.1); PUT changes it
    assert core.workspaces.get_or_create(id="w2", metadata={"plan": "pro"}).metadata == {
        "plan": "free"
    }
    assert core.workspaces.update("w2", metadata={"plan": "pro"}).metadata == {"plan": "pro"}

    honcho.set_metadata({"team": "core"})
    honcho.set_config({"deriver": {"enabled": False}})
    assert honcho.get_metadata() == {"team": "core"}
    assert honcho.get_config() == {"deriver": {"enabled": False}}

    assert honcho.get_workspaces() == ["sdk-ws", "w2"]
    assert honcho.get_workspaces(filters={"metadata": {"plan": "pro"}}) == ["w2"]

    deleted = honcho.delete_workspace("w2")
    assert deleted.id == "w2" and deleted.metadata == {"plan": "pro"}
    assert honcho.get_workspaces() == ["sdk-ws"]
    with pytest.raises(NotFoundError):
        core.workspaces.delete("w2")


def test_peer_metadata_config_and_pages(honcho: Any) -> None:
    core = honcho.core
    for index in range(7):
        core.workspaces.peers.get_or_create(workspace_id="sdk-ws", id=f"p{index}")
    alice = honcho.peer("alice", metadata={"name": "Alice"})
    alice.set_metadata({"name": "Alice", "city": "Lisbon"})
    alice.set_config({"observe_me": False})
    assert alice.get_metadata() == {"name": "Alice", "city": "Lisbon"}
    assert alice.get_config() == {"observe_me": False}

    page = core.workspaces.peers.list(workspace_id="sdk-ws", size=3, page=3)
    assert (page.total, page.page, page.size, page.pages) == (8, 3, 3, 3)
    assert [p.id for p in page.items] == ["p6", "alice"]
    assert [p.id for p in core.workspaces.peers.list(workspace_id="sdk-ws", size=3)] == [
        "p0", "p1", "p2", "p3", "p4", "p5", "p6", "alice",
    ]  # fmt: skip


def test_session_peers_and_configs(honcho: Any) -> None:
    alice, bot, carol = honcho.peer("alice"), honcho.peer("bot"), honcho.peer("carol")
    session = honcho.session("s1", config={"summary": {"enabled": False}})
    assert session.get_config() == {"summary": {"enabled": False}}
    session.add_peers([alice, bot])
    assert sorted(p.id for p in session.get_peers()) == ["alice", "bot"]

    core = honcho.core.workspaces.sessions.peers
    # as stored: never set is null (the defaults, true and false, apply), as Honcho answers
    assert core.get_config("alice", workspace_id="sdk-ws", session_id="s1").model_dump() == {
        "observe_me": None,
        "observe_others": None,
    }
    core.set_config("bot", workspace_id="sdk-ws", session_id="s1", observe_others=True)
    core.set_config("bot", workspace_id="sdk-ws", session_id="s1", observe_me=False)
    assert core.get_config("bot", workspace_id="sdk-ws", session_id="s1").model_dump() == {
        "observe_me": False,
        "observe_others": True,
    }

    session.set_peers([alice, carol])
    assert sorted(p.id for p in session.get_peers()) == ["alice", "carol"]
    session.remove_peers([carol])
    assert [p.id for p in session.get_peers()] == ["alice"]
    # a peer that left keeps its config and the session among its sessions (as in Honcho)
    assert core.get_config("bot", workspace_id="sdk-ws", session_id="s1").model_dump() == {
        "observe_me": False,
        "observe_others": True,
    }
    assert [s.id for s in alice.get_sessions()] == ["s1"]
    assert [s.id for s in bot.get_sessions()] == ["s1"]
    with pytest.raises(NotFoundError):
        core.get_config("dave", workspace_id="sdk-ws", session_id="s1")


def test_observer_limit(client: TestClient) -> None:
    client.post("/v2/workspaces", json={"id": "w"})
    peers = {f"p{i}": {"observe_others": True} for i in range(10)}
    assert (
        client.post("/v2/workspaces/w/sessions", json={"id": "s", "peers": peers}).status_code
        == 200
    )
    response = client.post(
        "/v2/workspaces/w/sessions/s/peers", json={"p10": {"observe_others": True}}
    )
    assert response.status_code == 400  # Honcho's status and words
    assert response.json() == {
        "detail": "Cannot create session s with 11 observers. Maximum allowed is 10 observers "
        "per session. Observers are peers with 'observe_others' set to true."
    }
    assert client.get("/v2/workspaces/w/sessions/s/peers").json()["total"] == 10
    # a new session with too many observers is not created at all
    too_many = {f"q{i}": {"observe_others": True} for i in range(11)}
    response = client.post("/v2/workspaces/w/sessions", json={"id": "t", "peers": too_many})
    assert response.status_code == 400
    assert response.json()["detail"].startswith("Cannot create session t with 11 observers.")
    listed = client.post("/v2/workspaces/w/sessions/list").json()
    assert [row["id"] for row in listed["items"]] == ["s"]


def test_messages_batch_list_get_update(honcho: Any, client: TestClient) -> None:
    alice, bot = honcho.peer("alice"), honcho.peer("bot")
    session = honcho.session("s1")
    old = datetime(2021, 3, 4, 5, 6, 7, tzinfo=UTC)
    sent = session.add_messages(
        [
            alice.message("first", metadata={"n": 1}),
            bot.message("second", metadata={"n": 2}),
            alice.message("third ünïcödé 👋", metadata={"n": 3}, created_at=old),
        ]
    )
    assert [m.content for m in sent] == ["first", "second", "third ünïcödé 👋"]
    assert sent[2].created_at == old
    # the same batch route without the trailing slash
    more = client.post(
        "/v2/workspaces/sdk-ws/sessions/s1/messages",
        json={"messages": [{"content": "fourth", "peer_id": "bot"}]},
    )
    assert more.status_code == 200 and more.json()[0]["content"] == "fourth"

    assert [m.content for m in session.get_messages()] == [
        "first",
        "second",
        "third ünïcödé 👋",
        "fourth",
    ]
    reverse = client.post("/v2/workspaces/sdk-ws/sessions/s1/messages/list?reverse=true&size=3")
    body = reverse.json()
    assert [m["content"] for m in body["items"]] == ["fourth", "third ünïcödé 👋", "second"]
    assert (body["total"], body["page"], body["size"], body["pages"]) == (4, 1, 3, 2)

    messages = honcho.core.workspaces.sessions.messages
    got = messages.retrieve(sent[1].id, workspace_id="sdk-ws", session_id="s1")
    assert (got.content, got.peer_id, got.metadata) == ("second", "bot", {"n": 2})
    updated = honcho.update_message(sent[1], {"n": 20, "tag": "x"})
    assert updated.metadata == {"n": 20, "tag": "x"}
    assert messages.retrieve(sent[1].id, workspace_id="sdk-ws", session_id="s1").metadata == {
        "n": 20,
        "tag": "x",
    }
    # a message is only reachable through its own session
    honcho.session("s2").add_messages([alice.message("elsewhere")])
    with pytest.raises(NotFoundError):
        messages.retrieve(sent[1].id, workspace_id="sdk-ws", session_id="s2")


def test_clone_whole_and_partial(honcho: Any) -> None:
    alice, bot = honcho.peer("alice"), honcho.peer("bot")
    session = honcho.session("s1", metadata={"topic": "x"})
    session.add_peers([alice, (bot, SessionPeerConfig(observe_others=True))])
    sent = session.add_messages([alice.message(f"m{i}") for i in range(5)])

    whole = session.clone()
    assert whole.id != "s1" and len(whole.id) == 21
    assert whole.get_metadata() == {"topic": "x"}
    assert [m.content for m in whole.get_messages()] == ["m0", "m1", "m2", "m3", "m4"]
    assert sorted(p.id for p in whole.get_peers()) == ["alice", "bot"]
    config = honcho.core.workspaces.sessions.peers.get_config(
        "bot", workspace_id="sdk-ws", session_id=whole.id
    )
    assert config.observe_others is True

    partial = session.clone(message_id=sent[2].id)
    assert [m.content for m in partial.get_messages()] == ["m0", "m1", "m2"]
    with pytest.raises(NotFoundError):
        session.clone(message_id="nonexistent-message-1")


def test_delete_session_removes_its_data_from_every_read_path(
    honcho: Any, client: TestClient
) -> None:
    alice = honcho.peer("alice")
    doomed, kept = honcho.session("doomed"), honcho.session("kept")
    gone = doomed.add_messages([alice.message("secret plan")])[0]
    kept.add_messages([alice.message("harmless")])

    response = client.delete("/v2/workspaces/sdk-ws/sessions/doomed")
    assert response.status_code == 202
    assert response.json() == {"message": "Session deleted successfully"}

    assert (
        client.get(f"/v2/workspaces/sdk-ws/sessions/doomed/messages/{gone.id}").status_code == 404
    )
    empty = {"items": [], "total": 0, "page": 1, "size": 50, "pages": 0}
    assert client.post("/v2/workspaces/sdk-ws/sessions/doomed/messages/list").json() == empty
    assert client.get("/v2/workspaces/sdk-ws/sessions/doomed/peers").json() == empty
    assert [s.id for s in honcho.get_sessions()] == ["kept"]
    assert [s.id for s in alice.get_sessions()] == ["kept"]
    assert [m.content for m in kept.get_messages()] == ["harmless"]
    assert client.delete("/v2/workspaces/sdk-ws/sessions/doomed").status_code == 404


def test_delete_workspace_removes_everything(honcho: Any, client: TestClient) -> None:
    other = client.post("/v2/workspaces", json={"id": "other"})
    assert other.status_code == 200
    client.post(
        "/v2/workspaces/other/sessions/s/messages/",
        json={"messages": [{"content": "stays", "peer_id": "p"}]},
    )
    honcho.session("s").add_messages([honcho.peer("p").message("goes")])

    assert client.delete("/v2/workspaces/sdk-ws").status_code == 200
    # Honcho answers an unknown workspace's lists with empty pages
    empty = {"items": [], "total": 0, "page": 1, "size": 50, "pages": 0}
    for method, path in (
        ("POST", "/v2/workspaces/sdk-ws/peers/list"),
        ("POST", "/v2/workspaces/sdk-ws/sessions/list"),
        ("POST", "/v2/workspaces/sdk-ws/sessions/s/messages/list"),
        ("GET", "/v2/workspaces/sdk-ws/webhooks"),
    ):
        response = client.request(method, path)
        assert (response.status_code, response.json()) == (200, empty), path
    assert client.post("/v2/workspaces/list").json()["total"] == 1  # nothing was re-created
    listed = client.post("/v2/workspaces/other/sessions/s/messages/list").json()["items"]
    assert [m["content"] for m in listed] == ["stays"]


def test_deriver_status_and_queue_alias(honcho: Any, client: TestClient) -> None:
    """No worker runs in this test: the message's work waits, pending (its embedding is made
    first, so that it does not count as well)."""
    honcho.session("s1").add_messages([honcho.peer("alice").message("hi")])
    client.portal.call(client.app.state.parley.indexer.catch_up)
    expected = {
        "total_work_units": 1,
        "completed_work_units": 0,
        "in_progress_work_units": 0,
        "pending_work_units": 1,
    }
    status = honcho.get_deriver_status()
    assert {k: getattr(status, k) for k in expected} == expected
    assert status.sessions["s1"].pending_work_units == 1
    for path in ("deriver", "queue"):
        body = client.get(f"/v2/workspaces/sdk-ws/{path}/status?session_id=s1").json()
        assert {k: body[k] for k in expected} == expected
        assert (body["sessions"], body["failed_work_units"], body["failures"]) == (None, 0, [])
    # unknown ids have no work, as in Honcho; empty ids are no filter
    missing = client.get("/v2/workspaces/sdk-ws/queue/status?session_id=nope").json()
    assert {k: missing[k] for k in expected} == dict.fromkeys(expected, 0)
    unfiltered = client.get("/v2/workspaces/sdk-ws/deriver/status?observer_id=&session_id=")
    assert {k: unfiltered.json()[k] for k in expected} == expected
    assert list(unfiltered.json()["sessions"]) == ["s1"]
