"""Honcho's /v3 (3.0.12) beside /v2, on the same data: honcho-ai 2.7.0 over real HTTP, v3's
status codes and error bodies, and a workspace written through one family read through the
other (honcho-ai 1.6.0 for /v2)."""

from __future__ import annotations

from typing import Any

import httpx
from fastapi.testclient import TestClient

from conftest import run_honcho_v3

SDK = r"""
import json, sys
import honcho
from honcho import Honcho
from honcho.api_types import ReasoningConfiguration, SessionPeerConfig, WorkspaceConfiguration

assert honcho.__version__ == "2.7.0", honcho.__version__
client = Honcho(base_url=sys.argv[1], workspace_id="v3-sdk", max_retries=0)
alice = client.peer("alice", metadata={"role": "user"})
bob = client.peer("bob")
client.set_metadata({"team": "a"})
client.set_configuration(WorkspaceConfiguration(reasoning=ReasoningConfiguration(enabled=False)))
session = client.session("chat", metadata={"topic": "moving"})
session.add_peers([alice, (bob, SessionPeerConfig(observe_others=True))])
sent = session.add_messages(
    [alice.message("I moved to Lisbon.", metadata={"k": 1}), bob.message("Nice!")]
)
got = session.get_message(sent[1].id)
updated = session.update_message(sent[0].id, metadata={"k": 2})
listed = [m.content for m in session.messages(filters={"metadata": {"k": 2}})]
uploaded = session.upload_file(("notes.txt", b"I like tea.", "text/plain"), peer=alice)
bob_config = session.get_peer_configuration(bob)
session.set_peer_configuration(alice, SessionPeerConfig(observe_me=False))
alice_config = session.get_peer_configuration(alice)
clone = session.clone(message_id=sent[0].id)
clone_messages = [m.content for m in clone.messages()]
session.remove_peers([bob])
after_remove = sorted(p.id for p in session.peers())
session.set_peers([bob])
after_set = sorted(p.id for p in session.peers())
# written through /v2 before this script ran
old = client.session("from-v2")
print(json.dumps({
    "alice": [alice.id, alice.metadata],
    "workspace": [client.get_metadata(), client.get_configuration().model_dump(exclude_none=True)],
    "sent": [[m.content, m.peer_id, m.session_id, m.workspace_id] for m in sent],
    "got": [got.id == sent[1].id, got.content],
    "updated": updated.metadata,
    "listed": listed,
    "uploaded": [[m.content, m.peer_id] for m in uploaded],
    "configs": [bob_config.model_dump(), alice_config.model_dump()],
    "clone": [clone.id != "chat", clone_messages],
    "members": [after_remove, after_set],
    "peers": sorted(p.id for p in client.peers()),
    "sessions": sorted(s.id for s in client.sessions() if s.id != clone.id),
    "alice_sessions": sorted(s.id for s in alice.sessions() if s.id != clone.id),
    "in_workspaces": "v3-sdk" in list(client.workspaces()),
    "from_v2": [
        old.get_metadata(),
        old.get_configuration().model_dump(exclude_none=True),
        [[m.content, m.peer_id] for m in old.messages()],
    ],
}))
"""


