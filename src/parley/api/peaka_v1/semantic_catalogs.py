"""/api/v1/data/projects/{projectId}: semantic catalogs (`semantic-catalogs`), parametric tables
(`catalogs/{catalogId}/parametricTables`), catalog search (`search`) and sharing a catalog with
another project of the organization (`catalogs/{catalogId}/share`,
`semantic-catalogs/{catalogId}/share`)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import Depends, Query, Response
from pydantic import AfterValidator, Field

from parley.api.deps import DataChange, Name, OwnProject, ReadDb, StateDep, WriteDb
from parley.api.errors import peaka_errors
from parley.api.peaka_v1.deps import DataDep
from parley.api.peaka_v1.responses import Answer, Catalog
from parley.api.peaka_v1.routing import family_router
from parley.api.peaka_v1.schemas import Body, LongText, ShortText
from parley.api.storable import Storable, check_storable
from parley.data import catalog_search, catalog_shares, parametric_tables
from parley.data import semantic_catalogs as service

router = family_router(tags=["semantic catalogs"])
PROJECT = "/data/projects/{project_id}"
SEMANTIC = PROJECT + "/semantic-catalogs"
PARAMETRIC = PROJECT + "/catalogs/{catalog_id}/parametricTables"
NameText = Annotated[str, Field(min_length=1, max_length=200), Storable]


async def _after_shared_change(state: StateDep) -> AsyncIterator[None]:
    yield
    state.data.catalogs.clear()  # the projects a catalog is shared with read it too


# Declared before WriteDb (like DataChange): every project's cached catalogs are dropped after
# the write commits, those of the projects the changed catalog is shared with among them.
SharedChange = Annotated[None, Depends(_after_shared_change, scope="function")]


class SemanticCatalogRequest(Body):
    name: ShortText | None = None


class SemanticTableRequest(Body):
    schemaName: NameText | None = None
    tableName: NameText | None = None
    queryId: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    description: LongText | None = None  # beyond Peaka's: searched, shown to the agent


class CatalogShareRequest(Body):
    target: Annotated[str, Field(min_length=1, max_length=512)] | None = None


class CatalogShareRequestV2(Body):
    targetProjectId: Annotated[str, Field(min_length=1, max_length=512)] | None = None


class ParametricTableColumn(Body):
    key: NameText
    value: Annotated[str | bool | int | float | None, AfterValidator(check_storable)] = None


class ParametricTableRequest(Body):
    fromSchema: NameText | None = None
    fromTable: NameText | None = None
    toSchema: NameText | None = None
    toTable: NameText | None = None
    paramValues: Annotated[list[ParametricTableColumn], Field(max_length=100)] | None = None


class SearchRequest(Body):
    query: Annotated[str, Field(max_length=1000), Storable] | None = None
    catalog: NameText | None = None
    # Peaka's field name; pydantic's BaseModel has a `schema` method of its own
    schema_: Annotated[NameText | None, Field(alias="schema")] = None
    limit: int | None = None
    offset: int | None = None


class SemanticTable(Answer):
    tableId: str
    catalogId: str
    catalogName: str
    schemaName: str
    tableName: str


class SharedCatalogResponse(Answer):
    sharedCatalogId: str


class ParametricValue(Answer):
    key: str
    value: str | bool | int | float | None


class ParametricTable(Answer):
    fromSchema: str
    fromTable: str
    toSchema: str
    toTable: str
    paramValues: list[ParametricValue]


class CatalogSchemaTable(Answer):
    catalog: str
    schema_: Annotated[str | None, Field(alias="schema")] = None
    table: str | None = None


class SearchPage(Answer):
    limit: int
    offset: int
    nextOffset: int | None


class SearchQuery(Answer):
    text: str


class SearchMeta(Answer):
    page: SearchPage
    query: SearchQuery


class SearchResult(Answer):
    matchedCatalogs: list[CatalogSchemaTable]
    matchedSchemas: list[CatalogSchemaTable]
    matchedTables: list[CatalogSchemaTable]
    meta: SearchMeta


# --- semantic catalogs ----------------------------------------------------------------------


@router.post(SEMANTIC, response_model=Catalog)
async def create_semantic_catalog(
    project_id: Name, body: SemanticCatalogRequest, _: OwnProject, __: DataChange, db: WriteDb
) -> dict[str, Any]:
    row = await service.create_semantic_catalog(
        db=db, project_id=project_id, display_name=body.name
    )
    return service.semantic_catalog_out(row)


@router.post(SEMANTIC + "/{catalog_id}", responses=peaka_errors(409), response_model=SemanticTable)
async def create_semantic_table(
    project_id: Name, catalog_id: str, body: SemanticTableRequest, data: DataDep, _: OwnProject
) -> dict[str, Any]:
    """The saved query `queryId` as the table `<catalog>.<schemaName>.<tableName>`: checked
    through the SQL guard (read-only, tables that exist, no cycle) and run for one row."""
    catalog, row = await service.create_semantic_table(
        data,
        project_id=project_id,
        catalog_id=catalog_id,
        schema_name=body.schemaName,
        table_name=body.tableName,
        query_id=body.queryId,
        description=body.description,
    )
    return service.semantic_table_out(catalog, row)


@router.delete(
    SEMANTIC + "/{catalog_id}/table/{table_id}",
    response_class=Response,
    responses={200: {"description": "Table deleted"}},
)
async def delete_semantic_table(
    project_id: Name, catalog_id: str, table_id: str, _: OwnProject, __: SharedChange, db: WriteDb
) -> Response:
    await service.delete_semantic_table(
        db=db, project_id=project_id, catalog_id=catalog_id, table_id=table_id
    )
    return Response(status_code=200)


@router.post(
    SEMANTIC + "/{catalog_id}/share",
    response_class=Response,
    responses={200: {"description": "Table shared"}},
)
async def share_semantic_catalog(
    project_id: Name,
    catalog_id: str,
    body: CatalogShareRequest,
    _: OwnProject,
    __: SharedChange,
    db: WriteDb,
) -> Response:
    """The semantic catalog becomes readable from `target`, a project of the same
    organization; its tables' queries must read catalogs that project can read too."""
    await catalog_shares.share_catalog(
        db=db,
        project_id=project_id,
        catalog_id=catalog_id,
        target_project_id=body.target,
        semantic=True,
    )
    return Response(status_code=200)


