"""/v3's peer chat (Honcho 3.0.12) on both backends, with the fake model server: the memory
tools a model calls (run against what is stored), the round bound of each reasoning level, a
failing tool fed back to the model, v3's SSE framing byte for byte, the answers without a model
and with a model that takes no tools, bad input; and honcho-ai 2.7.0 over real HTTP."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from conftest import BACKENDS, AppClient, make_settings, migrated_database, run_honcho_v3, serve
from fake_openai import FakeOpenAI, fake_openai
from helpers import chat_model_settings, embeddings_only
from parley.app import create_app
from parley.llm.tools import BOUND_REACHED
from parley.memory.dialectic import NO_MODEL
from parley.store.models import SessionSummary

QUESTION = "Question:"  # every chat prompt ends with the question
ROUNDS = {"minimal": 1, "low": 5, "medium": 2, "high": 4, "max": 10}
ALL_TOOLS = ["search_memory", "search_messages", "get_peer_card", "get_session_summary"]


_workspaces = itertools.count()


@pytest.fixture(scope="module")
def model_server() -> Iterator[FakeOpenAI]:
    with fake_openai(dims=256) as server:
        yield server


@pytest.fixture
def model(model_server: FakeOpenAI) -> FakeOpenAI:
    """The module's model server, with no script and no requests yet."""
    model_server.reset()
    return model_server


@pytest.fixture
def settings_overrides(model: FakeOpenAI) -> dict[str, Any]:
    return chat_model_settings(model)


@pytest.fixture(scope="module", params=BACKENDS)
def shared(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    model_server: FakeOpenAI,
) -> Iterator[TestClient]:
    """One app per backend for the module's chats (a new app and database per test was most
    of this file's time); each test's memory is in a workspace of its own, `w`. A test that
    changes what the app remembers of its model (that it refuses tools) has its own `client`."""
    folder = tmp_path_factory.mktemp(f"v3-chat-{request.param}")
    with migrated_database(request.param, folder, request) as url:
        settings = make_settings(url, folder / "data", **chat_model_settings(model_server))
        with AppClient(create_app(settings), raise_server_exceptions=False) as client:
            yield client


@pytest.fixture
def w() -> str:
    """This test's own workspace id."""
    return f"w{next(_workspaces)}"


def chat(w: str) -> str:
    """alice's /v3 chat in workspace `w`."""
    return f"/v3/workspaces/{w}/peers/alice/chat"


def post(client: TestClient, w: str, path: str, body: Any, status: int = 200) -> Any:
    response = client.post(f"/v2/workspaces/{w}{path}", json=body)
    assert response.status_code == status, response.text
    return response.json()


def observe(
    client: TestClient, w: str, content: str, observer: str, observed: str, session: str
) -> None:
    item = {
        "content": content,
        "observer_id": observer,
        "observed_id": observed,
        "session_id": session,
    }
    post(client, w, "/observations", {"observations": [item]})


def store_memory(client: TestClient, w: str) -> None:
    """In workspace `w`: alice in two sessions (s1 with bob), her facts and a card."""
    assert client.post("/v2/workspaces", json={"id": w}).status_code == 200
    post(client, w, "/sessions", {"id": "s1", "peers": {"alice": {}, "bob": {}}})
    post(client, w, "/sessions", {"id": "s2", "peers": {"alice": {}}})
    messages = [
        {
            "peer_id": "alice",
            "content": "I keep bees on my roof.",
            "created_at": "2024-05-01T09:00:00Z",
        },
        {"peer_id": "bob", "content": "Bees? Do they sting?", "created_at": "2024-05-01T09:01:00Z"},
    ]
    post(client, w, "/sessions/s1/messages/", {"messages": messages})
    chess = {
        "peer_id": "alice",
        "content": "I play chess on Sundays.",
        "created_at": "2024-05-02T10:00:00Z",
    }
    post(client, w, "/sessions/s2/messages/", {"messages": [chess]})
    observe(client, w, "Alice keeps bees on her roof.", "alice", "alice", "s1")
    observe(client, w, "Alice plays chess on Sundays.", "alice", "alice", "s2")
    response = client.put(f"/v2/workspaces/{w}/peers/alice/card", json={"peer_card": ["Beekeeper"]})
    assert response.status_code == 200
    client.portal.call(client.app.state.parley.indexer.catch_up)  # searchable by meaning too


