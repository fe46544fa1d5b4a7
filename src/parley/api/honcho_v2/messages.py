"""/v2/workspaces/{workspace_id}/sessions/{session_id}/messages"""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import datetime
from typing import Annotated, Any

from fastapi import BackgroundTasks, Body, File, Form, Query, UploadFile
from pydantic import TypeAdapter, ValidationError

from parley import erasure
from parley.api.access import check_deletes_as, check_sends_as, check_session_write
from parley.api.deps import (
    Name,
    PageNumber,
    PageSize,
    ReadDb,
    Scope,
    SessionAccess,
    SettingsDep,
    StateDep,
    WriteDb,
    requires,
)
from parley.api.errors import detail_errors
from parley.api.honcho_v2.routing import family_router
from parley.api.honcho_v2.schemas import (
    CreateName,
    Filters,
    Message,
    MessageBatchCreate,
    MessageConfiguration,
    MessageUpdate,
    Page,
    config_dict,
    message_out,
    page_of,
)
from parley.api.storable import AwareDatetime, StoredJson
from parley.auth.keys import Principal
from parley.errors import InvalidInput, TooLarge
from parley.memory import messages as service
from parley.memory.messages import NewMessage
from parley.memory.uploads import extract_text, split_text

log = logging.getLogger("parley.uploads")

router = family_router(
    prefix="/workspaces/{workspace_id}/sessions/{session_id}/messages", tags=["messages"]
)

_metadata = TypeAdapter(StoredJson)
_datetime = TypeAdapter(AwareDatetime)


def embed_soon(background: BackgroundTasks, state: Any) -> None:
    """Wake the embedding indexer and the worker once the response is out (so after the
    commit)."""
    background.add_task(state.indexer.notify)
    if state.worker is not None:
        background.add_task(state.worker.notify)


@router.post("/", response_model=list[Message])
@router.post("", response_model=list[Message], include_in_schema=False)  # honcho-core 1.7+
async def create_messages(
    workspace_id: Name,
    session_id: Name,
    body: MessageBatchCreate,
    db: WriteDb,
    state: StateDep,
    background: BackgroundTasks,
    principal: Annotated[Principal, requires(Scope.WORKSPACE_MEMBER)],
) -> list[dict[str, Any]]:
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
                configuration=config_dict(m.configuration),
                created_at=m.created_at,
            )
            for m in body.messages
        ],
        reasoning=state.reasoning,
    )
    embed_soon(background, state)
    return [message_out(row) for row in rows]


@router.post("/upload", response_model=list[Message], responses=detail_errors(415))
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
        configuration_model=MessageConfiguration,
    )
    embed_soon(background, state)
    return [message_out(row) for row in rows]


async def store_upload(
    *,
    principal: Principal,
    settings: Any,
    db: Any,
    state: Any,
    workspace_id: str,
    session_id: str,
    file: UploadFile,
    peer_id: str,
    metadata: str | None,
    configuration: str | None,
    created_at: str | None,
    configuration_model: Any,
    stored_configuration: Any = config_dict,
    metadata_model: Any = _metadata,
) -> list[Any]:
    """An uploaded file as messages of `peer_id` (its text split into chunks), for /v2 and /v3
    alike; `configuration_model` is the family's message configuration and
    `stored_configuration` turns it into the stored dict; `metadata_model` checks the
    metadata."""
    check_sends_as(principal, [peer_id])
    await check_session_write(
        principal,
        db=db,
        workspace_id=workspace_id,
        session_id=session_id,
        joining_peers=[peer_id],
    )
    data = await file.read(settings.max_upload_bytes + 1)
    if len(data) > settings.max_upload_bytes:
        raise TooLarge(f"file is larger than {settings.max_upload_bytes} bytes")
    # PDF parsing can take a while: off the event loop, so other requests go on meanwhile.
    text = await asyncio.to_thread(
        extract_text, filename=file.filename or "upload", content_type=file.content_type, data=data
    )
    # An empty file is one empty message, as in Honcho.
    chunks = split_text(text, service.MAX_CONTENT_CHARS) or [""]
    message_metadata = _form_json("metadata", metadata, metadata_model) or {}
    message_config = _form_json("configuration", configuration, configuration_model)
    when = _form_datetime(created_at)
    file_info = {
        "file_name": file.filename,
        "file_type": file.content_type,
        "file_size": len(data),
        "total_chunks": len(chunks),
    }
    return await service.create_messages(
        db=db,
        workspace_id=workspace_id,
        session_id=session_id,
        messages=[
            NewMessage(
                content=chunk,
                peer_id=peer_id,
                metadata=message_metadata,
                configuration=stored_configuration(message_config),
                created_at=when,
                internal_metadata={"upload": file_info | {"chunk_index": index}},
            )
            for index, chunk in enumerate(chunks)
        ],
        reasoning=state.reasoning,
    )


