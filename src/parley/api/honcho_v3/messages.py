"""/v3/workspaces/{workspace_id}/sessions/{session_id}/messages. As /v2, but a batch and an
upload answer 201, and a message's configuration has v3's `reasoning` section."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import BackgroundTasks, File, Form, UploadFile
from pydantic import TypeAdapter

from parley.api.access import check_sends_as, check_session_write
from parley.api.deps import (
    Name,
    Scope,
    SessionAccess,
    SettingsDep,
    StateDep,
    WriteDb,
    requires,
)
from parley.api.errors import detail_errors
from parley.api.honcho_v2 import messages as v2_messages
from parley.api.honcho_v2.messages import embed_soon, store_upload
from parley.api.honcho_v2.schemas import (
    CreateName,
    Message,
    Page,
    message_out,
)
from parley.api.honcho_v3.routing import family_router
from parley.api.honcho_v3.schemas import (
    Metadata,
    V3MessageBatchCreate,
    V3MessageConfiguration,
    V3MessageUpdate,
    to_stored,
)
from parley.auth.keys import Principal
from parley.memory import messages as service
from parley.memory.messages import NewMessage

router = family_router(
    prefix="/workspaces/{workspace_id}/sessions/{session_id}/messages", tags=["messages"]
)

_metadata = TypeAdapter(Metadata)


@router.post("", response_model=list[Message], status_code=201)
@router.post("/", response_model=list[Message], status_code=201, include_in_schema=False)
async def create_messages(
    workspace_id: Name,
    session_id: Name,
    body: V3MessageBatchCreate,
    db: WriteDb,
    state: StateDep,
    background: BackgroundTasks,
    principal: Annotated[Principal, requires(Scope.WORKSPACE_MEMBER)],
) -> list[dict[str, Any]]:
    """Creates the session, its workspace and the senders as needed, as in Honcho."""
    check_sends_as(principal, [m.peer_id for m in body.messages])
    await check_session_write(
        principal,
        db=db,
        workspace_id=workspace_id,
        session_id=session_id,
        joining_peers=[m.peer_id for m in body.messages],
    )
    rows = await service.create_messages(
        db=db,
        workspace_id=workspace_id,
        session_id=session_id,
        messages=[
            NewMessage(
                content=m.content,
                peer_id=m.peer_id,
                metadata=m.metadata or {},
                configuration=to_stored(m.configuration),
                created_at=m.created_at,
            )
            for m in body.messages
        ],
        reasoning=state.reasoning,
    )
    embed_soon(background, state)
    return [message_out(row) for row in rows]


@router.post("/upload", response_model=list[Message], status_code=201, responses=detail_errors(415))
async def create_messages_with_file(
    workspace_id: Name,
    session_id: Name,
    settings: SettingsDep,
    db: WriteDb,
    state: StateDep,
    background: BackgroundTasks,
    principal: Annotated[Principal, requires(Scope.WORKSPACE_MEMBER)],
    file: Annotated[UploadFile, File()],
    peer_id: Annotated[CreateName, Form()],
    metadata: Annotated[str | None, Form()] = None,
    configuration: Annotated[str | None, Form()] = None,
    created_at: Annotated[str | None, Form()] = None,
) -> list[dict[str, Any]]:
    rows = await store_upload(
        principal=principal,
        settings=settings,
        db=db,
        state=state,
        workspace_id=workspace_id,
        session_id=session_id,
        file=file,
        peer_id=peer_id,
        metadata=metadata,
        configuration=configuration,
        created_at=created_at,
        configuration_model=V3MessageConfiguration,
        stored_configuration=to_stored,
        metadata_model=_metadata,
    )
    embed_soon(background, state)
    return [message_out(row) for row in rows]


# as /v2's (which takes `reverse` too); an unknown session has none
router.add_api_route(
    "/list", v2_messages.list_messages, methods=["POST"], response_model=Page[Message]
)
router.add_api_route(
    "/{message_id}", v2_messages.get_message, methods=["GET"], response_model=Message
)


@router.put("/{message_id}", response_model=Message)
async def update_message(
    workspace_id: Name,
    session_id: Name,
    message_id: Name,
    body: V3MessageUpdate,
    db: WriteDb,
    _: SessionAccess,
) -> dict[str, Any]:
    row = await service.update_message(
        db=db,
        workspace_id=workspace_id,
        session_id=session_id,
        message_id=message_id,
        metadata=body.metadata,
    )
    return message_out(row)