@pytest.fixture
def memory(shared: TestClient, w: str) -> TestClient:
    store_memory(shared, w)
    return shared


@pytest.fixture
def own_memory(client: TestClient, w: str) -> TestClient:
    """`memory` in an app of this test's own."""
    store_memory(client, w)
    return client


def today() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d")


def tool_messages(body: dict[str, Any]) -> list[tuple[str, str]]:
    return [(m["tool_call_id"], m["content"]) for m in body["messages"] if m["role"] == "tool"]


def checked_out(client: TestClient) -> int:
    """Connections out of the app's pool now (only the chat under test is running)."""
    return int(client.app.state.parley.database.engine.sync_engine.pool.checkedout())


def test_the_model_calls_memory_tools_over_what_is_stored(
    memory: TestClient, model: FakeOpenAI, w: str
) -> None:
    held: list[int] = []

    def calls(body: dict[str, Any]) -> list[dict[str, Any]]:
        held.append(checked_out(memory))
        return [
            {"name": "search_memory", "arguments": {"query": "bees roof", "top_k": 1}},
            {"name": "search_messages", "arguments": {"query": "chess", "limit": 1}},
            {"name": "get_peer_card", "arguments": {}},
            {"name": "get_session_summary", "arguments": {}},
        ]

    def answer(body: dict[str, Any]) -> str:
        held.append(checked_out(memory))
        return "Alice keeps bees and plays chess."

    model.script(QUESTION, "", tool_calls=calls, times=1, with_tools=True)
    model.script(QUESTION, answer, with_tools=True)
    response = memory.post(chat(w), json={"query": "Hobbies?", "reasoning_level": "medium"})
    assert response.status_code == 200
    assert response.json() == {"content": "Alice keeps bees and plays chess."}
    first, second = model.chat_requests()
    assert [t["function"]["name"] for t in first["tools"]] == ALL_TOOLS
    assert first["tool_choice"] == "auto"
    assert tool_messages(first) == []
    assert tool_messages(second) == [
        ("call_0", f"- [explicit] ({today()}, session s1) Alice keeps bees on her roof."),
        ("call_1", "- (2024-05-02, session s2) alice: I play chess on Sundays."),
        ("call_2", "- Beekeeper"),
        ("call_3", "Error: this chat names no session, so there is no session summary"),
    ]
    assert second["messages"][-5]["tool_calls"][0]["function"] == {
        "name": "search_memory",
        "arguments": json.dumps({"query": "bees roof", "top_k": 1}),
    }
    assert held == [0, 0]  # no connection out of the pool while the model thinks
    usage = memory.get(f"/v2/workspaces/{w}/usage").json()["items"]
    assert [(u["role"], u["calls"]) for u in usage] == [("dialectic", 2)]


def store_summary(client: TestClient, w: str, session_id: str, content: str) -> None:
    async def write() -> None:
        async with client.app.state.parley.database.write() as db:
            db.add(
                SessionSummary(
                    workspace_id=w,
                    session_id=session_id,
                    kind="short",
                    content=content,
                    message_id="m",
                    message_seq=1,
                    token_count=5,
                )
            )

    client.portal.call(write)


