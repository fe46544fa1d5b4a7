"""Background reasoning with a model, through the fake OpenAI-compatible server over real HTTP,
on both backends: extraction with dates and premises, peer cards, repaired and failing model
output, per-session order, summaries, dreams and usage."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from conftest import AppClient, make_settings, reasoning_settings, wait_for_reasoning
from fake_openai import FakeOpenAI, fake_openai
from parley.app import create_app
from parley.tokens import count_tokens

W = "w"
EXTRACT = "extract what they reveal"
CARD = "You keep the peer card"
SUMMARY = "running summary"
DEDUCE = "list new conclusions"
NOTHING = json.dumps({"explicit": [], "deductive": []})


@pytest.fixture
def model() -> Iterator[FakeOpenAI]:
    with fake_openai(dims=256) as server:
        yield server


@pytest.fixture
def settings_overrides(model: FakeOpenAI) -> dict[str, Any]:
    return reasoning_settings(
        embedding_base_url=model.base_url,
        embedding_model="bow",
        embedding_dimensions=256,
        llm_base_url=model.base_url,
        llm_model="fake-model",
        llm_max_retries=0,
        worker_max_attempts=2,
    )


def say(client: TestClient, session_id: str, *messages: dict[str, Any]) -> list[dict[str, Any]]:
    response = client.post(
        f"/v2/workspaces/{W}/sessions/{session_id}/messages/", json={"messages": list(messages)}
    )
    assert response.status_code == 200, response.text
    return list(response.json())


def observations(client: TestClient, **filters: str) -> list[dict[str, Any]]:
    response = client.post(
        f"/v2/workspaces/{W}/observations/list",
        json={"filters": filters or None},
        params={"reverse": "true", "size": 100},
    )
    assert response.status_code == 200, response.text
    return list(response.json()["items"])


@pytest.fixture
def ws(client: TestClient) -> TestClient:
    assert client.post("/v2/workspaces", json={"id": W}).status_code == 200
    return client


def test_extraction_stores_dated_facts_and_deductions_with_premises(
    ws: TestClient, model: FakeOpenAI
) -> None:
    model.script("reveal about the peer `bot`", NOTHING)
    model.script(
        "reveal about the peer `alice`",
        json.dumps(
            {
                "explicit": [
                    {"content": "Alice moved to Berlin on 2024-04-25.", "messages": [1]},
                    {"content": "Alice works as a nurse.", "messages": [1, 7]},
                ],
                "deductive": [
                    {
                        "content": "Alice lives in Germany.",
                        "premises": ["Alice moved to Berlin on 2024-04-25."],
                    }
                ],
            }
        ),
    )
    model.script(CARD, json.dumps({"card": ["Lives in Berlin", "Nurse"]}))
    sent = say(
        ws,
        "s1",
        {"peer_id": "bot", "content": "How was your week?", "created_at": "2024-05-02T09:00:00Z"},
        {
            "peer_id": "alice",
            "content": "I moved to Berlin a week ago, and I still work as a nurse.",
            "created_at": "2024-05-02T10:00:00Z",
        },
    )
    status = wait_for_reasoning(ws, W)
    assert status["reasoning_mode"] == "model"
    assert status["failed_work_units"] == 0
    found = observations(ws, observer_id="alice", observed_id="alice")
    assert [(o["content"], o["level"], o["premises"]) for o in found] == [
        ("Alice moved to Berlin on 2024-04-25.", "explicit", []),
        ("Alice works as a nurse.", "explicit", []),
        ("Alice lives in Germany.", "deductive", ["Alice moved to Berlin on 2024-04-25."]),
    ]
    assert {tuple(o["message_ids"]) for o in found} == {(sent[1]["id"],)}
    # alice's batch is numbered and dated; the bot's earlier message is context only
    prompts = [p for p in model.prompts() if "reveal about the peer `alice`" in p]
    assert len(prompts) == 1
    context, new = prompts[0].split("New messages:\n")
    assert new.startswith("[1] 2024-05-02 10:00 UTC (Thursday) alice: I moved to Berlin")
    assert "2024-05-02 09:00 UTC (Thursday) bot: How was your week?" in context
    assert observations(ws, observer_id="bot") == []
    card = ws.get(f"/v2/workspaces/{W}/peers/alice/card").json()
    assert card == {"peer_card": ["Lives in Berlin", "Nurse"]}
    card_prompt = next(p for p in model.prompts() if CARD in p)
    assert "- Alice moved to Berlin on 2024-04-25." in card_prompt
    usage = ws.get(f"/v2/workspaces/{W}/usage").json()
    # extraction for bot and for alice, and alice's card
    assert [(u["role"], u["model"], u["calls"]) for u in usage["items"]] == [
        ("deriver", "fake-model", 3)
    ]
    assert usage["items"][0]["input_tokens"] > 0


def test_observers_with_observe_others_get_the_same_facts(
    ws: TestClient, model: FakeOpenAI
) -> None:
    model.script(
        EXTRACT, json.dumps({"explicit": [{"content": "Alice plays the cello."}], "deductive": []})
    )
    model.script(CARD, json.dumps({"card": ["Plays the cello"]}))
    response = ws.post(
        f"/v2/workspaces/{W}/sessions",
        json={"id": "s1", "peers": {"alice": {}, "bob": {"observe_others": True}}},
    )
    assert response.status_code == 200
    say(ws, "s1", {"peer_id": "alice", "content": "I play the cello."})
    wait_for_reasoning(ws, W)
    assert {(o["observer_id"], o["content"]) for o in observations(ws)} == {
        ("alice", "Alice plays the cello."),
        ("bob", "Alice plays the cello."),
    }
    bobs_card = ws.get(f"/v2/workspaces/{W}/peers/bob/card", params={"target": "alice"})
    assert bobs_card.json() == {"peer_card": ["Plays the cello"]}
    assert len([p for p in model.prompts() if EXTRACT in p]) == 1  # one extraction for both


def test_malformed_json_from_a_weak_model_is_repaired(ws: TestClient, model: FakeOpenAI) -> None:
    model.script(
        EXTRACT,
        'Sure! Here are the facts:\n```json\n{"explicit": [{"content": "Alice likes tea",},], "deductive": [],}\n```',
    )
    model.script(CARD, json.dumps({"card": ["Likes tea"]}))
    say(ws, "s1", {"peer_id": "alice", "content": "I like tea."})
    wait_for_reasoning(ws, W)
    assert [o["content"] for o in observations(ws)] == ["Alice likes tea"]
    assert len([p for p in model.prompts() if EXTRACT in p]) == 1


def test_invalid_output_is_sent_back_and_the_second_answer_used(
    ws: TestClient, model: FakeOpenAI
) -> None:
    model.script(EXTRACT, json.dumps({"explicit": "Alice likes tea", "deductive": []}), times=1)
    model.script(
        EXTRACT, json.dumps({"explicit": [{"content": "Alice likes tea."}], "deductive": []})
    )
    model.script(CARD, json.dumps({"card": []}))
    say(ws, "s1", {"peer_id": "alice", "content": "I like tea."})
    wait_for_reasoning(ws, W)
    assert [o["content"] for o in observations(ws)] == ["Alice likes tea."]
    retry = [b for b in model.chat_requests() if EXTRACT in json.dumps(b)][1]
    assert "was not valid" in retry["messages"][-1]["content"]


def test_a_failing_model_keeps_the_task_failed_with_its_error_and_the_message(
    ws: TestClient, model: FakeOpenAI
) -> None:
    model.script(EXTRACT, status=500)
    sent = say(ws, "s1", {"peer_id": "alice", "content": "I like tea."})
    status = wait_for_reasoning(ws, W)
    assert (status["failed_work_units"], status["completed_work_units"]) == (1, 0)
    failure = status["failures"][0]
    assert failure["task_type"] == "derive"
    assert (failure["session_id"], failure["sender_id"], failure["observer_id"]) == (
        "s1",
        "alice",
        "alice",
    )
    assert failure["attempts"] == 2
    assert "ModelError" in failure["error"] and "500" in failure["error"]
    assert len([p for p in model.prompts() if EXTRACT in p]) == 2  # worker_max_attempts
    message = ws.get(f"/v2/workspaces/{W}/sessions/s1/messages/{sent[0]['id']}")
    assert message.json()["content"] == "I like tea."
    assert observations(ws) == []


def test_a_unit_is_reasoned_over_in_message_order(
    database_url: str, tmp_path: Path, model: FakeOpenAI, settings_overrides: dict[str, Any]
) -> None:
    """Batches of one message and two worker slots: the unit's lease still keeps the order."""
    model.script(EXTRACT, NOTHING)
    settings = make_settings(
        database_url, tmp_path / "data", **settings_overrides | {"deriver_batch_messages": 1}
    )
    with AppClient(create_app(settings)) as client:
        assert client.post("/v2/workspaces", json={"id": W}).status_code == 200
        for start in (0, 2, 4):
            say(
                client,
                "s1",
                *({"peer_id": "alice", "content": f"Fact number {n}."} for n in (start, start + 1)),
            )
        wait_for_reasoning(client, W)
    order = []
    for prompt in model.prompts():
        new = prompt.split("New messages:\n", 1)[1]
        order.extend(int(n) for n in re.findall(r"Fact number (\d+)", new))
    assert order == [0, 1, 2, 3, 4, 5]


