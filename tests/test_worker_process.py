"""`parley worker` as a real process, killed with SIGKILL in the middle of a model call: its
lease runs out, a second worker redoes the unit, and the facts are stored exactly once."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from conftest import PARLEY, parley_env, wait_for_reasoning
from fake_openai import FakeOpenAI, fake_openai

W = "w"
EXTRACT = "reveal about the peer `alice`"


@pytest.fixture
def model() -> Iterator[FakeOpenAI]:
    with fake_openai(dims=64) as server:
        yield server


@pytest.fixture
def settings_overrides(model: FakeOpenAI) -> dict[str, Any]:
    return {
        "embedding_base_url": model.base_url,
        "embedding_model": "bow",
        "embedding_dimensions": 64,
        "llm_base_url": model.base_url,
        "llm_model": "fake-model",
    }


def start_worker(database_url: str, data_dir: Path, model: FakeOpenAI, log: Path) -> Any:
    env = parley_env(
        data_dir,
        PARLEY_DATABASE_URL=database_url,
        PARLEY_EMBEDDING_BASE_URL=model.base_url,
        PARLEY_EMBEDDING_MODEL="bow",
        PARLEY_EMBEDDING_DIMENSIONS="64",
        PARLEY_LLM_BASE_URL=model.base_url,
        PARLEY_LLM_MODEL="fake-model",
        PARLEY_LLM_MAX_RETRIES="0",
        PARLEY_WORKER_LEASE_S="2",
        PARLEY_WORKER_POLL_S="0.1",
    )
    with log.open("ab") as sink:
        return subprocess.Popen([*PARLEY, "worker"], env=env, stdout=sink, stderr=subprocess.STDOUT)


def extraction_calls(model: FakeOpenAI) -> int:
    return sum(EXTRACT in p for p in model.prompts())


def wait_until(condition: Any, what: str, log: Path, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}:\n{log.read_text()}")
        time.sleep(0.05)


def test_a_killed_worker_loses_nothing_and_doubles_nothing(
    client: TestClient, model: FakeOpenAI, database_url: str, tmp_path: Path
) -> None:
    fact = {"explicit": [{"content": "Alice keeps bees."}], "deductive": []}
    model.script(EXTRACT, json.dumps(fact), delay_s=30, times=1)  # the call it dies in
    model.script(EXTRACT, json.dumps(fact))
    model.script("You keep the peer card", json.dumps({"card": ["Beekeeper"]}))
    assert client.post("/v2/workspaces", json={"id": W}).status_code == 200
    response = client.post(
        f"/v2/workspaces/{W}/sessions/s1/messages/",
        json={"messages": [{"peer_id": "alice", "content": "I keep bees."}]},
    )
    assert response.status_code == 200
    log = tmp_path / "worker.log"
    data_dir = tmp_path / "data"  # the same server secret as the app's

    first = start_worker(database_url, data_dir, model, log)
    try:
        wait_until(lambda: extraction_calls(model) == 1, "the first model call", log)
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
    finally:
        first.kill()
    status = client.get(f"/v2/workspaces/{W}/deriver/status").json()
    assert (status["in_progress_work_units"], status["completed_work_units"]) == (1, 0)

    second = start_worker(database_url, data_dir, model, log)
    try:
        status = wait_for_reasoning(client, W, timeout_s=60)
        second.send_signal(signal.SIGTERM)
        assert second.wait(timeout=20) == 0, log.read_text()
    finally:
        second.kill()
    assert (status["completed_work_units"], status["failed_work_units"]) == (1, 0)
    assert extraction_calls(model) == 2
    listed = client.post(f"/v2/workspaces/{W}/observations/list", json={}).json()["items"]
    assert [(o["content"], o["times_derived"]) for o in listed] == [("Alice keeps bees.", 1)]
    card = client.get(f"/v2/workspaces/{W}/peers/alice/card").json()
    assert card == {"peer_card": ["Beekeeper"]}