def test_a_session_reaches_its_summary_and_scopes_the_searches(
    memory: TestClient, model: FakeOpenAI, w: str
) -> None:
    store_summary(memory, w, "s1", "Alice told Bob about her bees.")
    calls = [
        {"name": "get_session_summary", "arguments": {"summary_type": "short"}},
        {"name": "get_session_summary", "arguments": {"summary_type": "long"}},
        {"name": "search_memory", "arguments": {"query": "chess"}},
        {"name": "search_messages", "arguments": {"query": "chess", "limit": 5}},
    ]
    model.script(QUESTION, "", tool_calls=calls, times=1, with_tools=True)
    model.script(QUESTION, "Bees.", with_tools=True)
    body = {"query": "What happened?", "session_id": "s1", "reasoning_level": "high"}
    assert memory.post(chat(w), json=body).json() == {"content": "Bees."}
    assert tool_messages(model.chat_requests()[1]) == [
        ("call_0", "Alice told Bob about her bees."),
        ("call_1", "Session s1 has no long summary yet."),
        ("call_2", f"- [explicit] ({today()}, session s1) Alice keeps bees on her roof."),
        # the chess message is in s2: only alice's message of s1 is found (by meaning)
        ("call_3", "- (2024-05-01, session s1) alice: I keep bees on my roof."),
    ]


def test_a_failing_tool_is_fed_back_to_the_model(
    memory: TestClient, model: FakeOpenAI, w: str
) -> None:
    calls = [
        {"name": "drop_tables", "arguments": {}},
        {"name": "search_memory", "arguments": "{not json"},
        {"name": "search_memory", "arguments": "[1]"},
        {"name": "search_memory", "arguments": {"top_k": 3}},
        {"name": "search_messages", "arguments": {"query": "bees", "limit": 0}},
        {"name": "get_session_summary", "arguments": {"summary_type": "medium"}},
    ]
    model.script(QUESTION, "", tool_calls=calls, times=1, with_tools=True)
    model.script(QUESTION, "Sorry, I could not look.", with_tools=True)
    response = memory.post(chat(w), json={"query": "Hobbies?"})
    assert response.json() == {"content": "Sorry, I could not look."}
    assert tool_messages(model.chat_requests()[1]) == [
        ("call_0", "Error: no tool named 'drop_tables'; the tools are " + ", ".join(ALL_TOOLS)),
        (
            "call_1",
            "Error: the arguments are not JSON: Expecting property name enclosed in double "
            "quotes: line 1 column 2 (char 1)",
        ),
        ("call_2", "Error: the arguments must be a JSON object"),
        ("call_3", "Error: query is required (a non-empty string)"),
        ("call_4", "Error: limit must be a positive integer"),
        ("call_5", "Error: summary_type must be 'short' or 'long'"),
    ]


def test_a_round_runs_at_most_eight_calls_and_cuts_long_results(
    memory: TestClient, model: FakeOpenAI, w: str
) -> None:
    long = "bees " * 2000
    post(memory, w, "/sessions/s1/messages/", {"messages": [{"peer_id": "alice", "content": long}]})
    # ranked by words and meaning: without its vector yet, the long message may rank second
    memory.portal.call(memory.app.state.parley.indexer.catch_up)
    calls = [{"name": "search_messages", "arguments": {"query": "bees bees", "limit": 1}}]
    calls += [{"name": "get_peer_card", "arguments": {}}] * 9
    model.script(QUESTION, "", tool_calls=calls, times=1, with_tools=True)
    model.script(QUESTION, "Bees.", with_tools=True)
    assert memory.post(chat(w), json={"query": "Hobbies?"}).json() == {"content": "Bees."}
    results = tool_messages(model.chat_requests()[1])
    found = "- (" + today() + ", session s1) alice: " + long
    assert results[0] == ("call_0", found[:8000] + "\n... (cut: the result was longer)")
    assert results[1:8] == [(f"call_{i}", "- Beekeeper") for i in range(1, 8)]
    too_many = "Error: at most 8 tool calls run in one round"
    assert results[8:] == [("call_8", too_many), ("call_9", too_many)]