def test_a_full_card_keeps_the_new_preference(ws: TestClient, model: FakeOpenAI) -> None:
    limit = ws.app.state.parley.settings.peer_card_max_facts
    old = [f"Old fact {n}" for n in range(limit)]
    assert ws.post(f"/v2/workspaces/{W}/peers", json={"id": "alice"}).status_code == 200
    assert (
        ws.put(f"/v2/workspaces/{W}/peers/alice/card", json={"peer_card": old}).status_code == 200
    )
    model.script(
        EXTRACT,
        json.dumps({"explicit": [{"content": "Alice now prefers coffee."}], "deductive": []}),
    )
    # a model that forgets to drop anything: the card runs over by one
    model.script(CARD, json.dumps({"card": [*old, "Prefers coffee"]}))
    say(ws, "s1", {"peer_id": "alice", "content": "These days I drink coffee, not tea."})
    wait_for_reasoning(ws, W)
    card = ws.get(f"/v2/workspaces/{W}/peers/alice/card").json()["peer_card"]
    assert len(card) == limit
    assert card[-1] == "Prefers coffee"
    assert card[:-1] == old[:-1]


def test_short_summaries_roll_up_every_n_messages(ws: TestClient, model: FakeOpenAI) -> None:
    model.script(EXTRACT, NOTHING)
    model.script("Previous summary:", "Second summary: they kept counting to twenty.")
    model.script(SUMMARY, "First summary: Alice counted to ten.")
    configuration = {"summary": {"messages_per_short_summary": 10, "messages_per_long_summary": 40}}
    response = ws.post(
        f"/v2/workspaces/{W}/sessions", json={"id": "s1", "configuration": configuration}
    )
    assert response.status_code == 200
    sent = say(ws, "s1", *({"peer_id": "alice", "content": f"Count {n}."} for n in range(1, 13)))
    wait_for_reasoning(ws, W)
    summaries = ws.get(f"/v2/workspaces/{W}/sessions/s1/summaries").json()
    short = summaries["short_summary"]
    assert short["content"] == "First summary: Alice counted to ten."
    assert short["message_id"] == sent[9]["id"]
    assert short["summary_type"] == "honcho_chat_summary_short"
    assert short["token_count"] == count_tokens("First summary: Alice counted to ten.")
    assert summaries["long_summary"] is None
    first_prompt = next(p for p in model.prompts() if SUMMARY in p)
    assert "alice: Count 10." in first_prompt and "Count 11." not in first_prompt
    sent += say(ws, "s1", *({"peer_id": "alice", "content": f"Count {n}."} for n in range(13, 21)))
    wait_for_reasoning(ws, W)
    short = ws.get(f"/v2/workspaces/{W}/sessions/s1/summaries").json()["short_summary"]
    assert short["content"] == "Second summary: they kept counting to twenty."
    assert short["message_id"] == sent[19]["id"]
    rolled = [p for p in model.prompts() if "Previous summary:" in p][0]
    assert "First summary: Alice counted to ten." in rolled
    assert "Count 11." in rolled and "Count 10." not in rolled


