"""What Peaka's /api/v1 routes answer, as declared response models (named after the schemas of
Peaka's OpenAPI document, in its camelCase field names, like the request bodies in schemas.py).

The routes still build plain dicts (schemas.py's `*_out`); FastAPI checks each against its model
before it is sent, and `extra="forbid"` makes a key the model does not declare an error instead
of a silent drop, so the models cannot drift from the bodies the tests pin down. Two differ:
ConnectionDetail is open (its fields are each connector's own), and QueryExecuteResult is only
documented, since the route writes its rows as bytes (test_openapi checks real bodies)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict


class Answer(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Project(Answer):
    id: str
    name: str
    description: str | None
    domain: str | None
    webhookBaseUrl: str | None
    createdAt: str | None
    owner: str | None
    workspaceId: str


class ApiKey(Answer):
    """`apiKey` (the clear text) is set only in the answer that creates the key."""

    name: str
    apiKey: str | None
    apiKeyId: str
    expiresAt: str | None


class Connection(Answer):
    id: str
    name: str
    type: str


class Catalog(Answer):
    id: str
    name: str
    displayName: str
    catalogType: str
    connectionId: str | None


class Schema(Answer):
    catalogId: str
    catalogName: str
    schemaName: str


class Table(Answer):
    catalogId: str
    catalogName: str
    schemaName: str
    tableName: str
    isCacheable: bool
    isDynamicTable: bool
    isCached: bool
    supportedCacheTypes: list[str]


class ColumnDetail(Answer):
    id: str
    name: str
    dataType: str
    displayName: str
    defaultValue: str | None
    isNotNull: bool
    isUnique: bool
    isPrimary: bool
    desc: str | None


class ColumnStatistics(Answer):
    columnName: str
    distinctFraction: float | None


class TableStatistics(Answer):
    catalogId: str
    schemaName: str
    tableName: str
    rowCount: int | None
    columnStatistics: list[ColumnStatistics]


class TableCacheResult(Answer):
    isCached: bool
    isCacheable: bool
    supportedCacheTypes: list[str]


class Query(Answer):
    id: str
    displayName: str
    name: str
    inputQuery: str
    queryType: str
    schedule: dict[str, Any] | None
    path: str | None
    folderId: str | None


class TranspileResult(Answer):
    result: str


class MetadataColumn(Answer):
    columnName: str
    columnDescription: str | None
    dataType: str
    order: int
    isNotNull: bool
    isSystem: bool
    isUnique: bool
    isPrimary: bool
    isCategorical: bool
    categoricalValues: list[Any]
    sampleValues: list[Any]
    distinctFraction: float | None
    lineage: list[dict[str, Any]]


class Relation(Answer):
    id: str
    catalogId: str
    schemaName: str
    tableName: str
    columnName: str
    targetCatalogId: str
    targetSchemaName: str
    targetTableName: str
    targetColumnName: str
    type: str
    origin: str


class Relations(Answer):
    relations: list[Relation]


class GoldenSql(Answer):
    """`score` is present only in search answers (golden-sql/query)."""

    id: str
    prompt: str
    sql: str
    createdAt: str | None
    score: float | None = None


class GoldenSqls(Answer):
    goldenSqls: list[GoldenSql]


class RefreshStatus(Answer):
    status: str
    error: str | None


class SampleQuestions(Answer):
    questions: list[str]


class TableMetadata(Answer):
    """A table's metadata after an update or generated descriptions."""

    tableName: str
    tableDescription: str | None
    useWithAI: bool
    columns: list[MetadataColumn]


class AIUsageUpdate(Answer):
    """`tables`: how many tables the flag was set on."""

    useWithAI: bool
    tables: int


class Thread(Answer):
    id: str
    threadId: str
    projectId: str
    displayName: str
    userId: str
    createdAt: str
    updatedAt: str


class Threads(Answer):
    threads: list[Thread]


class ThreadTurn(Answer):
    question: str
    answer: str
    createdAt: str
    result: dict[str, Any]


class ThreadDetail(Thread):
    """The thread with its LangChain-style messages and its turns (each with its agent state)."""

    messages: list[dict[str, Any]]
    turns: list[ThreadTurn]


class ChatAnswer(Answer):
    """`result` is Peaka's agent state (question, SQL, rows, answer, messages)."""

    threadId: str
    result: dict[str, Any]


class MetadataTable(Answer):
    tableName: str
    tableDescription: str | None
    useWithAI: bool
    rowCount: int | None
    sampleRows: list[Any]
    columns: list[MetadataColumn]
    relations: list[Relation]


class MetadataSchema(Answer):
    schemaName: str
    tables: list[MetadataTable]


class MetadataCatalog(Answer):
    catalogId: str
    catalogName: str
    displayName: str
    catalogType: str
    schemas: list[MetadataSchema]


class ProjectMetadata(Answer):
    projectId: str
    catalogs: list[MetadataCatalog]


class ConnectionConfigurationItem(Answer):
    fieldName: str
    fieldType: str  # text | number | boolean
    required: bool
    description: str


class ConnectionConfiguration(Answer):
    """What a connection type asks for (the credential's fields); never a value."""

    connectionType: str
    connectionTypeLabel: str
    name: str
    authorizationType: str
    credentialSchemaType: str
    redirectRequired: bool
    category: str
    configuration: list[ConnectionConfigurationItem]
    documentationUrl: str | None


class ConnectionDetail(BaseModel):
    """The credential's non-secret parts. Its fields are the connector's own (Peaka documents
    an open object), so they are kept as given: POSTGRES `url`, `port`, `user`,
    `databaseName`, `useSsl`; SQLITE `path`; FILE `files`; a connection that can no longer
    be opened, only `type`."""

    model_config = ConfigDict(extra="allow")

    type: str


class ResultColumn(Answer):
    """`schemaName` and `tableName` are set when the statement reads one table."""

    catalogName: str
    schemaName: str | None
    tableName: str | None
    columnName: str
    dataType: str


class TypedCell(Answer):
    """A cell in the CELL_TYPED format."""

    name: str
    displayName: str
    dataType: str
    order: int
    value: Any


class Truncation(Answer):
    moreRows: bool
    cellsCut: int
    maxBytes: int
    maxCellBytes: int


class QueryExecuteResult(Answer):
    """Rows in the requested `format`: CELL_TYPED, a list of typed cells a row; SIMPLE, an
    object a row; COMPACT, a list of values a row. `truncated` and `truncation` are present
    only when the result was cut at the caps. Documented only: the body is written as bytes,
    not validated against this model."""

    columns: list[ResultColumn]
    data: list[list[TypedCell]] | list[dict[str, Any]] | list[list[Any]]
    truncated: bool = False
    truncation: Truncation | None = None


class CatalogRefresh(Answer):
    catalogId: str
    status: str
    error: str | None


class MetadataRefresh(Answer):
    """`projectId` is present only when the refresh runs on the work queue (`callbackURL`):
    then `status` is ACTIVE; otherwise it is the outcome, COMPLETED or FAILED."""

    projectId: str | None = None
    status: str
    catalogs: list[CatalogRefresh]


class TableMatch(Answer):
    catalogId: str
    catalogName: str
    schemaName: str
    tableName: str
    tableDescription: str | None
    score: float


class TableMatches(Answer):
    tables: list[TableMatch]