def test_honcho_ai_2_7_works_over_http_beside_v2(served_each_backend: str) -> None:
    with httpx.Client(base_url=served_each_backend) as v2:
        made = v2.post(
            "/v2/workspaces/v3-sdk/sessions",
            json={
                "id": "from-v2",
                "metadata": {"by": "v2"},
                "configuration": {"deriver": {"custom_instructions": "be brief"}},
            },
        )
        assert made.status_code == 200, made.text
        sent = v2.post(
            "/v2/workspaces/v3-sdk/sessions/from-v2/messages",
            json={"messages": [{"content": "hello from v2", "peer_id": "carol"}]},
        )
        assert sent.status_code == 200, sent.text

        assert run_honcho_v3(SDK, served_each_backend) == {
            "alice": ["alice", {"role": "user"}],
            "workspace": [{"team": "a"}, {"reasoning": {"enabled": False}}],
            "sent": [
                ["I moved to Lisbon.", "alice", "chat", "v3-sdk"],
                ["Nice!", "bob", "chat", "v3-sdk"],
            ],
            "got": [True, "Nice!"],
            "updated": {"k": 2},
            "listed": ["I moved to Lisbon."],
            "uploaded": [["I like tea.", "alice"]],
            "configs": [
                {"observe_me": None, "observe_others": True},
                {"observe_me": False, "observe_others": None},
            ],
            "clone": [True, ["I moved to Lisbon."]],
            "members": [["alice"], ["bob"]],
            "peers": ["alice", "bob", "carol"],
            "sessions": ["chat", "from-v2"],
            "alice_sessions": ["chat"],
            "in_workspaces": True,
            "from_v2": [
                {"by": "v2"},
                {"reasoning": {"custom_instructions": "be brief"}},
                [["hello from v2", "carol"]],
            ],
        }

        # and what 2.7.0 wrote reads through /v2
        workspace = v2.post("/v2/workspaces", json={"id": "v3-sdk"}).json()
        assert workspace["configuration"] == {"deriver": {"enabled": False}}
        listed = v2.post("/v2/workspaces/v3-sdk/sessions/chat/messages/list").json()
        assert [(m["content"], m["metadata"]) for m in listed["items"]] == [
            ("I moved to Lisbon.", {"k": 2}),
            ("Nice!", {}),
            ("I like tea.", {}),
        ]
        config = v2.get("/v2/workspaces/v3-sdk/sessions/chat/peers/alice/config").json()
        assert config == {"observe_me": False, "observe_others": None}


# --- in process, on both backends ------------------------------------------------------------


def _post(client: TestClient, path: str, body: Any = None) -> Any:
    return client.post(path, json=body)


def test_get_or_create_answers_201_when_it_created(client: TestClient) -> None:
    for path, body in (
        ("/v3/workspaces", {"id": "w"}),
        ("/v3/workspaces/w/peers", {"id": "p"}),
        ("/v3/workspaces/w/sessions", {"id": "s", "peers": {"p": {}}}),
    ):
        first, again = _post(client, path, body), _post(client, path, body)
        assert (first.status_code, again.status_code) == (201, 200), (path, first.text)
        assert first.json() == again.json()
    # a session's get-or-create in a workspace nobody made creates both (201)
    fresh = _post(client, "/v3/workspaces/new/sessions", {"name": "s", "peer_names": {"a": {}}})
    assert fresh.status_code == 201, fresh.text
    assert fresh.json()["workspace_id"] == "new"


def test_v3_status_codes_of_messages_clone_config_and_deletes(client: TestClient) -> None:
    sent = _post(
        client,
        "/v3/workspaces/w/sessions/s/messages",
        {"messages": [{"content": "one", "peer_id": "a"}, {"content": "two", "peer_id": "b"}]},
    )
    assert sent.status_code == 201, sent.text
    assert [m["content"] for m in sent.json()] == ["one", "two"]
    upload = client.post(
        "/v3/workspaces/w/sessions/s/messages/upload",
        files={"file": ("n.txt", b"three", "text/plain")},
        data={"peer_id": "a", "configuration": '{"reasoning": {"enabled": false}}'},
    )
    assert upload.status_code == 201, upload.text
    newest = _post(client, "/v3/workspaces/w/sessions/s/messages/list?reverse=true")
    assert [m["content"] for m in newest.json()["items"]] == ["three", "two", "one"]

    config = client.put("/v3/workspaces/w/sessions/s/peers/a/config", json={"observe_me": False})
    assert (config.status_code, config.content) == (204, b"")
    got = client.get("/v3/workspaces/w/sessions/s/peers/a/config")
    assert got.json() == {"observe_me": False, "observe_others": None}

    clone = _post(client, f"/v3/workspaces/w/sessions/s/clone?message_id={sent.json()[0]['id']}")
    assert clone.status_code == 201, clone.text
    copied = _post(client, f"/v3/workspaces/w/sessions/{clone.json()['id']}/messages/list")
    assert [m["content"] for m in copied.json()["items"]] == ["one"]

    busy = client.delete("/v3/workspaces/w")
    assert busy.status_code == 409
    assert busy.json() == {
        "detail": "Cannot delete workspace 'w': active session(s) remain. "
        "Delete all sessions first."
    }
    for session_id in ("s", clone.json()["id"]):
        gone = client.delete(f"/v3/workspaces/w/sessions/{session_id}")
        assert gone.status_code == 202
        assert gone.json() == {"message": "Session deleted successfully"}
    deleted = client.delete("/v3/workspaces/w")
    assert deleted.status_code == 202
    assert deleted.json() == {"message": "Workspace deletion accepted"}
    assert _post(client, "/v3/workspaces/w/peers/list").json()["total"] == 0


