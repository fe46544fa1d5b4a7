"""/api/v1/data/projects/{projectId}/table and /bitable: Peaka Tables and Peaka BI Tables,
tables inside Parley (see `parley.data.internal`). One implementation, two route sets: a BI
Table holds no JSON column and has no CSV import or sample routes, as in Peaka's API."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Annotated, Any

from fastapi import Body, Request, Response
from pydantic import BaseModel, ConfigDict, Field
from python_multipart.multipart import MultipartParser, parse_options_header

from parley.api.deps import Name, OwnProject, SettingsDep
from parley.api.errors import peaka_errors
from parley.api.peaka_v1 import responses as out
from parley.api.peaka_v1.deps import DataDep
from parley.api.peaka_v1.routing import family_router
from parley.data.internal import csv_import
from parley.data.internal import service as internal
from parley.data.internal.names import MAX_DEFAULT_CHARS, MAX_DISPLAY_NAME_CHARS, Flavour
from parley.errors import InvalidInput, TooLarge, UnsupportedMedia

router = family_router(tags=["internal tables"])
PROJECT = "/data/projects/{project_id}"
MAX_REQUEST_PART_BYTES = 64 * 1024
ColumnName = Annotated[str, Field(max_length=200)]


class ColumnRequest(BaseModel):
    """Peaka's ColumnRequest; on PUT, fields left out keep the column's current values."""

    model_config = ConfigDict(extra="ignore")

    name: ColumnName | None = None
    dataType: str | None = Field(default=None, max_length=40)
    displayName: str | None = Field(default=None, max_length=MAX_DISPLAY_NAME_CHARS)
    defaultValue: str | None = Field(default=None, max_length=MAX_DEFAULT_CHARS)
    isNotNull: bool | None = None
    isUnique: bool | None = None


class ImportJob(BaseModel):
    id: str
    status: str
    startTime: int
    endTime: int
    progress: int
    result: dict[str, Any]


def _add(flavour: Flavour, with_import: bool) -> None:
    base = f"{PROJECT}/{flavour.schema}"
    kind = "Peaka Table" if flavour is Flavour.TABLE else "Peaka BI Table"
    suffix = "" if flavour is Flavour.TABLE else "_bi"

    async def list_tables(project_id: Name, data: DataDep, _: OwnProject) -> list[dict[str, Any]]:
        return await internal.list_tables(data, project_id=project_id, flavour=flavour)

    async def create_table(
        project_id: Name, table_name: str, data: DataDep, _: OwnProject
    ) -> dict[str, Any]:
        return await internal.create_table(
            data, project_id=project_id, flavour=flavour, table=table_name
        )

    async def delete_table(
        project_id: Name, table_name: str, data: DataDep, _: OwnProject
    ) -> Response:
        await internal.delete_table(data, project_id=project_id, flavour=flavour, table=table_name)
        return Response(status_code=200)

    async def list_columns(
        project_id: Name, table_name: str, data: DataDep, _: OwnProject
    ) -> list[dict[str, Any]]:
        return await internal.list_columns(
            data, project_id=project_id, flavour=flavour, table=table_name
        )

    async def add_columns(
        project_id: Name,
        table_name: str,
        body: Annotated[ColumnRequest | list[ColumnRequest], Body()],
        data: DataDep,
        _: OwnProject,
    ) -> list[dict[str, Any]]:
        bodies = body if isinstance(body, list) else [body]
        if not bodies:
            raise InvalidInput("give at least one column")
        return await internal.add_columns(
            data,
            project_id=project_id,
            flavour=flavour,
            table=table_name,
            bodies=[b.model_dump(exclude_unset=True) for b in bodies],
        )

    async def update_column(
        project_id: Name,
        table_name: str,
        column_name: str,
        body: ColumnRequest,
        data: DataDep,
        _: OwnProject,
    ) -> list[dict[str, Any]]:
        return await internal.update_column(
            data,
            project_id=project_id,
            flavour=flavour,
            table=table_name,
            column=column_name,
            body=body.model_dump(exclude_unset=True),
        )

    async def delete_column(
        project_id: Name, table_name: str, column_name: str, data: DataDep, _: OwnProject
    ) -> Response:
        await internal.delete_column(
            data, project_id=project_id, flavour=flavour, table=table_name, column=column_name
        )
        return Response(status_code=200)

    deleted = {200: {"description": "Deleted"}}
    routes: list[tuple[str, str, Any, dict[str, Any]]] = [
        ("GET", base, list_tables, {"response_model": list[out.Table]}),
        ("POST", base + "/{table_name}", create_table, {"response_model": out.Table}),
        (
            "DELETE",
            base + "/{table_name}",
            delete_table,
            {"response_class": Response, "responses": deleted},
        ),
        (
            "GET",
            base + "/{table_name}/columns",
            list_columns,
            {"response_model": list[out.ColumnDetail]},
        ),
        (
            "POST",
            base + "/{table_name}/columns",
            add_columns,
            {"response_model": list[out.ColumnDetail], "responses": peaka_errors(409)},
        ),
        (
            "PUT",
            base + "/{table_name}/columns/{column_name}",
            update_column,
            {"response_model": list[out.ColumnDetail], "responses": peaka_errors(409)},
        ),
        (
            "DELETE",
            base + "/{table_name}/columns/{column_name}",
            delete_column,
            {"response_class": Response, "responses": deleted},
        ),
    ]
    for method, path, endpoint, extra in routes:
        name = endpoint.__name__ + suffix
        endpoint.__name__ = name
        endpoint.__doc__ = f"{name.replace('_', ' ').capitalize()} ({kind})."
        router.add_api_route(path, endpoint, methods=[method], name=name, **extra)
    if with_import:
        router.add_api_route(
            base + "/{table_name}/import",
            import_csv,
            methods=["POST"],
            response_model=ImportJob,
            responses=peaka_errors(409),
            openapi_extra={"requestBody": IMPORT_BODY},
        )
        router.add_api_route(
            base + "/{table_name}/sample",
            sample_csv,
            methods=["GET"],
            response_class=Response,
            responses={200: {"content": {"text/csv": {"schema": {"type": "string"}}}}},
        )


IMPORT_BODY = {
    "required": True,
    "content": {
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "required": ["file", "request"],
                "properties": {
                    "file": {"type": "string", "format": "binary", "description": "CSV file"},
                    "request": {
                        "type": "string",
                        "description": "JSON: {mappings: [{name, csvColumnName | "
                        "csvColumnIndex}], containsHeader}",
                    },
                },
            }
        }
    },
}


async def _receive_parts(
    request: Request, folder: Path, max_bytes: int
) -> tuple[Path, dict[str, Any]]:
    """The multipart body streamed to disk: the `file` part written to `folder` as it comes
    (never whole in memory; 413 past `max_bytes`), the `request` part (small) decoded."""
    content_type, options = parse_options_header(request.headers.get("content-type", ""))
    boundary = options.get(b"boundary")
    if content_type != b"multipart/form-data" or not boundary:
        raise UnsupportedMedia("send multipart/form-data with a file part and a request part")
    target = folder / "upload.csv"
    state: dict[str, Any] = {"name": None, "size": 0, "request": bytearray(), "file": False}
    header_field = bytearray()
    header_value = bytearray()
    with target.open("wb") as sink:

        def on_header_field(data: bytes, start: int, end: int) -> None:
            header_field.extend(data[start:end])

        def on_header_value(data: bytes, start: int, end: int) -> None:
            header_value.extend(data[start:end])

        def on_header_end() -> None:
            if header_field.lower() == b"content-disposition":
                _, params = parse_options_header(bytes(header_value))
                state["name"] = params.get(b"name", b"").decode("latin-1")
                if state["name"] == "file":
                    state["file"] = True
            header_field.clear()
            header_value.clear()

        def on_part_begin() -> None:
            state["name"] = None

        def on_part_data(data: bytes, start: int, end: int) -> None:
            chunk = data[start:end]
            if state["name"] == "file":
                state["size"] += len(chunk)
                if state["size"] > max_bytes:
                    raise TooLarge(
                        f"the CSV file is larger than {max_bytes} bytes, the most an import "
                        "takes here (PARLEY_INTERNAL_TABLES_MAX_IMPORT_BYTES)"
                    )
                sink.write(chunk)
            elif state["name"] == "request":
                state["request"].extend(chunk)
                if len(state["request"]) > MAX_REQUEST_PART_BYTES:
                    raise TooLarge(f"the request part is larger than {MAX_REQUEST_PART_BYTES}")

        parser = MultipartParser(
            boundary,
            {
                "on_part_begin": on_part_begin,
                "on_part_data": on_part_data,
                "on_header_field": on_header_field,
                "on_header_value": on_header_value,
                "on_header_end": on_header_end,
            },
        )
        try:
            async for chunk in request.stream():
                parser.write(chunk)
            parser.finalize()
        except (TooLarge, InvalidInput):
            raise
        except Exception as err:  # python-multipart's parse errors
            raise InvalidInput(f"cannot read the multipart body: {err}") from err
    if not state["file"]:
        raise InvalidInput("the body needs a file part (the CSV file)")
    if not state["request"]:
        raise InvalidInput("the body needs a request part (JSON: mappings, containsHeader)")
    try:
        raw = json.loads(bytes(state["request"]))
    except ValueError as err:
        raise InvalidInput(f"the request part is not JSON: {err}") from err
    return target, raw


async def import_csv(
    project_id: Name,
    table_name: str,
    request: Request,
    data: DataDep,
    settings: SettingsDep,
    _: OwnProject,
) -> dict[str, Any]:
    """Imports a CSV file (multipart: `file`, and `request`, a JSON string with `mappings` and
    `containsHeader`) into a Peaka Table: every row or none. Empty values are NULL (the
    column's default where it has one); errors name the line and column."""
    with tempfile.TemporaryDirectory(prefix="parley-upload-") as folder:
        source, raw = await _receive_parts(
            request, Path(folder), settings.internal_tables_max_import_bytes
        )
        parsed = csv_import.parse_request(raw)
        return await internal.import_csv(
            data,
            project_id=project_id,
            flavour=Flavour.TABLE,
            table=table_name,
            source=source,
            request=parsed,
        )


async def sample_csv(project_id: Name, table_name: str, data: DataDep, _: OwnProject) -> Response:
    """A CSV of the table's shape: its column names, then three rows of example values."""
    text = await internal.sample_csv(
        data, project_id=project_id, flavour=Flavour.TABLE, table=table_name
    )
    return Response(
        text,
        media_type="text/csv",
        headers={"Content-Disposition": 'attachment; filename="sample.csv"'},
    )


_add(Flavour.TABLE, with_import=True)
_add(Flavour.BITABLE, with_import=False)
