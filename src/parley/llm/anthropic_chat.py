"""Chat through Anthropic's Messages API with the official `anthropic` SDK (which retries 429,
5xx and timeouts). Structured output is a forced tool call whose input schema is the JSON
schema; its input is the reply. Tool calls (`complete_tools`) offer the tools with
`tool_choice: auto` and send their results back as `tool_result` blocks. The current Messages
API takes no `temperature`: the argument is accepted for the interface and not sent."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import anthropic
from anthropic import Omit, omit
from anthropic.types import ToolChoiceToolParam, ToolParam

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
        self.takes_tools = True  # until the server refuses a request with tools

    async def complete_tools(
        self,
        conversation: list[Step],
        *,
        tools: list[Tool],
        max_tokens: int,
        temperature: float,
    ) -> ToolReply:
        system, turns = _split_steps(conversation)
        offered: list[ToolParam] = [
            {"name": t.name, "description": t.description, "input_schema": t.parameters}
            for t in tools
        ]
        try:
            response = await self._client.messages.create(
                model=self.model,
                max_tokens=max_tokens,
                messages=turns,
                system=system or omit,
                tools=offered,
                tool_choice={"type": "auto"},
            )
        except anthropic.BadRequestError as err:
            if refuses_tools(str(err)):
                self.takes_tools = False
                raise ToolsUnsupported(f"{self.model}: {err}") from err
            raise ModelError(f"{self.model}: {err}") from err
        except anthropic.AnthropicError as err:
            raise ModelError(f"{self.model}: {err}") from err
        text = "".join(block.text for block in response.content if block.type == "text")
        calls = [
            ToolCall(block.id, block.name, json.dumps(block.input))
            for block in response.content
            if block.type == "tool_use"
        ]
        return ToolReply(
            text=text,
            calls=calls,
            input_tokens=response.usage.input_tokens,
            output_tokens=response.usage.output_tokens,
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


def _arguments(raw: str) -> Any:
    """A call's arguments as Anthropic wants them back: the object the model wrote (one that
    was not an object was answered with an error; an empty object stands for it)."""
    try:
        value = json.loads(raw or "{}")
    except json.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}


def _split_steps(conversation: list[Step]) -> tuple[str, list[Any]]:
    """As `_split`, for a tool conversation: a turn is a list of blocks (text, `tool_use`,
    `tool_result`), a round's results one user turn."""
    system = "\n\n".join(
        s.content for s in conversation if isinstance(s, ChatMessage) and s.role == "system"
    )
    turns: list[dict[str, Any]] = []
    for step in conversation:
        blocks: list[dict[str, Any]]
        if isinstance(step, ChatMessage):
            if step.role == "system":
                continue
            role, blocks = step.role, [{"type": "text", "text": step.content}]
        elif isinstance(step, ToolCalls):
            role = "assistant"
            blocks = [{"type": "text", "text": step.text}] if step.text.strip() else []
            blocks += [
                {"type": "tool_use", "id": c.id, "name": c.name, "input": _arguments(c.arguments)}
                for c in step.calls
            ]
        else:
            role = "user"
            blocks = [
                {
                    "type": "tool_result",
                    "tool_use_id": step.call_id,
                    "content": step.content,
                    "is_error": step.is_error,
                }
            ]
        if turns and turns[-1]["role"] == role:
            turns[-1]["content"] += blocks
        else:
            turns.append({"role": role, "content": blocks})
    if not turns or turns[0]["role"] != "user":
        turns.insert(0, {"role": "user", "content": [{"type": "text", "text": "(begin)"}]})
    return system, turns