def test_v3_lists_reverse_and_lenient_reads(client: TestClient) -> None:
    for peer_id in ("p1", "p2", "p3"):
        _post(client, "/v3/workspaces/w/peers", {"id": peer_id})
        _post(client, "/v3/workspaces/w/sessions", {"id": f"s-{peer_id}", "peers": {"p1": {}}})
    page = _post(client, "/v3/workspaces/w/peers/list?reverse=true&size=2").json()
    assert [p["id"] for p in page["items"]] == ["p3", "p2"]
    assert (page["total"], page["page"], page["size"], page["pages"]) == (3, 1, 2, 2)
    sessions = _post(client, "/v3/workspaces/w/sessions/list?reverse=true").json()
    assert [s["id"] for s in sessions["items"]] == ["s-p3", "s-p2", "s-p1"]
    mine = _post(client, "/v3/workspaces/w/peers/p1/sessions?reverse=true", {"filters": {}})
    assert [s["id"] for s in mine.json()["items"]] == ["s-p3", "s-p2", "s-p1"]
    # unknown ids read as empty, as in Honcho
    empty = {"items": [], "total": 0, "page": 1, "size": 50, "pages": 0}
    assert _post(client, "/v3/workspaces/w/sessions/nope/messages/list").json() == empty
    assert client.get("/v3/workspaces/w/sessions/nope/peers").json() == empty
    assert _post(client, "/v3/workspaces/nowhere/peers/list").json() == empty


def test_v3_bad_input_answers_in_v3s_error_shape(client: TestClient) -> None:
    bad_id = _post(client, "/v3/workspaces", {"id": "no spaces"})
    assert bad_id.status_code == 422
    [issue] = bad_id.json()["detail"]
    assert (issue["type"], issue["loc"]) == ("string_pattern_mismatch", ["body", "id"])

    too_many = [{"content": "x", "peer_id": "a"}] * 101
    batch = _post(client, "/v3/workspaces/w/sessions/s/messages", {"messages": too_many})
    assert batch.status_code == 422
    assert batch.json()["detail"][0]["loc"] == ["body", "messages"]

    summary = {"summary": {"messages_per_short_summary": 30, "messages_per_long_summary": 20}}
    config = client.put("/v3/workspaces/w", json={"configuration": summary})
    assert config.status_code == 422
    assert "messages_per_short_summary must be less than" in config.json()["detail"][0]["msg"]

    missing = client.get("/v3/workspaces/w/sessions/s/messages/nope")
    assert missing.status_code == 404
    assert missing.json() == {"detail": "Message nope not found in session s"}
    stranger = client.get("/v3/workspaces/w/sessions/s/peers/ghost/config")
    assert stranger.status_code == 404
    assert stranger.json() == {"detail": "Peer ghost is not a member of session s"}
    unknown = client.put("/v3/workspaces/w/sessions/nope/peers", json={"a": {}})
    assert unknown.status_code == 404
    assert unknown.json() == {"detail": "Session nope not found in workspace w"}
    # nothing of the refused writes was stored
    assert _post(client, "/v3/workspaces/w/sessions/s/messages/list").json()["total"] == 0


