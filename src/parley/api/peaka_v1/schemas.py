"""Request bodies and response shapes of Peaka's /api/v1, in its camelCase field names."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from parley.api.storable import AwareDatetime, Storable, StoredText
from parley.ids import NAME_PATTERN
from parley.store.data_models import (
    ApiKey,
    DataCatalog,
    DataColumn,
    DataConnection,
    DataRelation,
    DataTable,
    GoldenSql,
    Project,
    SavedQuery,
)

ShortText = Annotated[str, Field(min_length=1, max_length=200), Storable]
LongText = Annotated[str, Field(max_length=10_000), Storable]
SqlText = Annotated[str, Field(min_length=1, max_length=100_000), Storable]


class Body(BaseModel):
    model_config = ConfigDict(extra="ignore")


class ProjectRequest(Body):
    name: ShortText
    description: LongText | None = None
    id: Annotated[str, Field(min_length=1, max_length=100, pattern=NAME_PATTERN)] | None = None


class ApiKeyRequest(Body):
    name: ShortText = "api-key"
    expiresAt: AwareDatetime | None = None


class ConnectionRequest(Body):
    name: ShortText
    type: Annotated[str, Field(min_length=1, max_length=40)]
    credential: dict[str, Any] | None = None
    connectionCallback: str | None = None


class CatalogRequest(Body):
    name: ShortText
    connectionId: Annotated[str, Field(min_length=1, max_length=64)]
    extraParameters: dict[str, Any] | None = None


class QueryRequest(Body):
    displayName: ShortText | None = None
    inputQuery: SqlText | None = None
    queryType: Literal["PLAIN", "MATERIALIZED"] = "PLAIN"
    inputQueryRefId: str | None = None
    path: str | None = None
    schedule: dict[str, Any] | None = None  # a MATERIALIZED query's (MaterializedQuerySchedule)


class TableForQuery(Body):
    catalogId: str | None = None
    catalogName: str | None = None
    schemaName: str | None = None
    tableName: str


class ExecuteRequest(Body):
    """One body for the four request kinds of executeQuery (statement, id, qualifiedName,
    query builder); exactly one of them must be given."""

    statement: SqlText | None = None
    bindings: list[StoredText] | None = Field(default=None, max_length=1000)
    id: str | None = None
    qualifiedName: Annotated[str, Field(max_length=1000), Storable] | None = None
    from_: list[TableForQuery] | None = Field(default=None, alias="from")
    columns: list[StoredText] | None = None
    orderBy: list[StoredText] | None = None
    offset: Annotated[int, Field(ge=0)] | None = None
    filters: dict[str, Any] | None = None
    limit: Annotated[int, Field(ge=1)] | None = None
    timeout: Annotated[float, Field(gt=0)] | None = None


class TranspileRequest(Body):
    query: SqlText


class AIUsageRequest(Body):
    useWithAI: bool


class MetadataColumnIn(Body):
    columnName: str
    columnDescription: LongText | None = None


class MetadataUpdateRequest(Body):
    tableDescription: LongText | None = None
    columns: list[MetadataColumnIn] | None = None
    useWithAI: bool | None = None


class CategoricalRequest(Body):
    limit: Annotated[int, Field(ge=1, le=1000)] = 20
    frequency: str | None = None


class GoldenSqlRequest(Body):
    prompt: Annotated[str, Field(min_length=1, max_length=10_000), Storable]
    sql: SqlText


class RelationRequest(Body):
    targetCatalogId: str
    targetSchemaName: str
    targetTableName: str
    targetColumnName: str
    type: Annotated[str, Field(min_length=1, max_length=40)] = "MANY_TO_ONE"


class RelationUpdate(Body):
    type: Annotated[str, Field(min_length=1, max_length=40)]


class SemanticsRequest(Body):
    """Peaka's MetadataCreateSemanticsRequest. `initialPrompt` is passed to the model as the
    user's instructions; `limit` is how many sample values per column it is shown."""

    threadId: Annotated[str, Field(max_length=200)] | None = None
    initialPrompt: Annotated[str, Field(max_length=10_000), Storable] | None = None
    limit: Annotated[int, Field(ge=1, le=50)] = 5


