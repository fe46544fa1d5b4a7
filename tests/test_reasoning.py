"""Background reasoning without a model (the embedded default), through HTTP, on both backends:
which observers learn what, configuration precedence, the queue status, `queue.empty`, peer
cards, summaries and dreams."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from conftest import reasoning_settings, wait_for_reasoning
from fake_openai import FakeOpenAI, bag_of_words, fake_openai
from parley.memory.fact_identity import MERGE_DISTANCE
from parley.store.models import Observation
from test_webhooks import Receiver

W = "w"


@pytest.fixture(scope="module")
def embeddings() -> Iterator[FakeOpenAI]:
    """Bag-of-words embeddings (1024 slots): fast, and distances are known in advance."""
    with fake_openai(dims=1024) as server:
        yield server


@pytest.fixture
def settings_overrides(embeddings: FakeOpenAI) -> dict[str, Any]:
    return reasoning_settings(
        embedding_base_url=embeddings.base_url,
        embedding_model="bow",
        embedding_dimensions=1024,
        webhook_allow_private_hosts=True,
    )


@pytest.fixture
def hook_receiver() -> Iterator[Receiver]:
    receiver = Receiver()
    yield receiver
    receiver.stop()


def setup(client: TestClient, *, configuration: dict[str, Any] | None = None) -> None:
    body: dict[str, Any] = {"id": W}
    if configuration is not None:
        body["configuration"] = configuration
    assert client.post("/v2/workspaces", json=body).status_code == 200


def session(
    client: TestClient, session_id: str, peers: dict[str, dict[str, bool]], **extra: Any
) -> None:
    response = client.post(
        f"/v2/workspaces/{W}/sessions", json={"id": session_id, "peers": peers} | extra
    )
    assert response.status_code == 200, response.text


def say(client: TestClient, session_id: str, *messages: dict[str, Any]) -> list[dict[str, Any]]:
    response = client.post(
        f"/v2/workspaces/{W}/sessions/{session_id}/messages/", json={"messages": list(messages)}
    )
    assert response.status_code == 200, response.text
    return list(response.json())


def observations(client: TestClient, **filters: Any) -> list[dict[str, Any]]:
    response = client.post(
        f"/v2/workspaces/{W}/observations/list",
        json={"filters": filters or None},
        params={"reverse": "true", "size": 100},
    )
    assert response.status_code == 200, response.text
    return list(response.json()["items"])


def pairs(client: TestClient) -> set[tuple[str, str]]:
    return {(o["observer_id"], o["observed_id"]) for o in observations(client)}


def test_each_sentence_becomes_a_dated_explicit_observation(client: TestClient) -> None:
    setup(client)
    sent = say(
        client,
        "s1",
        {
            "peer_id": "alice",
            "content": "I moved to Berlin last week. I work as a nurse!\nDr. Smith is my boss.",
            "created_at": "2024-05-02T10:00:00Z",
        },
    )
    status = wait_for_reasoning(client, W)
    found = observations(client, observer_id="alice", observed_id="alice")
    assert [o["content"] for o in found] == [
        "alice said on 2024-05-02: I moved to Berlin last week.",
        "alice said on 2024-05-02: I work as a nurse!",
        "alice said on 2024-05-02: Dr. Smith is my boss.",
    ]
    assert {o["session_id"] for o in found} == {"s1"}
    assert status["total_work_units"] == status["completed_work_units"] == 1
    assert status["reasoning_mode"] == "retrieval_only"
    assert any("summaries are skipped" in note for note in status["notes"])
    assert sent[0]["id"]


def test_stored_observations_carry_level_and_source_message(client: TestClient) -> None:
    setup(client)
    sent = say(client, "s1", {"peer_id": "alice", "content": "I have two cats."})
    wait_for_reasoning(client, W)
    stored = client.post(
        f"/v2/workspaces/{W}/observations/query",
        json={"query": "cats", "top_k": 1, "filters": {"observer": "alice", "observed": "alice"}},
    ).json()
    assert len(stored) == 1
    assert stored[0]["content"].endswith(": I have two cats.")
    assert stored[0]["level"] == "explicit"
    assert stored[0]["message_ids"] == [sent[0]["id"]]


def test_observe_me_false_means_no_one_learns_about_that_peer(client: TestClient) -> None:
    setup(client)
    session(client, "s1", {"alice": {"observe_me": False}, "bob": {}})
    say(
        client,
        "s1",
        {"peer_id": "alice", "content": "Secret: I like opera."},
        {"peer_id": "bob", "content": "I like jazz."},
    )
    status = wait_for_reasoning(client, W)
    assert pairs(client) == {("bob", "bob")}
    assert status["total_work_units"] == 1


def test_peer_configuration_observe_me_applies_when_the_session_says_nothing(
    client: TestClient,
) -> None:
    setup(client)
    response = client.post(
        f"/v2/workspaces/{W}/peers", json={"id": "alice", "configuration": {"observe_me": False}}
    )
    assert response.status_code == 200
    say(client, "s1", {"peer_id": "alice", "content": "I like opera."})
    wait_for_reasoning(client, W)
    assert pairs(client) == set()


def test_observe_others_makes_a_peer_learn_about_the_others(client: TestClient) -> None:
    setup(client)
    session(client, "s1", {"alice": {}, "bob": {"observe_others": True}, "carol": {}})
    say(
        client,
        "s1",
        {"peer_id": "alice", "content": "I grow tomatoes."},
        {"peer_id": "bob", "content": "I repair bikes."},
        {"peer_id": "carol", "content": "I sing in a choir."},
    )
    status = wait_for_reasoning(client, W)
    assert pairs(client) == {
        ("alice", "alice"),
        ("bob", "alice"),
        ("bob", "bob"),
        ("carol", "carol"),
        ("bob", "carol"),
    }
    bobs_view = observations(client, observer_id="bob", observed_id="alice")
    assert [o["content"].split(": ", 1)[1] for o in bobs_view] == ["I grow tomatoes."]
    # one item per (message, observer): alice 2, bob 1, carol 2
    assert status["total_work_units"] == 5
    by_observer = client.get(
        f"/v2/workspaces/{W}/deriver/status", params={"observer_id": "bob"}
    ).json()
    assert by_observer["total_work_units"] == 3
    by_sender = client.get(
        f"/v2/workspaces/{W}/deriver/status", params={"sender_id": "alice"}
    ).json()
    assert by_sender["total_work_units"] == 2


@pytest.mark.parametrize(
    ("workspace_cfg", "session_cfg", "message_cfg", "learned"),
    [
        (None, None, None, True),
        ({"deriver": {"enabled": False}}, None, None, False),
        ({"deriver": {"enabled": False}}, {"deriver": {"enabled": True}}, None, True),
        (None, {"deriver": {"enabled": False}}, None, False),
        (None, {"deriver": {"enabled": False}}, {"deriver": {"enabled": True}}, True),
        ({"deriver": {"enabled": True}}, None, {"deriver": {"enabled": False}}, False),
    ],
)
def test_deriver_configuration_resolves_message_then_session_then_workspace(
    client: TestClient,
    workspace_cfg: dict[str, Any] | None,
    session_cfg: dict[str, Any] | None,
    message_cfg: dict[str, Any] | None,
    learned: bool,
) -> None:
    setup(client, configuration=workspace_cfg)
    session(client, "s1", {"alice": {}}, **({"configuration": session_cfg} if session_cfg else {}))
    message: dict[str, Any] = {"peer_id": "alice", "content": "I play chess."}
    if message_cfg:
        message["configuration"] = message_cfg
    say(client, "s1", message)
    status = wait_for_reasoning(client, W)
    assert status["total_work_units"] == (1 if learned else 0)
    assert len(observations(client)) == (1 if learned else 0)


def test_sentences_that_repeat_another_speaker_are_not_the_senders_facts(
    client: TestClient,
) -> None:
    setup(client)
    say(
        client,
        "s1",
        {"peer_id": "assistant", "content": "You could try the evening pottery class downtown."},
        {
            "peer_id": "user",
            "content": "You could try the evening pottery class downtown. I signed up today.",
        },
    )
    wait_for_reasoning(client, W)
    users = observations(client, observer_id="user", observed_id="user")
    assert [o["content"].split(": ", 1)[1] for o in users] == ["I signed up today."]


def test_status_per_session_and_the_session_filter(client: TestClient) -> None:
    setup(client)
    say(
        client,
        "s1",
        {"peer_id": "alice", "content": "One."},
        {"peer_id": "alice", "content": "Two."},
    )
    say(client, "s2", {"peer_id": "alice", "content": "Three."})
    status = wait_for_reasoning(client, W)
    assert status["sessions"] == {
        "s1": {
            "session_id": "s1",
            "total_work_units": 2,
            "completed_work_units": 2,
            "in_progress_work_units": 0,
            "pending_work_units": 0,
            "failed_work_units": 0,
            "embedding_backlog": 0,
        },
        "s2": {
            "session_id": "s2",
            "total_work_units": 1,
            "completed_work_units": 1,
            "in_progress_work_units": 0,
            "pending_work_units": 0,
            "failed_work_units": 0,
            "embedding_backlog": 0,
        },
    }
    only = client.get(f"/v2/workspaces/{W}/queue/status", params={"session_id": "s2"}).json()
    assert (only["total_work_units"], only["sessions"]) == (1, None)


def test_queue_empty_webhook_fires_when_the_workspace_drains(
    client: TestClient, hook_receiver: Receiver
) -> None:
    setup(client)
    receiver = hook_receiver
    assert (
        client.post(f"/v2/workspaces/{W}/webhooks", json={"url": receiver.url}).status_code == 200
    )
    say(client, "s1", {"peer_id": "alice", "content": "Hello there. I am new here."})
    wait_for_reasoning(client, W)
    received = receiver.wait_for(1)
    event = json.loads(received[0].body)
    assert event["type"] == "queue.empty"
    assert event["data"] == {"workspace_id": W, "queue_type": "derive", "session_id": "s1"}


def test_what_another_speaker_said_between_the_senders_messages_is_not_theirs(
    client: TestClient,
) -> None:
    setup(client)
    say(
        client,
        "s1",
        {"peer_id": "user", "content": "Which tea should I buy?"},
        {"peer_id": "assistant", "content": "Try the smoky lapsang souchong from Fujian province."},
        {
            "peer_id": "user",
            "content": "Try the smoky lapsang souchong from Fujian province. I bought some.",
        },
    )
    wait_for_reasoning(client, W)
    users = observations(client, observer_id="user", observed_id="user")
    assert [o["content"].split(": ", 1)[1] for o in users] == [
        "Which tea should I buy?",
        "I bought some.",
    ]


def test_peer_card_set_and_get_with_target(client: TestClient) -> None:
    setup(client)
    for peer in ("alice", "bob"):
        assert client.post(f"/v2/workspaces/{W}/peers", json={"id": peer}).status_code == 200
    card = f"/v2/workspaces/{W}/peers/alice/card"
    assert client.get(card).json() == {"peer_card": None}
    put = client.put(card, json={"peer_card": ["Name: Alice", "Lives in Oslo"]})
    assert put.status_code == 200
    assert put.json() == {"peer_card": ["Name: Alice", "Lives in Oslo"]}
    assert client.get(card).json() == {"peer_card": ["Name: Alice", "Lives in Oslo"]}
    assert client.put(card, params={"target": "bob"}, json={"peer_card": ["Bob cooks"]}).json() == {
        "peer_card": ["Bob cooks"]
    }
    assert client.get(card, params={"target": "bob"}).json() == {"peer_card": ["Bob cooks"]}
    assert client.get(card).json() == {"peer_card": ["Name: Alice", "Lives in Oslo"]}
    # as in Honcho: no card about an unknown peer is null; a card set about one creates it
    assert client.get(card, params={"target": "nobody"}).json() == {"peer_card": None}
    unknown_observer = f"/v2/workspaces/{W}/peers/ghost/card"
    assert client.put(unknown_observer, json={"peer_card": ["x"]}).status_code == 404
    assert client.put(card, params={"target": "carol"}, json={"peer_card": ["Carol"]}).json() == {
        "peer_card": ["Carol"]
    }
    assert "carol" in [
        p["id"] for p in client.post(f"/v2/workspaces/{W}/peers/list").json()["items"]
    ]
    assert client.put(card, json={"peer_card": "not a list"}).status_code == 422
    assert client.put(card, json={"peer_card": ["x" * 1001]}).status_code == 422


def test_summaries_are_empty_without_a_summary_model(client: TestClient) -> None:
    setup(client)
    say(client, "s1", *({"peer_id": "alice", "content": f"Message {i}."} for i in range(25)))
    wait_for_reasoning(client, W)
    response = client.get(f"/v2/workspaces/{W}/sessions/s1/summaries")
    assert response.json() == {"id": "s1", "short_summary": None, "long_summary": None}
    unknown = client.get(f"/v2/workspaces/{W}/sessions/nope/summaries")  # empty, as in Honcho
    assert unknown.json() == {"id": "nope", "short_summary": None, "long_summary": None}


def _words(count: int, offset: int = 0) -> str:
    return " ".join(f"word{i}" for i in range(offset, offset + count))


def test_dream_merges_near_duplicates_the_write_time_check_let_through(
    client: TestClient,
) -> None:
    setup(client)
    assert client.post(f"/v2/workspaces/{W}/peers", json={"id": "alice"}).status_code == 200
    assert client.post(f"/v2/workspaces/{W}/sessions", json={"id": "s1"}).status_code == 200
    first, second, other = _words(15), _words(14) + " extra", _words(15, offset=100)
    a, b = (np.asarray(bag_of_words(t, 1024)) for t in (first, second))
    distance = 1 - a @ b / np.linalg.norm(a) / np.linalg.norm(b)
    assert 0.05 < distance <= MERGE_DISTANCE  # manual creates never merge; a dream does
    for content in (first, second, other):
        response = client.post(
            f"/v2/workspaces/{W}/observations",
            json={
                "observations": [
                    {
                        "content": content,
                        "observer_id": "alice",
                        "observed_id": "alice",
                        "session_id": "s1",
                    }
                ]
            },
        )
        assert response.status_code == 200
    assert len(observations(client)) == 3
    response = client.post(
        f"/v2/workspaces/{W}/trigger_dream",
        json={"observer": "alice", "dream_type": "consolidate"},
    )
    assert response.status_code == 204
    wait_for_reasoning(client, W)
    kept = observations(client)
    assert [(o["content"], o["times_derived"]) for o in kept] == [(first, 2), (other, 1)]


def test_a_changed_statement_supersedes_the_old_one(client: TestClient) -> None:
    """The retrieval-only deriver, end to end: the later statement replaces the earlier one,
    which stays as history; another numbered statement stands beside it."""
    setup(client)
    for hour, content in ((10, "I am allergic to peanuts."), (11, "I am not allergic to peanuts.")):
        sent_at = f"2024-05-02T{hour}:00:00Z"
        say(client, "s1", {"peer_id": "alice", "content": content, "created_at": sent_at})
        wait_for_reasoning(client, W)
    allergic, not_allergic = (
        "alice said on 2024-05-02: I am allergic to peanuts.",
        "alice said on 2024-05-02: I am not allergic to peanuts.",
    )
    assert [o["content"] for o in observations(client)] == [not_allergic]
    [old] = observations(client, superseded=True)
    [new] = observations(client)
    assert (old["content"], old["superseded_by"], old["times_derived"]) == (
        allergic,
        new["id"],
        1,
    )


def _create(client: TestClient, content: str, session_id: str = "s1") -> None:
    response = client.post(
        f"/v2/workspaces/{W}/observations",
        json={
            "observations": [
                {
                    "content": content,
                    "observer_id": "alice",
                    "observed_id": "alice",
                    "session_id": session_id,
                }
            ]
        },
    )
    assert response.status_code == 200, response.text


def test_dream_merges_only_the_same_fact_in_one_session(client: TestClient) -> None:
    setup(client)
    assert client.post(f"/v2/workspaces/{W}/peers", json={"id": "alice"}).status_code == 200
    for session_id in ("s1", "s2"):
        response = client.post(f"/v2/workspaces/{W}/sessions", json={"id": session_id})
        assert response.status_code == 200
    fact, repeat, negated = _words(15), _words(14) + " extra", _words(15) + " not"
    for content, session_id in ((fact, "s1"), (repeat, "s1"), (negated, "s1"), (fact, "s2")):
        _create(client, content, session_id)
    response = client.post(
        f"/v2/workspaces/{W}/trigger_dream",
        json={"observer": "alice", "dream_type": "consolidate"},
    )
    assert response.status_code == 204
    wait_for_reasoning(client, W)
    kept = observations(client)
    assert [(o["content"], o["session_id"], o["times_derived"]) for o in kept] == [
        (fact, "s1", 2),
        (negated, "s1", 1),
        (fact, "s2", 1),
    ]


def test_dream_hands_the_history_of_a_merged_row_to_its_keeper(client: TestClient) -> None:
    """A superseded fact whose successor a dream merges away points at the keeper: it stays
    history, not current again."""
    setup(client)
    assert client.post(f"/v2/workspaces/{W}/peers", json={"id": "alice"}).status_code == 200
    assert client.post(f"/v2/workspaces/{W}/sessions", json={"id": "s1"}).status_code == 200
    old, fact = _words(15, offset=200), _words(15)
    for content in (old, fact, fact):  # the second copy: a repeat two writers made at once
        _create(client, content)
    _, keeper, copy = (o["id"] for o in observations(client))

    async def supersede() -> None:  # what the write-time check did, for this test
        async with client.app.state.parley.database.write() as db:
            await db.execute(
                update(Observation).where(Observation.content == old).values(superseded_by=copy)
            )

    client.portal.call(supersede)
    response = client.post(
        f"/v2/workspaces/{W}/trigger_dream",
        json={"observer": "alice", "dream_type": "consolidate"},
    )
    assert response.status_code == 204
    wait_for_reasoning(client, W)
    assert [(o["id"], o["times_derived"]) for o in observations(client)] == [(keeper, 2)]
    [history] = observations(client, superseded=True)
    assert (history["content"], history["superseded_by"]) == (old, keeper)


@pytest.mark.parametrize(
    "body",
    [
        {"observer": "alice"},
        {"observer": "alice", "dream_type": "nap"},
        {"observer": "../x", "dream_type": "consolidate"},
        {"observer": 3, "dream_type": "consolidate"},
    ],
)
def test_bad_dream_requests_are_422(client: TestClient, body: dict[str, Any]) -> None:
    setup(client)
    assert client.post(f"/v2/workspaces/{W}/trigger_dream", json=body).status_code == 422


def test_dream_for_unknown_peers_queues_nothing(client: TestClient) -> None:
    """Honcho answers 204 whatever the peers; unknown peers have nothing to dream about."""
    setup(client)
    before = client.get(f"/v2/workspaces/{W}/deriver/status").json()["total_work_units"]
    for path in (f"/v2/workspaces/{W}/trigger_dream", "/v2/workspaces/nope/trigger_dream"):
        response = client.post(path, json={"observer": "ghost", "dream_type": "consolidate"})
        assert (response.status_code, response.content) == (204, b"")
    status = client.get(f"/v2/workspaces/{W}/deriver/status").json()
    assert status["total_work_units"] == before
