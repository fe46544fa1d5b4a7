"""Chat through any OpenAI-compatible server (OpenAI, Ollama, vLLM, LM Studio, llama.cpp server,
OpenRouter), with the official `openai` SDK, which retries 429, 5xx and timeouts with backoff.

Structured output asks for `response_format: json_schema`. Servers that refuse it (HTTP 400)
are asked next with `json_object`, then with no format (the prompt carries the schema); the
first mode that works is remembered for the provider's life.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import openai
from openai.types.chat import ChatCompletion

from parley.llm.chat import ChatMessage, Completion, ModelError, StreamUsage
from parley.llm.tools import (
    Step,
    Tool,
    ToolCall,
    ToolCalls,
    ToolReply,
    ToolsUnsupported,
    refuses_tools,
)

FORMAT_MODES = ("json_schema", "json_object", "prompt")


class OpenAIChat:
    def __init__(
        self,
        *,
        base_url: str | None,
        api_key: str | None,
        model: str,
        timeout_s: float,
        max_retries: int,
    ) -> None:
        self.model = model
        self._client = openai.AsyncOpenAI(
            base_url=base_url,
            api_key=api_key or "not-needed",
            timeout=timeout_s,
            max_retries=max_retries,
        )
        self._format_mode = 0
        self.takes_tools = True  # until the server refuses a request with tools

    async def complete_tools(
        self,
        conversation: list[Step],
        *,
        tools: list[Tool],
        max_tokens: int,
        temperature: float,
    ) -> ToolReply:
        try:
            response = await self._client.post(
                "/chat/completions",
                body={
                    "model": self.model,
                    "messages": _wire_steps(conversation),
                    "max_tokens": max_tokens,
                    "temperature": temperature,
                    "tools": [{"type": "function", "function": t.schema()} for t in tools],
                    "tool_choice": "auto",
                },
                cast_to=ChatCompletion,
                options={"security": {"bearer_auth": True}},
            )
        except openai.BadRequestError as err:
            if refuses_tools(str(err)):
                self.takes_tools = False  # this server does not take tools: never again
                raise ToolsUnsupported(f"{self.model}: {err}") from err
            raise ModelError(f"{self.model}: {err}") from err
        except openai.OpenAIError as err:
            raise ModelError(f"{self.model}: {err}") from err
        if not response.choices:
            raise ModelError(f"{self.model} returned no choices")
        message = response.choices[0].message
        usage = response.usage
        return ToolReply(
            text=message.content or "",
            calls=[
                ToolCall(call.id, call.function.name, call.function.arguments or "")
                for call in message.tool_calls or []
                if call.type == "function"
            ],
            input_tokens=usage.prompt_tokens if usage else 0,
            output_tokens=usage.completion_tokens if usage else 0,
        )

    async def complete(
        self,
        messages: list[ChatMessage],
        *,
        max_tokens: int,
        temperature: float,
        json_schema: dict[str, Any] | None = None,
    ) -> Completion:
        mode = self._format_mode
        while True:
            extra = self._response_format(json_schema, mode)
            try:
                # The SDK's documented custom-request call, not `chat.completions.create`:
                # the same request, retries and errors, without `create`'s walk of the whole
                # body (messages and JSON schema) against its typed parameters, which cost
                # about 2 ms of CPU per call (a third of the call) on a 2-core box.
                response = await self._client.post(
                    "/chat/completions",
                    body={
                        "model": self.model,
                        "messages": _wire(messages),
                        "max_tokens": max_tokens,
                        "temperature": temperature,
                        **extra,
                    },
                    cast_to=ChatCompletion,
                    options={"security": {"bearer_auth": True}},
                )
            except openai.BadRequestError as err:
                if extra and mode < len(FORMAT_MODES) - 1 and _about_format(err):
                    mode += 1  # the server does not take this response_format: the next one
                    continue
                raise ModelError(f"{self.model}: {err}") from err
            except openai.OpenAIError as err:
                raise ModelError(f"{self.model}: {err}") from err
            if not response.choices:
                raise ModelError(f"{self.model} returned no choices")
            usage = response.usage
            self._format_mode = mode  # it worked: keep it
            return Completion(
                text=response.choices[0].message.content or "",
                input_tokens=usage.prompt_tokens if usage else 0,
                output_tokens=usage.completion_tokens if usage else 0,
                truncated=response.choices[0].finish_reason == "length",
            )

    def _response_format(self, json_schema: dict[str, Any] | None, index: int) -> dict[str, Any]:
        if json_schema is None:
            return {}
        mode = FORMAT_MODES[index]
        if mode == "json_schema":
            return {
                "response_format": {
                    "type": "json_schema",
                    "json_schema": {"name": "reply", "schema": json_schema, "strict": False},
                }
            }
        if mode == "json_object":
            return {"response_format": {"type": "json_object"}}
        return {}

    async def stream(
        self,
        messages: list[ChatMessage],
        *,
        max_tokens: int,
        temperature: float,
        usage: StreamUsage,
    ) -> AsyncIterator[str]:
        try:
            chunks = await self._client.chat.completions.create(
                model=self.model,
                messages=_wire(messages),
                max_tokens=max_tokens,
                temperature=temperature,
                stream=True,
                stream_options={"include_usage": True},
            )
            finished = False
            async for chunk in chunks:
                if chunk.usage:
                    usage.input_tokens = chunk.usage.prompt_tokens
                    usage.output_tokens = chunk.usage.completion_tokens
                for choice in chunk.choices:
                    if choice.delta and choice.delta.content:
                        yield choice.delta.content
                    finished = finished or choice.finish_reason is not None
        except Exception as err:  # SDK errors, and transport errors raised while reading
            raise ModelError(
                f"{self.model}: the stream broke off: {type(err).__name__}: {err}"
            ) from err
        if not finished:
            raise ModelError(f"{self.model}: the stream ended before the model finished")

    async def close(self) -> None:
        await self._client.close()


def _about_format(err: openai.BadRequestError) -> bool:
    """Whether a 400 complains about the response format (not, say, the context length)."""
    text = str(err).lower()
    return any(word in text for word in ("response_format", "json_schema", "json_object", "schema"))


def _wire(messages: list[ChatMessage]) -> list[Any]:
    return [{"role": m.role, "content": m.content} for m in messages]


def _wire_steps(conversation: list[Step]) -> list[Any]:
    wire: list[Any] = []
    for step in conversation:
        if isinstance(step, ChatMessage):
            wire.append({"role": step.role, "content": step.content})
        elif isinstance(step, ToolCalls):
            calls = [
                {
                    "id": c.id,
                    "type": "function",
                    "function": {"name": c.name, "arguments": c.arguments},
                }
                for c in step.calls
            ]
            wire.append({"role": "assistant", "content": step.text or None, "tool_calls": calls})
        else:
            wire.append({"role": "tool", "tool_call_id": step.call_id, "content": step.content})
    return wire
