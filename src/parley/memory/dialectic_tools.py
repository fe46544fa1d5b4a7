"""The memory tools of the agentic chat, and the reasoning levels that offer them (Honcho v3).

Each level bounds the rounds of tool calls as Honcho 3.0.12's defaults do (its
`DIALECTIC_LEVELS`: minimal 1, low 5, medium 2, high 4, max 10) and offers a set of tools:
`minimal` the two searches (Honcho's minimal set), the others also the peer card and the
session's summary. Honcho's date-range, grep and reasoning-chain tools are not offered.

Every tool reads through the services /v2 uses (observation search, message search, peer
cards, summaries), each in its own short read session: nothing is held open while the model
thinks. What a tool may see is what the chat may see: the observer's observations of the
observed, the observed peer's messages in the sessions the chat reaches (`MemoryScope`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from parley.llm.embeddings import Embedder
from parley.llm.tools import Tool, ToolFailed
from parley.memory import peer_cards, summaries
from parley.memory.context import observation_text
from parley.memory.observation_index import ObservationIndex
from parley.memory.representation import RepresentationRequest, build_representation
from parley.memory.search import MessageSearch, SearchScope
from parley.store.engine import Database

ReasoningLevel = Literal["minimal", "low", "medium", "high", "max"]
REASONING_LEVELS: tuple[ReasoningLevel, ...] = ("minimal", "low", "medium", "high", "max")
MINIMAL_TOOLS = ("search_memory", "search_messages")
ALL_TOOLS = (*MINIMAL_TOOLS, "get_peer_card", "get_session_summary")


@dataclass(frozen=True)
class Level:
    rounds: int  # model calls with tools, at most; then one call for the answer
    max_tokens: int | None  # None: the dialectic's own answer budget
    tools: tuple[str, ...]


LEVELS: dict[ReasoningLevel, Level] = {
    "minimal": Level(rounds=1, max_tokens=250, tools=MINIMAL_TOOLS),
    "low": Level(rounds=5, max_tokens=None, tools=ALL_TOOLS),
    "medium": Level(rounds=2, max_tokens=None, tools=ALL_TOOLS),
    "high": Level(rounds=4, max_tokens=None, tools=ALL_TOOLS),
    "max": Level(rounds=10, max_tokens=None, tools=ALL_TOOLS),
}


@dataclass(frozen=True)
class MemoryScope:
    """What a chat reaches. `sessions`: the sessions whose messages it may search (None: any
    of the workspace's); `allowed`: the session allowlist of the request's filters, which
    also bounds the observations."""

    workspace_id: str
    observer: str
    observed: str
    session_id: str | None
    sessions: Sequence[str] | None
    allowed: Sequence[str] | None = None


@dataclass(frozen=True)
class MemoryServices:
    database: Database
    embedder: Embedder
    observation_index: ObservationIndex
    search: MessageSearch


def _day(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%d")


def _bounded(arguments: dict[str, Any], name: str, default: int, most: int) -> int:
    value = arguments.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ToolFailed(f"{name} must be a positive integer")
    return min(value, most)


def _text(arguments: dict[str, Any], name: str) -> str:
    value = arguments.get(name)
    if not isinstance(value, str) or not value.strip():
        raise ToolFailed(f"{name} is required (a non-empty string)")
    return value


def memory_tools(services: MemoryServices, scope: MemoryScope, level: Level) -> list[Tool]:
    async def search_memory(arguments: dict[str, Any]) -> str:
        query = _text(arguments, "query")
        top_k = _bounded(arguments, "top_k", 20, 40)
        representation = await build_representation(
            database=services.database,
            embedder=services.embedder,
            observation_index=services.observation_index,
            workspace_id=scope.workspace_id,
            request=RepresentationRequest(
                observer=scope.observer,
                observed=scope.observed,
                session_id=scope.session_id,
                search_query=query,
                search_top_k=top_k,
                max_observations=top_k,
            ),
        )
        rows = [
            o
            for o in representation.ranked
            if scope.allowed is None or o.session_id in scope.allowed
        ]
        if not rows:
            return "No observations match."
        return "\n".join(
            f"- [{o.level}] ({_day(o.created_at)}, session {o.session_id}) {observation_text(o)}"
            for o in rows
        )

    async def search_messages(arguments: dict[str, Any]) -> str:
        query = _text(arguments, "query")
        limit = _bounded(arguments, "limit", 10, 20)
        if scope.sessions is not None and not scope.sessions:
            return "No messages match."
        messages = await services.search.search(
            SearchScope(
                workspace_id=scope.workspace_id,
                session_id=scope.session_id,
                peer_id=scope.observed,
            ),
            query,
            filters=None,
            sessions=scope.sessions,
            limit=limit,
        )
        if not messages:
            return "No messages match."
        return "\n".join(
            f"- ({_day(m.created_at)}, session {m.session_id}) {m.peer_id}: {m.content}"
            for m in messages
        )

    async def get_peer_card(arguments: dict[str, Any]) -> str:
        async with services.database.read() as db:
            card = await peer_cards.get_card(db, scope.workspace_id, scope.observer, scope.observed)
        if not card:
            return f"No peer card of {scope.observed} yet."
        return "\n".join(f"- {fact}" for fact in card)

    async def get_session_summary(arguments: dict[str, Any]) -> str:
        kind = arguments.get("summary_type", "short")
        if kind not in ("short", "long"):
            raise ToolFailed("summary_type must be 'short' or 'long'")
        if scope.session_id is None:
            raise ToolFailed("this chat names no session, so there is no session summary")
        async with services.database.read() as db:
            summary = await summaries.latest(db, scope.workspace_id, scope.session_id, kind)
        if summary is None:
            return f"Session {scope.session_id} has no {kind} summary yet."
        return summary.content

    handlers: dict[str, tuple[Callable[[dict[str, Any]], Awaitable[str]], str, dict[str, Any]]] = {
        "search_memory": (
            search_memory,
            "Search the observations (conclusions) about the peer by meaning. Use it to "
            "recall specific details about the peer.",
            {
                "query": {"type": "string", "description": "What to look for"},
                "top_k": {
                    "type": "integer",
                    "description": "How many observations (default 20, at most 40)",
                },
            },
        ),
        "search_messages": (
            search_messages,
            "Search the peer's messages (by meaning and by words) for what they said.",
            {
                "query": {"type": "string", "description": "What to look for"},
                "limit": {
                    "type": "integer",
                    "description": "How many messages (default 10, at most 20)",
                },
            },
        ),
        "get_peer_card": (
            get_peer_card,
            "Read the peer card: the known biographical facts about the peer.",
            {},
        ),
        "get_session_summary": (
            get_session_summary,
            "Read the summary of this chat's session (short or long).",
            {"summary_type": {"type": "string", "enum": ["short", "long"]}},
        ),
    }
    required = {"search_memory": ["query"], "search_messages": ["query"]}
    return [
        Tool(
            name=name,
            description=handlers[name][1],
            parameters={
                "type": "object",
                "properties": handlers[name][2],
                "required": required.get(name, []),
            },
            run=handlers[name][0],
        )
        for name in level.tools
    ]