@pytest.mark.parametrize("level", list(ROUNDS))
def test_a_model_that_never_stops_calling_tools_is_cut_off(
    memory: TestClient, model: FakeOpenAI, level: str, w: str
) -> None:
    forever = [{"name": "search_memory", "arguments": {"query": "bees"}}]
    model.script(QUESTION, "", tool_calls=forever, with_tools=True)
    model.script(BOUND_REACHED, "What I found: bees.", with_tools=False)
    response = memory.post(chat(w), json={"query": "Hobbies?", "reasoning_level": level})
    assert response.json() == {"content": "What I found: bees."}
    requests = model.chat_requests()
    assert len(requests) == ROUNDS[level] + 1
    assert all("tools" in r for r in requests[:-1]) and "tools" not in requests[-1]
    last = requests[-1]["messages"]
    assert last[-1] == {"role": "user", "content": BOUND_REACHED}
    # the last call reads what every round found, as plain text
    found = f"Result of search_memory:\n- [explicit] ({today()}, session s1) Alice keeps bees"
    assert sum(found in m["content"] for m in last) == ROUNDS[level]
    tools = [t["function"]["name"] for t in requests[0]["tools"]]
    assert tools == (ALL_TOOLS[:2] if level == "minimal" else ALL_TOOLS)
    assert {r["max_tokens"] for r in requests} == {250 if level == "minimal" else 1024}


@pytest.mark.parametrize("level", list(ROUNDS))
def test_each_level_answers_in_one_call_when_no_tool_is_needed(
    memory: TestClient, model: FakeOpenAI, level: str, w: str
) -> None:
    model.script(QUESTION, "Bees.")
    body = {"query": "Hobbies?", "reasoning_level": level}
    assert memory.post(chat(w), json=body).json() == {"content": "Bees."}
    assert len(model.chat_requests()) == 1
    streamed = memory.post(chat(w), json=body | {"stream": True})
    assert streamed.text == sse("Bees.")
    # streamed, the answer is asked for again without tools, as Honcho streams its last call
    requests = model.chat_requests()[1:]
    assert ["tools" in r for r in requests] == [True, False]
    assert requests[1]["stream"] is True


def test_an_empty_reply_is_nudged_once(memory: TestClient, model: FakeOpenAI, w: str) -> None:
    model.script(QUESTION, "", times=1, with_tools=True)
    model.script("Your last response was empty.", "Bees, really.", with_tools=True)
    assert memory.post(chat(w), json={"query": "Hobbies?"}).json() == {"content": "Bees, really."}
    assert len(model.chat_requests()) == 2


def test_an_empty_answer_is_null_content(memory: TestClient, model: FakeOpenAI, w: str) -> None:
    model.script(QUESTION, "", with_tools=True)
    body = {"query": "Hobbies?", "reasoning_level": "minimal"}  # one round: no nudge
    assert memory.post(chat(w), json=body).json() == {"content": None}


def sse(text: str, size: int = 7) -> str:
    """v3's stream of `text` as the fake model streams it (pieces of `size` characters)."""
    frames = [
        "data: " + json.dumps({"delta": {"content": text[i : i + size]}, "done": False}) + "\n\n"
        for i in range(0, len(text), size)
    ]
    return "".join(frames) + 'data: {"done": true}\n\n'


def test_the_stream_is_framed_as_v3_frames_it(
    memory: TestClient, model: FakeOpenAI, w: str
) -> None:
    answer = "Alice keeps bees — on her roof, naïvely."
    model.script(QUESTION, "", tool_calls=[{"name": "get_peer_card", "arguments": {}}], times=1)
    model.script(QUESTION, answer)
    response = memory.post(chat(w), json={"query": "Hobbies?", "stream": True})
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/event-stream; charset=utf-8"
    assert response.content == (
        b'data: {"delta": {"content": "Alice k"}, "done": false}\n\n'
        b'data: {"delta": {"content": "eeps be"}, "done": false}\n\n'
        b'data: {"delta": {"content": "es \\u2014 on"}, "done": false}\n\n'
        b'data: {"delta": {"content": " her ro"}, "done": false}\n\n'
        b'data: {"delta": {"content": "of, na\\u00ef"}, "done": false}\n\n'
        b'data: {"delta": {"content": "vely."}, "done": false}\n\n'
        b'data: {"done": true}\n\n'
    )
    assert response.text == sse(answer)
    requests = model.chat_requests()
    assert ["tools" in r for r in requests] == [True, True, False]
    assert "Result of get_peer_card:\n- Beekeeper" in requests[2]["messages"][-1]["content"]


