"""Chat through Anthropic's Messages API with the official `anthropic` SDK (which retries 429,
5xx and timeouts). Structured output is a forced tool call whose input schema is the JSON
schema; its input is the reply. The current Messages API takes no `temperature`: the argument
is accepted for the interface and not sent."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import anthropic
from anthropic import Omit, omit
from anthropic.types import ToolChoiceToolParam, ToolParam

from parley.llm.chat import ChatMessage, Completion, ModelError, StreamUsage

TOOL = "reply"


class AnthropicChat:
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
        self._client = anthropic.AsyncAnthropic(
            base_url=base_url, api_key=api_key, timeout=timeout_s, max_retries=max_retries
        )

    async def complete(
        self,
        messages: list[ChatMessage],
        *,
        max_tokens: int,
        temperature: float,
        json_schema: dict[str, Any] | None = None,
    ) -> Completion:
        system, turns = _split(messages)
        tools: list[ToolParam] | Omit = omit
        tool_choice: ToolChoiceToolParam | Omit = omit
        if json_schema is not None:
            tools = [{"name": TOOL, "description": "Give the reply.", "input_schema": json_schema}]
            tool_choice = {"type": "tool", "name": TOOL}
        try:
            response = await self._client.messages.create(
                model=self.model,
                max_tokens=max_tokens,
                messages=turns,
                system=system or omit,
                tools=tools,
                tool_choice=tool_choice,
            )
        except anthropic.AnthropicError as err:
            raise ModelError(f"{self.model}: {err}") from err
        text = ""
        for block in response.content:
            if block.type == "tool_use":
                text = json.dumps(block.input)
                break
            if block.type == "text":
                text += block.text
        return Completion(
            text=text,
            input_tokens=response.usage.input_tokens,
            output_tokens=response.usage.output_tokens,
            truncated=response.stop_reason == "max_tokens",
        )

    async def stream(
        self,
        messages: list[ChatMessage],
        *,
        max_tokens: int,
        temperature: float,
        usage: StreamUsage,
    ) -> AsyncIterator[str]:
        system, turns = _split(messages)
        try:
            async with self._client.messages.stream(
                model=self.model,
                max_tokens=max_tokens,
                messages=turns,
                system=system or omit,
            ) as stream:
                async for text in stream.text_stream:
                    yield text
                final = await stream.get_final_message()
                usage.input_tokens = final.usage.input_tokens
                usage.output_tokens = final.usage.output_tokens
        except Exception as err:  # SDK errors, and transport errors raised while reading
            raise ModelError(
                f"{self.model}: the stream broke off: {type(err).__name__}: {err}"
            ) from err

    async def close(self) -> None:
        await self._client.close()


def _split(messages: list[ChatMessage]) -> tuple[str, list[Any]]:
    """Anthropic takes the system prompt apart and wants turns to alternate, user first."""
    system = "\n\n".join(m.content for m in messages if m.role == "system")
    turns: list[dict[str, str]] = []
    for message in messages:
        if message.role == "system":
            continue
        if turns and turns[-1]["role"] == message.role:
            turns[-1]["content"] += "\n\n" + message.content
        else:
            turns.append({"role": message.role, "content": message.content})
    if not turns or turns[0]["role"] != "user":
        turns.insert(0, {"role": "user", "content": "(begin)"})
    return system, turns
