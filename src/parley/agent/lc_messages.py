"""Chat messages serialized the way LangChain's `dumpd` writes them, which is what Peaka's agent
returns in `result.messages` (its clients read `messages[1]["kwargs"]["content"]`)."""

from __future__ import annotations

from typing import Any

_CLASSES = {"human": "HumanMessage", "ai": "AIMessage", "AIMessageChunk": "AIMessageChunk"}


def lc_message(kind: str, content: str, **extra: Any) -> dict[str, Any]:
    """`kind` is "human", "ai" or "AIMessageChunk" (a streamed piece of an answer)."""
    kwargs: dict[str, Any] = {
        "content": content,
        "type": kind,
        "additional_kwargs": dict(extra),
        "response_metadata": {},
    }
    if kind != "human":
        kwargs["tool_calls"] = []
        kwargs["invalid_tool_calls"] = []
    return {
        "lc": 1,
        "type": "constructor",
        "id": ["langchain_core", "messages", _CLASSES[kind]],
        "kwargs": kwargs,
    }


def human(content: str) -> dict[str, Any]:
    return lc_message("human", content)


def ai(content: str) -> dict[str, Any]:
    return lc_message("ai", content)