def test_a_model_failing_mid_stream_ends_with_an_error_frame(
    memory: TestClient, model: FakeOpenAI, w: str
) -> None:
    model.script(QUESTION, "Bees.", with_tools=True)
    model.script(QUESTION, "Alice keeps bees.", break_stream_after=3, with_tools=False)
    response = memory.post(chat(w), json={"query": "Hobbies?", "stream": True})
    assert response.status_code == 200
    head, tail = response.text.rsplit("data: ", 1)
    assert head == sse("Alice keeps bees.")[: len(head)]
    assert json.loads(tail)["done"] is True
    assert "the model failed" in json.loads(tail)["error"]["message"]


def test_a_model_failing_in_a_tool_round_is_a_502(
    memory: TestClient, model: FakeOpenAI, w: str
) -> None:
    model.script(QUESTION, status=500)
    for stream in (False, True):
        response = memory.post(chat(w), json={"query": "Hobbies?", "stream": stream})
        assert response.status_code == 502
        assert "fake-model" in response.json()["detail"]


def test_a_model_without_tools_answers_as_v2_does(
    own_memory: TestClient, model: FakeOpenAI, w: str
) -> None:
    model.script(
        QUESTION, status=400, error="tools are not supported by this model", with_tools=True
    )
    model.script(QUESTION, "Bees, plainly.", with_tools=False)
    body = {"query": "Hobbies?", "reasoning_level": "max"}
    assert own_memory.post(chat(w), json=body).json() == {"content": "Bees, plainly."}
    assert ["tools" in r for r in model.chat_requests()] == [True, False]
    # the refusal is remembered (by this test's own app): no more requests with tools
    assert own_memory.post(chat(w), json=body).json() == {"content": "Bees, plainly."}
    assert own_memory.post(chat(w), json=body | {"stream": True}).text == sse("Bees, plainly.")
    assert ["tools" in r for r in model.chat_requests()] == [True, False, False, False]
    # the same prompt as /v2's chat
    v2 = post(own_memory, w, "/peers/alice/chat", {"query": "Hobbies?"})
    assert v2 == {"content": "Bees, plainly."}
    requests = model.chat_requests()
    assert requests[-1]["messages"] == requests[1]["messages"]


def test_v2_chat_offers_no_tools(memory: TestClient, model: FakeOpenAI, w: str) -> None:
    model.script(QUESTION, "Bees.")
    assert post(memory, w, "/peers/alice/chat", {"query": "Hobbies?"}) == {"content": "Bees."}
    assert "tools" not in model.chat_requests()[0]
    streamed = memory.post(
        f"/v2/workspaces/{w}/peers/alice/chat", json={"query": "x", "stream": True}
    )
    assert streamed.text.endswith('data: {"delta":{"content":null},"done":true}\n\n')
    assert len(model.chat_requests()) == 2


@pytest.fixture
def no_model(model: FakeOpenAI, database_url: str, tmp_path: Path) -> Iterator[TestClient]:
    settings = make_settings(database_url, tmp_path / "data", **embeddings_only(model))
    with AppClient(create_app(settings)) as client:
        yield client


def test_without_a_model_chat_answers_from_retrieval(
    no_model: TestClient, model: FakeOpenAI, w: str
) -> None:
    store_memory(no_model, w)
    v3 = no_model.post(chat(w), json={"query": "Bees?", "reasoning_level": "max"}).json()
    v2 = post(no_model, w, "/peers/alice/chat", {"query": "Bees?"})
    assert v3 == v2
    assert v3["content"].startswith(f"{NO_MODEL} about alice for this question.")
    assert f"- ({today()}) Alice keeps bees on her roof." in v3["content"]
    streamed = no_model.post(chat(w), json={"query": "Bees?", "stream": True})
    assert streamed.text == sse(v3["content"], size=200)
    assert model.chat_requests() == []


