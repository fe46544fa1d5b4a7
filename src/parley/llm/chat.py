"""One interface for chat models: complete, stream, structured output and tool calls.

A provider (OpenAI-compatible, Anthropic, in-process llama.cpp) only speaks to its model. A
`ChatModel` wraps one provider for one role (deriver, summary, dialectic): it bounds the calls in
flight and adds up token usage into the `UsageMeter` the caller passes, so usage lands in the
same transaction as the work it paid for, and tells the app's `CallObserver` (the `/metrics`
counters) of every call, once, whatever the provider. Retries on 429/5xx/timeouts are the SDKs'
own.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol, cast

if TYPE_CHECKING:
    from parley.llm.tools import Step, Tool, ToolReply

Role = Literal["system", "user", "assistant"]


@dataclass(frozen=True)
class ChatMessage:
    role: Role
    content: str


@dataclass(frozen=True)
class Completion:
    text: str
    input_tokens: int = 0
    output_tokens: int = 0
    truncated: bool = False  # the model stopped at max_tokens


@dataclass
class StreamUsage:
    """Filled in by a provider's stream once the model reports it (at the end)."""

    input_tokens: int = 0
    output_tokens: int = 0


class ModelError(RuntimeError):
    """A model call failed for good (after the SDK's retries) or answered unusably."""


class ChatProvider(Protocol):
    model: str

    async def complete(
        self,
        messages: list[ChatMessage],
        *,
        max_tokens: int,
        temperature: float,
        json_schema: dict[str, Any] | None = None,
    ) -> Completion: ...

    def stream(
        self,
        messages: list[ChatMessage],
        *,
        max_tokens: int,
        temperature: float,
        usage: StreamUsage,
    ) -> AsyncIterator[str]: ...

    async def close(self) -> None: ...


class ToolProvider(ChatProvider, Protocol):
    """A provider that can offer tools to its model (see `parley.llm.tools`). `takes_tools`
    turns False for good once its server refuses a request with tools."""

    takes_tools: bool

    async def complete_tools(
        self,
        conversation: list[Step],
        *,
        tools: list[Tool],
        max_tokens: int,
        temperature: float,
    ) -> ToolReply: ...


@dataclass
class UsageMeter:
    """Token usage of the calls made for one piece of work, per (role, model)."""

    calls: dict[tuple[str, str], list[int]] = field(default_factory=dict)

    def add(self, role: str, model: str, input_tokens: int, output_tokens: int) -> None:
        entry = self.calls.setdefault((role, model), [0, 0, 0])
        entry[0] += 1
        entry[1] += input_tokens
        entry[2] += output_tokens

    def merge(self, other: UsageMeter) -> None:
        for (role, model), (calls, tokens_in, tokens_out) in other.calls.items():
            entry = self.calls.setdefault((role, model), [0, 0, 0])
            entry[0] += calls
            entry[1] += tokens_in
            entry[2] += tokens_out


class CallObserver(Protocol):
    """Told of every model call when it ends; `outcome`: ok, error or cancelled."""

    def model_call(
        self, role: str, model: str, outcome: str, input_tokens: int, output_tokens: int
    ) -> None: ...


def _outcome(error: BaseException | None) -> str:
    if error is None:
        return "ok"
    if isinstance(error, (asyncio.CancelledError, GeneratorExit)):
        return "cancelled"  # the caller went away (a client that closed its stream)
    return "error"


class ChatModel:
    """A provider bound to a role, with a limit on the calls in flight."""

    def __init__(
        self,
        provider: ChatProvider,
        *,
        role: str,
        concurrency: int,
        observer: CallObserver | None = None,
    ) -> None:
        self.provider = provider
        self.role = role
        self._slots = asyncio.Semaphore(concurrency)
        self._observer = observer

    def _observe(self, error: BaseException | None, input_tokens: int, output_tokens: int) -> None:
        if self._observer is not None:
            outcome = _outcome(error)
            self._observer.model_call(self.role, self.name, outcome, input_tokens, output_tokens)

    @property
    def name(self) -> str:
        return self.provider.model

    async def complete(
        self,
        messages: list[ChatMessage],
        *,
        meter: UsageMeter,
        max_tokens: int = 1024,
        temperature: float = 0.2,
        json_schema: dict[str, Any] | None = None,
    ) -> Completion:
        async with self._slots:
            try:
                result = await self.provider.complete(
                    messages,
                    max_tokens=max_tokens,
                    temperature=temperature,
                    json_schema=json_schema,
                )
            except BaseException as error:
                self._observe(error, 0, 0)
                raise
        meter.add(self.role, self.name, result.input_tokens, result.output_tokens)
        self._observe(None, result.input_tokens, result.output_tokens)
        return result

    @property
    def takes_tools(self) -> bool:
        return bool(getattr(self.provider, "takes_tools", False))

    async def complete_tools(
        self,
        conversation: list[Step],
        *,
        tools: list[Tool],
        meter: UsageMeter,
        max_tokens: int = 1024,
        temperature: float = 0.2,
    ) -> ToolReply:
        """One round of a tool loop (`parley.llm.tools.run_tools`); only for a model that
        `takes_tools`."""
        if not self.takes_tools:
            raise TypeError(f"{self.name}: its provider cannot offer tools")
        provider = cast(ToolProvider, self.provider)
        async with self._slots:
            try:
                result = await provider.complete_tools(
                    conversation, tools=tools, max_tokens=max_tokens, temperature=temperature
                )
            except BaseException as error:
                self._observe(error, 0, 0)
                raise
        meter.add(self.role, self.name, result.input_tokens, result.output_tokens)
        self._observe(None, result.input_tokens, result.output_tokens)
        return result

    async def stream(
        self,
        messages: list[ChatMessage],
        *,
        meter: UsageMeter,
        max_tokens: int = 1024,
        temperature: float = 0.2,
    ) -> AsyncIterator[str]:
        usage = StreamUsage()
        error: BaseException | None = None
        async with self._slots:
            try:
                async for delta in self.provider.stream(
                    messages, max_tokens=max_tokens, temperature=temperature, usage=usage
                ):
                    yield delta
            except BaseException as raised:
                error = raised
                raise
            finally:
                meter.add(self.role, self.name, usage.input_tokens, usage.output_tokens)
                self._observe(error, usage.input_tokens, usage.output_tokens)

    async def close(self) -> None:
        await self.provider.close()
