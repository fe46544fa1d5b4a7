"""An OpenAI-compatible embedding endpoint instead of the bundled model, over real HTTP."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from conftest import AppClient, make_settings
from fake_openai import bag_of_words, fake_openai
from parley.app import create_app
from parley.config import SettingsError
from parley.llm.openai_embeddings import EmbeddingServiceError, OpenAIEmbedder


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
        with AppClient(create_app(settings)) as client:
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
        with pytest.raises(SettingsError) as refused, AppClient(create_app(local)):
            pass
        assert str(refused.value) == (
            "this database was built with the embedding model openai-compatible:fake-embed "
            "(64 dimensions), but the server is configured with all-minilm-l6-v2-int8 (384 "
            "dimensions). Use the original embedding settings, or a new database "
            "(PARLEY_DATABASE_URL / PARLEY_DATA_DIR)."
        )


async def test_vectors_are_read_in_index_order_and_normalised() -> None:
    texts = ["violin lessons", "the garden needs watering the garden", "tuesday"]
    with fake_openai(dims=16) as fake:
        embedder = OpenAIEmbedder(
            base_url=fake.base_url,
            model="m",
            dimensions=16,
            api_key=None,
            send_dimensions=False,
        )
        in_order = await embedder.embed(texts)

        def reversed_data(body: dict[str, Any]) -> tuple[int, Any]:
            data = [
                {"object": "embedding", "index": i, "embedding": bag_of_words(t, 16)}
                for i, t in enumerate(body["input"])
            ]
            return 200, {"object": "list", "data": data[::-1], "model": "m"}

        fake.embeddings_reply = reversed_data
        shuffled = await embedder.embed(texts)
        await embedder.close()
    expected = np.asarray([bag_of_words(t, 16) for t in texts], dtype=np.float32)
    expected /= np.linalg.norm(expected, axis=1, keepdims=True)
    assert in_order.dtype == np.float32
    assert np.array_equal(in_order, expected)
    assert np.array_equal(shuffled, expected)


async def test_vectors_travel_as_base64_and_a_server_refusing_it_gets_floats() -> None:
    texts = ["violin lessons", "tuesday"]
    expected = np.asarray([bag_of_words(t, 16) for t in texts], dtype=np.float32)
    expected /= np.linalg.norm(expected, axis=1, keepdims=True)
    with fake_openai(dims=16) as fake:
        embedder = OpenAIEmbedder(
            base_url=fake.base_url, model="m", dimensions=16, api_key=None, send_dimensions=False
        )
        as_base64 = await embedder.embed(texts)

        def floats_only(body: dict[str, Any]) -> tuple[int, Any]:
            if body["encoding_format"] != "float":
                return 400, {"error": {"message": "unknown encoding_format"}}
            data = [
                {"object": "embedding", "index": i, "embedding": bag_of_words(t, 16)}
                for i, t in enumerate(body["input"])
            ]
            return 200, {"object": "list", "data": data, "model": "m"}

        fake.embeddings_reply = floats_only
        refused_then_floats = await embedder.embed(texts)
        floats_from_then_on = await embedder.embed(texts)
        await embedder.close()
    formats = [r["body"]["encoding_format"] for r in fake.requests]
    assert formats == ["base64", "base64", "float", "float"]
    assert isinstance(fake.requests[0]["body"]["input"], list)
    for vectors in (as_base64, refused_then_floats, floats_from_then_on):
        assert vectors.dtype == np.float32
        assert np.array_equal(vectors, expected)


@pytest.mark.parametrize(
    ("reply", "message"),
    [
        ({"data": [{"index": 0, "embedding": [1.0, 0.0]}]}, "returned vectors of shape (1, 2)"),
        ({"object": "list"}, "returned a response that is not a list of float vectors"),
        ({"data": [{"index": 0, "embedding": "abc"}]}, "not a list of float vectors"),
        ({"data": [{"index": 0, "embedding": "AAAAAA=="}]}, "returned vectors of shape (1, 1)"),
        ({"data": [{"index": 0}]}, "not a list of float vectors"),
    ],
)
async def test_a_malformed_answer_is_an_embedding_service_error(
    reply: dict[str, Any], message: str
) -> None:
    with fake_openai(dims=16) as fake:
        fake.embeddings_reply = lambda _body: (200, reply)
        embedder = OpenAIEmbedder(
            base_url=fake.base_url, model="m", dimensions=16, api_key=None, send_dimensions=False
        )
        with pytest.raises(EmbeddingServiceError) as raised:
            await embedder.embed(["hello"])
        await embedder.close()
    assert message in str(raised.value)
