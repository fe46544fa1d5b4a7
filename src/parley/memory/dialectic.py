"""Peer chat (the dialectic): answer a question about a peer from memory.

The path peer is the observer; the observed is the API's `target` (default: the observer).
Retrieval, all scoped to what the observer may know:
- the observer's observations about the observed: nearest to the question, most derived, most
  recent (with `session_id`: only those made in that session);
- the observer's peer card of the observed;
- the observed peer's messages that match the question (hybrid search), from the session when
  one is given, else from the sessions the observer is in now (not those it left);
- with `session_id`: the session's summary and its newest messages, within a token budget.

Then the dialectic model answers; without one, the answer is the retrieved memory itself,
dated, saying that no model is configured.

With a `reasoning_level` (Honcho v3's chat) and a model that takes tools, the model answers
agentically: the same prompt, plus memory tools (`dialectic_tools`) it may call for a bounded
number of rounds (`parley.llm.tools.run_tools`); cut off at the bound, it is asked once more,
without tools, for its answer. Streamed, the answer is that last call, streamed (as Honcho
streams only the final answer). Without a level (/v2), or with a model that takes no tools,
the answer is one call over the prompt.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np
from pydantic import BaseModel
from sqlalchemy import select

from parley.aio import concurrently
from parley.errors import InvalidInput, UpstreamFailed
from parley.llm.chat import ChatMessage, ChatModel, ModelError, UsageMeter
from parley.llm.embeddings import Embedder
from parley.llm.structured import complete_structured, schema_instruction
from parley.llm.tools import ToolsUnsupported, flatten, run_tools
from parley.memory import peer_cards, summaries
from parley.memory.context import newest_messages, observation_text
from parley.memory.dialectic_tools import (
    LEVELS,
    Level,
    MemoryScope,
    MemoryServices,
    ReasoningLevel,
    memory_tools,
)
from parley.memory.observation_index import ObservationIndex
from parley.memory.representation import (
    Representation,
    RepresentationRequest,
    ranked_candidates,
    select_observations,
)
from parley.memory.search import MessageSearch, SearchScope
from parley.memory.usage import record_usage
from parley.store.engine import Database
from parley.store.models import Message, SessionPeer, SessionSummary

OBSERVATIONS_PER_LEVEL = 20
MESSAGE_HITS = 8
HISTORY_TOKENS = 1500
MAX_ANSWER_TOKENS = 1024
NO_MODEL = "No language model is configured, so this is what Parley remembers"


@dataclass(frozen=True)
class ChatRequest:
    observer: str
    observed: str
    query: str
    session_id: str | None = None
    reasoning_level: ReasoningLevel | None = None  # None: /v2's chat, one call without tools
    allowed_sessions: tuple[str, ...] | None = None  # v3's filters: recall only from these
    response_model: type[BaseModel] | None = None  # v3's response_format: the answer's shape


@dataclass
class Memory:
    """What the answer may draw on."""

    representation: Representation
    card: list[str] | None
    messages: list[Message] = field(default_factory=list)
    summary: SessionSummary | None = None
    history: list[Message] = field(default_factory=list)
    sessions: list[str] | None = None  # the sessions whose messages the chat reaches (None: all)


class Dialectic:
    def __init__(
        self,
        database: Database,
        embedder: Embedder,
        observation_index: ObservationIndex,
        search: MessageSearch,
        model: ChatModel | None,
    ) -> None:
        self._database = database
        self._embedder = embedder
        self._observation_index = observation_index
        self._search = search
        self._model = model

    async def recall(self, workspace_id: str, request: ChatRequest) -> Memory:
        """Embed the question in a thread while the reads that need no vector run; then the
        observations nearest to it and the message search (whose full-text side does not
        wait for the vector) run at once, each in its own read session."""
        wanted = RepresentationRequest(
            observer=request.observer,
            observed=request.observed,
            session_id=request.session_id,
            search_query=request.query,
            include_most_derived=True,
            max_observations=OBSERVATIONS_PER_LEVEL,
            per_level=True,
        )
        embedding = asyncio.ensure_future(self._embed_query(request.query))
        try:
            async with self._database.read() as db:
                sessions = None
                if request.session_id is None and request.observer != request.observed:
                    sessions = list(
                        (
                            await db.scalars(
                                select(SessionPeer.session_id).where(
                                    SessionPeer.workspace_id == workspace_id,
                                    SessionPeer.peer_id == request.observer,
                                    # not one it left: it did not see what came after
                                    SessionPeer.current(),
                                )
                            )
                        ).all()
                    )
                if request.allowed_sessions is not None:
                    allowed = request.allowed_sessions
                    reached = allowed if sessions is None else sessions
                    sessions = [s for s in reached if s in allowed]
                card = await peer_cards.get_card(
                    db, workspace_id, request.observer, request.observed
                )
                summary = None
                history: list[Message] = []
                if request.session_id is not None:
                    summary = await summaries.latest(db, workspace_id, request.session_id, "short")
                    history, _ = await newest_messages(
                        db, workspace_id, request.session_id, HISTORY_TOKENS
                    )
                candidates = await ranked_candidates(
                    db, workspace_id=workspace_id, request=wanted, semantic=True
                )

            async def observations() -> Representation:
                vector = await embedding
                async with self._database.read() as db:
                    return await select_observations(
                        db,
                        observation_index=self._observation_index,
                        workspace_id=workspace_id,
                        request=wanted,
                        vector=vector,
                        candidates=candidates,
                        message_seqs=False,  # the prompt shows none
                    )

            async def matching_messages() -> list[Message]:
                if sessions is not None and not sessions:
                    return []  # the observer shares no session with the observed
                scope = SearchScope(
                    workspace_id=workspace_id,
                    session_id=request.session_id,
                    peer_id=request.observed,
                )
                return await self._search.search(
                    scope,
                    request.query,
                    filters=None,
                    sessions=sessions,
                    limit=MESSAGE_HITS,
                    vector=embedding,
                )

            representation, messages = await concurrently(observations(), matching_messages())
        finally:
            embedding.cancel()
        shown = {m.id for m in history}
        if request.allowed_sessions is not None:
            allowed = request.allowed_sessions
            representation.explicit = [
                o for o in representation.explicit if o.session_id in allowed
            ]
            representation.deductive = [
                o for o in representation.deductive if o.session_id in allowed
            ]
            representation.ranked = [o for o in representation.ranked if o.session_id in allowed]
        return Memory(
            representation=representation,
            card=card,
            messages=[m for m in messages if m.id not in shown],
            summary=summary,
            history=history,
            sessions=sessions,
        )

    async def _embed_query(self, query: str) -> np.ndarray:
        return (await self._embedder.embed([query]))[0]

    def _level(self, request: ChatRequest) -> Level | None:
        """The level to answer agentically at; None: one call without tools."""
        if request.reasoning_level is None or self._model is None:
            return None
        return LEVELS[request.reasoning_level] if self._model.takes_tools else None

    def _max_tokens(self, request: ChatRequest) -> int:
        level = LEVELS[request.reasoning_level] if request.reasoning_level else None
        return (level.max_tokens if level else None) or MAX_ANSWER_TOKENS

    async def _tool_rounds(
        self,
        workspace_id: str,
        request: ChatRequest,
        memory: Memory,
        prompt: list[ChatMessage],
        meter: UsageMeter,
    ) -> tuple[list[ChatMessage], str | None]:
        """The tool rounds of the request's level. Returns the prompt of the call without
        tools that answers when the rounds gave no answer (cut off at the bound; or streamed,
        where the answer is asked for again, as Honcho streams only its last call), and the
        answer a round gave, if any. Without a level, for a model that takes no tools or whose
        server refuses them: the prompt as it came, and no answer."""
        level = self._level(request)
        if level is None or self._model is None:
            return prompt, None
        scope = MemoryScope(
            workspace_id=workspace_id,
            observer=request.observer,
            observed=request.observed,
            session_id=request.session_id,
            sessions=memory.sessions,
            allowed=request.allowed_sessions,
        )
        services = MemoryServices(
            self._database, self._embedder, self._observation_index, self._search
        )
        try:
            loop = await run_tools(
                self._model,
                list(prompt),
                tools=memory_tools(services, scope, level),
                rounds=level.rounds,
                meter=meter,
                max_tokens=self._max_tokens(request),
            )
        except ToolsUnsupported:
            return prompt, None
        return flatten(loop.conversation), loop.answer

    def _check_shape(self, request: ChatRequest) -> None:
        if request.response_model is not None and self._model is None:
            raise InvalidInput(
                "response_format needs a language model: set PARLEY_LLM_MODEL (or "
                "PARLEY_DIALECTIC_MODEL) to answer in a given shape"
            )

    async def answer(self, workspace_id: str, request: ChatRequest) -> str:
        """The answer; with a `response_model`, its JSON (asked for after the tool rounds, in
        a call of its own that is validated, repaired or asked again)."""
        self._check_shape(request)
        memory = await self.recall(workspace_id, request)
        if self._model is None:
            return retrieval_only_answer(request, memory)
        meter = UsageMeter()
        try:
            prompt, answer = await self._tool_rounds(
                workspace_id, request, memory, chat_prompt(request, memory), meter
            )
            if request.response_model is not None:
                shaped = await complete_structured(
                    self._model,
                    prompt,
                    request.response_model,
                    meter=meter,
                    max_tokens=self._max_tokens(request),
                )
                return shaped.model_dump_json(by_alias=True)
            if answer is not None:
                return answer
            reply = await self._model.complete(
                prompt, meter=meter, max_tokens=self._max_tokens(request)
            )
        except ModelError as err:
            raise UpstreamFailed(f"the dialectic model failed: {err}") from err
        finally:
            await self._record(workspace_id, meter)
        return reply.text

    async def stream(self, workspace_id: str, request: ChatRequest) -> AsyncIterator[str]:
        """Retrieval (and the tool rounds) happen before the first piece, so their errors are
        HTTP errors."""
        self._check_shape(request)
        memory = await self.recall(workspace_id, request)
        if self._model is None:
            return self._retrieved_pieces(request, memory)
        meter = UsageMeter()
        try:
            prompt, _ = await self._tool_rounds(
                workspace_id, request, memory, chat_prompt(request, memory), meter
            )
        except BaseException as err:  # the rounds' usage is recorded, whatever ended them
            await asyncio.shield(self._record(workspace_id, meter))
            if isinstance(err, ModelError):
                raise UpstreamFailed(f"the dialectic model failed: {err}") from err
            raise
        if request.response_model is not None:  # streamed as it comes, as Honcho streams it
            prompt = [*prompt, ChatMessage("user", schema_instruction(request.response_model))]
        return self._pieces(workspace_id, request, prompt, meter)

    async def _retrieved_pieces(self, request: ChatRequest, memory: Memory) -> AsyncIterator[str]:
        text = retrieval_only_answer(request, memory)
        for start in range(0, len(text), 200):
            yield text[start : start + 200]

    async def _pieces(
        self,
        workspace_id: str,
        request: ChatRequest,
        prompt: list[ChatMessage],
        meter: UsageMeter,
    ) -> AsyncIterator[str]:
        assert self._model is not None
        try:
            async for piece in self._model.stream(
                prompt, meter=meter, max_tokens=self._max_tokens(request)
            ):
                yield piece
        finally:
            await asyncio.shield(self._record(workspace_id, meter))

    async def _record(self, workspace_id: str, meter: UsageMeter) -> None:
        if not meter.calls:
            return
        async with self._database.write() as db:
            await record_usage(db, workspace_id, meter)


def _keep_sessions(representation: Representation, allowed: tuple[str, ...]) -> None:
    """Only the observations made in the allowed sessions."""
    for name in ("explicit", "deductive", "ranked"):
        rows = getattr(representation, name)
        setattr(representation, name, [o for o in rows if o.session_id in allowed])


def _day(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%d")


def _memory_sections(request: ChatRequest, memory: Memory) -> list[str]:
    sections = []
    if memory.card:
        sections.append("Peer card:\n" + "\n".join(f"- {fact}" for fact in memory.card))
    rep = memory.representation
    if rep.explicit:
        sections.append(
            "Facts:\n" + "\n".join(f"- ({_day(o.created_at)}) {o.content}" for o in rep.explicit)
        )
    if rep.deductive:
        sections.append(
            "Deductions:\n"
            + "\n".join(f"- ({_day(o.created_at)}) {observation_text(o)}" for o in rep.deductive)
        )
    if memory.summary is not None:
        sections.append(f"Summary of this session:\n{memory.summary.content}")
    if memory.messages:
        sections.append(
            "Messages that may be relevant:\n"
            + "\n".join(
                f"- ({_day(m.created_at)}, session {m.session_id}) {m.peer_id}: {m.content}"
                for m in memory.messages
            )
        )
    if memory.history:
        sections.append(
            "The conversation so far in this session:\n"
            + "\n".join(f"{m.peer_id}: {m.content}" for m in memory.history)
        )
    return sections


def chat_prompt(request: ChatRequest, memory: Memory) -> list[ChatMessage]:
    about = (
        f"`{request.observed}`"
        if request.observer == request.observed
        else f"`{request.observed}`, as `{request.observer}` knows them"
    )
    system = (
        f"You answer questions about the peer {about}, using only the memory below. Say "
        "plainly when the memory does not hold the answer; never invent. Prefer newer facts "
        "when facts conflict, and give dates when they matter. Today is "
        f"{datetime.now(UTC):%Y-%m-%d}."
    )
    memory_text = "\n\n".join(_memory_sections(request, memory)) or "(nothing remembered yet)"
    return [
        ChatMessage("system", system),
        ChatMessage("user", f"Memory:\n{memory_text}\n\nQuestion: {request.query}"),
    ]


def retrieval_only_answer(request: ChatRequest, memory: Memory) -> str:
    sections = _memory_sections(request, memory)
    if not sections:
        return f"{NO_MODEL} about {request.observed} for this question: nothing yet."
    return f"{NO_MODEL} about {request.observed} for this question.\n\n" + "\n\n".join(sections)
