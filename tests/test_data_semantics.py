"""Sample questions and generated table descriptions (/api/v1/metadata/{projectId}/questions/
generate and /semantics/...): from the catalog alone without a model, and through the agent
role's model (the local fake OpenAI server, over real HTTP) with one configured."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from conftest import AppClient, make_settings
from data_sources import make_sqlite
from fake_openai import FakeOpenAI, fake_openai
from helpers import PARTNER, ok, project_with_catalog
from parley.app import create_app

DESCRIBED = {
    "tableDescription": "One row per order a user placed.",
    "columns": [
        {"columnName": "id", "columnDescription": "Order number."},
        {"columnName": "amount", "columnDescription": "Order total in euros."},
        {"columnName": "status", "columnDescription": "paid or open."},
        {"columnName": "no_such_column", "columnDescription": "Ignored."},
    ],
}


@pytest.fixture
def model() -> Iterator[FakeOpenAI]:
    with fake_openai() as server:
        yield server


@pytest.fixture
def settings_overrides(tmp_path: Path) -> dict[str, Any]:
    (tmp_path / "sources").mkdir()
    return {"auth_enabled": True, "data_file_roots": {"*": [tmp_path / "sources"]}}


@pytest.fixture
def with_model(
    database_url: str, tmp_path: Path, model: FakeOpenAI, settings_overrides: dict[str, Any]
) -> Iterator[TestClient]:
    settings = make_settings(
        database_url,
        tmp_path / "data",
        **settings_overrides,
        agent_base_url=model.base_url,
        agent_model="fake-agent",
    )
    with AppClient(create_app(settings), raise_server_exceptions=False) as client:
        yield client


def descriptions(client: TestClient, pid: str, table: str) -> dict[str, Any]:
    found = ok(client.get(f"/api/v1/metadata/{pid}", headers=PARTNER))
    [catalog] = found["catalogs"]
    [schema] = catalog["schemas"]
    [entry] = [t for t in schema["tables"] if t["tableName"] == table]
    return {
        "table": entry["tableDescription"],
        "columns": {c["columnName"]: c["columnDescription"] for c in entry["columns"]},
    }


# --- without a model --------------------------------------------------------------------------


def test_questions_without_a_model_come_from_the_catalog(
    client: TestClient, tmp_path: Path
) -> None:
    pid = project_with_catalog(client, make_sqlite(tmp_path / "sources" / "shop.db")).id
    found = ok(client.get(f"/api/v1/metadata/{pid}/questions/generate", headers=PARTNER))
    assert found == {
        "questions": [
            "How many orders are there per status?",
            "How many users are there per region?",
            "What is the total amount of orders by status?",
            "How many users have region apac?",
            "How many orders have status open?",
        ]
    }
    more = ok(
        client.get(
            f"/api/v1/metadata/{pid}/questions/generate", params={"limit": 20}, headers=PARTNER
        )
    )
    assert more["questions"][5:] == ["Which users have the most orders?"]


def test_questions_of_a_project_without_tables_are_none(client: TestClient) -> None:
    pid = ok(client.post("/api/v1/projects", json={"name": "Empty"}, headers=PARTNER))["id"]
    found = ok(client.get(f"/api/v1/metadata/{pid}/questions/generate", headers=PARTNER))
    assert found == {"questions": []}


def test_descriptions_need_a_model(client: TestClient, tmp_path: Path) -> None:
    made = project_with_catalog(client, make_sqlite(tmp_path / "sources" / "shop.db"))
    pid, cid = made.id, made.catalog_id
    response = client.post(
        f"/api/v1/metadata/{pid}/semantics/{cid}/main/orders", json={}, headers=PARTNER
    )
    assert response.status_code == 400, response.text
    assert response.json() == {
        "errorCode": "MODEL_NOT_CONFIGURED",
        "message": "generating descriptions needs a language model: set PARLEY_AGENT_MODEL "
        "(or PARLEY_LLM_MODEL, with PARLEY_LLM_BASE_URL for a local server) and restart",
    }
    assert descriptions(client, pid, "orders")["table"] is None


# --- with the agent's model -------------------------------------------------------------------


def test_descriptions_are_written_by_the_model_and_stored(
    with_model: TestClient, model: FakeOpenAI, tmp_path: Path
) -> None:
    made = project_with_catalog(with_model, make_sqlite(tmp_path / "sources" / "shop.db"))
    pid, cid = made.id, made.catalog_id
    model.script("Describe this table", json.dumps(DESCRIBED))
    answer = ok(
        with_model.post(
            f"/api/v1/metadata/{pid}/semantics/{cid}/main/orders",
            json={"threadId": "t1", "initialPrompt": "Amounts are in euros.", "limit": 2},
            headers=PARTNER,
        )
    )
    [prompt] = model.prompts()
    assert "Table shop.main.orders (200 rows)" in prompt
    assert "- amount (real, not null); sample values: 1.0, 2.0" in prompt
    assert "- status (text); values: open, paid" in prompt
    assert "Relation: user_id -> main.users.id" in prompt
    assert "Instructions from the user: Amounts are in euros." in prompt
    assert model.chat_requests()[0]["model"] == "fake-agent"
    stored = {
        "table": "One row per order a user placed.",
        "columns": {
            "id": "Order number.",
            "user_id": None,
            "amount": "Order total in euros.",
            "status": "paid or open.",
        },
    }
    assert descriptions(with_model, pid, "orders") == stored
    assert answer["tableDescription"] == stored["table"]
    assert {c["columnName"]: c["columnDescription"] for c in answer["columns"]} == (
        stored["columns"]
    )
    # the tokens count towards the project's (workspace's) usage
    usage = ok(with_model.get(f"/v2/workspaces/{pid}/usage", headers=PARTNER))
    assert [(u["role"], u["model"], u["calls"]) for u in usage["items"]] == [
        ("agent", "fake-agent", 1)
    ]


def test_a_broken_model_reply_is_a_clear_error_and_stores_nothing(
    with_model: TestClient, model: FakeOpenAI, tmp_path: Path
) -> None:
    made = project_with_catalog(with_model, make_sqlite(tmp_path / "sources" / "shop.db"))
    pid, cid = made.id, made.catalog_id
    model.script("Describe this table", "Sure! The orders table holds orders.")
    response = with_model.post(
        f"/api/v1/metadata/{pid}/semantics/{cid}/main/orders", json={}, headers=PARTNER
    )
    assert response.status_code == 502, response.text
    assert response.json() == {
        "errorCode": "MODEL_ERROR",
        "message": "the data agent's model failed: fake-agent gave no valid TableSemantics in "
        "3 tries: the reply holds no JSON object",
    }
    assert len(model.prompts()) == 3  # asked again with the problem, then gave up
    assert descriptions(with_model, pid, "orders") == {
        "table": None,
        "columns": {"id": None, "user_id": None, "amount": None, "status": None},
    }


def test_unknown_tables_are_404_before_any_model_call(
    with_model: TestClient, model: FakeOpenAI, tmp_path: Path
) -> None:
    made = project_with_catalog(with_model, make_sqlite(tmp_path / "sources" / "shop.db"))
    pid, cid = made.id, made.catalog_id
    response = with_model.post(
        f"/api/v1/metadata/{pid}/semantics/{cid}/main/nope", json={}, headers=PARTNER
    )
    assert response.status_code == 404, response.text
    assert response.json() == {
        "errorCode": "NOT_FOUND",
        "message": f"Table main.nope not found in catalog {cid}",
    }
    assert model.prompts() == []


def test_questions_from_the_model(
    with_model: TestClient, model: FakeOpenAI, tmp_path: Path
) -> None:
    pid = project_with_catalog(with_model, make_sqlite(tmp_path / "sources" / "shop.db")).id
    model.script(
        "Write questions",
        json.dumps({"questions": ["Which region orders most?", " ", "What share is open?", "x"]}),
    )
    found = ok(
        with_model.get(
            f"/api/v1/metadata/{pid}/questions/generate",
            params={"question": "regional sales", "limit": 2},
            headers=PARTNER,
        )
    )
    assert found == {"questions": ["Which region orders most?", "What share is open?"]}
    [prompt] = model.prompts()
    assert "Write 2 questions." in prompt
    assert "The user is interested in: regional sales" in prompt
    assert "Table shop.main.users (60 rows)" in prompt
    assert "- region (text); values: apac, eu, us" in prompt
