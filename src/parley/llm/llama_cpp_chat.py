"""In-process chat with llama.cpp (`llama-cpp-python`, extra `parley[local]`) from a GGUF file.

The model is not thread-safe: calls run one at a time in a worker thread. Structured output
uses llama.cpp's JSON-schema grammar."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from parley.llm.chat import ChatMessage, Completion, ModelError, StreamUsage


class LlamaCppChat:
    def __init__(self, *, gguf_path: Path) -> None:
        try:
            from llama_cpp import Llama
        except ImportError as err:
            raise ModelError(
                "the llama_cpp provider needs the optional extra: pip install 'parley[local]'"
            ) from err
        if not gguf_path.is_file():
            raise ModelError(f"GGUF file not found: {gguf_path}")
        self.model = gguf_path.name
        # n_ctx=0: the context the model was trained with
        self._llama = Llama(model_path=str(gguf_path), n_ctx=0, verbose=False)
        # Callers queue here, not in threads: waiting on a thread lock would tie up the
        # default executor that the rest of the server uses.
        self._lock = asyncio.Lock()

    def _create(self, messages: list[ChatMessage], **kwargs: Any) -> Any:
        return self._llama.create_chat_completion(
            messages=[{"role": m.role, "content": m.content} for m in messages], **kwargs
        )

    async def complete(
        self,
        messages: list[ChatMessage],
        *,
        max_tokens: int,
        temperature: float,
        json_schema: dict[str, Any] | None = None,
    ) -> Completion:
        extra: dict[str, Any] = {}
        if json_schema is not None:
            extra["response_format"] = {"type": "json_object", "schema": json_schema}
        try:
            async with self._lock:
                response = await asyncio.to_thread(
                    self._create, messages, max_tokens=max_tokens, temperature=temperature, **extra
                )
        except (ValueError, RuntimeError) as err:
            raise ModelError(f"{self.model}: {err}") from err
        usage = response.get("usage") or {}
        return Completion(
            text=response["choices"][0]["message"].get("content") or "",
            input_tokens=usage.get("prompt_tokens", 0),
            output_tokens=usage.get("completion_tokens", 0),
            truncated=response["choices"][0].get("finish_reason") == "length",
        )

    async def stream(
        self,
        messages: list[ChatMessage],
        *,
        max_tokens: int,
        temperature: float,
        usage: StreamUsage,
    ) -> AsyncIterator[str]:
        # Generating token by token in a thread and handing each over costs more than it
        # saves at this model size: answer whole, as one delta.
        result = await self.complete(messages, max_tokens=max_tokens, temperature=temperature)
        usage.input_tokens, usage.output_tokens = result.input_tokens, result.output_tokens
        if result.text:
            yield result.text

    async def close(self) -> None:
        return None