def test_dream_adds_deductions_and_refreshes_the_card(ws: TestClient, model: FakeOpenAI) -> None:
    model.script(
        EXTRACT,
        json.dumps(
            {
                "explicit": [
                    {"content": "Alice runs every morning."},
                    {"content": "Alice ran a marathon in May 2024."},
                ],
                "deductive": [],
            }
        ),
    )
    model.script(CARD, json.dumps({"card": ["Runner"]}), times=1)
    model.script(
        DEDUCE,
        json.dumps(
            {
                "deductive": [
                    {
                        "content": "Alice is a committed long-distance runner.",
                        "premises": ["Alice ran a marathon in May 2024."],
                    }
                ]
            }
        ),
    )
    model.script(CARD, json.dumps({"card": ["Runner", "Marathoner"]}))
    say(ws, "s1", {"peer_id": "alice", "content": "I run every morning; I ran a marathon in May."})
    wait_for_reasoning(ws, W)
    response = ws.post(
        f"/v2/workspaces/{W}/trigger_dream",
        json={"observer": "alice", "observed": "alice", "dream_type": "agent"},
    )
    assert response.status_code == 204
    wait_for_reasoning(ws, W)
    deductive = [o for o in observations(ws) if o["level"] == "deductive"]
    assert [(o["content"], o["premises"]) for o in deductive] == [
        ("Alice is a committed long-distance runner.", ["Alice ran a marathon in May 2024."])
    ]
    card = ws.get(f"/v2/workspaces/{W}/peers/alice/card").json()
    assert card == {"peer_card": ["Runner", "Marathoner"]}


