"""POST /v3/workspaces/{workspace_id}/peers/{peer_id}/chat: Honcho 3.0.12's peer chat.

The same dialectic as /v2's chat (memory/dialectic.py), at a `reasoning_level` (default "low"),
which lets a model that takes tools search memory before it answers. What differs from /v2 on
the wire:
- `reasoning_level` (minimal, low, medium, high, max) and `filters` (a session allowlist:
  `{"session_id": id | [ids] | {"in": [ids]}}`); a named `target` or `session_id` that does not
  exist is a 404 (v2 answers from nothing);
- `response_format` (a JSON Schema, `llm/schema_model.py`): `content` is the answer's JSON;
- `content` is null for an empty answer;
- streamed, the frames are `json.dumps`'s (spaces after separators, non-ASCII escaped), and
  the last one is `{"done": true}` without a delta (v2: compact, `{"delta": {"content": null},
  "done": true}`). A failure mid-stream ends it with `{"error": {...}, "done": true}`, as
  /v2's does (Honcho cuts the connection).
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi.responses import StreamingResponse
from pydantic import AfterValidator, BaseModel, Field

from parley.api.access import check_named_session
from parley.api.deps import Name, PeerAccess, StateDep
from parley.api.errors import detail_errors
from parley.api.honcho_v2.dialectic import DialecticOptions
from parley.api.honcho_v3.routing import family_router
from parley.api.honcho_v3.session_filters import check_sessions, session_allowlist
from parley.api.storable import Storable
from parley.errors import InvalidInput
from parley.llm.schema_model import model_from_schema
from parley.memory.dialectic import ChatRequest
from parley.memory.dialectic_tools import ReasoningLevel
from parley.memory.peers import ensure_peer, get_peer
from parley.memory.sessions import get_session

log = logging.getLogger("parley.api")

router = family_router(prefix="/workspaces/{workspace_id}/peers", tags=["peers"])

MAX_ALLOWED_SESSIONS = 100  # Honcho's MAX_SESSION_ALLOWLIST_ENTRIES


def _without_nul(query: str) -> str:
    return query.replace("\x00", "")  # Honcho 3 drops NUL from the query, /v2 refuses it


class V3DialecticOptions(DialecticOptions):
    query: Annotated[
        str, Field(min_length=1, max_length=10_000), AfterValidator(_without_nul), Storable
    ]
    filters: dict[str, Any] | None = None
    reasoning_level: ReasoningLevel = "low"
    response_format: dict[str, Any] | None = None


class V3DialecticResponse(BaseModel):
    content: str | None


def frame(payload: dict[str, Any]) -> bytes:
    return f"data: {json.dumps(payload)}\n\n".encode()


async def frames(pieces: AsyncIterator[str]) -> AsyncIterator[bytes]:
    try:
        async for piece in pieces:
            if piece:
                yield frame({"delta": {"content": piece}, "done": False})
    except Exception as err:
        log.warning("chat stream failed: %s", err)
        yield frame({"error": {"message": f"the model failed: {err}"}, "done": True})
        return
    yield frame({"done": True})


@router.post(
    "/{peer_id}/chat",
    response_model=V3DialecticResponse,
    responses={200: {"content": {"text/event-stream": {}}}, **detail_errors(502)},
)
async def chat(
    workspace_id: Name,
    peer_id: Name,
    body: V3DialecticOptions,
    state: StateDep,
    principal: PeerAccess,
) -> Any:
    """Query a peer's representation in natural language; at the higher reasoning levels the
    model searches memory with tools before it answers."""
    await check_named_session(
        principal, database=state.database, workspace_id=workspace_id, session_id=body.session_id
    )
    allowed = session_allowlist(body.filters, body.session_id, limit=MAX_ALLOWED_SESSIONS)
    await check_sessions(principal, state.database, workspace_id, allowed or ())
    response_model = None
    if body.response_format is not None:
        try:
            response_model = model_from_schema(body.response_format)
        except ValueError as err:
            raise InvalidInput(f"Invalid response_format: {err}") from None
    await ensure_peer(database=state.database, workspace_id=workspace_id, peer_id=peer_id)
    observed = body.target or peer_id
    async with state.database.read() as db:
        if observed != peer_id:
            await get_peer(db=db, workspace_id=workspace_id, peer_id=observed)
        if body.session_id is not None:
            await get_session(db=db, workspace_id=workspace_id, session_id=body.session_id)
    request = ChatRequest(
        observer=peer_id,
        observed=observed,
        query=body.query,
        session_id=body.session_id,
        reasoning_level=body.reasoning_level,
        allowed_sessions=allowed,
        response_model=response_model,
    )
    if body.stream:
        pieces = await state.dialectic.stream(workspace_id, request)
        return StreamingResponse(frames(pieces), media_type="text/event-stream")
    answer = await state.dialectic.answer(workspace_id, request)
    return V3DialecticResponse(content=answer or None)
