"""Connections: a data source's type and its credential, sealed at rest. A connection is tested
before it is stored; no database transaction is open while the test runs."""

from __future__ import annotations

import re
import shutil
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path, PurePath
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from parley.data.cache_files import CopyReaders
from parley.data.connectors import connector_class
from parley.data.connectors.base import BadCredential, Connector
from parley.data.connectors.results import DEFAULT_MAX_BYTES, DEFAULT_MAX_CELL_BYTES
from parley.data.credentials import CredentialBox
from parley.data.pool import ConnectorPool
from parley.data.projects import get_project
from parley.data.sql_work import SqlWork
from parley.errors import Conflict, NotFound, ParleyError
from parley.llm.embeddings import Embedder
from parley.store.data_models import DataConnection
from parley.store.engine import Database
from parley.store.models import utcnow
from parley.ttl_cache import TtlCache

if TYPE_CHECKING:
    from parley.data.execute import ProjectCatalog


@dataclass(frozen=True)
class DataServices:
    """What the data domain needs from the app: the database, open connectors, the sealer,
    the embedder (metadata search), the limits queries run under, the cache of each
    project's catalogs that queries read (see `parley.data.execute.project_catalogs`) and
    where SQL is parsed (`SqlWork`)."""

    database: Database
    pool: ConnectorPool
    box: CredentialBox
    embedder: Embedder
    query_timeout_s: float
    query_max_rows: int
    query_max_bytes: int = DEFAULT_MAX_BYTES
    query_max_cell_bytes: int = DEFAULT_MAX_CELL_BYTES
    agent_result_max_bytes: int = 256 * 1024
    catalogs: TtlCache[str, list[ProjectCatalog]] = field(default_factory=lambda: TtlCache(0.0))
    sql_work: SqlWork = field(default_factory=SqlWork)  # parsing and guarding, off the loop
    exports_dir: Path | None = None  # <data_dir>/exports (parley.data.exports)
    # cached tables and materialized queries (parley.data.caches): where their copies live,
    # how old a copy may be and still be read, and the readers open over them
    cache_dir: Path | None = None
    cache_max_age_s: float = 0.0
    copies: CopyReaders = field(default_factory=CopyReaders)

    async def close(self) -> None:
        await self.copies.close()
        await self.pool.close()
        await self.sql_work.close()

    def forget_project(self, project_id: str) -> None:
        """Call after a transaction that changed the project's catalogs, tables or
        connections (or deleted it) has committed."""
        self.catalogs.invalidate(project_id)


async def tested_connector(
    services: DataServices, connection_type: str, credential: object, project_id: str
) -> Connector:
    """Build and test a connector from a credential the client sent; closes it again."""
    if not isinstance(credential, dict):
        raise BadCredential("credential must be an object")
    if not connector_class(connection_type).user_creatable:
        raise BadCredential(f"connections of type {connection_type} are made by Parley itself")
    connector = services.pool.build(connection_type, credential, project_id)
    try:
        await connector.check()
    finally:
        await connector.close()
    return connector


async def create_connection(
    services: DataServices,
    *,
    project_id: str,
    name: str,
    connection_type: str,
    credential: dict[str, Any],
    connection_id: str | None = None,
) -> DataConnection:
    kind = connector_class(connection_type).type
    async with services.database.read() as db:
        await get_project(db=db, project_id=project_id)
    await tested_connector(services, kind, credential, project_id)
    row = DataConnection(
        id=connection_id or str(uuid.uuid4()),
        project_id=project_id,
        name=name,
        type=kind,
        credential=services.box.seal(credential),
    )
    try:
        async with services.database.write() as db:
            db.add(row)
            await db.flush()
    except IntegrityError as err:
        raise Conflict(f"a connection named {name!r} exists in this project") from err
    return row


async def get_connection(
    *, db: AsyncSession, project_id: str, connection_id: str
) -> DataConnection:
    row = await db.get(DataConnection, connection_id)
    if row is None or row.project_id != project_id:
        raise NotFound(f"Connection {connection_id} not found")
    return row


async def list_connections(*, db: AsyncSession, project_id: str) -> list[DataConnection]:
    await get_project(db=db, project_id=project_id)
    rows = await db.scalars(
        select(DataConnection)
        .where(DataConnection.project_id == project_id)
        .order_by(DataConnection.created_at, DataConnection.id)
    )
    return list(rows)


async def update_connection(
    services: DataServices,
    *,
    db: AsyncSession,
    project_id: str,
    connection_id: str,
    name: str | None,
    sealed_credential: tuple[str, str] | None,
) -> DataConnection:
    """`sealed_credential` is (type, ciphertext) of a credential already tested."""
    row = await get_connection(db=db, project_id=project_id, connection_id=connection_id)
    if name is not None and name != row.name:
        clash = await db.scalar(
            select(DataConnection.id).where(
                DataConnection.project_id == project_id, DataConnection.name == name
            )
        )
        if clash is not None:
            raise Conflict(f"a connection named {name!r} exists in this project")
        row.name = name
    if sealed_credential is not None:
        row.type, row.credential = sealed_credential
        row.updated_at = utcnow()
    await db.flush()
    await services.pool.forget(connection_id)
    return row


async def delete_connection(
    services: DataServices, *, db: AsyncSession, project_id: str, connection_id: str
) -> None:
    row = await get_connection(db=db, project_id=project_id, connection_id=connection_id)
    await db.delete(row)
    await db.flush()
    await services.pool.forget(connection_id)
    uploads = services.pool.env.for_project(project_id).project_uploads()
    if uploads is not None:
        folder = uploads / row.id
        if folder.is_dir():
            shutil.rmtree(folder, ignore_errors=True)


async def create_uploaded_connection(
    services: DataServices,
    *,
    project_id: str,
    name: str,
    connection_type: str,
    filename: str,
    data: bytes,
    options: dict[str, Any],
) -> DataConnection:
    """Store an uploaded file in the project's upload folder and connect to it there."""
    async with services.database.read() as db:  # nothing is written for an unknown project
        await get_project(db=db, project_id=project_id)
    uploads = services.pool.env.for_project(project_id).project_uploads()
    if uploads is None:
        raise BadCredential("uploads are not available on this server")
    connection_id = str(uuid.uuid4())
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", PurePath(filename).name)[:100].lstrip(".") or "upload"
    folder = uploads / connection_id
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / safe
    path.write_bytes(data)
    credential = {"path": str(path), **options}
    try:
        return await create_connection(
            services,
            project_id=project_id,
            name=name,
            connection_type=connection_type,
            credential=credential,
            connection_id=connection_id,
        )
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise


def connection_detail(services: DataServices, row: DataConnection) -> dict[str, Any]:
    """The non-secret parts of the credential, as the connector describes them."""
    try:
        connector = services.pool.build(row.type, services.box.open(row.credential), row.project_id)
    except ParleyError:
        return {"type": row.type}
    return connector.detail()


class ConnectionLike(Protocol):
    """A stored connection row or a frozen copy of one (`execute.ConnectionRef`): read only."""

    @property
    def id(self) -> str: ...
    @property
    def project_id(self) -> str: ...
    @property
    def type(self) -> str: ...
    @property
    def credential(self) -> str: ...
    @property
    def updated_at(self) -> datetime: ...


async def open_connector(services: DataServices, row: ConnectionLike) -> Connector:
    version = row.updated_at.isoformat()
    found = services.pool.current(row.id, version)
    if found is not None:
        return found
    return await services.pool.get(
        connection_id=row.id,
        project_id=row.project_id,
        version=version,
        connection_type=row.type,
        credential=services.box.open(row.credential),
    )