# sent back as a bearer token: visible ASCII only, so it cannot break the header
CallbackToken = Annotated[str, Field(min_length=1, max_length=4096, pattern=r"^[!-~]+$")]


class RefreshRequest(Body):
    catalogId: str | None = None
    callbackURL: Annotated[str, Field(min_length=1, max_length=2048)] | None = None
    callbackToken: CallbackToken | None = None


# --- responses ----------------------------------------------------------------------------


def _iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


def project_out(row: Project) -> dict[str, Any]:
    return {
        "id": row.id,
        "name": row.name,
        "description": row.description,
        "domain": None,
        "webhookBaseUrl": None,
        "createdAt": _iso(row.created_at),
        "owner": None,
        "workspaceId": row.id,
    }


def api_key_out(row: ApiKey, token: str | None = None) -> dict[str, Any]:
    return {
        "name": row.name,
        "apiKey": token,
        "apiKeyId": row.id,
        "expiresAt": _iso(row.expires_at),
    }


def connection_out(row: DataConnection) -> dict[str, Any]:
    return {"id": row.id, "name": row.name, "type": row.type}


def catalog_out(row: DataCatalog) -> dict[str, Any]:
    return {
        "id": row.id,
        "name": row.name,
        "displayName": row.display_name,
        "catalogType": row.catalog_type,
        "connectionId": row.connection_id,
    }


def table_out(catalog: DataCatalog, row: DataTable) -> dict[str, Any]:
    return {
        "catalogId": catalog.id,
        "catalogName": catalog.name,
        "schemaName": row.schema_name,
        "tableName": row.table_name,
        "isCacheable": False,
        "isDynamicTable": False,
        "isCached": False,
        "supportedCacheTypes": [],
    }


def column_out(row: DataColumn) -> dict[str, Any]:
    return {
        "id": str(row.id),
        "name": row.name,
        "dataType": row.data_type,
        "displayName": row.name,
        "defaultValue": row.default_value,
        "isNotNull": row.is_not_null,
        "isUnique": row.is_unique,
        "isPrimary": row.is_primary,
        "desc": row.description,
    }


def metadata_column_out(row: DataColumn) -> dict[str, Any]:
    return {
        "columnName": row.name,
        "columnDescription": row.description,
        "dataType": row.data_type,
        "order": row.position,
        "isNotNull": row.is_not_null,
        "isSystem": False,
        "isUnique": row.is_unique,
        "isPrimary": row.is_primary,
        "isCategorical": row.categorical_values is not None,
        "categoricalValues": row.categorical_values or [],
        "sampleValues": row.sample_values,
        "distinctFraction": row.distinct_fraction,
        "lineage": [],
    }


def relation_out(row: DataRelation) -> dict[str, Any]:
    return {
        "id": row.id,
        "catalogId": row.catalog_id,
        "schemaName": row.schema_name,
        "tableName": row.table_name,
        "columnName": row.column_name,
        "targetCatalogId": row.target_catalog_id,
        "targetSchemaName": row.target_schema_name,
        "targetTableName": row.target_table_name,
        "targetColumnName": row.target_column_name,
        "type": row.type,
        "origin": row.origin,
    }


def golden_sql_out(row: GoldenSql, score: float | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"id": row.id, "prompt": row.prompt, "sql": row.sql}
    out["createdAt"] = _iso(row.created_at)
    if score is not None:
        out["score"] = round(score, 6)
    return out


def saved_query_out(
    row: SavedQuery, path: str | None = None, schedule: dict[str, Any] | None = None
) -> dict[str, Any]:
    """`path`: the path of the query's folder (data/query_folders.py), None at the root;
    `schedule`: a MATERIALIZED query's (parley.data.caches.query_schedules)."""
    return {
        "id": row.id,
        "displayName": row.display_name,
        "name": row.name,
        "inputQuery": row.input_query,
        "queryType": row.query_type,
        "schedule": schedule,
        "path": path,
        "folderId": row.folder_id,
    }