def test_v3_strips_nul_and_bounds_metadata_as_honcho_3(client: TestClient) -> None:
    """Honcho 3 drops NUL characters (/v2 refuses them) and bounds metadata: 100 top-level
    keys, 5 levels of objects."""
    sent = _post(
        client,
        "/v3/workspaces/w/sessions/s/messages",
        {"messages": [{"content": "a\u0000b", "peer_id": "p", "metadata": {"k\u0000": "v\u0000"}}]},
    )
    assert sent.status_code == 201, sent.text
    assert (sent.json()[0]["content"], sent.json()[0]["metadata"]) == ("ab", {"k": "v"})
    assert (
        _post(
            client,
            "/v2/workspaces/w/sessions/s/messages",
            {"messages": [{"content": "a\u0000b", "peer_id": "p"}]},
        ).status_code
        == 422
    )

    wide = _post(
        client, "/v3/workspaces/w/peers", {"id": "p", "metadata": {str(i): i for i in range(101)}}
    )
    assert wide.status_code == 422
    assert wide.json()["detail"][0]["msg"] == (
        "Value error, Metadata exceeds maximum of 100 top-level keys"
    )
    deep: dict[str, Any] = {"leaf": 1}
    for _ in range(5):
        deep = {"d": deep}
    nested = client.put("/v3/workspaces/w", json={"metadata": deep})
    assert nested.status_code == 422
    assert nested.json()["detail"][0]["msg"] == (
        "Value error, Metadata nesting exceeds maximum depth of 5"
    )
    five = {"a": {"b": {"c": {"d": {"e": 1}}}}}
    assert client.put("/v3/workspaces/w", json={"metadata": five}).json()["metadata"] == five
    upload = client.post(
        "/v3/workspaces/w/sessions/s/messages/upload",
        files={"file": ("n.txt", b"x", "text/plain")},
        data={"peer_id": "p", "metadata": '{"k": "v\\u0000"}'},
    )
    assert upload.status_code == 201, upload.text
    assert upload.json()[0]["metadata"] == {"k": "v"}


def test_written_with_v2_sdk_reads_through_v3_and_back(client: TestClient, honcho: Any) -> None:
    """honcho-ai 1.6.0 (/v2) writes; /v3 reads the same rows, with v3's config names."""
    alice = honcho.peer("alice", metadata={"k": "v"})
    session = honcho.session("s1", metadata={"topic": "t"}, config={"deriver": {"enabled": False}})
    session.add_peers([alice])
    sent = session.add_messages([alice.message("from v2")])

    v3 = _post(client, "/v3/workspaces/sdk-ws/sessions", {"id": "s1"})
    assert v3.status_code == 200
    assert (v3.json()["metadata"], v3.json()["configuration"]) == (
        {"topic": "t"},
        {"reasoning": {"enabled": False}},
    )
    message = client.get(f"/v3/workspaces/sdk-ws/sessions/s1/messages/{sent[0].id}").json()
    assert (message["content"], message["peer_id"]) == ("from v2", "alice")
    peers = _post(client, "/v3/workspaces/sdk-ws/peers/list").json()["items"]
    assert [(p["id"], p["metadata"]) for p in peers] == [("alice", {"k": "v"})]

    # /v3 writes; the 1.6.0 SDK reads them
    client.put(
        "/v3/workspaces/sdk-ws/sessions/s1",
        json={"configuration": {"reasoning": {"custom_instructions": "short"}}},
    )
    _post(
        client,
        "/v3/workspaces/sdk-ws/sessions/s1/messages",
        {"messages": [{"content": "from v3", "peer_id": "bob", "metadata": {"n": 1}}]},
    )
    # a section given replaces that section (top-level merge, as through /v2)
    assert session.get_config() == {"deriver": {"custom_instructions": "short"}}
    assert [(m.content, m.peer_id) for m in session.get_messages()] == [
        ("from v2", "alice"),
        ("from v3", "bob"),
    ]
    assert sorted(p.id for p in session.get_peers()) == ["alice", "bob"]