@pytest.mark.parametrize(
    ("peer_card", "shown", "updated"),
    [({}, True, True), ({"use": False}, False, True), ({"create": False}, True, False)],
)
def test_peer_card_configuration_use_and_create(
    client: TestClient, model: FakeOpenAI, peer_card: dict[str, bool], shown: bool, updated: bool
) -> None:
    body = {"id": W, "configuration": {"peer_card": peer_card}}
    assert client.post("/v2/workspaces", json=body).status_code == 200
    assert client.post(f"/v2/workspaces/{W}/peers", json={"id": "alice"}).status_code == 200
    card = f"/v2/workspaces/{W}/peers/alice/card"
    assert client.put(card, json={"peer_card": ["Likes tea"]}).status_code == 200
    model.script(
        EXTRACT, json.dumps({"explicit": [{"content": "Alice likes cats."}], "deductive": []})
    )
    model.script(CARD, json.dumps({"card": ["Likes tea", "Likes cats"]}))
    say(client, "s1", {"peer_id": "alice", "content": "I like cats."})
    wait_for_reasoning(client, W)
    extraction = next(p for p in model.prompts() if EXTRACT in p)
    assert ("Peer card:\n- Likes tea" in extraction) is shown
    expected = ["Likes tea", "Likes cats"] if updated else ["Likes tea"]
    assert client.get(card).json() == {"peer_card": expected}


