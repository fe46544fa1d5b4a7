"""Tool calls: a model that may ask for tools, in a bounded loop.

A provider that can send tools to its model has `complete_tools` (the OpenAI-compatible and
the Anthropic ones); one that cannot (llama.cpp in-process, a server that refuses `tools`)
answers through the plain calls instead, and `ChatModel.takes_tools` says which. The loop
(`run_tools`) is the one place that drives tool calls for any feature (the v3 dialectic
first):

- each round, one model call with the tools; the tools it asks for run one after another, and
  their results (or, for a tool that fails, `Error: ...`) go back to it as tool results;
- at most CALLS_PER_ROUND calls of a round run (the others get an error result), and a
  result is cut at RESULT_CHARS characters;
- a reply without tool calls is the answer (an empty one is nudged once, as Honcho does);
- after `rounds` rounds of calls the model is told to answer with what it has, and the caller
  makes that last call without tools, so a model that never stops calling tools is cut off,
  never looped forever.

The conversation is kept as `Step`s; `flatten` writes one as plain messages, for the last call
(which any provider can make, streamed or not).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from parley.llm.chat import ChatMessage, ModelError, UsageMeter

log = logging.getLogger("parley.llm")

CALLS_PER_ROUND = 8  # the calls of one round that run; the rest are answered with an error
RESULT_CHARS = 8000  # a tool's result is cut here, so rounds cannot flood the context

EMPTY_NUDGE = (
    "Your last response was empty. Provide a concise answer to the original query using the "
    "available context."
)
BOUND_REACHED = (
    "You have reached the maximum number of tool calls. Based on all the information you have "
    "gathered, provide your final response now. Do not attempt to call any more tools."
)


class ToolsUnsupported(ModelError):
    """The model's server refused a request with tools: the caller answers without them."""


def refuses_tools(error: str) -> bool:
    """Whether a server's 400 refuses the tools (not, say, the context length)."""
    text = error.lower()
    words = ("tools", "tool_choice", "tool calls", "tool use", "function calling")
    return any(word in text for word in words)


class ToolFailed(Exception):
    """A tool that cannot do what it was asked; its message goes back to the model."""


@dataclass(frozen=True)
class Tool:
    """A tool's schema next to its handler: `run` takes the model's arguments (a JSON object)
    and returns the text the model reads."""

    name: str
    description: str
    parameters: dict[str, Any]
    run: Callable[[dict[str, Any]], Awaitable[str]]

    def schema(self) -> dict[str, Any]:
        return {"name": self.name, "description": self.description, "parameters": self.parameters}


@dataclass(frozen=True)
class ToolCall:
    id: str
    name: str
    arguments: str  # as the model wrote them (JSON, or not)


@dataclass(frozen=True)
class ToolCalls:
    """The model's turn that asked for tools."""

    text: str
    calls: list[ToolCall]


@dataclass(frozen=True)
class ToolResult:
    call_id: str
    name: str
    content: str
    is_error: bool = False


Step = ChatMessage | ToolCalls | ToolResult


@dataclass(frozen=True)
class ToolReply:
    text: str
    calls: list[ToolCall]
    input_tokens: int = 0
    output_tokens: int = 0


@dataclass
class ToolLoop:
    """Where a loop ended: `answer` is None when the bound cut it off (the conversation then
    ends with the request for a final answer)."""

    conversation: list[Step]
    answer: str | None
    model_calls: int = 0
    tool_calls: list[ToolResult] = field(default_factory=list)


class ToolModel(Protocol):
    """What `run_tools` needs of a model (`ChatModel` has it)."""

    async def complete_tools(
        self,
        conversation: list[Step],
        *,
        tools: list[Tool],
        meter: UsageMeter,
        max_tokens: int,
    ) -> ToolReply: ...


async def run_tool(tools: dict[str, Tool], call: ToolCall) -> ToolResult:
    """One call, whatever it asks: an unknown tool, arguments that are not a JSON object and a
    tool that raises all come back as an error result for the model to read."""
    tool = tools.get(call.name)
    try:
        if tool is None:
            raise ToolFailed(f"no tool named {call.name!r}; the tools are {', '.join(tools)}")
        try:
            arguments = json.loads(call.arguments or "{}")
        except json.JSONDecodeError as err:
            raise ToolFailed(f"the arguments are not JSON: {err}") from None
        if not isinstance(arguments, dict):
            raise ToolFailed("the arguments must be a JSON object")
        content = await tool.run(arguments)
        if len(content) > RESULT_CHARS:
            content = content[:RESULT_CHARS] + "\n... (cut: the result was longer)"
    except Exception as err:  # any failure is the model's to read, never the request's
        log.info("tool %s failed: %s", call.name, err)
        return ToolResult(call.id, call.name, f"Error: {err}", is_error=True)
    return ToolResult(call.id, call.name, content)


async def run_tools(
    model: ToolModel,
    conversation: list[Step],
    *,
    tools: list[Tool],
    rounds: int,
    meter: UsageMeter,
    max_tokens: int,
) -> ToolLoop:
    """At most `rounds` model calls with tools (rounds >= 1). Raises ToolsUnsupported when a
    call is refused for its tools (the caller answers without them)."""
    by_name = {tool.name: tool for tool in tools}
    loop = ToolLoop(conversation=list(conversation), answer=None)
    nudged = False
    for round_ in range(rounds):
        reply = await model.complete_tools(
            loop.conversation, tools=tools, meter=meter, max_tokens=max_tokens
        )
        loop.model_calls += 1
        if not reply.calls:
            if not reply.text.strip() and not nudged and round_ < rounds - 1:
                nudged = True
                loop.conversation.append(ChatMessage("user", EMPTY_NUDGE))
                continue
            loop.answer = reply.text
            return loop
        loop.conversation.append(ToolCalls(reply.text, reply.calls))
        for index, call in enumerate(reply.calls):
            if index < CALLS_PER_ROUND:
                result = await run_tool(by_name, call)
            else:
                error = f"Error: at most {CALLS_PER_ROUND} tool calls run in one round"
                result = ToolResult(call.id, call.name, error, is_error=True)
            loop.tool_calls.append(result)
            loop.conversation.append(result)
    log.info("tool loop cut off after %d rounds", rounds)
    loop.conversation.append(ChatMessage("user", BOUND_REACHED))
    return loop


def flatten(conversation: list[Step]) -> list[ChatMessage]:
    """The conversation as plain messages, for a call without tools: what the model asked for
    and what each tool answered, as text."""
    messages: list[ChatMessage] = []
    for step in conversation:
        if isinstance(step, ChatMessage):
            messages.append(step)
        elif isinstance(step, ToolCalls):
            asked = "\n".join(f"- {c.name}({c.arguments or '{}'})" for c in step.calls)
            text = f"{step.text}\n\n" if step.text.strip() else ""
            messages.append(ChatMessage("assistant", f"{text}I look up:\n{asked}"))
        else:
            messages.append(ChatMessage("user", f"Result of {step.name}:\n{step.content}"))
    return messages