def _form_json(name: str, value: str | None, adapter: Any) -> Any:
    """A JSON form field. Text that is not JSON at all is ignored, as Honcho ignores it; JSON
    of the wrong shape is a 422 (Honcho answers 500)."""
    if not value:
        return None
    try:
        json.loads(value)
    except (json.JSONDecodeError, RecursionError):
        log.warning("upload form field %r is not JSON; ignored, as Honcho does", name)
        return None
    try:
        if isinstance(adapter, TypeAdapter):
            return adapter.validate_json(value)
        return adapter.model_validate_json(value)
    except ValidationError as err:
        problem = err.errors()[0]["msg"]
        raise InvalidInput(f"form field {name!r} is not valid: {problem}") from err


def _form_datetime(value: str | None) -> datetime | None:
    """ISO 8601 (a trailing Z is UTC, no zone is UTC); anything else is ignored, as in Honcho."""
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        log.warning("upload form field 'created_at' is not an ISO 8601 date; ignored")
        return None
    return _datetime.validate_python(parsed)


@router.post("/list", response_model=Page[Message])
async def list_messages(
    workspace_id: Name,
    session_id: Name,
    db: ReadDb,
    _: SessionAccess,
    body: Annotated[Filters | None, Body()] = None,
    reverse: Annotated[bool, Query()] = False,
    page: PageNumber = 1,
    size: PageSize = 50,
) -> dict[str, Any]:
    result = await service.list_messages(
        db=db,
        workspace_id=workspace_id,
        session_id=session_id,
        filters=body.filters if body else None,
        reverse=reverse,
        page=page,
        size=size,
    )
    return page_of(result, message_out)


@router.get("/{message_id}", response_model=Message)
async def get_message(
    workspace_id: Name, session_id: Name, message_id: Name, db: ReadDb, _: SessionAccess
) -> dict[str, Any]:
    row = await service.get_message(
        db=db, workspace_id=workspace_id, session_id=session_id, message_id=message_id
    )
    return message_out(row)


@router.put("/{message_id}", response_model=Message)
async def update_message(
    workspace_id: Name,
    session_id: Name,
    message_id: Name,
    body: MessageUpdate,
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


@router.delete("/{message_id}")
async def delete_message(
    workspace_id: Name,
    session_id: Name,
    message_id: Name,
    db: WriteDb,
    state: StateDep,
    principal: SessionAccess,
) -> dict[str, str]:
    """Parley's extension (Honcho has no message delete): deletes the message before
    answering, with its embedding and full-text entry, its queue items, the observations
    derived only from it, the summaries that covered it (written again) and the peer cards
    made from its facts (rebuilt); no search, context, chat or agent thread returns it again.
    A peer key deletes only its own peer's messages."""
    row = await service.get_message(
        db=db, workspace_id=workspace_id, session_id=session_id, message_id=message_id
    )
    check_deletes_as(principal, row.peer_id, message_id)
    await erasure.delete_message(
        db,
        reasoning=state.reasoning,
        workspace_id=workspace_id,
        session_id=session_id,
        message_id=message_id,
    )
    return {"message": "Message deleted successfully"}