def test_other_speakers_between_the_batch_are_shown_unnumbered(
    ws: TestClient, model: FakeOpenAI
) -> None:
    model.script("reveal about the peer `bot`", NOTHING)
    model.script(EXTRACT, NOTHING)
    say(
        ws,
        "s1",
        {"peer_id": "alice", "content": "Which tea?", "created_at": "2024-05-02T10:00:00Z"},
        {"peer_id": "bot", "content": "Try lapsang.", "created_at": "2024-05-02T10:01:00Z"},
        {"peer_id": "alice", "content": "Bought it.", "created_at": "2024-05-02T10:02:00Z"},
    )
    wait_for_reasoning(ws, W)
    prompt = next(p for p in model.prompts() if "reveal about the peer `alice`" in p)
    new = prompt.split("New messages:\n", 1)[1]
    assert new.splitlines()[:3] == [
        "[1] 2024-05-02 10:00 UTC (Thursday) alice: Which tea?",
        "2024-05-02 10:01 UTC (Thursday) bot: Try lapsang.",
        "[2] 2024-05-02 10:02 UTC (Thursday) alice: Bought it.",
    ]


def test_an_observer_learns_only_from_messages_it_observed(
    ws: TestClient, model: FakeOpenAI
) -> None:
    """bob starts observing others between alice's two messages: he learns what the second
    says, not the first, and not deductions drawn from both."""
    model.script(EXTRACT, _lyon_and_oslo)
    model.script(CARD, lambda body: json.dumps({"card": _facts_in(body)}))
    session = f"/v2/workspaces/{W}/sessions"
    assert ws.post(session, json={"id": "s1", "peers": {"alice": {}, "bob": {}}}).status_code == 200
    say(ws, "s1", {"peer_id": "alice", "content": "I was born in Lyon."})
    config = ws.post(f"{session}/s1/peers/bob/config", json={"observe_others": True})
    assert config.status_code == 200, config.text
    say(ws, "s1", {"peer_id": "alice", "content": "I live in Oslo now."})
    wait_for_reasoning(ws, W)
    bob = {o["content"] for o in observations(ws, observer_id="bob")}
    alice = {o["content"] for o in observations(ws, observer_id="alice")}
    assert "Alice lives in Oslo." in bob
    assert bob <= {"Alice lives in Oslo."}
    assert {"Alice was born in Lyon.", "Alice lives in Oslo."} <= alice
    bobs_card = ws.get(f"/v2/workspaces/{W}/peers/bob/card", params={"target": "alice"}).json()
    assert bobs_card["peer_card"] in (None, ["Alice lives in Oslo."])


def _lyon_and_oslo(body: dict[str, Any]) -> str:
    """A perfect model for two facts: cites the numbered line each comes from, and deduces
    from both when it sees both."""
    text = "\n".join(m["content"] for m in body["messages"] if m["role"] == "user")
    new = text.split("New messages:\n", 1)[1]
    explicit, cited = [], {}
    for number, line in re.findall(r"^\[(\d+)\] (.*)$", new, flags=re.M):
        for needle, fact in (("Lyon", "Alice was born in Lyon."), ("Oslo", "Alice lives in Oslo.")):
            if needle in line:
                explicit.append({"content": fact, "messages": [int(number)]})
                cited[needle] = True
    deductive = [{"content": "Alice moved abroad.", "premises": []}] if len(cited) == 2 else []
    return json.dumps({"explicit": explicit, "deductive": deductive})


def _facts_in(body: dict[str, Any]) -> list[str]:
    """The card a perfect model makes: every new fact it was given."""
    text = "\n".join(m["content"] for m in body["messages"] if m["role"] == "user")
    new = text.split("New facts:\n", 1)[1].split("\n\n", 1)[0]
    return [line[2:] for line in new.splitlines() if line.startswith("- ")]


def test_an_answer_missing_its_keys_is_asked_again_not_taken_as_nothing(
    ws: TestClient, model: FakeOpenAI
) -> None:
    model.script(EXTRACT, "{}", times=1)
    model.script(EXTRACT, json.dumps({"explicit": [{"content": "Alice hikes."}], "deductive": []}))
    model.script(CARD, json.dumps({"card": ["Hiker"]}))
    say(ws, "s1", {"peer_id": "alice", "content": "I hike."})
    wait_for_reasoning(ws, W)
    assert [o["content"] for o in observations(ws)] == ["Alice hikes."]
    assert len([p for p in model.prompts() if EXTRACT in p]) == 2
