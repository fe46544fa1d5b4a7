"""Memory tools: messages, search, the dialectic, session context, peer cards, observations
and the queue. Each checks the key as the matching /v2 route's policy does, then runs that
route's own handler (or, for the streamed chat, the services it calls)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import BackgroundTasks
from mcp.server.mcpserver import Context
from mcp_types import ToolAnnotations
from pydantic import Field

from parley.api.access import check_named_session
from parley.api.deps import Scope
from parley.api.honcho_v2 import dialectic as chat_routes
from parley.api.honcho_v2 import messages as message_routes
from parley.api.honcho_v2 import observations as observation_routes
from parley.api.honcho_v2 import reasoning as card_routes
from parley.api.honcho_v2 import status as status_routes
from parley.api.honcho_v2.schemas import MessageBatchCreate, MessageCreate
from parley.api.honcho_v2.search import MessageSearchOptions, run_search
from parley.api.storable import Storable, StoredJson
from parley.errors import InvalidInput
from parley.mcp_server.args import PeerId, SessionId, TargetId, WorkspaceId
from parley.mcp_server.reach import caller_of, tool_errors
from parley.memory import messages as message_rules
from parley.memory.dialectic import ChatRequest
from parley.memory.observations import MAX_CONTENT_CHARS, MAX_TOP_K
from parley.memory.pages import MAX_PAGE_SIZE
from parley.memory.peers import ensure_peer
from parley.memory.search import SearchScope

Query = Annotated[str, Field(min_length=1, max_length=10_000), Storable]
Filters = Annotated[
    StoredJson | None,
    Field(description="Honcho's filter object, as the /v2 list and search bodies take it."),
]


async def add_messages(
    workspace_id: WorkspaceId,
    session_id: SessionId,
    messages: Annotated[
        list[MessageCreate], Field(min_length=1, max_length=message_rules.MAX_BATCH)
    ],
    ctx: Context,
) -> list[dict[str, Any]]:
    """Add messages to a session (created if missing, with its senders as members). A peer
    key writes only as its own peer, into sessions it is in or starts."""
    with tool_errors():
        caller = caller_of(ctx)
        await caller.check(Scope.WORKSPACE_MEMBER, workspace_id=workspace_id)
        background = BackgroundTasks()
        async with caller.state.database.write() as db:
            stored = await message_routes.create_messages(
                workspace_id=workspace_id,
                session_id=session_id,
                body=MessageBatchCreate(messages=messages),
                db=db,
                state=caller.state,
                background=background,
                principal=caller.principal,
            )
        await background()  # committed: wake the embedding indexer and the worker
        return stored


async def search_messages(
    workspace_id: WorkspaceId,
    query: Annotated[str, Field(max_length=10_000)],
    ctx: Context,
    peer_id: Annotated[PeerId | None, Field(description="Only this peer's messages.")] = None,
    session_id: Annotated[SessionId | None, Field(description="Only this session.")] = None,
    filters: Filters = None,
    limit: Annotated[int, Field(ge=1, le=100)] = 10,
) -> list[dict[str, Any]]:
    """Hybrid (words and meaning) search over a workspace's messages, one peer's, or one
    session's."""
    with tool_errors():
        caller = caller_of(ctx)
        if peer_id is not None and session_id is not None:
            raise InvalidInput("give peer_id or session_id, not both")
        if session_id is not None:
            await caller.check(Scope.SESSION, workspace_id=workspace_id, session_id=session_id)
        elif peer_id is not None:
            await caller.check(Scope.PEER, workspace_id=workspace_id, peer_id=peer_id)
        else:
            await caller.check(Scope.WORKSPACE, workspace_id=workspace_id)
        where = SearchScope(workspace_id, session_id=session_id, peer_id=peer_id)
        options = MessageSearchOptions(query=query, filters=filters, limit=limit)
        return await run_search(caller.state, where, options)


async def ask_peer(
    workspace_id: WorkspaceId,
    peer_id: PeerId,
    query: Query,
    ctx: Context,
    target: TargetId = None,
    session_id: Annotated[
        SessionId | None, Field(description="Answer from this session only.")
    ] = None,
) -> dict[str, Any]:
    """Ask in natural language what `peer_id` knows about a peer (itself, or `target`): the
    dialectic chat. The answer streams as progress notifications when the client asks for
    progress; the result holds all of it."""
    with tool_errors():
        caller = caller_of(ctx)
        state = caller.state
        await caller.check(Scope.PEER, workspace_id=workspace_id, peer_id=peer_id)
        await check_named_session(
            caller.principal,
            database=state.database,
            workspace_id=workspace_id,
            session_id=session_id,
        )
        await ensure_peer(database=state.database, workspace_id=workspace_id, peer_id=peer_id)
        request = ChatRequest(
            observer=peer_id, observed=target or peer_id, query=query, session_id=session_id
        )
        pieces: list[str] = []
        async for piece in await state.dialectic.stream(workspace_id, request):
            if piece:
                pieces.append(piece)
                await ctx.report_progress(len(pieces), None, piece)
        return {"content": "".join(pieces)}


async def get_session_context(
    workspace_id: WorkspaceId,
    session_id: SessionId,
    ctx: Context,
    tokens: Annotated[
        int | None, Field(ge=0, le=100_000, description="The budget; default: the most.")
    ] = None,
    summary: bool = True,
    last_message: Annotated[
        str | None, Field(max_length=25_000, description="Ranks observations by relevance.")
    ] = None,
    peer_target: TargetId = None,
    peer_perspective: Annotated[
        PeerId | None, Field(description="Whose view of `peer_target` (needs peer_target).")
    ] = None,
) -> dict[str, Any]:
    """A session's context within a token budget: its latest messages, its summary, and
    (with `peer_target`) that peer's representation and card, for a model's prompt."""
    with tool_errors():
        caller = caller_of(ctx)
        await caller.check(Scope.SESSION, workspace_id=workspace_id, session_id=session_id)
        found = await chat_routes.get_session_context(
            workspace_id=workspace_id,
            session_id=session_id,
            state=caller.state,
            principal=caller.principal,
            tokens=tokens,
            last_message=last_message,
            summary=summary,
            peer_target=peer_target,
            peer_perspective=peer_perspective,
        )
        return found.model_dump(mode="json")