@pytest.fixture
def claude(model: FakeOpenAI, database_url: str, tmp_path: Path) -> Iterator[TestClient]:
    anthropic = {
        "llm_base_url": model.base_url.removesuffix("/v1"),
        "llm_model": "claude-fake",
        "llm_api_key": "k",
        "llm_max_retries": 0,
    }
    settings = make_settings(database_url, tmp_path / "data", **embeddings_only(model), **anthropic)
    with AppClient(create_app(settings)) as client:
        yield client


def test_an_anthropic_model_calls_the_tools_too(
    claude: TestClient, model: FakeOpenAI, w: str
) -> None:
    store_memory(claude, w)
    calls = [
        {"name": "get_peer_card", "arguments": {}},
        {"name": "search_memory", "arguments": {}},
    ]
    model.script(QUESTION, "Let me look.", tool_calls=calls, times=1, with_tools=True)
    model.script(QUESTION, "A beekeeper.", with_tools=True)
    model.script(QUESTION, "A beekeeper, streamed.", with_tools=False)
    assert claude.post(chat(w), json={"query": "Who?"}).json() == {"content": "A beekeeper."}
    first, second = model.chat_requests()
    assert first["tool_choice"] == {"type": "auto"}
    assert [t["name"] for t in first["tools"]] == ALL_TOOLS
    assert second["messages"][1:] == [
        {
            "role": "assistant",
            "content": [
                {"type": "text", "text": "Let me look."},
                {"type": "tool_use", "id": "toolu_0", "name": "get_peer_card", "input": {}},
                {"type": "tool_use", "id": "toolu_1", "name": "search_memory", "input": {}},
            ],
        },
        {
            "role": "user",
            "content": [
                {
                    "type": "tool_result",
                    "tool_use_id": "toolu_0",
                    "content": "- Beekeeper",
                    "is_error": False,
                },
                {
                    "type": "tool_result",
                    "tool_use_id": "toolu_1",
                    "content": "Error: query is required (a non-empty string)",
                    "is_error": True,
                },
            ],
        },
    ]
    streamed = claude.post(
        chat(w), json={"query": "Who?", "stream": True, "reasoning_level": "minimal"}
    )
    assert streamed.text == sse("A beekeeper, streamed.")
    # its one round answered; the answer is asked for again, streamed, over the same prompt
    round_, last = model.chat_requests()[2:]
    assert round_["messages"] == first["messages"] and "tools" in round_
    assert last["stream"] is True and "tools" not in last
    assert last["messages"] == [
        {"role": "user", "content": first["messages"][0]["content"][0]["text"]}
    ]


def test_filters_keep_recall_to_the_allowed_sessions(
    memory: TestClient, model: FakeOpenAI, w: str
) -> None:
    calls = [
        {"name": "search_memory", "arguments": {"query": "bees chess"}},
        {"name": "search_messages", "arguments": {"query": "bees chess"}},
    ]
    model.script(QUESTION, "", tool_calls=calls, times=1, with_tools=True)
    model.script(QUESTION, "Chess.", with_tools=True)
    body = {"query": "bees or chess?", "filters": {"session_id": {"in": ["s2"]}}}
    assert memory.post(chat(w), json=body).json() == {"content": "Chess."}
    first, second = model.chat_requests()
    prompt = first["messages"][-1]["content"]
    assert "Alice plays chess on Sundays." in prompt and "bees" not in prompt.split(QUESTION)[0]
    assert tool_messages(second) == [
        ("call_0", f"- [explicit] ({today()}, session s2) Alice plays chess on Sundays."),
        ("call_1", "- (2024-05-02, session s2) alice: I play chess on Sundays."),
    ]


def detail(response: httpx.Response) -> Any:
    assert response.status_code == 422, response.text
    return response.json()["detail"]


