"""Hard delete of one message and of one peer (`DELETE /v2/.../sessions/{s}/messages/{m}`,
`DELETE /v2/.../peers/{p}`, Parley's extensions), with the real worker and the fake model
server making observations, deductions, peer cards, summaries and a data agent turn from the
content first. After each delete every read surface is walked: the message itself and the
session's list, the three searches by words and by meaning, session context, summaries,
representations, peer cards, chat's prompt as the model sees it, the queue, the agent's
thread, and every stored row; none returns the content, and what was made from it is made
again from what is left. Also: who may delete, and a delete while the worker is mid-task."""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from conftest import TEST_SECRET, AppClient, make_settings, reasoning_settings, wait_for_reasoning
from data_sources import make_sqlite
from fake_openai import FakeOpenAI, fake_openai, prompt_text
from helpers import EmbeddingsGate, ok, project_with_catalog
from parley.agent.redaction import REDACTED
from parley.app import create_app
from parley.auth.keys import Principal, create_key
from parley.store.models import Base, Message, MessageEmbedding, WorkItem

W = "w"
MARK = "quokkaville"  # in one message of alice's, and in everything made from it
SECRET = f"My cousin lives in {MARK.capitalize()} by the old mill."
ALICE = ["I work as a baker.", SECRET, "I play chess on Sundays.", "I ride a red bike."]
BOB = ["Hello there.", "Nice to hear.", "Good for you.", "That sounds fun.", "Cool.", "Bye."]
Q = "How many users are there?"
LINE = re.compile(r"^\[(\d+)\] .*? UTC \(\w+\) ([\w-]+): (.*)$", re.M)


def extract(body: dict[str, Any]) -> str:
    """The deriver's model: one explicit fact per numbered message of the observed peer; for
    alice, a deduction resting only on the secret and one resting on all her facts."""
    text = prompt_text(body)
    observed = re.search(r"about the peer `([\w-]+)`", text)
    assert observed is not None
    new = text.split("New messages:\n", 1)[1]
    facts = [
        {"content": f"{peer.capitalize()} said: {content}", "messages": [int(n)]}
        for n, peer, content in LINE.findall(new)
        if peer == observed.group(1)
    ]
    deductive = []
    secret = [f["content"] for f in facts if MARK in f["content"].lower()]
    if secret:
        deductive = [
            {"content": f"Alice has family in {MARK}.", "premises": secret},
            {"content": "Alice keeps busy.", "premises": [f["content"] for f in facts]},
        ]
    return json.dumps({"explicit": facts, "deductive": deductive})


def card(body: dict[str, Any]) -> str:
    """The card model: the current card and the new facts, in order."""
    text = prompt_text(body).split("Current card:\n", 1)[1]
    current, new = text.split("\n\nNew facts:\n", 1)
    new = new.split("\n\n", 1)[0]
    lines = [line[2:] for line in [*current.splitlines(), *new.splitlines()] if line[:2] == "- "]
    return json.dumps({"card": list(dict.fromkeys(lines))})


def summary(body: dict[str, Any]) -> str:
    """The summary model: the previous summary and every new message, verbatim."""
    text = prompt_text(body)
    previous = ""
    if "Previous summary:\n" in text:
        previous = text.split("Previous summary:\n", 1)[1].split("\n\nNew messages:", 1)[0]
    new = text.split("New messages:\n", 1)[1]
    lines = re.findall(r"UTC \(\w+\) [\w-]+: (.*)$", new, flags=re.M)
    return " | ".join([previous, *lines] if previous else lines)


def analyze(body: dict[str, Any]) -> str:
    system = body["messages"][0]["content"]
    return "There are 60 users. " + system.split("About this user: ", 1)[-1]


