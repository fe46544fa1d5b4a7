"""The model provider registry: built-ins by name, today's settings, and a provider that an
installed package adds through an entry point (a real distribution on sys.path)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from conftest import PARLEY, parley_env
from parley.config import Settings, SettingsError
from parley.llm import LocalEmbedder, build_embedder
from parley.llm.openai_embeddings import OpenAIEmbedder
from parley.llm.roles import build_chat_models

PLUGIN = """
from parley.llm.chat import Completion


class EchoChat:
    def __init__(self, model):
        self.model = model

    async def complete(self, messages, *, max_tokens, temperature, json_schema=None):
        return Completion(text=messages[-1].content)

    async def stream(self, messages, *, max_tokens, temperature, usage):
        yield messages[-1].content

    async def close(self):
        pass


def build_chat(target):
    return EchoChat(target.model)


def build_embedder(settings):
    from parley.llm.embeddings import default_embedder

    return default_embedder()
"""


@pytest.fixture
def plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A distribution `echo-plugin` declaring one provider of each kind."""
    (tmp_path / "echo_plugin.py").write_text(PLUGIN)
    info = tmp_path / "echo_plugin-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: echo-plugin\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(
        "[parley.chat_providers]\necho = echo_plugin:build_chat\n\n"
        "[parley.embedding_providers]\necho_embed = echo_plugin:build_embedder\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))  # as `pip install` would put it


async def test_a_package_adds_a_chat_provider_through_its_entry_point(plugin: None) -> None:
    models = build_chat_models(Settings(llm_provider="echo", llm_model="echo-1"))
    assert models.deriver is not None and models.agent is not None
    assert type(models.deriver.provider).__name__ == "EchoChat"
    assert models.deriver.name == "echo-1"
    assert models.deriver.provider is models.agent.provider  # equal settings share one client
    await models.close()


def test_a_package_adds_an_embedding_provider_through_its_entry_point(plugin: None) -> None:
    assert isinstance(build_embedder(Settings(embedding_provider="echo_embed")), LocalEmbedder)


def test_todays_embedding_settings_pick_the_same_embedder() -> None:
    assert isinstance(build_embedder(Settings()), LocalEmbedder)
    remote = build_embedder(Settings(embedding_base_url="http://localhost:1/v1"))
    assert isinstance(remote, OpenAIEmbedder)
    with pytest.raises(SettingsError, match="PARLEY_EMBEDDING_BASE_URL"):
        build_embedder(Settings(embedding_provider="openai"))


def test_an_unknown_provider_is_a_settings_error_naming_the_known_ones() -> None:
    with pytest.raises(SettingsError) as raised:
        build_chat_models(Settings(llm_provider="nonesuch", llm_model="m"))
    message = str(raised.value)
    head, _, tail = message.partition("; known: ")
    known, _, hint = tail.partition(" (")
    assert head == "unknown provider 'nonesuch' in PARLEY_LLM_PROVIDER"
    # the built-ins, and whatever this process registered since (other tests' fakes)
    assert {"anthropic", "llama_cpp", "openai"} <= set(known.split(", "))
    assert hint == "a package adds one through the entry point group 'parley.chat_providers')"
    with pytest.raises(SettingsError, match="'nonesuch' in PARLEY_EMBEDDING_PROVIDER"):
        build_embedder(Settings(embedding_provider="nonesuch"))


@pytest.mark.parametrize("command", ["serve", "worker"])
def test_parley_refuses_to_start_with_an_unknown_provider(command: str, tmp_path: Path) -> None:
    result = subprocess.run(
        [*PARLEY, command],
        env=parley_env(tmp_path, PARLEY_DERIVER_PROVIDER="nonesuch", PARLEY_LLM_MODEL="m"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert result.stderr.startswith(
        "parley: unknown provider 'nonesuch' in PARLEY_DERIVER_PROVIDER; known: "
    )
    assert not (tmp_path / "parley.db").exists()  # refused before anything started
