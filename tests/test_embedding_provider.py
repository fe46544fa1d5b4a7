"""An OpenAI-compatible embedding endpoint instead of the bundled model, over real HTTP."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from conftest import make_settings
from fake_openai import fake_openai
from parley.app import create_app
from parley.config import SettingsError


def test_search_with_an_openai_compatible_endpoint(database_url: str, tmp_path: Path) -> None:
    with fake_openai(dims=64) as fake:
        settings = make_settings(
            database_url,
            tmp_path,
            embedding_base_url=fake.base_url,
            embedding_model="fake-embed",
            embedding_dimensions=64,
            embedding_api_key="sk-test",
        )
        with TestClient(create_app(settings)) as client:
            client.post("/v2/workspaces", json={"id": "w"})
            batch = [
                {"peer_id": "p", "content": "violin lessons every tuesday"},
                {"peer_id": "p", "content": "the garden needs watering"},
                {"peer_id": "p", "content": ""},
            ]
            client.post("/v2/workspaces/w/sessions/s/messages/", json={"messages": batch})
            client.portal.call(client.app.state.parley.indexer.catch_up)
            found = client.post("/v2/workspaces/w/search", json={"query": "tuesday", "limit": 1})
            assert [m["content"] for m in found.json()] == ["violin lessons every tuesday"]
        embedded = [r["body"] for r in fake.requests]
        assert all(r["model"] == "fake-embed" for r in embedded)
        assert ["violin lessons every tuesday", "the garden needs watering", " "] in [
            r["input"] for r in embedded
        ]
        assert "dimensions" not in embedded[0]

        # the database now belongs to that model: the bundled one is refused, clearly
        local = make_settings(database_url, tmp_path)
        with pytest.raises(SettingsError) as refused, TestClient(create_app(local)):
            pass
        assert str(refused.value) == (
            "this database was built with the embedding model openai-compatible:fake-embed "
            "(64 dimensions), but the server is configured with all-minilm-l6-v2-int8 (384 "
            "dimensions). Use the original embedding settings, or a new database "
            "(PARLEY_DATABASE_URL / PARLEY_DATA_DIR)."
        )
