"""GET /metrics on both backends: HTTP requests by route template with latency histograms, queue
depth and the embedding backlog read from the database, model calls and tokens by role, webhook
deliveries by outcome; off when disabled, and behind an admin key when auth is on. The output
is parsed with prometheus_client's own parser."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from conftest import TEST_SECRET, reasoning_settings, wait_for_queue, wait_for_reasoning
from fake_openai import FakeOpenAI, _tokens, fake_openai, prompt_text
from helpers import ok
from parley.auth.keys import ADMIN, Principal, create_key
from parley.memory.webhook_delivery import WEBHOOK
from test_webhooks import WORKER, Receiver

W = "w"
ANSWER = "Question:"  # every dialectic prompt ends with the question
EXTRACT = "extract what they reveal"
Labels = frozenset[tuple[str, str]]


@pytest.fixture
def model() -> Iterator[FakeOpenAI]:
    with fake_openai(dims=64) as server:
        yield server


@pytest.fixture
def settings_overrides(request: pytest.FixtureRequest, model: FakeOpenAI) -> dict[str, Any]:
    """The fake model server for embeddings and chat; a test adds its own with `configured`."""
    base = {
        "embedding_base_url": model.base_url,
        "embedding_model": "bow",
        "embedding_dimensions": 64,
        "llm_base_url": model.base_url,
        "llm_model": "fake-model",
        "llm_max_retries": 0,
        "webhook_allow_private_hosts": True,
    }
    return base | getattr(request, "param", {})


def configured(**overrides: Any) -> pytest.MarkDecorator:
    return pytest.mark.parametrize("settings_overrides", [overrides], indirect=True)


# --- helpers -------------------------------------------------------------------------------


def scrape(client: TestClient, **headers: str) -> dict[str, dict[Labels, float]]:
    """sample name -> {labels: value}, parsed by prometheus_client."""
    response = client.get("/metrics", headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    samples: dict[str, dict[Labels, float]] = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples.setdefault(sample.name, {})[frozenset(sample.labels.items())] = sample.value
    return samples


def labels(**values: str) -> Labels:
    return frozenset(values.items())


def requests_by(endpoint: str, method: str, status: int) -> Labels:
    return labels(endpoint=endpoint, method=method, status_code=str(status))


def say(client: TestClient, session_id: str, *texts: str) -> None:
    body = {"messages": [{"peer_id": "alice", "content": text} for text in texts]}
    ok(client.post(f"/v2/workspaces/{W}/sessions/{session_id}/messages/", json=body))


def queue(samples: dict[str, dict[Labels, float]]) -> dict[tuple[str, str], float]:
    return {
        (dict(key)["task_type"], dict(key)["status"]): value
        for key, value in samples["parley_queue_items"].items()
    }


def idle_queue(**counts: float) -> dict[tuple[str, str], float]:
    """Every task type and open status at 0, but `counts` ("derive/pending"=3)."""
    zero = {
        (task_type, status): 0.0
        for task_type in (
            "card",
            "catalog_refresh",
            "data_export",
            "derive",
            "dream",
            "refresh_callback",
            "summary",
            "webhook",
        )
        for status in ("pending", "in_progress", "failed")
    }
    return zero | {tuple(key.split("/")): value for key, value in counts.items()}  # type: ignore[misc]


# --- HTTP requests -------------------------------------------------------------------------


def test_requests_are_counted_by_route_template_method_and_status(client: TestClient) -> None:
    ok(client.post("/v2/workspaces", json={"id": W}))
    ok(client.post("/v2/workspaces", json={"id": "other"}))
    ok(client.post(f"/v2/workspaces/{W}/peers", json={"id": "alice"}))
    ok(client.post("/v2/workspaces/other/peers", json={"id": "bob"}))
    ok(client.post(f"/v2/workspaces/{W}/peers", json={"id": "alice"}))
    bad = client.post(f"/v2/workspaces/{W}/peers", json={"id": "not ok!"})
    assert bad.status_code == 422
    gone = client.delete("/v2/workspaces/nobody")
    assert gone.status_code == 404
    assert client.get("/no/such/path/1").status_code == 404
    assert client.delete("/no/such/path/2").status_code == 404
    say(client, "s1", "hello")  # the route's own path ends with a slash; the label does not

    samples = scrape(client)
    peers = "/v2/workspaces/{workspace_id}/peers"
    assert samples["api_requests_total"] == {
        requests_by("/v2/workspaces", "POST", 200): 2,
        requests_by(peers, "POST", 200): 3,
        requests_by(peers, "POST", 422): 1,
        requests_by("/v2/workspaces/{workspace_id}", "DELETE", 404): 1,
        requests_by("unknown", "GET", 404): 1,
        requests_by("unknown", "DELETE", 404): 1,
        requests_by("/v2/workspaces/{workspace_id}/sessions/{session_id}/messages", "POST", 200): 1,
    }
    # the histogram has one series per counter series, with every request in its +Inf bucket
    counts = samples["api_request_duration_seconds_count"]
    assert counts == samples["api_requests_total"]
    buckets = samples["api_request_duration_seconds_bucket"]
    for series, count in counts.items():
        ladder = sorted(
            ((float(dict(key)["le"]), value) for key, value in buckets.items() if key > series),
            key=lambda pair: pair[0],
        )
        assert [le for le, _ in ladder][-3:] == [30.0, 60.0, float("inf")]
        assert ladder[-1][1] == count
        assert all(a <= b for (_, a), (_, b) in zip(ladder, ladder[1:], strict=False))
        assert ladder[-2][1] == count  # nothing here took a minute
        assert samples["api_request_duration_seconds_sum"][series] > 0

    # scrapes are not counted, and nothing else happened in between
    again = scrape(client)
    assert again["api_requests_total"] == samples["api_requests_total"]


def test_the_body_limit_still_answers_413_and_is_counted(client: TestClient) -> None:
    ok(client.post("/v2/workspaces", json={"id": W}))
    too_big = b"x" * (client.app.state.parley.settings.max_body_bytes + 1)
    response = client.post(
        f"/v2/workspaces/{W}/peers", content=too_big, headers={"content-type": "application/json"}
    )
    assert response.status_code == 413
    assert response.json() == {"detail": "request body is larger than 5242880 bytes"}
    # refused by its declared size before routing: no route template to give it
    assert scrape(client)["api_requests_total"] == {
        requests_by("/v2/workspaces", "POST", 200): 1,
        requests_by("unknown", "POST", 413): 1,
    }


# --- queue depth and the embedding backlog -------------------------------------------------


def test_queue_depth_counts_the_pending_work_by_task_type(client: TestClient) -> None:
    """No worker runs in this app (worker_embedded is off in tests): the work stays pending."""
    assert queue(scrape(client)) == idle_queue()
    ok(client.post("/v2/workspaces", json={"id": W}))
    say(client, "s1", "one", "two", "three")
    say(client, "s2", "four")
    assert queue(scrape(client)) == idle_queue(**{"derive/pending": 4})


@configured(**reasoning_settings(worker_max_attempts=1))
def test_queue_depth_counts_failed_work_and_model_errors(
    client: TestClient, model: FakeOpenAI
) -> None:
    model.script(EXTRACT, status=500)
    ok(client.post("/v2/workspaces", json={"id": W}))
    say(client, "s1", "I like tea.")
    status = wait_for_reasoning(client, W)
    assert (status["failed_work_units"], status["completed_work_units"]) == (1, 0)

    samples = scrape(client)
    assert queue(samples) == idle_queue(**{"derive/failed": 1})
    assert len(model.chat_requests()) == 1
    assert samples["parley_model_calls_total"] == {
        labels(role="deriver", model="fake-model", outcome="error"): 1
    }
    assert "parley_model_tokens_total" not in samples  # a failed call reported none


def test_the_embedding_backlog_is_the_messages_not_embedded_yet(
    client: TestClient, model: FakeOpenAI
) -> None:
    model.embeddings_reply = lambda body: (500, {"error": {"message": "down for the test"}})
    ok(client.post("/v2/workspaces", json={"id": W}))
    say(client, "s1", "one", "two", "three")
    say(client, "s2", "four")
    assert scrape(client)["parley_embedding_backlog_messages"] == {frozenset(): 4}

    model.embeddings_reply = None  # the endpoint is back
    client.portal.call(client.app.state.parley.indexer.catch_up)
    assert scrape(client)["parley_embedding_backlog_messages"] == {frozenset(): 0}
    model.embeddings_reply = lambda body: (500, {"error": {"message": "down again"}})
    say(client, "s1", "five")  # above the watermark the indexer reached: the tail it counts
    assert scrape(client)["parley_embedding_backlog_messages"] == {frozenset(): 1}


# --- model calls and tokens ----------------------------------------------------------------


def test_model_calls_and_tokens_are_counted_by_role_streams_included(
    client: TestClient, model: FakeOpenAI
) -> None:
    ok(client.post("/v2/workspaces", json={"id": W}))
    ok(client.post(f"/v2/workspaces/{W}/sessions", json={"id": "s1", "peers": {"alice": {}}}))
    fact = {"content": "Alice keeps bees.", "observer_id": "alice", "observed_id": "alice"}
    ok(
        client.post(
            f"/v2/workspaces/{W}/observations", json={"observations": [fact | {"session_id": "s1"}]}
        )
    )
    model.script(ANSWER, "She keeps bees.")
    chat = f"/v2/workspaces/{W}/peers/alice/chat"
    assert ok(client.post(chat, json={"query": "Hobbies?"}))["content"] == "She keeps bees."
    streamed = client.post(chat, json={"query": "Any pets?", "stream": True})
    assert streamed.status_code == 200
    assert streamed.headers["content-type"].startswith("text/event-stream")
    frames = [json.loads(line[6:]) for line in streamed.text.split("\n\n")[:-1]]
    assert frames[-1] == {"delta": {"content": None}, "done": True}
    assert "".join(f["delta"]["content"] for f in frames[:-1]) == "She keeps bees."

    bodies = model.chat_requests()
    assert len(bodies) == 2
    tokens_in = sum(_tokens(prompt_text(body)) for body in bodies)
    tokens_out = 2 * _tokens("She keeps bees.")
    samples = scrape(client)
    assert samples["parley_model_calls_total"] == {
        labels(role="dialectic", model="fake-model", outcome="ok"): 2
    }
    assert samples["parley_model_tokens_total"] == {
        labels(role="dialectic", model="fake-model", token_type="input"): tokens_in,
        labels(role="dialectic", model="fake-model", token_type="output"): tokens_out,
    }
    # the same counts as the usage table, which the same ChatModel fills
    usage = ok(client.get(f"/v2/workspaces/{W}/usage"))["items"]
    assert [(u["role"], u["calls"], u["input_tokens"], u["output_tokens"]) for u in usage] == [
        ("dialectic", 2, tokens_in, tokens_out)
    ]
    # the streamed request was counted once, when its stream ended
    endpoint = "/v2/workspaces/{workspace_id}/peers/{peer_id}/chat"
    assert samples["api_requests_total"][requests_by(endpoint, "POST", 200)] == 2


# --- webhook deliveries --------------------------------------------------------------------


@configured(webhook_max_attempts=2, **WORKER)
def test_webhook_deliveries_are_counted_by_outcome(client: TestClient) -> None:
    fine, gone, broken = Receiver(), Receiver([404]), Receiver([500, 500])
    try:
        ok(client.post("/v2/workspaces", json={"id": W}))
        for receiver in (fine, gone, broken):
            ok(client.post(f"/v2/workspaces/{W}/webhooks", json={"url": receiver.url}))
        assert ok(client.get(f"/v2/workspaces/{W}/webhooks/test"))["endpoints"] == 3
        wait_for_queue(client, WEBHOOK)
        assert (len(fine.requests), len(gone.requests), len(broken.requests)) == (1, 1, 2)
    finally:
        for receiver in (fine, gone, broken):
            receiver.stop()
    assert scrape(client)["parley_webhook_deliveries_total"] == {
        labels(outcome="delivered"): 1,
        labels(outcome="failed"): 2,
    }


# --- off, and behind auth ------------------------------------------------------------------


@configured(metrics_enabled=False)
def test_disabled_metrics_are_404_and_not_routed(client: TestClient) -> None:
    response = client.get("/metrics")
    assert response.status_code == 404
    assert response.json() == {"detail": "Not Found"}
    assert "/metrics" not in client.get("/openapi.json").json()["paths"]


def bearer(principal: Principal) -> dict[str, str]:
    return {"Authorization": f"Bearer {create_key(principal, secret=TEST_SECRET)}"}


@configured(auth_enabled=True)
def test_with_auth_on_metrics_need_an_admin_key(client: TestClient) -> None:
    missing = client.get("/metrics")
    assert missing.status_code == 401
    assert missing.json() == {"detail": "missing API key: send 'Authorization: Bearer <key>'"}
    narrow = client.get("/metrics", headers=bearer(Principal(workspace=W)))
    assert narrow.status_code == 403
    assert narrow.json() == {
        "detail": "this route needs an admin key; the request used a key for workspace w"
    }
    samples = scrape(client, **bearer(ADMIN))
    assert "api_requests_total" not in samples  # scrapes, refused or not, are not counted


@configured(auth_enabled=True, metrics_public=True)
def test_public_metrics_need_no_key_even_with_auth_on(client: TestClient) -> None:
    assert client.post("/v2/workspaces/list").status_code == 401
    assert client.get("/health").status_code == 200
    samples = scrape(client, Authorization="Bearer not-a-key")
    assert samples["api_requests_total"] == {
        requests_by("/v2/workspaces/list", "POST", 401): 1,
        requests_by("/health", "GET", 200): 1,
    }
