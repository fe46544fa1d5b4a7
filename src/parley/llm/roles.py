"""The chat model of each role (deriver, summary, dialectic, agent), built from Settings.

A role's `<role>_*` settings override the shared `llm_*` ones. A role whose provider resolves
to "none" has no model: its features run in retrieval-only mode; any other name is looked up in
the provider registry (`parley.llm.providers`)."""

from __future__ import annotations

from dataclasses import dataclass

from parley.config import Settings
from parley.llm.chat import CallObserver, ChatModel, ChatProvider
from parley.llm.providers import (
    ChatTarget,
    chat_factory,
    embedder_factory,
    embedding_provider_name,
)

ROLES = ("deriver", "summary", "dialectic", "agent")


@dataclass(frozen=True)
class ChatModels:
    deriver: ChatModel | None
    summary: ChatModel | None
    dialectic: ChatModel | None
    agent: ChatModel | None

    async def close(self) -> None:
        closed: set[int] = set()
        for model in (self.deriver, self.summary, self.dialectic, self.agent):
            if model is not None and id(model.provider) not in closed:
                closed.add(id(model.provider))
                await model.close()


def resolve_provider(settings: Settings, role: str) -> str:
    provider = getattr(settings, f"{role}_provider") or settings.llm_provider
    model = getattr(settings, f"{role}_model") or settings.llm_model
    if provider != "auto":
        return provider
    if settings.llm_gguf_path is not None and model is None:
        return "llama_cpp"
    if model is None:
        return "none"
    return "anthropic" if model.startswith("claude") else "openai"


def _provider_setting(settings: Settings, role: str) -> str:
    own = getattr(settings, f"{role}_provider") is not None
    return f"PARLEY_{role.upper()}_PROVIDER" if own else "PARLEY_LLM_PROVIDER"


def check_providers(settings: Settings) -> None:
    """A SettingsError now, before anything starts, for a provider name that neither Parley
    nor an installed package registers."""
    for role in ROLES:
        if (provider := resolve_provider(settings, role)) != "none":
            chat_factory(provider, _provider_setting(settings, role))
    embedder_factory(embedding_provider_name(settings))


def build_chat_models(settings: Settings, *, observer: CallObserver | None = None) -> ChatModels:
    """`observer`: told of every call of every role (the app's `/metrics` counters)."""
    shared: dict[tuple[str, ...], ChatProvider] = {}  # roles with equal settings share a client
    models: dict[str, ChatModel | None] = {}
    for role in ROLES:
        provider = resolve_provider(settings, role)
        if provider == "none":
            models[role] = None
            continue
        base_url = getattr(settings, f"{role}_base_url") or settings.llm_base_url
        api_key = getattr(settings, f"{role}_api_key") or settings.llm_api_key
        model = getattr(settings, f"{role}_model") or settings.llm_model or ""
        key = (provider, base_url or "", api_key or "", model)
        if key not in shared:
            target = ChatTarget(settings=settings, model=model, base_url=base_url, api_key=api_key)
            shared[key] = chat_factory(provider, _provider_setting(settings, role))(target)
        models[role] = ChatModel(
            shared[key], role=role, concurrency=settings.llm_concurrency, observer=observer
        )
    return ChatModels(**models)
