"""/api/v1/data/projects/{projectId}/.../exports: Peaka's async exports of a saved query or a
table (Data -- Exports), run by the work queue (parley.data.exports), and the download of a
finished export's file, which Parley serves itself (`.../exports/{exportId}/file`, with the
project's keys) where Peaka hands out presigned object-store URLs."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Query, Request, Response
from fastapi.responses import FileResponse
from pydantic import BaseModel, ConfigDict, Field

from parley.api.deps import Name, OwnProject, ReadDb, SettingsDep, WriteDb
from parley.api.errors import peaka_errors
from parley.api.peaka_v1.deps import DataDep
from parley.api.peaka_v1.routing import family_router
from parley.api.storable import Storable
from parley.config import Settings
from parley.data import exports as service
from parley.data.export_files import MEDIA_TYPES, CsvOptions, unescape
from parley.errors import NotFound
from parley.store.data_models import DataExport

router = family_router(tags=["exports"])
PROJECT = "/data/projects/{project_id}"
EXPORTS = PROJECT + "/exports"
ONE = EXPORTS + "/{export_id}"
OptionText = Annotated[str, Field(max_length=10), Storable]


class ExportCsvOptions(BaseModel):
    model_config = ConfigDict(extra="ignore")

    delimiter: OptionText = ","
    quoteChar: OptionText = '"'
    recordSeparator: OptionText = "\n"
    includeHeader: bool = True
    nullValue: Annotated[str, Field(max_length=100), Storable] = ""


class ExportRequest(BaseModel):
    """Peaka's ExportRequest. `format` and `compression` are checked by the service, so that a
    name it does not know is Peaka's 400, not a validation 422."""

    model_config = ConfigDict(extra="ignore")

    format: Annotated[str, Field(max_length=40)] | None = None
    limit: int | None = None
    csvOptions: ExportCsvOptions | None = None
    includeSystemColumns: bool = True  # Parley's sources have no system columns
    columns: list[Annotated[str, Field(min_length=1, max_length=200), Storable]] | None = Field(
        default=None, max_length=1000
    )
    compression: Annotated[str, Field(max_length=40)] | None = None


