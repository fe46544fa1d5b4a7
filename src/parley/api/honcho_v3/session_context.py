"""/v3/workspaces/{workspace_id}/sessions/{session_id}/context and /summaries.

The same context as /v2's (memory/context.py: one token budget over the representation, the
peer card, the summary and the messages), under v3's names: `search_query` (v2:
`last_message`), `include_most_frequent`, `max_conclusions`; the representation is Honcho 3's
markdown text, and what the budget counts is that text."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query
from pydantic import BaseModel

from parley.api import honcho_ops
from parley.api.deps import Name, Scope, StateDep, requires
from parley.api.honcho_v2 import reasoning as v2_reasoning
from parley.api.honcho_v2.dialectic import EmptyOrIdQuery
from parley.api.honcho_v2.reasoning import SessionSummaries, Summary, summary_out
from parley.api.honcho_v2.schemas import Message, message_out
from parley.api.honcho_v3.markdown import MARKDOWN
from parley.api.honcho_v3.routing import family_router
from parley.auth.keys import Principal
from parley.errors import InvalidInput
from parley.memory.context import MAX_TOKENS, ContextRequest

router = family_router(prefix="/workspaces/{workspace_id}/sessions", tags=["sessions"])


class V3SessionContext(BaseModel):
    id: str
    messages: list[Message]
    summary: Summary | None = None
    peer_representation: str | None = None  # markdown; "" when nothing is known
    peer_card: list[str] | None = None
    tokens: int  # Parley: what the context counts, never above the `tokens` asked for


@router.get("/{session_id}/context", response_model=V3SessionContext)
async def get_session_context(
    workspace_id: Name,
    session_id: Name,
    state: StateDep,
    principal: Annotated[Principal, requires(Scope.SESSION)],
    # as in Honcho: at most the server's maximum; none at all (or less) is an empty context
    tokens: Annotated[int | None, Query(le=MAX_TOKENS)] = None,
    search_query: Annotated[str | None, Query(max_length=25_000)] = None,
    summary: bool = True,
    peer_target: EmptyOrIdQuery = None,
    peer_perspective: EmptyOrIdQuery = None,
    limit_to_session: bool = False,
    search_top_k: Annotated[int | None, Query(ge=1, le=100)] = None,
    search_max_distance: Annotated[float | None, Query(ge=0.0, le=1.0)] = None,
    include_most_frequent: bool = False,
    max_conclusions: Annotated[int | None, Query(ge=1, le=100)] = None,
) -> V3SessionContext:
    peer_target, peer_perspective = peer_target or None, peer_perspective or None
    if peer_perspective is not None and peer_target is None:
        raise InvalidInput("peer_target must be provided if peer_perspective is provided")
    context = await honcho_ops.session_context_for(
        state,
        principal,
        workspace_id,
        ContextRequest(
            session_id=session_id,
            tokens=tokens,
            summary=summary,
            last_message=search_query,
            observed=peer_target,
            observer=peer_perspective,
            limit_to_session=limit_to_session,
            search_top_k=search_top_k,
            search_max_distance=search_max_distance,
            include_most_derived=include_most_frequent,
            max_observations=max_conclusions,
            rendering=MARKDOWN,
        ),
    )
    return V3SessionContext(
        id=session_id,
        messages=[Message(**message_out(m)) for m in context.messages],
        summary=summary_out(context.summary),
        peer_representation=context.representation_text,
        peer_card=context.peer_card,
        tokens=context.tokens,
    )


# the same answer as /v2's: {id, short_summary, long_summary}, both null for an unknown session
router.add_api_route(
    "/{session_id}/summaries",
    v2_reasoning.get_session_summaries,
    methods=["GET"],
    response_model=SessionSummaries,
)