async def get_peer_card(
    workspace_id: WorkspaceId, peer_id: PeerId, ctx: Context, target: TargetId = None
) -> dict[str, Any]:
    """The peer card `peer_id` keeps about itself (or about `target`): short, stable facts;
    null when there is none."""
    with tool_errors():
        caller = caller_of(ctx)
        await caller.check(Scope.PEER, workspace_id=workspace_id, peer_id=peer_id)
        async with caller.state.database.read() as db:
            card = await card_routes.get_peer_card(
                workspace_id=workspace_id,
                peer_id=peer_id,
                db=db,
                _=caller.principal,
                target=target,
            )
        return card.model_dump(mode="json")


async def set_peer_card(
    workspace_id: WorkspaceId,
    peer_id: PeerId,
    peer_card: Annotated[
        list[Annotated[str, Field(max_length=1000), Storable]],
        Field(max_length=card_routes.MAX_CARD_FACTS, description="The facts, replacing all."),
    ],
    ctx: Context,
    target: TargetId = None,
) -> dict[str, Any]:
    """Replace the peer card `peer_id` keeps about itself (or about `target`)."""
    with tool_errors():
        caller = caller_of(ctx)
        await caller.check(Scope.PEER, workspace_id=workspace_id, peer_id=peer_id)
        async with caller.state.database.write() as db:
            card = await card_routes.set_peer_card(
                workspace_id=workspace_id,
                peer_id=peer_id,
                body=card_routes.PeerCardSet(peer_card=peer_card),
                db=db,
                state=caller.state,
                _=caller.principal,
                target=target,
            )
        return card.model_dump(mode="json")


async def list_observations(
    workspace_id: WorkspaceId,
    ctx: Context,
    filters: Filters = None,
    reverse: bool = False,
    page: Annotated[int, Field(ge=1, le=1_000_000_000)] = 1,
    size: Annotated[int, Field(ge=1, le=MAX_PAGE_SIZE)] = 50,
) -> dict[str, Any]:
    """The workspace's current observations (facts the deriver kept), a page at a time;
    filter by observer_id, observed_id, session_id, level, ..."""
    with tool_errors():
        caller = caller_of(ctx)
        await caller.check(Scope.WORKSPACE, workspace_id=workspace_id)
        async with caller.state.database.read() as db:
            return await observation_routes.list_observations(
                workspace_id=workspace_id,
                db=db,
                _=caller.principal,
                body=observation_routes.ObservationGet(filters=filters),
                reverse=reverse,
                page=page,
                size=size,
            )


async def query_observations(
    workspace_id: WorkspaceId,
    observer_id: Annotated[PeerId, Field(description="The peer who holds the observations.")],
    observed_id: Annotated[PeerId, Field(description="The peer they are about.")],
    query: Annotated[str, Field(max_length=MAX_CONTENT_CHARS), Storable],
    ctx: Context,
    top_k: Annotated[int, Field(ge=1, le=MAX_TOP_K)] = 10,
    distance: Annotated[float | None, Field(ge=0.0, le=1.0)] = None,
    filters: Filters = None,
) -> list[dict[str, Any]]:
    """The observations `observer_id` holds about `observed_id` closest in meaning to
    `query`, nearest first."""
    with tool_errors():
        caller = caller_of(ctx)
        await caller.check(Scope.WORKSPACE, workspace_id=workspace_id)
        pair = {"observer_id": observer_id, "observed_id": observed_id}
        return await observation_routes.query_observations(
            workspace_id=workspace_id,
            body=observation_routes.ObservationQuery(
                query=query, top_k=top_k, distance=distance, filters=(filters or {}) | pair
            ),
            state=caller.state,
            _=caller.principal,
        )


async def queue_status(
    workspace_id: WorkspaceId,
    ctx: Context,
    observer_id: PeerId | None = None,
    sender_id: PeerId | None = None,
    session_id: SessionId | None = None,
) -> dict[str, Any]:
    """The background work queue of the workspace: reasoning and embedding work pending, in
    progress, done and failed (with errors), and whether a model reasons at all."""
    with tool_errors():
        caller = caller_of(ctx)
        await caller.check(Scope.WORKSPACE, workspace_id=workspace_id)
        async with caller.state.database.read() as db:
            status = await status_routes.get_deriver_status(
                workspace_id=workspace_id,
                db=db,
                state=caller.state,
                _=caller.principal,
                observer_id=observer_id,
                sender_id=sender_id,
                session_id=session_id,
            )
        return status.model_dump(mode="json")


READS = ToolAnnotations(read_only_hint=True, open_world_hint=False)
WRITES = ToolAnnotations(read_only_hint=False, destructive_hint=False, open_world_hint=False)
REPLACES = ToolAnnotations(
    read_only_hint=False, destructive_hint=True, idempotent_hint=True, open_world_hint=False
)

TOOLS = (
    (add_messages, WRITES),
    (search_messages, READS),
    (ask_peer, READS),
    (get_session_context, READS),
    (get_peer_card, READS),
    (set_peer_card, REPLACES),
    (list_observations, READS),
    (query_observations, READS),
    (queue_status, READS),
)
