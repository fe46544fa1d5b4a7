"""Session membership as in Honcho 2.5.1 (src/crud/session.py): a peer that leaves keeps its
row with `left_at`; reads of "who is in the session" see members only; rejoining starts a new
stay and takes the given config only when the peer had left. Runs on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi.testclient import TestClient
from honcho.session import SessionPeerConfig
from sqlalchemy import select

from helpers import ok
from parley.store.models import SessionPeer, WorkItem

WS = "/v2/workspaces/w"
UNSET = {"observe_me": None, "observe_others": None}  # as stored and answered (Honcho)


def membership(client: TestClient, session: str, peer: str) -> tuple[datetime, datetime | None]:
    async def read() -> tuple[datetime, datetime | None]:
        async with client.app.state.parley.database.read() as db:
            row = await db.get(SessionPeer, ("w", session, peer))
            assert row is not None
            return row.joined_at, row.left_at

    return client.portal.call(read)


def members(client: TestClient, session: str = "s") -> list[str]:
    return sorted(p["id"] for p in ok(client.get(f"{WS}/sessions/{session}/peers"))["items"])


def sessions_of(client: TestClient, peer: str) -> list[str]:
    return sorted(s["id"] for s in ok(client.post(f"{WS}/peers/{peer}/sessions", json={}))["items"])


def config(client: TestClient, peer: str, session: str = "s") -> Any:
    return ok(client.get(f"{WS}/sessions/{session}/peers/{peer}/config"))


def leave(client: TestClient, *peers: str, session: str = "s") -> None:
    ok(client.request("DELETE", f"{WS}/sessions/{session}/peers", json=list(peers)))


def say(client: TestClient, peer: str, content: str, session: str = "s") -> None:
    batch = {"messages": [{"peer_id": peer, "content": content}]}
    ok(client.post(f"{WS}/sessions/{session}/messages/", json=batch))


def test_leave_and_rejoin(client: TestClient) -> None:
    ok(client.post("/v2/workspaces", json={"id": "w"}))
    peers = {"alice": {"observe_others": True}, "bob": {"observe_me": False}}
    ok(client.post(f"{WS}/sessions", json={"id": "s", "peers": peers}))
    joined, left = membership(client, "s", "bob")
    assert left is None

    leave(client, "bob", "nobody")  # a peer that is no member is ignored, as in Honcho
    assert members(client) == ["alice"]
    joined_then, left = membership(client, "s", "bob")
    assert joined_then == joined and left is not None and left >= joined
    # Honcho lists the sessions a peer left among its sessions, and keeps its config there
    assert sessions_of(client, "bob") == ["s"]
    assert config(client, "bob") == {"observe_me": False, "observe_others": None}
    leave(client, "bob")  # leaving again keeps when it left
    assert membership(client, "s", "bob") == (joined, left)

    # a peer that had left joins now, with the config given (unset values stay unset)
    ok(client.post(f"{WS}/sessions/s/peers", json={"bob": {"observe_others": True}}))
    assert members(client) == ["alice", "bob"]
    rejoined, none = membership(client, "s", "bob")
    assert none is None and rejoined > left
    assert config(client, "bob") == {"observe_me": None, "observe_others": True}

    # a member keeps its stored config (and when it joined) when added again ...
    alice_joined = membership(client, "s", "alice")
    ok(client.post(f"{WS}/sessions/s/peers", json={"alice": {"observe_others": False}}))
    ok(client.post(f"{WS}/sessions", json={"id": "s", "peers": {"alice": {"observe_me": False}}}))
    assert config(client, "alice") == {"observe_me": None, "observe_others": True}
    assert membership(client, "s", "alice") == alice_joined
    # ... the config route is the one that changes it
    ok(client.post(f"{WS}/sessions/s/peers/alice/config", json={"observe_others": False}))
    assert config(client, "alice") == {"observe_me": None, "observe_others": False}

    # the config route updates a peer that left without making it join again (Honcho)
    leave(client, "alice")
    ok(client.post(f"{WS}/sessions/s/peers/alice/config", json={"observe_me": False}))
    assert config(client, "alice") == {"observe_me": False, "observe_others": False}
    assert members(client) == ["bob"]
    assert membership(client, "s", "alice")[1] is not None

    # a message from a peer that left brings it back with an empty config (Honcho's messages
    # join their senders so)
    say(client, "alice", "back again")
    assert members(client) == ["alice", "bob"]
    assert config(client, "alice") == UNSET
    # a peer that never was in the session has no config there
    response = client.get(f"{WS}/sessions/s/peers/carol/config")
    assert response.status_code == 404


def test_set_peers_makes_the_others_leave(client: TestClient) -> None:
    ok(client.post("/v2/workspaces", json={"id": "w"}))
    peers = {"alice": {"observe_others": True}, "bob": {}, "carol": {}}
    ok(client.post(f"{WS}/sessions", json={"id": "s", "peers": peers}))
    leave(client, "carol")
    carol_left = membership(client, "s", "carol")
    alice_joined = membership(client, "s", "alice")[0]

    ok(client.put(f"{WS}/sessions/s/peers", json={"alice": {"observe_me": False}, "dave": {}}))
    assert members(client) == ["alice", "dave"]
    # Honcho's set: everyone leaves and the given peers join again, so all take the given config
    assert config(client, "alice") == {"observe_me": False, "observe_others": None}
    assert membership(client, "s", "alice") == (alice_joined, None)  # a stay goes on
    assert membership(client, "s", "bob")[1] is not None
    assert membership(client, "s", "carol") == carol_left  # had left already
    assert sessions_of(client, "bob") == ["s"]

    ok(client.put(f"{WS}/sessions/s/peers", json={}))
    assert members(client) == []


def test_observer_limit_counts_members_only(client: TestClient) -> None:
    ok(client.post("/v2/workspaces", json={"id": "w"}))
    observers = {f"p{i}": {"observe_others": True} for i in range(10)}
    ok(client.post(f"{WS}/sessions", json={"id": "s", "peers": observers}))
    leave(client, "p0")
    ok(client.post(f"{WS}/sessions/s/peers", json={"new": {"observe_others": True}}))
    assert len(members(client)) == 10

    too_many = {
        "detail": "Cannot create session s with 11 observers. Maximum allowed is 10 observers "
        "per session. Observers are peers with 'observe_others' set to true."
    }
    # p0 rejoining as an observer would make 11
    response = client.post(f"{WS}/sessions/s/peers", json={"p0": {"observe_others": True}})
    assert (response.status_code, response.json()) == (400, too_many)
    assert membership(client, "s", "p0")[1] is not None
    # and so would a peer that left becoming an observer through the config route (Honcho
    # counts it as one more)
    ok(client.post(f"{WS}/sessions/s/peers", json={"quiet": {}}))
    leave(client, "quiet")
    response = client.post(f"{WS}/sessions/s/peers/quiet/config", json={"observe_others": True})
    assert (response.status_code, response.json()) == (400, too_many)
    assert config(client, "quiet") == UNSET
    # a member named again is not counted twice
    ok(client.post(f"{WS}/sessions/s/peers", json={"p1": {"observe_others": True}}))
    # p0 rejoins as a plain member
    ok(client.post(f"{WS}/sessions/s/peers", json={"p0": {}}))
    assert len(members(client)) == 11


def test_left_observers_get_no_work(client: TestClient) -> None:
    """Honcho's deriver (src/deriver/enqueue.py) enqueues no representation work for an
    observer that left the session."""
    ok(client.post("/v2/workspaces", json={"id": "w"}))
    peers = {"alice": {}, "bob": {"observe_others": True}, "carol": {"observe_others": True}}
    ok(client.post(f"{WS}/sessions", json={"id": "s", "peers": peers}))
    leave(client, "carol")
    say(client, "alice", "hello")

    async def observers() -> list[str | None]:
        async with client.app.state.parley.database.read() as db:
            found = await db.scalars(
                select(WorkItem.observer_id).where(WorkItem.sender_id == "alice")
            )
            return sorted(o for o in found.all() if o is not None)

    assert client.portal.call(observers) == ["alice", "bob"]


def test_peer_perspective_keeps_the_time_in_the_session(client: TestClient) -> None:
    """Honcho's window (src/utils/search.py): from joining to leaving, both included."""
    ok(client.post("/v2/workspaces", json={"id": "w"}))
    ok(client.post(f"{WS}/sessions", json={"id": "s", "peers": {"alice": {}, "bob": {}}}))
    say(client, "alice", "apple while bob is here")
    leave(client, "bob")
    say(client, "alice", "apple after bob left")
    client.portal.call(client.app.state.parley.indexer.catch_up)

    def seen(peer: str) -> list[str]:
        body = {"query": "apple", "filters": {"peer_perspective": peer}, "limit": 10}
        return sorted(m["content"] for m in ok(client.post(f"{WS}/search", json=body)))

    assert seen("bob") == ["apple while bob is here"]
    assert seen("alice") == ["apple after bob left", "apple while bob is here"]
    # rejoining starts a new stay: one membership row, so the old one is forgotten (Honcho)
    ok(client.post(f"{WS}/sessions/s/peers", json={"bob": {}}))
    say(client, "alice", "apple since bob is back")
    client.portal.call(client.app.state.parley.indexer.catch_up)
    assert seen("bob") == ["apple since bob is back"]