@pytest.fixture
def model() -> Iterator[FakeOpenAI]:
    with fake_openai(dims=256) as server:
        server.script("reveal about the peer", extract)
        server.script("You keep the peer card", card)
        server.script("running summary", summary)
        server.script("You answer questions about the peer", "I recall.")
        plan = {"intent": "TEXT_TO_SQL", "reasoning": "-", "sql": "SELECT COUNT(*) FROM users"}
        server.script(f"QUESTION: {Q}", json.dumps(plan | {"follow_up_questions": []}))
        server.script(f"EXPLAIN THE RESULT FOR: {Q}", analyze)
        yield server


@pytest.fixture
def settings_overrides(model: FakeOpenAI, tmp_path: Path) -> dict[str, Any]:
    return reasoning_settings(
        data_file_roots={"*": [str(tmp_path)]},
        embedding_base_url=model.base_url,
        embedding_model="bow",
        embedding_dimensions=256,
        llm_base_url=model.base_url,
        llm_model="fake-model",
        llm_max_retries=0,
    )


def stored(client: TestClient) -> str:
    """Every row of every table the models define, as lower-case text, each line naming its
    table (embeddings left out)."""

    async def read() -> str:
        async with client.app.state.parley.database.read() as db:
            lines = []
            for table in Base.metadata.sorted_tables:
                for row in (await db.execute(select(table))).mappings():
                    values = {k: v for k, v in row.items() if k != "embedding"}
                    lines.append(f"{table.name}: {json.dumps(values, default=str)}")
            return "\n".join(lines).lower()

    return str(client.portal.call(read))


def rows_with(client: TestClient, text: str) -> list[str]:
    return [line for line in stored(client).splitlines() if text.lower() in line]


def count(client: TestClient, *where: Any) -> int:
    async def read() -> int:
        async with client.app.state.parley.database.read() as db:
            return int(await db.scalar(select(func.count()).where(*where)) or 0)

    return int(client.portal.call(read))


def populate(client: TestClient, tmp_path: Path) -> dict[str, Any]:
    """Project `w` (a memory workspace too) with a catalog; session s1 between alice and bob
    (who observes others), ten messages so that a short summary is written; then alice asks
    the data agent, which recalls her memory. Returns the secret message and the thread."""
    db = make_sqlite(tmp_path / "shop.sqlite")
    project_with_catalog(client, db, name=W, project_id=W, kind="sqlite", headers={})
    config = {"summary": {"messages_per_short_summary": 10, "messages_per_long_summary": 40}}
    peers = {"alice": {}, "bob": {"observe_others": True}}
    body = {"id": "s1", "peers": peers, "configuration": config}
    ok(client.post(f"/v2/workspaces/{W}/sessions", json=body))
    turns = [("bob", BOB[0]), ("alice", ALICE[0]), ("bob", BOB[1]), ("alice", ALICE[1])]
    turns += [("bob", BOB[2]), ("alice", ALICE[2]), ("bob", BOB[3]), ("alice", ALICE[3])]
    turns += [("bob", BOB[4]), ("bob", BOB[5])]
    sent = ok(
        client.post(
            f"/v2/workspaces/{W}/sessions/s1/messages/",
            json={"messages": [{"peer_id": p, "content": c} for p, c in turns]},
        )
    )
    wait_for_reasoning(client, W)
    reply = ok(client.post(f"/api/v1/ai-agent/{W}/chat", json={"message": Q, "userId": "alice"}))
    wait_for_reasoning(client, W)
    secret = next(m for m in sent if m["content"] == SECRET)
    return {"secret": secret, "thread": reply["threadId"], "sent": sent}


def search(client: TestClient, path: str, query: str) -> list[dict[str, Any]]:
    return list(ok(client.post(f"/v2/workspaces/{W}{path}", json={"query": query, "limit": 100})))


SEARCHES = ("/search", "/peers/alice/search", "/sessions/s1/search")
MEANING = "relatives residence"  # no word of any message: found by meaning only


