"""The /v2 read side of memory: peer chat (the dialectic, with SSE streaming), working
representations, and peer and session contexts under token budgets."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import Query
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field

from parley.api import honcho_ops
from parley.api.access import check_named_session
from parley.api.deps import Name, OptionalName, PeerAccess, Scope, StateDep, requires
from parley.api.errors import detail_errors
from parley.api.honcho_v2.reasoning import Summary, summary_out
from parley.api.honcho_v2.routing import family_router
from parley.api.honcho_v2.schemas import Message, message_out
from parley.api.storable import Storable
from parley.auth.keys import Principal
from parley.errors import InvalidInput
from parley.ids import MAX_NAME_LENGTH, NAME_PATTERN
from parley.memory.context import ContextRequest
from parley.memory.dialectic import ChatRequest
from parley.memory.peers import ensure_peer
from parley.memory.representation import (
    SERVER_MAX_OBSERVATIONS,
    Representation,
    RepresentationRequest,
)
from parley.store.models import Observation

log = logging.getLogger("parley.api")

router = family_router(prefix="/workspaces/{workspace_id}")

IdField = Annotated[str, Field(min_length=1, max_length=MAX_NAME_LENGTH, pattern=NAME_PATTERN)]
# Honcho reads an empty `peer_target=` / `peer_perspective=` as absent
EmptyOrIdQuery = Annotated[
    str | None, Query(max_length=MAX_NAME_LENGTH, pattern=NAME_PATTERN.replace("+$", "*$"))
]


class DialecticOptions(BaseModel):
    query: Annotated[str, Field(min_length=1, max_length=10_000), Storable]
    session_id: IdField | None = None
    target: IdField | None = None
    stream: bool = False


class DialecticResponse(BaseModel):
    content: str


class PeerRepresentationGet(BaseModel):
    session_id: IdField | None = None
    target: IdField | None = None
    search_query: Annotated[str, Field(max_length=10_000), Storable] | None = None
    search_top_k: Annotated[int, Field(ge=1, le=100)] | None = None
    search_max_distance: Annotated[float, Field(ge=0.0, le=1.0)] | None = None
    include_most_derived: bool | None = None
    max_observations: Annotated[int, Field(ge=1, le=100)] | None = 25


class ExplicitObservation(BaseModel):
    created_at: str
    message_ids: list[int]
    session_name: str | None  # None: a conclusion /v3 made without a session
    content: str


class DeductiveObservation(BaseModel):
    created_at: str
    message_ids: list[int]
    session_name: str | None  # None: a conclusion /v3 made without a session
    premises: list[str]
    conclusion: str


class RepresentationOut(BaseModel):
    explicit: list[ExplicitObservation]
    deductive: list[DeductiveObservation]


class PeerContext(BaseModel):
    peer_id: str
    target_id: str
    representation: RepresentationOut | None = None
    peer_card: list[str] | None = None


class SessionContextOut(BaseModel):
    id: str
    messages: list[Message]
    summary: Summary | None = None
    peer_representation: RepresentationOut | None = None
    peer_card: list[str] | None = None
    tokens: int  # Parley: what the context counts, never above the `tokens` asked for


def _seqs(row: Observation, representation: Representation) -> list[int]:
    return [
        representation.message_seqs[m] for m in row.message_ids if m in representation.message_seqs
    ]


def representation_out(representation: Representation) -> RepresentationOut:
    return RepresentationOut(
        explicit=[
            ExplicitObservation(
                created_at=row.created_at.isoformat(),
                message_ids=_seqs(row, representation),
                session_name=row.session_id,
                content=row.content,
            )
            for row in representation.explicit
        ],
        deductive=[
            DeductiveObservation(
                created_at=row.created_at.isoformat(),
                message_ids=_seqs(row, representation),
                session_name=row.session_id,
                premises=list(row.premises),
                conclusion=row.content,
            )
            for row in representation.deductive
        ],
    )


def sse(payload: dict[str, Any]) -> bytes:
    """One frame as Honcho 2.5.1 writes it (pydantic's JSON: compact, UTF-8 unescaped)."""
    return f"data: {json.dumps(payload, ensure_ascii=False, separators=(',', ':'))}\n\n".encode()


async def _frames(pieces: AsyncIterator[str]) -> AsyncIterator[bytes]:
    """Honcho's framing: a delta per piece, then `done`. A failure mid-stream ends the stream
    with an error frame (also `done`, so SDKs stop reading) instead of a hung connection."""
    try:
        async for piece in pieces:
            if piece:
                yield sse({"delta": {"content": piece}, "done": False})
    except Exception as err:
        log.warning("chat stream failed: %s", err)
        yield sse({"error": {"message": f"the model failed: {err}"}, "done": True})
        return
    yield sse({"delta": {"content": None}, "done": True})  # Honcho's last frame


@router.post(
    "/peers/{peer_id}/chat",
    response_model=DialecticResponse,
    tags=["peers"],
    responses={
        200: {"content": {"text/event-stream": {}}},
        **detail_errors(502),
    },
)
async def chat(
    workspace_id: Name,
    peer_id: Name,
    body: DialecticOptions,
    state: StateDep,
    principal: PeerAccess,
) -> Any:
    await check_named_session(
        principal, database=state.database, workspace_id=workspace_id, session_id=body.session_id
    )
    # the path peer is get-or-created, as in Honcho
    await ensure_peer(database=state.database, workspace_id=workspace_id, peer_id=peer_id)
    request = ChatRequest(
        observer=peer_id,
        observed=body.target or peer_id,
        query=body.query,
        session_id=body.session_id,
    )
    if body.stream:
        pieces = await state.dialectic.stream(workspace_id, request)
        return StreamingResponse(
            _frames(pieces),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )
    return DialecticResponse(content=await state.dialectic.answer(workspace_id, request))


@router.post("/peers/{peer_id}/representation", tags=["peers"])
async def get_representation(
    workspace_id: Name,
    peer_id: Name,
    body: PeerRepresentationGet,
    state: StateDep,
    principal: PeerAccess,
) -> dict[str, Any]:
    await check_named_session(
        principal, database=state.database, workspace_id=workspace_id, session_id=body.session_id
    )
    representation = await honcho_ops.representation(
        state,
        workspace_id,
        RepresentationRequest(
            observer=peer_id,
            observed=body.target or peer_id,
            session_id=body.session_id,
            search_query=body.search_query,
            search_top_k=body.search_top_k,
            search_max_distance=body.search_max_distance,
            include_most_derived=bool(body.include_most_derived),
            max_observations=body.max_observations or SERVER_MAX_OBSERVATIONS,
        ),
    )
    return {"representation": representation_out(representation).model_dump()}  # as Honcho


@router.get("/peers/{peer_id}/context", response_model=PeerContext, tags=["peers"])
async def get_peer_context(
    workspace_id: Name,
    peer_id: Name,
    state: StateDep,
    _: PeerAccess,
    target: OptionalName = None,
    search_query: Annotated[str | None, Query(max_length=10_000)] = None,
    search_top_k: Annotated[int | None, Query(ge=1, le=100)] = None,
    search_max_distance: Annotated[float | None, Query(ge=0.0, le=1.0)] = None,
    include_most_derived: bool = True,
    max_observations: Annotated[int | None, Query(ge=1, le=100)] = None,
) -> PeerContext:
    read = await honcho_ops.peer_context(
        state,
        workspace_id,
        peer_id,
        target=target,
        search_query=search_query,
        search_top_k=search_top_k,
        search_max_distance=search_max_distance,
        include_most_derived=include_most_derived,
        max_observations=max_observations,
    )
    return PeerContext(
        peer_id=peer_id,
        target_id=read.observed,
        representation=representation_out(read.representation),
        peer_card=read.card,
    )


@router.get("/sessions/{session_id}/context", response_model=SessionContextOut, tags=["sessions"])
async def get_session_context(
    workspace_id: Name,
    session_id: Name,
    state: StateDep,
    principal: Annotated[Principal, requires(Scope.SESSION)],
    # Honcho takes any count up to its maximum: none at all (or less) is an empty context
    tokens: Annotated[int | None, Query(le=100_000)] = None,
    last_message: Annotated[str | None, Query(max_length=25_000)] = None,
    summary: bool = True,
    peer_target: EmptyOrIdQuery = None,
    peer_perspective: EmptyOrIdQuery = None,
    limit_to_session: bool = False,
    search_top_k: Annotated[int | None, Query(ge=1, le=100)] = None,
    search_max_distance: Annotated[float | None, Query(ge=0.0, le=1.0)] = None,
    include_most_derived: bool = False,
    max_observations: Annotated[int | None, Query(ge=1, le=100)] = None,
) -> SessionContextOut:
    peer_target, peer_perspective = peer_target or None, peer_perspective or None
    if peer_perspective is not None and peer_target is None:
        raise InvalidInput("peer_perspective needs peer_target")
    context = await honcho_ops.session_context_for(
        state,
        principal,
        workspace_id,
        ContextRequest(
            session_id=session_id,
            tokens=tokens,
            summary=summary,
            last_message=last_message,
            observed=peer_target,
            observer=peer_perspective,
            limit_to_session=limit_to_session,
            search_top_k=search_top_k,
            search_max_distance=search_max_distance,
            include_most_derived=include_most_derived,
            max_observations=max_observations,
        ),
    )
    return SessionContextOut(
        id=session_id,
        messages=[Message(**message_out(m)) for m in context.messages],
        summary=summary_out(context.summary),
        peer_representation=representation_out(context.representation)
        if context.representation is not None
        else None,
        peer_card=context.peer_card,
        tokens=context.tokens,
    )
