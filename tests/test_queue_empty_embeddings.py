"""`queue.empty` waits for the workspace's messages to be findable by meaning, on both backends:
the fake model server holds the indexer's embedding requests (the deriver's, of observations,
are answered at once), so reasoning settles while the messages still have no vector. No event
is sent until they are embedded, then exactly one; the waiting item survives a worker killed
mid-wait; deleting the workspace drops it; a workspace with reasoning off gets none (Honcho
2.5.1 sends the event only when reasoning work drains)."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from conftest import make_settings, reasoning_settings
from fake_openai import FakeOpenAI, bag_of_words, fake_openai
from helpers import ok
from parley.app import create_app
from parley.memory.queue_empty import QUEUE_EMPTY
from parley.memory.reasoning import DERIVE
from parley.memory.webhook_delivery import WEBHOOK
from test_durable_delivery import items, kill, start_worker, stop, wait_until
from test_webhooks import Receiver

W = "w"
DIMS = 64
FIRST = "I keep bees on the roof."
SECOND = "The hives face south."


class HeldMessages:
    """The fake model server's /embeddings: a request with one of `texts` among its inputs (a
    batch of the indexer) waits until `open` is set; the rest are answered at once."""

    def __init__(self, *texts: str) -> None:
        self.texts = set(texts)
        self.open = threading.Event()
        self.held = 0
        self._lock = threading.Lock()

    def reply(self, body: dict[str, Any]) -> tuple[int, Any]:
        inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
        if self.texts.intersection(inputs):
            with self._lock:
                self.held += 1
            self.open.wait(timeout=60)
        data = [
            {"object": "embedding", "index": i, "embedding": bag_of_words(text, DIMS)}
            for i, text in enumerate(inputs)
        ]
        return 200, {"object": "list", "model": body["model"], "data": data}


@pytest.fixture
def held() -> HeldMessages:
    return HeldMessages(FIRST, SECOND)


@pytest.fixture
def model(held: HeldMessages) -> Iterator[FakeOpenAI]:
    with fake_openai(dims=DIMS) as server:
        server.embeddings_reply = held.reply
        yield server


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.stop()


def embedding_settings(model: FakeOpenAI) -> dict[str, Any]:
    return {
        "embedding_base_url": model.base_url,
        "embedding_model": "bow",
        "embedding_dimensions": DIMS,
        "webhook_allow_private_hosts": True,
    }


@pytest.fixture
def client(database_url: str, tmp_path: Path, model: FakeOpenAI) -> Iterator[TestClient]:
    """An embedded worker that polls often (reasoning without a model)."""
    settings = make_settings(
        database_url, tmp_path / "data", **reasoning_settings(**embedding_settings(model))
    )
    with TestClient(create_app(settings), raise_server_exceptions=False) as test_client:
        yield test_client


def setup(client: TestClient, receiver: Receiver, **workspace: Any) -> None:
    ok(client.post("/v2/workspaces", json={"id": W} | workspace))
    ok(client.post(f"/v2/workspaces/{W}/webhooks", json={"url": receiver.url}))


def say(client: TestClient, content: str) -> None:
    said = {"messages": [{"peer_id": "alice", "content": content}]}
    ok(client.post(f"/v2/workspaces/{W}/sessions/s1/messages/", json=said))


def settled(client: TestClient, derived: int) -> bool:
    """Whether `derived` derive items are done and the queue_empty item waits for the vectors."""
    found = items(client, DERIVE, QUEUE_EMPTY)
    done = [i for i in found if i[0] == DERIVE and i[1] == "done"]
    waiting = [i for i in found if i[0] == QUEUE_EMPTY and i[1] in ("pending", "in_progress")]
    return len(done) == derived and len(waiting) == 1


def queue_empty_events(receiver: Receiver) -> list[dict[str, Any]]:
    events = [json.loads(r.body) for r in receiver.requests]
    return [e for e in events if e["type"] == "queue.empty"]


def test_queue_empty_waits_for_the_embeddings_then_is_sent_once(
    client: TestClient, held: HeldMessages, receiver: Receiver
) -> None:
    setup(client, receiver)
    say(client, FIRST)
    wait_until(lambda: settled(client, 1), "reasoning to settle with the message unembedded")
    say(client, SECOND)  # a second drain while the first waits: it settles into the same item
    wait_until(lambda: settled(client, 2), "the second drain")
    time.sleep(0.5)  # many of the waiting item's looks

    def parked() -> bool:  # waiting is not failing: no attempt counted, no error
        return items(client, QUEUE_EMPTY) == [(QUEUE_EMPTY, "pending", 0, None)]

    wait_until(parked, "the item to wait between looks")
    assert held.held >= 1
    assert receiver.requests == []
    assert items(client, WEBHOOK) == []

    held.open.set()
    [delivered] = receiver.wait_for(1)
    time.sleep(0.5)  # room for a second one, which must not come
    assert len(receiver.requests) == 1
    event = json.loads(delivered.body)
    assert event["type"] == "queue.empty"
    assert event["data"] == {"workspace_id": W, "queue_type": DERIVE, "session_id": "s1"}
    assert items(client, QUEUE_EMPTY) == [(QUEUE_EMPTY, "done", 1, None)]
    status = ok(client.get(f"/v2/workspaces/{W}/deriver/status"))
    assert (status["pending_work_units"], status["embedding_backlog"]) == (0, 0)


def test_queue_empty_is_sent_at_once_when_the_messages_are_embedded(
    client: TestClient, held: HeldMessages, receiver: Receiver
) -> None:
    held.open.set()
    setup(client, receiver)
    say(client, FIRST)
    [delivered] = receiver.wait_for(1)
    assert json.loads(delivered.body)["type"] == "queue.empty"
    time.sleep(0.3)
    assert len(receiver.requests) == 1


def test_a_workspace_with_reasoning_off_gets_no_queue_empty(
    client: TestClient, held: HeldMessages, receiver: Receiver
) -> None:
    held.open.set()
    setup(client, receiver, configuration={"deriver": {"enabled": False}})
    say(client, FIRST)
    say(client, SECOND)

    def embedded() -> bool:
        status = ok(client.get(f"/v2/workspaces/{W}/deriver/status"))
        return bool(status["total_work_units"] == 0)

    wait_until(embedded, "the messages' vectors")
    time.sleep(0.5)  # the worker polls every 50 ms
    assert items(client, DERIVE, QUEUE_EMPTY, WEBHOOK) == []
    assert receiver.requests == []


def test_deleting_the_workspace_drops_the_waiting_queue_empty(
    client: TestClient,
    held: HeldMessages,
    receiver: Receiver,
    caplog: pytest.LogCaptureFixture,
) -> None:
    setup(client, receiver)
    say(client, FIRST)
    wait_until(lambda: settled(client, 1), "reasoning to settle with the message unembedded")
    with caplog.at_level(logging.WARNING, logger="parley"):
        ok(client.delete(f"/v2/workspaces/{W}"))
        assert items(client, QUEUE_EMPTY, WEBHOOK) == []
        held.open.set()
        time.sleep(0.5)  # the item's next look, had it survived
    assert receiver.requests == []
    assert items(client, QUEUE_EMPTY, WEBHOOK) == []
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []


def test_a_worker_killed_while_queue_empty_waits_leaves_it_to_the_next(
    database_url: str,
    tmp_path: Path,
    model: FakeOpenAI,
    held: HeldMessages,
    receiver: Receiver,
) -> None:
    """The app embeds (no worker in it); `parley worker` processes reason and wait. The first is
    killed (SIGKILL) while the item waits; the next sends the event, once."""
    settings = make_settings(database_url, tmp_path / "data", **embedding_settings(model))
    env = {
        "PARLEY_EMBEDDING_BASE_URL": model.base_url,
        "PARLEY_EMBEDDING_MODEL": "bow",
        "PARLEY_EMBEDDING_DIMENSIONS": str(DIMS),
        "PARLEY_WEBHOOK_ALLOW_PRIVATE_HOSTS": "true",
    }
    log = tmp_path / "worker.log"
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        setup(client, receiver)
        say(client, FIRST)
        first = start_worker(database_url, tmp_path / "data", log, **env)
        try:
            wait_until(lambda: settled(client, 1), "the first worker's drain", log)
            time.sleep(0.3)  # it looks again meanwhile
            kill(first)
        finally:
            first.kill()
        [(_, status, _, error)] = items(client, QUEUE_EMPTY)
        assert status in ("pending", "in_progress") and error is None
        assert receiver.requests == []

        held.open.set()
        second = start_worker(database_url, tmp_path / "data", log, **env)
        try:
            [delivered] = receiver.wait_for(1, timeout=30)
            time.sleep(0.5)
            stop(second, log)
        finally:
            second.kill()
        assert len(receiver.requests) == 1, log.read_text()
        assert json.loads(delivered.body)["data"] == {
            "workspace_id": W,
            "queue_type": DERIVE,
            "session_id": "s1",
        }
        [(_, status, _, error)] = items(client, QUEUE_EMPTY)
        assert (status, error) == ("done", None)