def surfaces(
    client: TestClient, model: FakeOpenAI, thread: str, *, alice_asks: bool = True
) -> dict[str, str]:
    """Everything a client can read that could hold a message's content, as text. (Chat
    get-or-creates its path peer, as in Honcho: `alice_asks=False` once alice is deleted.)"""
    seen: dict[str, Any] = {}
    seen["messages"] = ok(client.post(f"/v2/workspaces/{W}/sessions/s1/messages/list", json={}))
    for path in SEARCHES:
        seen[f"words {path}"] = search(client, path, MARK)
        seen[f"meaning {path}"] = search(client, path, MEANING)
    seen["context"] = ok(client.get(f"/v2/workspaces/{W}/sessions/s1/context?tokens=4000"))
    seen["context bob on alice"] = ok(
        client.get(
            f"/v2/workspaces/{W}/sessions/s1/context",
            params={"peer_target": "alice", "peer_perspective": "bob"},
        )
    )
    seen["summaries"] = ok(client.get(f"/v2/workspaces/{W}/sessions/s1/summaries"))
    seen["representation"] = ok(
        client.post(f"/v2/workspaces/{W}/peers/alice/representation", json={})
    )
    seen["representation bob on alice"] = ok(
        client.post(f"/v2/workspaces/{W}/peers/bob/representation", json={"target": "alice"})
    )
    seen["card"] = ok(client.get(f"/v2/workspaces/{W}/peers/alice/card"))
    seen["card bob on alice"] = ok(client.get(f"/v2/workspaces/{W}/peers/bob/card?target=alice"))
    seen["observations"] = ok(
        client.post(f"/v2/workspaces/{W}/observations/list", json={}, params={"size": 100})
    )
    asked = len(model.prompts())
    chats = [
        ("/peers/bob/chat", {"query": "Where is family?", "target": "alice"}),
        ("/peers/bob/chat", {"query": "Where is family?", "target": "alice", "session_id": "s1"}),
    ]
    if alice_asks:
        chats.append(("/peers/alice/chat", {"query": "Where is family?"}))
    for path, body in chats:
        ok(client.post(f"/v2/workspaces/{W}{path}", json=body))
    seen["chat prompts"] = model.prompts()[asked:]
    seen["queue"] = ok(client.get(f"/v2/workspaces/{W}/deriver/status"))
    response = client.get(f"/api/v1/ai-agent/{W}/threads/{thread}")
    seen["thread"] = response.json() if response.status_code == 200 else response.status_code
    seen["threads"] = ok(client.get(f"/api/v1/ai-agent/{W}/threads"))
    seen["thread session"] = ok(
        client.post(f"/v2/workspaces/{W}/sessions/{thread}/messages/list", json={})
    )
    return {name: json.dumps(value).lower() for name, value in seen.items()}


def holding(found: dict[str, str], text: str) -> set[str]:
    return {name for name, value in found.items() if text.lower() in value}


def wait_for_embeddings(client: TestClient) -> None:
    deadline = time.monotonic() + 30
    while holding({"s": json.dumps(search(client, "/search", MEANING))}, MARK) == set():
        assert time.monotonic() < deadline, "the secret was never embedded"
        time.sleep(0.05)


