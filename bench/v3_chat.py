"""/v3 peer chat per reasoning level, and /v2 vs /v3 for the same chat, with an instant model.

The fake model server (tests/fake_openai.py) runs in its own process and answers at once: a
query holding TOOLS asks, whenever it is offered tools, for two of them (search_memory and
search_messages), so the chat runs to its level's bound; any other query is answered in its
first call. The app runs in this process (Starlette's TestClient, lifespan and all) over a
fresh SQLite file with the bundled embedder; a small workspace is stored first (messages,
observations, a peer card). For each case it reports, per chat: wall time, this process's CPU
time (the app and its client; the model's CPU is counted apart) and model calls (the
dialectic's usage counter).

Usage:
    python bench/v3_chat.py [--chats 30] [--messages 200] [--observations 200]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # the fake model server lives with the tests

from search import cpu_seconds  # noqa: E402

from parley.app import create_app  # noqa: E402
from parley.config import Settings  # noqa: E402

W = "bench"
LEVELS = ("minimal", "low", "medium", "high", "max")
FAKE = r"""
import sys, threading
sys.path.insert(0, sys.argv[1])
from fake_openai import fake_openai
with fake_openai() as served:
    calls = [
        {"name": "search_memory", "arguments": {"query": "bees"}},
        {"name": "search_messages", "arguments": {"query": "bees"}},
    ]
    served.script("TOOLS", "", tool_calls=calls, with_tools=True)
    served.script("", "An instant answer.")
    print(served.base_url, flush=True)
    threading.Event().wait()
"""
SENTENCES = (
    "I keep bees on my roof and sell the honey at the market.",
    "On Sundays I play chess in the park with my neighbour.",
    "My sister lives in Lisbon and works as an architect.",
    "I am learning Portuguese before the trip in spring.",
    "The new job starts in March; the commute is long.",
)


def start_fake_model() -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen(
        [sys.executable, "-c", FAKE, str(ROOT / "tests")], stdout=subprocess.PIPE, text=True
    )
    assert process.stdout is not None
    return process, process.stdout.readline().strip()


def ok(response: Any) -> Any:
    assert response.status_code in (200, 201), response.text
    return response.json()


def store(client: TestClient, messages: int, observations: int) -> None:
    ok(client.post("/v2/workspaces", json={"id": W}))
    sessions = [f"s{i}" for i in range(4)]
    for session in sessions:
        ok(
            client.post(
                f"/v2/workspaces/{W}/sessions", json={"id": session, "peers": {"alice": {}}}
            )
        )
    for first in range(0, messages, 50):
        batch = [
            {"peer_id": "alice", "content": f"{SENTENCES[i % len(SENTENCES)]} ({i})"}
            for i in range(first, min(messages, first + 50))
        ]
        session = sessions[(first // 50) % len(sessions)]
        ok(
            client.post(
                f"/v2/workspaces/{W}/sessions/{session}/messages/", json={"messages": batch}
            )
        )
    for first in range(0, observations, 50):
        batch = [
            {
                "content": f"Alice said: {SENTENCES[i % len(SENTENCES)]} ({i})",
                "observer_id": "alice",
                "observed_id": "alice",
                "session_id": sessions[i % len(sessions)],
            }
            for i in range(first, min(observations, first + 50))
        ]
        ok(client.post(f"/v2/workspaces/{W}/observations", json={"observations": batch}))
    ok(client.put(f"/v2/workspaces/{W}/peers/alice/card", json={"peer_card": ["Beekeeper"]}))


def model_calls(client: TestClient) -> int:
    items = ok(client.get(f"/v2/workspaces/{W}/usage"))["items"]
    return sum(u["calls"] for u in items if u["role"] == "dialectic")


def measure(
    client: TestClient, model_pid: int, path: str, body: dict[str, Any], chats: int
) -> tuple[float, float, float, float]:
    """Per chat: wall ms, this process's CPU ms, the model's CPU ms, model calls."""
    for _ in range(3):  # warm up
        assert client.post(path, json=body).status_code == 200
    calls = model_calls(client)
    wall, cpu, model_cpu = time.perf_counter(), time.process_time(), cpu_seconds(model_pid)
    for _ in range(chats):
        response = client.post(path, json=body)
        assert response.status_code == 200, response.text
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    model_cpu = cpu_seconds(model_pid) - model_cpu
    per_chat = (model_calls(client) - calls) / chats
    return 1000 * wall / chats, 1000 * cpu / chats, 1000 * model_cpu / chats, per_chat


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--chats", type=int, default=30)
    parser.add_argument("--messages", type=int, default=200)
    parser.add_argument("--observations", type=int, default=200)
    args = parser.parse_args()
    model, base_url = start_fake_model()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            settings = Settings(
                data_dir=Path(tmp),
                llm_base_url=base_url,
                llm_model="fake-model",
                llm_max_retries=0,
                worker_embedded=False,
            )
            with TestClient(create_app(settings)) as client:
                store(client, args.messages, args.observations)
                v2 = f"/v2/workspaces/{W}/peers/alice/chat"
                v3 = f"/v3/workspaces/{W}/peers/alice/chat"
                cases: list[tuple[str, str, dict[str, Any]]] = [
                    ("/v2 chat", v2, {"query": "What does Alice do on Sundays?"}),
                ]
                for level in LEVELS:
                    body = {"query": "What does Alice do on Sundays?", "reasoning_level": level}
                    cases.append((f"/v3 {level}, answers at once", v3, body))
                for level in LEVELS:
                    body = {"query": "TOOLS: what does Alice do?", "reasoning_level": level}
                    cases.append((f"/v3 {level}, tools to the bound", v3, body))
                streamed = {"query": "What does Alice do on Sundays?", "stream": True}
                cases.append(("/v2 chat, streamed", v2, streamed))
                cases.append(("/v3 low, streamed", v3, streamed | {"reasoning_level": "low"}))
                print(
                    f"{args.messages} messages, {args.observations} observations, SQLite, "
                    f"{args.chats} chats per case; load average "
                    f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}"
                )
                print(f"{'case':34} {'wall ms':>8} {'CPU ms':>8} {'model CPU':>10} {'calls':>6}")
                for name, path, body in cases:
                    wall, cpu, model_cpu, calls = measure(client, model.pid, path, body, args.chats)
                    print(f"{name:34} {wall:8.1f} {cpu:8.1f} {model_cpu:10.1f} {calls:6.1f}")
    finally:
        model.terminate()
        model.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