# --- sharing a catalog and searching the project -------------------------------------------


@router.post(PROJECT + "/catalogs/{catalog_id}/share", response_model=SharedCatalogResponse)
async def share_catalog(
    project_id: Name,
    catalog_id: str,
    body: CatalogShareRequestV2,
    _: OwnProject,
    __: SharedChange,
    db: WriteDb,
) -> dict[str, Any]:
    """The catalog becomes readable (in queries) from `targetProjectId`, a project of the same
    organization; only the source project changes or deletes it."""
    share = await catalog_shares.share_catalog(
        db=db,
        project_id=project_id,
        catalog_id=catalog_id,
        target_project_id=body.targetProjectId,
        semantic=False,
    )
    return {"sharedCatalogId": share.id}


@router.post(PROJECT + "/search", response_model=SearchResult, response_model_exclude_unset=True)
async def search(
    project_id: Name, body: SearchRequest, state: StateDep, data: DataDep, _: OwnProject
) -> dict[str, Any]:
    """Catalogs, schemas and tables whose names or descriptions hold the search text or all
    its words (a table also through its columns), ranked: exact name, name prefix, inside the
    name, all words in the name, in a description, in a column; then by name; then the tables
    that mean what the text means, closest first. The text is embedded with no session open."""
    text = catalog_search.search_text(body.query, body.limit, body.offset)
    similarity = await catalog_search.similar_tables(data, project_id=project_id, text=text)
    async with state.database.read() as db:
        return await catalog_search.search(
            db=db,
            project_id=project_id,
            query=text,
            catalog=body.catalog,
            schema=body.schema_,
            limit=body.limit,
            offset=body.offset,
            similarity=similarity,
        )


# --- parametric tables ----------------------------------------------------------------------


@router.get(PARAMETRIC, response_model=list[ParametricTable])
async def list_parametric_tables(
    project_id: Name, catalog_id: str, db: ReadDb, _: OwnProject
) -> list[dict[str, Any]]:
    rows = await parametric_tables.list_parametric_tables(
        db=db, project_id=project_id, catalog_id=catalog_id
    )
    return [parametric_tables.parametric_out(r) for r in rows]


@router.post(PARAMETRIC, response_model=ParametricTable)
async def create_parametric_table(
    project_id: Name, catalog_id: str, body: ParametricTableRequest, data: DataDep, _: OwnProject
) -> dict[str, Any]:
    """`fromSchema.fromTable` with each `paramValues` column fixed to its value, as the table
    `<catalog>.<toSchema>.<toTable>`; a text value may be a relative-date macro (`@today-7d`),
    evaluated on every query."""
    row = await parametric_tables.create_parametric_table(
        data,
        project_id=project_id,
        catalog_id=catalog_id,
        from_schema=body.fromSchema,
        from_table=body.fromTable,
        to_schema=body.toSchema,
        to_table=body.toTable,
        param_values=None
        if body.paramValues is None
        else [v.model_dump() for v in body.paramValues],
    )
    return parametric_tables.parametric_out(row)


@router.delete(
    PARAMETRIC,
    response_class=Response,
    status_code=204,
    responses={204: {"description": "Parametric table deleted successfully"}},
)
async def delete_parametric_table(
    project_id: Name,
    catalog_id: str,
    toSchema: Annotated[str, Query(min_length=1, max_length=200), Storable],  # noqa: N803
    toTable: Annotated[str, Query(min_length=1, max_length=200), Storable],  # noqa: N803
    _: OwnProject,
    __: DataChange,
    db: WriteDb,
) -> Response:
    await parametric_tables.delete_parametric_table(
        db=db, project_id=project_id, catalog_id=catalog_id, to_schema=toSchema, to_table=toTable
    )
    return Response(status_code=204)