def test_deleting_a_message_takes_it_from_every_read_surface(
    client: TestClient, model: FakeOpenAI, tmp_path: Path
) -> None:
    made = populate(client, tmp_path)
    secret = made["secret"]
    wait_for_embeddings(client)
    before = surfaces(client, model, made["thread"])
    # everything held the secret (so the checks below can fail)
    assert holding(before, MARK) == set(before) - {"queue", "threads"}
    assert MARK in stored(client)
    path = f"/v2/workspaces/{W}/sessions/s1/messages/{secret['id']}"
    assert ok(client.delete(path)) == {"message": "Message deleted successfully"}
    status = wait_for_reasoning(client, W)
    after = surfaces(client, model, made["thread"])
    assert holding(after, MARK) == set()
    assert rows_with(client, MARK) == []
    assert client.get(path).status_code == 404
    assert client.delete(path).status_code == 404
    # what was made from it was made again from what is left
    summaries = ok(client.get(f"/v2/workspaces/{W}/sessions/s1/summaries"))
    assert "I play chess on Sundays." in summaries["short_summary"]["content"]
    assert ok(client.get(f"/v2/workspaces/{W}/peers/alice/card"))["peer_card"][:3] == [
        "Alice said: I work as a baker.",
        "Alice said: I play chess on Sundays.",
        "Alice said: I ride a red bike.",
    ]
    listed = ok(
        client.post(
            f"/v2/workspaces/{W}/observations/list",
            json={"filters": {"observer_id": "alice", "observed_id": "alice"}},
            params={"size": 100},
        )
    )["items"]
    busy = next(o for o in listed if o["content"] == "Alice keeps busy.")
    assert len(busy["premises"]) == 3 and secret["id"] not in busy["message_ids"]
    assert not any(MARK in o["content"].lower() for o in listed)
    # the other messages are all still there, found by words and by meaning
    kept = [m["id"] for m in made["sent"] if m["id"] != secret["id"]]
    page = ok(client.post(f"/v2/workspaces/{W}/sessions/s1/messages/list", json={}))
    assert [m["id"] for m in page["items"]] == kept
    assert {m["id"] for m in search(client, "/sessions/s1/search", MEANING)} == set(kept)
    # the agent's turn lost the memory it drew on, and its answer
    turn = ok(client.get(f"/api/v1/ai-agent/{W}/threads/{made['thread']}"))["turns"][0]
    assert turn["question"] == Q and turn["answer"] == REDACTED
    thread_messages = ok(
        client.post(f"/v2/workspaces/{W}/sessions/{made['thread']}/messages/list", json={})
    )["items"]
    assert [(m["peer_id"], m["content"]) for m in thread_messages] == [("alice", Q)]
    # nothing of it is left in the queue, and nothing failed
    assert status["failed_work_units"] == 0
    orphans = WorkItem.message_seq.is_not(None) & WorkItem.message_seq.not_in(select(Message.seq))
    assert count(client, orphans) == 0
    assert count(client, MessageEmbedding.session_id == "s1") == len(kept)


def test_deleting_a_peer_takes_it_and_all_it_said(
    client: TestClient, model: FakeOpenAI, tmp_path: Path
) -> None:
    made = populate(client, tmp_path)
    wait_for_embeddings(client)
    before = surfaces(client, model, made["thread"])
    assert "baker" in stored(client) and holding(before, "baker")
    assert ok(client.delete(f"/v2/workspaces/{W}/peers/alice")) == {
        "message": "Peer deleted successfully"
    }
    wait_for_reasoning(client, W)
    after = surfaces(client, model, made["thread"], alice_asks=False)
    for said in (MARK, "baker", "chess"):
        assert holding(after, said) == set(), said
    assert rows_with(client, "alice") == []  # no row names it: memberships, queue, cards...
    assert client.delete(f"/v2/workspaces/{W}/peers/alice").status_code == 404
    peers = ok(client.post(f"/v2/workspaces/{W}/peers/list", json={}))["items"]
    assert sorted(p["id"] for p in peers) == ["bob", "data-agent"]
    page = ok(client.post(f"/v2/workspaces/{W}/sessions/s1/messages/list", json={}))
    assert [m["content"] for m in page["items"]] == BOB
    summaries = ok(client.get(f"/v2/workspaces/{W}/sessions/s1/summaries"))
    assert summaries["short_summary"]["content"] == " | ".join(BOB)
    assert ok(client.get(f"/v2/workspaces/{W}/peers/bob/card?target=alice")) == {"peer_card": None}
    # alice's thread, and its memory session, went with her
    assert client.get(f"/api/v1/ai-agent/{W}/threads/{made['thread']}").status_code == 404
    sessions = ok(client.post(f"/v2/workspaces/{W}/sessions/list", json={}))["items"]
    assert [s["id"] for s in sessions] == ["s1"]
    # bob's own memory is untouched
    bobs = ok(
        client.post(
            f"/v2/workspaces/{W}/observations/list",
            json={"filters": {"observer_id": "bob", "observed_id": "bob"}},
        )
    )["items"]
    assert len(bobs) == len(BOB)


