"""The core `serve` and `parley worker` both open: a failed start closes what it had started,
on both backends, whichever of the two opens it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from parley.app import create_app
from parley.config import Settings, SettingsError
from parley.core import open_core
from parley.llm.chat import ChatProvider
from parley.llm.embeddings import default_embedder
from parley.llm.providers import ChatTarget, register_chat_provider, register_embedding_provider
from parley.worker.setup import run_standalone


@dataclass
class ClosingEmbedder:
    closed: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return default_embedder().name

    @property
    def dimensions(self) -> int:
        return default_embedder().dimensions

    async def embed(self, texts: list[str]) -> np.ndarray[Any, np.dtype[np.float32]]:
        return await default_embedder().embed(texts)

    async def close(self) -> None:
        self.closed.append("embedder")


def refusing(_target: ChatTarget) -> ChatProvider:
    raise SettingsError("this provider refuses to start")


@pytest.fixture
def embedder() -> ClosingEmbedder:
    found = ClosingEmbedder()
    register_embedding_provider("closing", lambda _settings: found)
    register_chat_provider("refusing", refusing)
    return found


@pytest.fixture
def failing(settings: Settings, embedder: ClosingEmbedder) -> Settings:
    """Settings whose chat models fail to build, after the database and the embedder."""
    overrides = {"embedding_provider": "closing", "llm_provider": "refusing", "llm_model": "m"}
    return settings.model_copy(update=overrides)


async def test_a_core_that_fails_to_start_closes_its_embedder(
    failing: Settings, embedder: ClosingEmbedder
) -> None:
    with pytest.raises(SettingsError, match="refuses to start"):
        async with open_core(failing, with_worker=True):
            pass
    assert embedder.closed == ["embedder"]


async def test_the_worker_process_closes_what_started_when_it_fails_to_start(
    failing: Settings, embedder: ClosingEmbedder
) -> None:
    with pytest.raises(SettingsError, match="refuses to start"):
        await run_standalone(failing)
    assert embedder.closed == ["embedder"]


def test_the_app_closes_what_started_when_it_fails_to_start(
    failing: Settings, embedder: ClosingEmbedder
) -> None:
    with pytest.raises(SettingsError, match="refuses to start"), TestClient(create_app(failing)):
        pass
    assert embedder.closed == ["embedder"]