def test_bad_input_is_a_422_in_v3s_shape(memory: TestClient, model: FakeOpenAI, w: str) -> None:
    levels = "'minimal', 'low', 'medium', 'high' or 'max'"
    assert detail(memory.post(chat(w), json={"query": "x", "reasoning_level": "extreme"})) == [
        {
            "type": "literal_error",
            "loc": ["body", "reasoning_level"],
            "msg": f"Input should be {levels}",
            "input": "extreme",
            "ctx": {"expected": levels},
        }
    ]
    assert detail(memory.post(chat(w), json={"query": ""}))[0]["type"] == "string_too_short"
    assert detail(memory.post(chat(w), json={"query": "x", "stream": "often"}))[0]["loc"] == [
        "body",
        "stream",
    ]
    cases = {
        "peer_id": "Unsupported filter key(s) for this endpoint: ['peer_id']. Only 'session_id' is supported.",
        None: "filters must contain 'session_id'",
    }
    assert (
        detail(memory.post(chat(w), json={"query": "x", "filters": {"peer_id": "a"}}))
        == cases["peer_id"]
    )
    assert detail(memory.post(chat(w), json={"query": "x", "filters": {}})) == cases[None]
    for bad in (3, {"nin": ["s1"]}, [""], [1]):
        message = detail(memory.post(chat(w), json={"query": "x", "filters": {"session_id": bad}}))
        assert message.startswith("filters.session_id")
    both = {"query": "x", "session_id": "s1", "filters": {"session_id": ["s2"]}}
    assert (
        detail(memory.post(chat(w), json=both))
        == "session_id must be included in filters.session_id"
    )
    for schema, message in (
        ({"type": "array"}, "root schema must have type 'object'"),
        ({"type": "object", "properties": {"a": {"allOf": []}}}, "a: 'allOf' is not supported"),
        ({"type": "object", "properties": {"a": {"type": "date"}}}, "a: unknown type 'date'"),
        ({"$ref": "#/$defs/A", "$defs": {"A": {"$ref": "#/$defs/A"}}}, "recursive $ref: A -> A"),
    ):
        shaped = {"query": "x", "response_format": schema}
        assert detail(memory.post(chat(w), json=shaped)) == f"Invalid response_format: {message}"
    assert model.chat_requests() == []


SHAPE = {
    "type": "object",
    "properties": {
        "hobbies": {"type": "array", "items": {"type": "string"}},
        "pet": {"anyOf": [{"$ref": "#/$defs/Pet"}, {"type": "null"}], "default": None},
    },
    "required": ["hobbies"],
    "$defs": {"Pet": {"type": "object", "properties": {"name": {"type": "string"}}}},
}


def test_response_format_shapes_the_answer(memory: TestClient, model: FakeOpenAI, w: str) -> None:
    calls = [{"name": "get_peer_card", "arguments": {}}]
    model.script(QUESTION, "", tool_calls=calls, times=1, with_tools=True)
    model.script(QUESTION, "Bees.", with_tools=True)  # the rounds' answer, not shaped
    model.script("matches this JSON schema", '```json\n{"hobbies": ["bees"], "extra": 1,}\n```')
    body = {"query": "Hobbies?", "response_format": SHAPE}
    assert memory.post(chat(w), json=body).json() == {"content": '{"hobbies":["bees"],"pet":null}'}
    *rounds, shaped = model.chat_requests()
    assert len(rounds) == 2 and all("tools" in r for r in rounds) and "tools" not in shaped
    assert shaped["response_format"]["type"] == "json_schema"
    assert "Result of get_peer_card:\n- Beekeeper" in shaped["messages"][-2]["content"]
    # streamed: the text as the model writes it, asked for with the schema
    streamed = memory.post(chat(w), json=body | {"stream": True, "reasoning_level": "minimal"})
    assert streamed.text == sse('```json\n{"hobbies": ["bees"], "extra": 1,}\n```')


def test_response_format_needs_a_model(no_model: TestClient, w: str) -> None:
    store_memory(no_model, w)
    for stream in (False, True):
        body = {"query": "Hobbies?", "response_format": SHAPE, "stream": stream}
        message = detail(no_model.post(chat(w), json=body))
        assert message.startswith("response_format needs a language model: set PARLEY_LLM_MODEL")