def test_who_may_delete(database_url: str, tmp_path: Path) -> None:
    """A peer key deletes only its own peer's messages, in sessions it is in, and only its
    own peer; a session key deletes any message of its session; wider keys anything."""
    settings = make_settings(database_url, tmp_path / "data", auth_enabled=True)
    with AppClient(create_app(settings), raise_server_exceptions=False) as client:

        def key(**claims: Any) -> dict[str, str]:
            token = create_key(Principal(**claims), secret=TEST_SECRET)
            return {"Authorization": f"Bearer {token}"}

        admin = key(admin=True)
        ok(client.post("/v2/workspaces", json={"id": W}, headers=admin))
        for session in ("s1", "s2"):
            body = {"id": session, "peers": {"alice": {}, "bob": {}}}
            ok(client.post(f"/v2/workspaces/{W}/sessions", json=body, headers=admin))
        said = {}
        for session in ("s1", "s2"):
            for peer in ("alice", "bob"):
                sent = ok(
                    client.post(
                        f"/v2/workspaces/{W}/sessions/{session}/messages/",
                        json={"messages": [{"peer_id": peer, "content": f"{peer} here"}]},
                        headers=admin,
                    )
                )
                said[session, peer] = (
                    f"/v2/workspaces/{W}/sessions/{session}/messages/" + (sent[0]["id"])
                )
        bob = key(workspace=W, peer="bob")
        refused = client.delete(said["s1", "alice"], headers=bob)
        assert refused.status_code == 403
        assert "cannot delete message" in refused.text
        assert client.delete(said["s1", "bob"], headers=bob).status_code == 200
        assert client.delete(f"/v2/workspaces/{W}/peers/alice", headers=bob).status_code == 403
        s1 = key(workspace=W, session="s1")
        assert client.delete(said["s2", "alice"], headers=s1).status_code == 403
        assert client.delete(said["s1", "alice"], headers=s1).status_code == 200
        other = key(workspace="elsewhere")
        assert client.delete(said["s2", "bob"], headers=other).status_code == 403
        # a message is found in its own session only
        wrong = said["s2", "bob"].replace("/s2/", "/s1/")
        assert client.delete(wrong, headers=admin).status_code == 404
        assert client.delete(f"/v2/workspaces/{W}/peers/nobody", headers=admin).status_code == 404
        alice = key(workspace=W, peer="alice")
        assert client.delete(f"/v2/workspaces/{W}/peers/alice", headers=alice).status_code == 200
        left = ok(
            client.post(f"/v2/workspaces/{W}/sessions/s2/messages/list", json={}, headers=admin)
        )
        assert [m["content"] for m in left["items"]] == ["bob here"]


