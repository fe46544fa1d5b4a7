"""/v2/workspaces/{workspace_id}/webhooks"""

from __future__ import annotations

from typing import Any

from fastapi import BackgroundTasks
from fastapi.exceptions import RequestValidationError

from parley.api.deps import (
    Name,
    PageNumber,
    PageSize,
    ReadDb,
    StateDep,
    WorkspaceAccess,
    WriteDb,
)
from parley.api.errors import detail_errors
from parley.api.honcho_v2.routing import family_router
from parley.api.honcho_v2.schemas import (
    Page,
    WebhookEndpoint,
    WebhookEndpointCreate,
    page_of,
    webhook_out,
)
from parley.errors import InvalidInput
from parley.memory import webhooks as service
from parley.memory.webhook_delivery import enqueue_event

router = family_router(prefix="/workspaces/{workspace_id}/webhooks", tags=["webhooks"])


def url_refused(url: str, reason: str) -> RequestValidationError:
    """The 422 Honcho answers for a URL its body validator refuses: a list of one pydantic
    value error on `body.url`. Parley's checks (private targets included) answer in that shape."""
    return RequestValidationError(
        [
            {
                "type": "value_error",
                "loc": ("body", "url"),
                "msg": f"Value error, {reason}",
                "input": url,
                "ctx": {"error": {}},
            }
        ]
    )


@router.post("", response_model=WebhookEndpoint, responses=detail_errors(409))
async def get_or_create_webhook_endpoint(
    workspace_id: Name,
    body: WebhookEndpointCreate,
    state: StateDep,
    db: WriteDb,
    _: WorkspaceAccess,
) -> dict[str, Any]:
    try:
        await service.check_target(
            body.url, allow_private_hosts=state.settings.webhook_allow_private_hosts
        )
    except InvalidInput as err:
        raise url_refused(body.url, err.detail) from err
    row = await service.get_or_create_endpoint(
        db=db,
        workspace_id=workspace_id,
        url=body.url,
        max_per_workspace=state.settings.max_webhooks_per_workspace,
    )
    return webhook_out(row)


@router.get("", response_model=Page[WebhookEndpoint])
async def list_webhook_endpoints(
    workspace_id: Name,
    db: ReadDb,
    _: WorkspaceAccess,
    page: PageNumber = 1,
    size: PageSize = 50,
) -> dict[str, Any]:
    result = await service.list_endpoints(db=db, workspace_id=workspace_id, page=page, size=size)
    return page_of(result, webhook_out)


@router.get("/test")
async def test_emit(
    workspace_id: Name,
    state: StateDep,
    db: WriteDb,
    background: BackgroundTasks,
    _: WorkspaceAccess,
) -> dict[str, Any]:
    """Queue a signed `test.event` for every endpoint of the workspace (delivered by the
    worker); an unknown workspace has none to send to (Honcho answers 200 there too)."""
    sent = await enqueue_event(
        db, workspace_id=workspace_id, event_type="test.event", data={"workspace_id": workspace_id}
    )
    if sent and state.worker is not None:
        background.add_task(state.worker.notify)  # after the commit
    return {"message": f"test.event queued for {sent} endpoint(s)", "endpoints": sent}


@router.delete("/{endpoint_id}")
async def delete_webhook_endpoint(
    workspace_id: Name, endpoint_id: Name, db: WriteDb, _: WorkspaceAccess
) -> dict[str, str]:
    await service.delete_endpoint(db=db, workspace_id=workspace_id, endpoint_id=endpoint_id)
    return {"message": f"Webhook endpoint {endpoint_id} deleted"}