class ExportJobCreated(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str
    status: str


class ExportFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    url: str
    bytes: int


class ExportJobResponse(BaseModel):
    """Fields that do not apply are left out (a PENDING export has no rowCount yet, a list
    item no files)."""

    model_config = ConfigDict(extra="forbid")

    id: str
    status: str
    format: str
    compression: str
    rowCount: int | None = None
    bytes: int | None = None
    durationMs: int | None = None
    files: list[ExportFile] | None = None
    downloadable: bool
    error: str | None = None
    createdAt: str
    queryId: str | None = None
    catalogId: str | None = None
    schemaName: str | None = None
    tableName: str | None = None
    source: str
    apiKeyPrefix: str | None = None
    clientSource: str | None = None


def _options(body: ExportRequest) -> service.ExportOptions:
    given = body.csvOptions or ExportCsvOptions()
    csv = CsvOptions(
        delimiter=unescape(given.delimiter),
        quote_char=unescape(given.quoteChar),
        record_separator=unescape(given.recordSeparator),
        include_header=given.includeHeader,
        null_value=given.nullValue,
    )
    return service.check_options(
        format=body.format,
        compression=body.compression,
        limit=body.limit,
        columns=body.columns,
        csv=csv,
    )


def _caller(request: Request, key_id: str | None) -> service.Caller:
    headers = request.headers
    return service.Caller(
        key_id=key_id, client_source=headers.get("x-trino-source") or headers.get("user-agent")
    )


def _iso(row: DataExport) -> str:
    return row.created_at.isoformat().replace("+00:00", "Z")


def _out(row: DataExport, policy: service.ExportPolicy, request: Request | None) -> dict[str, Any]:
    """An export as Peaka answers it; with `request` (a single export) its files too."""
    status = service.shown_status(policy, row)
    path = service.file_of(policy, row)
    body: dict[str, Any] = {
        "id": row.id,
        "status": status,
        "format": row.format,
        "compression": row.compression,
        "downloadable": path is not None,
        "createdAt": _iso(row),
        "source": row.source,
        "queryId": row.query_id,
        "catalogId": row.catalog_id,
        "schemaName": row.schema_name,
        "tableName": row.table_name,
        "apiKeyPrefix": row.api_key_prefix,
        "clientSource": row.client_source,
        "error": row.error,
    }
    if row.status != service.PENDING:
        body |= {"rowCount": row.row_count, "bytes": row.bytes}
    if row.started_at is not None and row.finished_at is not None:
        body["durationMs"] = int((row.finished_at - row.started_at).total_seconds() * 1000)
    if request is not None and path is not None:
        url = request.url_for("download_export", project_id=row.project_id, export_id=row.id)
        body["files"] = [
            {"name": row.file_name or path.name, "url": str(url), "bytes": path.stat().st_size}
        ]
    return {k: v for k, v in body.items() if v is not None}


def _policy(settings: Settings) -> service.ExportPolicy:
    return service.ExportPolicy.from_settings(settings)


CREATED: dict[int | str, dict[str, Any]] = {
    202: {"model": ExportJobCreated, "description": "Export job accepted"}
}


@router.post(
    PROJECT + "/queries/{query_id}/exports",
    status_code=202,
    response_model=ExportJobCreated,
    responses={**peaka_errors(400, 404), **CREATED},
)
async def export_query(
    project_id: Name,
    query_id: str,
    body: ExportRequest,
    request: Request,
    data: DataDep,
    principal: OwnProject,
) -> dict[str, str]:
    """Submits an async export of a saved query (its SQL as it is now) as CSV or JSONL; poll
    the export for its status, progress (`rowCount`) and download link."""
    row = await service.export_query(
        data,
        project_id=project_id,
        query_id=query_id,
        options=_options(body),
        caller=_caller(request, principal.key_id),
    )
    return {"id": row.id, "status": row.status}


@router.post(
    PROJECT + "/catalogs/{catalog_id}/schemas/{schema_name}/tables/{table_name}/exports",
    status_code=202,
    response_model=ExportJobCreated,
    responses={**peaka_errors(400, 404), **CREATED},
)
async def export_table(
    project_id: Name,
    catalog_id: str,
    schema_name: str,
    table_name: str,
    body: ExportRequest,
    request: Request,
    data: DataDep,
    principal: OwnProject,
) -> dict[str, str]:
    """Submits an async export of a table as CSV or JSONL (`columns`: the table's own)."""
    row = await service.export_table(
        data,
        project_id=project_id,
        catalog_id=catalog_id,
        schema_name=schema_name,
        table_name=table_name,
        options=_options(body),
        caller=_caller(request, principal.key_id),
    )
    return {"id": row.id, "status": row.status}


@router.get(
    EXPORTS,
    response_model=list[ExportJobResponse],
    response_model_exclude_none=True,
    responses=peaka_errors(400),
)
async def list_exports(
    project_id: Name,
    db: ReadDb,
    settings: SettingsDep,
    _: OwnProject,
    status: str | None = None,
    limit: Annotated[int, Query()] = 50,
    createdBefore: str | None = None,  # noqa: N803 - Peaka's query parameter name
) -> list[dict[str, Any]]:
    """The project's exports, newest first (`limit` clamped to [1, 200]; `createdBefore`: the
    last `createdAt` of the page before); without files (read one export for its link)."""
    policy = _policy(settings)
    wanted = service.parse_statuses(status)
    rows = await service.list_exports(
        db=db,
        project_id=project_id,
        statuses=wanted,
        limit=max(1, min(limit, 200)),
        created_before=service.parse_cursor(createdBefore),
    )
    shown = [_out(row, policy, None) for row in rows]
    return [s for s in shown if wanted is None or s["status"] in wanted]


@router.get(
    ONE,
    response_model=ExportJobResponse,
    response_model_exclude_none=True,
)
async def read_export(
    project_id: Name,
    export_id: str,
    request: Request,
    db: ReadDb,
    settings: SettingsDep,
    _: OwnProject,
) -> dict[str, Any]:
    """An export's status and progress; a SUCCEEDED one's `files` link to its download."""
    row = await service.get_export(db=db, project_id=project_id, export_id=export_id)
    return _out(row, _policy(settings), request)


@router.delete(
    ONE,
    status_code=204,
    response_class=Response,
    responses={204: {"description": "Cancellation accepted"}},
)
async def cancel_export(
    project_id: Name, export_id: str, db: WriteDb, settings: SettingsDep, _: OwnProject
) -> Response:
    """Cancels a PENDING or RUNNING export: the job stops at its next page and its partial
    file is removed. A no-op on a finished export (its file stays). Idempotent."""
    await service.cancel_export(
        db=db, policy=_policy(settings), project_id=project_id, export_id=export_id
    )
    return Response(status_code=204)


@router.get(
    ONE + "/file",
    name="download_export",
    response_class=FileResponse,
    responses={200: {"description": "The export's file", "content": {"text/csv": {}}}},
)
async def download_export(
    project_id: Name,
    export_id: str,
    db: ReadDb,
    settings: SettingsDep,
    _: OwnProject,
) -> FileResponse:
    """The file of a SUCCEEDED export (Parley's own route: Peaka links to object storage)."""
    row = await service.get_export(db=db, project_id=project_id, export_id=export_id)
    path = service.file_of(_policy(settings), row)
    if path is None:
        status = service.shown_status(_policy(settings), row)
        raise NotFound(f"Export {export_id} has no file to download (status {status})")
    media = "application/gzip" if row.compression == "GZIP" else MEDIA_TYPES[row.format]
    return FileResponse(path, media_type=media, filename=row.file_name or path.name)