@pytest.mark.parametrize("target", ["message", "peer"])
def test_a_delete_while_the_worker_runs_sticks(
    database_url: str,
    tmp_path: Path,
    model: FakeOpenAI,
    target: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The deriver (no model: each sentence is a fact) and the embedding indexer both wait on
    the embeddings server, holding batches that also hold something that stays, when the
    secret message (or alice, who observes bob) is deleted. When they go on, what they made
    from it is dropped and the rest is stored: nothing fails, nothing is retried."""
    overrides = reasoning_settings(
        embedding_base_url=model.base_url, embedding_model="bow", embedding_dimensions=256
    )
    settings = make_settings(database_url, tmp_path / "data", **overrides)
    gate = EmbeddingsGate(dims=256)
    model.embeddings_reply = gate.reply
    caplog.set_level(logging.INFO)
    with AppClient(create_app(settings), raise_server_exceptions=False) as client:
        if target == "message":  # one batch of alice's: the secret and what stays
            peers: dict[str, Any] = {"alice": {}, "bob": {}}
            turns = [("alice", SECRET), ("alice", "I keep bees.")]
            waits_for = "alice said on"
        else:  # bob's batch is also learned by alice, who goes
            peers = {"alice": {"observe_others": True}, "bob": {}}
            turns = [("bob", "I keep bees."), ("alice", SECRET)]
            waits_for = "bob said on"
        body = {"id": "s1", "peers": peers}
        ok(client.post(f"/v2/workspaces/{W}/sessions", json=body))
        sent = ok(
            client.post(
                f"/v2/workspaces/{W}/sessions/s1/messages/",
                json={"messages": [{"peer_id": p, "content": c} for p, c in turns]},
            )
        )

        def held() -> bool:
            texts = gate.inputs()
            return SECRET in texts and any(t.startswith(waits_for) for t in texts)

        deadline = time.monotonic() + 20
        while not held():  # the indexer's batch and the deriver's both wait
            assert time.monotonic() < deadline, gate.inputs()
            time.sleep(0.02)
        if target == "message":
            path = f"/v2/workspaces/{W}/sessions/s1/messages/{sent[0]['id']}"
        else:
            path = f"/v2/workspaces/{W}/peers/alice"
        ok(client.delete(path))
        requests = len(gate.inputs())
        gate.open.set()
        status = wait_for_reasoning(client, W)
        time.sleep(0.5)  # room for a late write, or a retry
        assert status["failed_work_units"] == 0
        assert rows_with(client, MARK) == []
        found = ok(client.post(f"/v2/workspaces/{W}/observations/list", json={}))["items"]
        pairs = sorted((o["observer_id"], o["observed_id"], o["content"][-12:]) for o in found)
        if target == "message":
            assert pairs == [("alice", "alice", "I keep bees.")]
        else:
            assert pairs == [("bob", "bob", "I keep bees.")]
        assert count(client, MessageEmbedding.seq > 0) == 1
        new_requests = gate.inputs()[requests:]
        assert not any(SECRET in t for t in new_requests)  # nothing redone with the secret
        errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
        assert errors == []


def test_a_summary_written_while_its_message_goes_is_written_again(
    client: TestClient, model: FakeOpenAI
) -> None:
    """The summary model is still writing when a message it summarizes is deleted: that
    summary is not stored; it is written again from the messages left."""
    for rule in model.rules:
        if rule.match == "running summary":
            rule.delay_s = 1.5
    config = {"summary": {"messages_per_short_summary": 10, "messages_per_long_summary": 40}}
    body = {"id": "s1", "peers": {"alice": {}, "bob": {}}, "configuration": config}
    ok(client.post(f"/v2/workspaces/{W}/sessions", json=body))
    turns = [("alice", SECRET), *(("bob", line) for line in BOB), ("alice", ALICE[0])]
    turns += [("alice", ALICE[2]), ("alice", ALICE[3])]
    sent = ok(
        client.post(
            f"/v2/workspaces/{W}/sessions/s1/messages/",
            json={"messages": [{"peer_id": p, "content": c} for p, c in turns]},
        )
    )
    deadline = time.monotonic() + 30
    while not any("running summary" in p for p in model.prompts()):
        assert time.monotonic() < deadline, "no summary was asked for"
        time.sleep(0.02)
    ok(client.delete(f"/v2/workspaces/{W}/sessions/s1/messages/{sent[0]['id']}"))
    wait_for_reasoning(client, W)
    short = ok(client.get(f"/v2/workspaces/{W}/sessions/s1/summaries"))["short_summary"]
    assert short["content"] == " | ".join(c for _, c in turns[1:])
    assert rows_with(client, MARK) == []
    written = [p for p in model.prompts() if "running summary" in p]
    assert len(written) == 2 and MARK not in written[1].lower()
