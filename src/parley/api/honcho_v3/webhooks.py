"""/v3/workspaces/{workspace_id}/webhooks: /v2's endpoints (api/honcho_v2/webhooks.py) with
v3's status codes: get-or-create answers 201 when it created, delete 204 with no body. The
list and the test emit are /v2's handlers (the emit answers what it queued, where Honcho 3
answers null)."""

from __future__ import annotations

from typing import Any

from fastapi import Response

from parley.api.deps import Name, StateDep, WorkspaceAccess, WriteDb
from parley.api.errors import detail_errors
from parley.api.honcho_v2 import webhooks as v2_webhooks
from parley.api.honcho_v2.schemas import Page, WebhookEndpoint, WebhookEndpointCreate
from parley.api.honcho_v3.created import answer_created, created_responses
from parley.api.honcho_v3.routing import family_router
from parley.memory import webhooks as service

router = family_router(prefix="/workspaces/{workspace_id}/webhooks", tags=["webhooks"])


@router.post(
    "",
    response_model=WebhookEndpoint,
    responses=created_responses(WebhookEndpoint) | detail_errors(409),
)
async def get_or_create_webhook_endpoint(
    workspace_id: Name,
    body: WebhookEndpointCreate,
    response: Response,
    state: StateDep,
    db: WriteDb,
    principal: WorkspaceAccess,
) -> dict[str, Any]:
    was = await service.find_endpoint(db=db, workspace_id=workspace_id, url=body.url)
    made = await v2_webhooks.get_or_create_webhook_endpoint(
        workspace_id, body, state, db, principal
    )
    answer_created(response, existed=was is not None)
    return made


router.add_api_route(
    "", v2_webhooks.list_webhook_endpoints, methods=["GET"], response_model=Page[WebhookEndpoint]
)
router.add_api_route("/test", v2_webhooks.test_emit, methods=["GET"])


@router.delete("/{endpoint_id}", status_code=204, response_model=None)
async def delete_webhook_endpoint(
    workspace_id: Name, endpoint_id: Name, db: WriteDb, _: WorkspaceAccess
) -> Response:
    await service.delete_endpoint(db=db, workspace_id=workspace_id, endpoint_id=endpoint_id)
    return Response(status_code=204)
