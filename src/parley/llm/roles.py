"""The chat model of each role (deriver, summary, dialectic, agent), built from Settings.

A role's `<role>_*` settings override the shared `llm_*` ones. A role whose provider resolves
to "none" has no model: its features run in retrieval-only mode."""

from __future__ import annotations

from dataclasses import dataclass

from parley.config import Settings, SettingsError
from parley.llm.chat import CallObserver, ChatModel, ChatProvider

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
            shared[key] = _provider(settings, provider, base_url, api_key, model)
        models[role] = ChatModel(
            shared[key], role=role, concurrency=settings.llm_concurrency, observer=observer
        )
    return ChatModels(**models)


def _provider(
    settings: Settings, provider: str, base_url: str | None, api_key: str | None, model: str
) -> ChatProvider:
    if provider == "llama_cpp":
        from parley.llm.llama_cpp_chat import LlamaCppChat

        if settings.llm_gguf_path is None:
            raise SettingsError("the llama_cpp provider needs PARLEY_LLM_GGUF_PATH")
        return LlamaCppChat(gguf_path=settings.llm_gguf_path)
    if not model:
        raise SettingsError(f"the {provider} provider needs a model name (PARLEY_LLM_MODEL)")
    if provider == "anthropic":
        from parley.llm.anthropic_chat import AnthropicChat

        return AnthropicChat(
            base_url=base_url,
            api_key=api_key,
            model=model,
            timeout_s=settings.llm_timeout_s,
            max_retries=settings.llm_max_retries,
        )
    from parley.llm.openai_chat import OpenAIChat

    return OpenAIChat(
        base_url=base_url,
        api_key=api_key,
        model=model,
        timeout_s=settings.llm_timeout_s,
        max_retries=settings.llm_max_retries,
    )