def test_clone_copies_members_and_keeps_those_that_left_out(client: TestClient) -> None:
    ok(client.post("/v2/workspaces", json={"id": "w"}))
    peers = {"alice": {"observe_others": True}, "bob": {}}
    ok(client.post(f"{WS}/sessions", json={"id": "s", "peers": peers}))
    say(client, "alice", "apple one")
    ok(client.post(f"{WS}/sessions/s/peers", json={"carol": {}}))
    say(client, "alice", "apple two")
    leave(client, "bob")
    bob = membership(client, "s", "bob")

    clone = ok(client.get(f"{WS}/sessions/s/clone"))["id"]
    assert members(client, clone) == ["alice", "carol"]
    assert config(client, "alice", clone) == {"observe_me": None, "observe_others": True}
    assert membership(client, clone, "bob") == bob
    assert sessions_of(client, "carol") == sorted(["s", clone])
    # every member of the clone sees all its messages (in Honcho the copies are stamped when
    # cloned, when the members join); bob sees what it saw before it left
    client.portal.call(client.app.state.parley.indexer.catch_up)
    body: dict[str, Any] = {"query": "apple", "limit": 10}
    for peer, expected in (
        ("carol", ["apple one", "apple two"]),
        ("bob", ["apple one", "apple two"]),
    ):
        body["filters"] = {"peer_perspective": peer}
        found = ok(client.post(f"{WS}/sessions/{clone}/search", json=body))
        assert sorted(m["content"] for m in found) == expected


def test_sdk_leave_and_rejoin(honcho: Any) -> None:
    alice, bob = honcho.peer("alice"), honcho.peer("bob")
    session = honcho.session("s1")
    session.add_peers([alice, (bob, SessionPeerConfig(observe_others=True))])
    session.remove_peers([bob])
    assert [p.id for p in session.get_peers()] == ["alice"]
    assert [s.id for s in bob.get_sessions()] == ["s1"]
    session.add_peers([(bob, SessionPeerConfig(observe_me=False))])
    assert sorted(p.id for p in session.get_peers()) == ["alice", "bob"]
    core = honcho.core.workspaces.sessions.peers
    assert core.get_config("bob", workspace_id="sdk-ws", session_id="s1").model_dump() == {
        "observe_me": False,
        "observe_others": None,
    }
