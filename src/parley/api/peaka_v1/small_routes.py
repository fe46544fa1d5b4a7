"""Small /api/v1 routes: the agent graph's picture and the OAuth2 connection callback."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import Response
from pydantic import Field

from parley.agent.workflow import layout, render_png
from parley.api.deps import AnyKey, Name, OwnProject
from parley.api.errors import peaka_errors
from parley.api.peaka_v1 import responses as out
from parley.api.peaka_v1.deps import DataDep
from parley.api.peaka_v1.routing import family_router
from parley.api.peaka_v1.schemas import Body
from parley.data import oauth2_grants

router = family_router()


@router.get(
    "/ai-agent/workflow/png",
    tags=["agent"],
    response_class=Response,
    responses={200: {"content": {"image/png": {}}, "description": "The agent's graph"}},
)
async def workflow_png(_: AnyKey) -> Response:
    """The data agent's graph, drawn from its definition (`parley.agent.workflow.GRAPH`)."""
    png = await asyncio.to_thread(lambda: render_png(layout()))
    return Response(png, media_type="image/png")


class OAuth2Callback(Body):
    queryParameters: Annotated[str, Field(min_length=1, max_length=8192)]


@router.post(
    "/connections/{project_id}/oauth2",
    tags=["connections"],
    responses=peaka_errors(400),
    response_model=out.Connection,
)
async def oauth2_callback(
    project_id: Name, body: OAuth2Callback, data: DataDep, _: OwnProject
) -> dict[str, Any]:
    """Stores the grant for the connector type named in `state` (sealed like connection
    credentials) and answers it as a Connection; the provider's `error` is a 400."""
    row = await oauth2_grants.store_grant(data, project_id=project_id, query=body.queryParameters)
    return {"id": row.id, "name": row.name, "type": row.connector_type}