def test_nul_is_dropped_from_the_query(memory: TestClient, model: FakeOpenAI, w: str) -> None:
    model.script("Question: Hobbies?", "Bees.")
    assert memory.post(chat(w), json={"query": "Hob\u0000bies?"}).json() == {"content": "Bees."}
    refused = memory.post(f"/v2/workspaces/{w}/peers/alice/chat", json={"query": "Hob\u0000bies?"})
    assert refused.status_code == 422  # /v2 refuses it


def test_an_unknown_target_or_session_is_a_404(
    memory: TestClient, model: FakeOpenAI, w: str
) -> None:
    for body, message in (
        ({"query": "x", "target": "nobody"}, f"Peer nobody not found in workspace {w}"),
        ({"query": "x", "session_id": "nowhere"}, f"Session nowhere not found in workspace {w}"),
    ):
        for stream in (False, True):
            response = memory.post(chat(w), json=body | {"stream": stream})
            assert response.status_code == 404
            assert response.json() == {"detail": message}
    # the asking peer is get-or-created, as in Honcho
    model.script(QUESTION, "Nothing yet.")
    fresh = memory.post(f"/v3/workspaces/{w}/peers/newcomer/chat", json={"query": "x"})
    assert fresh.json() == {"content": "Nothing yet."}
    assert memory.get(f"/v2/workspaces/{w}/peers/newcomer/card").status_code == 200


SDK = r"""
import json, sys
from honcho import Honcho
from pydantic import BaseModel

client = Honcho(base_url=sys.argv[1], workspace_id="w", max_retries=0)
alice = client.peer("alice")
session = client.session("s1")
session.add_peers([alice])
session.add_messages([alice.message("I keep bees on my roof.")])
answer = alice.chat("Hobbies?", reasoning_level="high")
streamed = list(alice.chat_stream("Hobbies?", session=session, reasoning_level="minimal"))
scoped = alice.chat("Hobbies?", sessions=["s1"])

class Hobbies(BaseModel):
    hobbies: list[str]

shaped = alice.chat("Hobbies?", response_format=Hobbies)
print(json.dumps({
    "answer": answer, "streamed": streamed, "scoped": scoped, "shaped": shaped.model_dump()
}))
"""


@pytest.fixture
def served_with_model(tmp_path: Path, database_url: str, model: FakeOpenAI) -> Iterator[str]:
    with serve(
        tmp_path,
        PARLEY_DATABASE_URL=database_url,
        PARLEY_LLM_BASE_URL=model.base_url,
        PARLEY_LLM_MODEL="fake-model",
        PARLEY_LLM_MAX_RETRIES="0",
        PARLEY_WORKER_EMBEDDED="false",  # no reasoning calls beside the chats
    ) as base_url:
        yield base_url


def test_honcho_ai_2_7_chats_and_streams(served_with_model: str, model: FakeOpenAI) -> None:
    search = [{"name": "search_messages", "arguments": {"query": "bees"}}]
    model.script("matches this JSON schema", '{"hobbies": ["bees"]}', with_tools=False)
    model.script(QUESTION, "", tool_calls=search, times=1, with_tools=True)
    model.script(QUESTION, "She keeps bees.")
    assert run_honcho_v3(SDK, served_with_model) == {
        "answer": "She keeps bees.",
        "streamed": ["She kee", "ps bees", "."],
        "scoped": "She keeps bees.",
        "shaped": {"hobbies": ["bees"]},
    }
    bodies = [r for r in model.chat_requests()]
    assert [("tools" in r, bool(r.get("stream"))) for r in bodies] == [
        (True, False),  # high: a round with tools that searched the messages
        (True, False),  # ... then it answered
        (True, False),  # minimal, streamed: its one round
        (False, True),  # ... and the answer, streamed
        (True, False),  # low, scoped to s1
        (True, False),  # low, shaped: its round
        (False, False),  # ... and the answer in the schema's shape
    ]
    assert tool_messages(bodies[1]) == [
        ("call_0", "- (" + today() + ", session s1) alice: I keep bees on my roof.")
    ]
