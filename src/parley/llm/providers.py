"""The model provider registry: chat providers and embedding providers, by name.

Built-in providers register here exactly as outside ones would: `register_chat_provider(name,
factory)` and `register_embedding_provider(name, factory)`. A package adds one without any code
in Parley through an entry point in the group `parley.chat_providers` or
`parley.embedding_providers`, named for the provider and pointing at its factory:

    [project.entry-points."parley.chat_providers"]
    my_llm = "my_package.parley_provider:build"

Settings pick a provider by that name (`PARLEY_LLM_PROVIDER`, `PARLEY_<ROLE>_PROVIDER`,
`PARLEY_EMBEDDING_PROVIDER`). Entry points load only when a name is not registered yet, so an
installed plugin costs nothing until it is selected."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import TypeVar

from parley.config import Settings, SettingsError
from parley.llm.chat import ChatProvider
from parley.llm.embeddings import Embedder

CHAT_GROUP = "parley.chat_providers"
EMBEDDING_GROUP = "parley.embedding_providers"


@dataclass(frozen=True)
class ChatTarget:
    """What a chat provider is built for: the resolved settings of the roles it serves (a
    role's own `<role>_*` value, else the shared `llm_*` one; roles that resolve alike share
    one provider), and all settings for anything else."""

    settings: Settings
    model: str  # "" when none is set
    base_url: str | None
    api_key: str | None


ChatFactory = Callable[[ChatTarget], ChatProvider]
EmbedderFactory = Callable[[Settings], Embedder]

F = TypeVar("F")

_CHAT: dict[str, ChatFactory] = {}
_EMBEDDING: dict[str, EmbedderFactory] = {}


def register_chat_provider(name: str, factory: ChatFactory) -> ChatFactory:
    _CHAT[name] = factory
    return factory


def register_embedding_provider(name: str, factory: EmbedderFactory) -> EmbedderFactory:
    _EMBEDDING[name] = factory
    return factory


def _lookup(registry: dict[str, F], group: str, name: str, setting: str) -> F:
    if name not in registry:
        for point in entry_points(group=group, name=name):
            registry[name] = point.load()
    found = registry.get(name)
    if found is None:
        known = ", ".join(sorted(registry))
        raise SettingsError(
            f"unknown provider {name!r} in {setting}; known: {known} "
            f"(a package adds one through the entry point group {group!r})"
        )
    return found


def chat_factory(name: str, setting: str = "PARLEY_LLM_PROVIDER") -> ChatFactory:
    """`setting`: the one that named it, for the error of a name nothing registers."""
    return _lookup(_CHAT, CHAT_GROUP, name, setting)


def embedder_factory(name: str) -> EmbedderFactory:
    return _lookup(_EMBEDDING, EMBEDDING_GROUP, name, "PARLEY_EMBEDDING_PROVIDER")


def embedding_provider_name(settings: Settings) -> str:
    """ "auto": an OpenAI-compatible endpoint when `embedding_base_url` is set, else the
    bundled model."""
    if settings.embedding_provider != "auto":
        return settings.embedding_provider
    return "openai" if settings.embedding_base_url else "local"


def _needs_model(target: ChatTarget, provider: str) -> None:
    if not target.model:
        raise SettingsError(f"the {provider} provider needs a model name (PARLEY_LLM_MODEL)")


def _openai(target: ChatTarget) -> ChatProvider:
    from parley.llm.openai_chat import OpenAIChat

    _needs_model(target, "openai")
    settings = target.settings
    return OpenAIChat(
        base_url=target.base_url,
        api_key=target.api_key,
        model=target.model,
        timeout_s=settings.llm_timeout_s,
        max_retries=settings.llm_max_retries,
    )


def _anthropic(target: ChatTarget) -> ChatProvider:
    from parley.llm.anthropic_chat import AnthropicChat

    _needs_model(target, "anthropic")
    settings = target.settings
    return AnthropicChat(
        base_url=target.base_url,
        api_key=target.api_key,
        model=target.model,
        timeout_s=settings.llm_timeout_s,
        max_retries=settings.llm_max_retries,
    )


def _llama_cpp(target: ChatTarget) -> ChatProvider:
    from parley.llm.llama_cpp_chat import LlamaCppChat

    if target.settings.llm_gguf_path is None:
        raise SettingsError("the llama_cpp provider needs PARLEY_LLM_GGUF_PATH")
    return LlamaCppChat(gguf_path=target.settings.llm_gguf_path)


def _bundled_embedder(_settings: Settings) -> Embedder:
    from parley.llm.embeddings import default_embedder

    return default_embedder()


def _openai_embedder(settings: Settings) -> Embedder:
    from parley.llm.openai_embeddings import OpenAIEmbedder

    if not settings.embedding_base_url:
        raise SettingsError("the openai embedding provider needs PARLEY_EMBEDDING_BASE_URL")
    return OpenAIEmbedder(
        base_url=settings.embedding_base_url,
        model=settings.embedding_model,
        dimensions=settings.embedding_dimensions,
        api_key=settings.embedding_api_key,
        send_dimensions=settings.embedding_send_dimensions,
    )


def _register_builtins() -> None:
    register_chat_provider("openai", _openai)
    register_chat_provider("anthropic", _anthropic)
    register_chat_provider("llama_cpp", _llama_cpp)
    register_embedding_provider("local", _bundled_embedder)
    register_embedding_provider("openai", _openai_embedder)


_register_builtins()
