"""The data agent with no model configured: schema questions answered from the catalog, SQL run
through the guard, anything else told that a model is needed."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from fake_openai import FakeOpenAI, fake_openai
from parley.agent.discovery import MODEL_NEEDED
from test_agent import chat, make_project


@pytest.fixture
def model() -> Iterator[FakeOpenAI]:
    with fake_openai(dims=256) as server:  # embeddings only
        yield server


@pytest.fixture
def settings_overrides(model: FakeOpenAI, tmp_path: Path) -> dict[str, Any]:
    return {
        "auth_enabled": True,
        "data_file_roots": {"*": [tmp_path]},
        "embedding_base_url": model.base_url,
        "embedding_model": "bow",
        "embedding_dimensions": 256,
    }


@pytest.fixture
def shop(client: TestClient, tmp_path: Path) -> dict[str, str]:
    return make_project(client, tmp_path)


def answer(result: dict[str, Any]) -> str:
    return result["messages"][1]["kwargs"]["content"]


def test_schema_questions_are_answered_from_the_catalog(
    client: TestClient, shop: dict[str, str]
) -> None:
    result = chat(client, shop, message="Which tables are there?")["result"]
    assert result["userIntentReasoning"] == "DB_SCHEMA_DISCOVERY"
    assert answer(result) == (
        "Catalog shop (sqlite), 2 tables:\n- customers (128 rows)\n- orders (400 rows)"
    )
    result = chat(client, shop, message="Describe the orders table")["result"]
    assert answer(result) == (
        "- orders (400 rows)\n  columns:\n  - id (integer)\n  - customer_id (integer)\n"
        "  - amount (real)\n  - ordered_on (text)\n  - channel (text)"
    )


def test_sql_is_guarded_and_run(client: TestClient, shop: dict[str, str]) -> None:
    result = chat(
        client, shop, message="SELECT channel, COUNT(*) AS n FROM orders GROUP BY 1 ORDER BY 1"
    )["result"]
    assert result["userIntentReasoning"] == "TEXT_TO_SQL"
    assert result["currentQueryResult"]["rows"] == [["store", 200], ["web", 200]]
    assert answer(result) == (
        "The query returned 2 rows.\n\n| channel | n |\n|---|---|\n| store | 200 |\n| web | 200 |"
    )
    refused = chat(client, shop, message="DROP TABLE orders")["result"]
    assert refused["invalidQuery"] is True
    assert (
        refused["currentQueryError"]
        == "only SELECT queries may run; this statement starts with DROP"
    )
    assert len(refused["attempts"]) == 1
    checked = chat(client, shop, message="select max(amount) as m from orders", noExecute=True)
    assert checked["result"]["currentGeneratedQuery"] == (
        'SELECT MAX(amount) AS m FROM "main"."orders" LIMIT 10000'
    )
    assert checked["result"]["currentQueryResult"] is None


def test_other_questions_say_a_model_is_needed(client: TestClient, shop: dict[str, str]) -> None:
    result = chat(client, shop, message="How did sales do last year?")["result"]
    assert result["userIntentReasoning"] == "WAITING_FOR_INPUT"
    assert answer(result) == MODEL_NEEDED
