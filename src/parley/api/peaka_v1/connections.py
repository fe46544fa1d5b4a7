"""/api/v1/connections: credentials go in, and never come out of any route."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, File, Form, Response, UploadFile

from parley import erasure
from parley.api.deps import (
    AnyKey,
    DataChange,
    Name,
    OwnProject,
    ReadDb,
    SettingsDep,
    StateDep,
    WriteDb,
)
from parley.api.errors import peaka_errors
from parley.api.peaka_v1 import responses as out
from parley.api.peaka_v1.deps import DataDep
from parley.api.peaka_v1.routing import family_router
from parley.api.peaka_v1.schemas import ConnectionRequest, connection_out
from parley.data import connections as service
from parley.data.connectors import connector_class, connector_classes
from parley.data.connectors.base import BadCredential
from parley.errors import NotFound, TooLarge

router = family_router(tags=["connections"])


@router.get("/connections/config", response_model=list[out.ConnectionConfiguration])
async def list_connection_config(_: AnyKey) -> list[dict[str, Any]]:
    return [c.configuration() for c in connector_classes()]


@router.get("/connections/config/{connection_type}", response_model=out.ConnectionConfiguration)
async def get_connection_config(connection_type: str, _: AnyKey) -> dict[str, Any]:
    try:
        found = connector_class(connection_type)
    except BadCredential as err:
        raise NotFound(err.detail) from err
    if not found.user_creatable:  # Parley's own (INTERNAL): not a type clients connect
        raise NotFound(f"unknown connection type {connection_type!r}")
    return found.configuration()


@router.get("/connections/{project_id}", response_model=list[out.Connection])
async def list_connections(project_id: Name, db: ReadDb, _: OwnProject) -> list[dict[str, Any]]:
    return [connection_out(c) for c in await service.list_connections(db=db, project_id=project_id)]


@router.post(
    "/connections/{project_id}", responses=peaka_errors(409), response_model=out.Connection
)
async def create_connection(
    project_id: Name, body: ConnectionRequest, data: DataDep, _: OwnProject
) -> dict[str, Any]:
    """Tested before it is stored: a source Parley cannot read is a 400 that says why."""
    row = await service.create_connection(
        data,
        project_id=project_id,
        name=body.name,
        connection_type=body.type,
        credential=body.credential if body.credential is not None else {},
    )
    return connection_out(row)


@router.post(
    "/connections/{project_id}/upload", responses=peaka_errors(409), response_model=out.Connection
)
async def upload_connection(
    project_id: Name,
    data: DataDep,
    settings: SettingsDep,
    _: OwnProject,
    file: Annotated[UploadFile, File()],
    name: Annotated[str, Form(min_length=1, max_length=200)],
    type: Annotated[str, Form(max_length=40)] = "FILE",
    tableName: Annotated[str | None, Form(max_length=128)] = None,  # noqa: N803
    format: Annotated[str | None, Form(max_length=20)] = None,
) -> dict[str, Any]:
    """A Parley extension: upload a CSV, Parquet, JSON or SQLite file and connect to it. The
    file is kept in the project's own upload folder, which no other project can read."""
    content = await file.read(settings.max_upload_bytes + 1)
    if len(content) > settings.max_upload_bytes:
        raise TooLarge(f"file is larger than {settings.max_upload_bytes} bytes")
    options = {k: v for k, v in (("tableName", tableName), ("format", format)) if v}
    row = await service.create_uploaded_connection(
        data,
        project_id=project_id,
        name=name,
        connection_type=type,
        filename=file.filename or "upload",
        data=content,
        options=options,
    )
    return connection_out(row)


@router.get("/connections/{project_id}/{connection_id}", response_model=out.Connection)
async def get_connection(
    project_id: Name, connection_id: str, db: ReadDb, _: OwnProject
) -> dict[str, Any]:
    row = await service.get_connection(db=db, project_id=project_id, connection_id=connection_id)
    return connection_out(row)


@router.get("/connections/{project_id}/{connection_id}/detail", response_model=out.ConnectionDetail)
async def get_connection_detail(
    project_id: Name, connection_id: str, db: ReadDb, data: DataDep, _: OwnProject
) -> dict[str, Any]:
    """Only what is not secret: no password, token or DSN."""
    row = await service.get_connection(db=db, project_id=project_id, connection_id=connection_id)
    return service.connection_detail(data, row)


@dataclass(frozen=True)
class TestedUpdate:
    name: str
    sealed: tuple[str, str] | None


async def tested_update(project_id: Name, body: ConnectionRequest, data: DataDep) -> TestedUpdate:
    """Tests a new credential before the route's write transaction opens (dependencies run in
    the order the route declares them, and the write session comes after this one)."""
    if body.credential is None:
        return TestedUpdate(body.name, None)
    kind = connector_class(body.type).type
    await service.tested_connector(data, kind, body.credential, project_id)
    return TestedUpdate(body.name, (kind, data.box.seal(body.credential)))


@router.put(
    "/connections/{project_id}/{connection_id}",
    responses=peaka_errors(409),
    response_model=out.Connection,
)
async def update_connection(
    project_id: Name,
    connection_id: str,
    _: OwnProject,
    update: Annotated[TestedUpdate, Depends(tested_update)],
    __: DataChange,
    db: WriteDb,
    data: DataDep,
) -> dict[str, Any]:
    row = await service.update_connection(
        data,
        db=db,
        project_id=project_id,
        connection_id=connection_id,
        name=update.name,
        sealed_credential=update.sealed,
    )
    return connection_out(row)


@router.delete(
    "/connections/{project_id}/{connection_id}",
    response_class=Response,
    responses={200: {"description": "Connection deleted"}},
)
async def delete_connection(
    project_id: Name,
    connection_id: str,
    _: OwnProject,
    __: DataChange,
    db: WriteDb,
    data: DataDep,
    state: StateDep,
) -> Response:
    """Deletes the connection and its catalogs, and their copies in the agent's threads."""
    await erasure.delete_connection(
        data, db, reasoning=state.reasoning, project_id=project_id, connection_id=connection_id
    )
    return Response(status_code=200)
