"""Request and response models of Honcho's /v2 API (2.5.1), field for field."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Generic, TypeVar

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, model_validator

from parley.api.storable import AwareDatetime, StoredJson, StoredText, check_storable
from parley.ids import MAX_CREATE_NAME_LENGTH, NAME_PATTERN
from parley.memory import messages as message_rules
from parley.memory.pages import Page as DomainPage

T = TypeVar("T")

CreateName = Annotated[
    str, Field(min_length=1, max_length=MAX_CREATE_NAME_LENGTH, pattern=NAME_PATTERN)
]
JsonObject = dict[str, Any]  # in responses; requests take StoredJson


class _Config(BaseModel):
    model_config = ConfigDict(extra="allow")

    @model_validator(mode="after")
    def _storable(self) -> _Config:
        check_storable(self.model_dump())
        return self


class DeriverConfiguration(_Config):
    enabled: bool | None = None
    custom_instructions: str | None = None


class PeerCardConfiguration(_Config):
    use: bool | None = None
    create: bool | None = None


class SummaryConfiguration(_Config):
    enabled: bool | None = None
    messages_per_short_summary: int | None = Field(default=None, ge=10)
    messages_per_long_summary: int | None = Field(default=None, ge=20)

    @model_validator(mode="after")
    def _short_before_long(self) -> SummaryConfiguration:
        short, long = self.messages_per_short_summary, self.messages_per_long_summary
        if short is not None and long is not None and short >= long:
            raise ValueError(
                "messages_per_short_summary must be less than messages_per_long_summary"
            )
        return self


class DreamConfiguration(_Config):
    enabled: bool | None = None


class WorkspaceConfiguration(_Config):
    deriver: DeriverConfiguration | None = None
    peer_card: PeerCardConfiguration | None = None
    summary: SummaryConfiguration | None = None
    dream: DreamConfiguration | None = None


SessionConfiguration = WorkspaceConfiguration


class MessageConfiguration(_Config):
    deriver: DeriverConfiguration | None = None
    peer_card: PeerCardConfiguration | None = None


def config_dict(config: BaseModel | None) -> JsonObject | None:
    return None if config is None else config.model_dump(exclude_none=True)


# --- workspaces, peers, sessions ---------------------------------------------------------

# Honcho's create bodies name the id `name` internally with the alias `id`, and accept both
# spellings; an error then points at the spelling that was sent.
ID_OR_NAME = AliasChoices("id", "name")


class WorkspaceCreate(BaseModel):
    id: CreateName = Field(validation_alias=ID_OR_NAME)
    metadata: StoredJson = Field(default_factory=dict)
    configuration: WorkspaceConfiguration | None = None


class WorkspaceUpdate(BaseModel):
    metadata: StoredJson | None = None
    configuration: WorkspaceConfiguration | None = None


class Workspace(BaseModel):
    id: str
    metadata: JsonObject
    configuration: JsonObject
    created_at: datetime


class PeerCreate(BaseModel):
    id: CreateName = Field(validation_alias=ID_OR_NAME)
    metadata: StoredJson | None = None
    configuration: StoredJson | None = None


class PeerUpdate(BaseModel):
    metadata: StoredJson | None = None
    configuration: StoredJson | None = None


class Peer(BaseModel):
    id: str
    workspace_id: str
    created_at: datetime
    metadata: JsonObject
    configuration: JsonObject


class SessionPeerConfig(BaseModel):
    observe_me: bool | None = None
    observe_others: bool | None = None


class SessionCreate(BaseModel):
    id: CreateName = Field(validation_alias=ID_OR_NAME)
    metadata: StoredJson | None = None
    # `peer_names` is Honcho's other spelling of `peers`
    peers: dict[CreateName, SessionPeerConfig] | None = Field(
        default=None, validation_alias=AliasChoices("peers", "peer_names")
    )
    configuration: SessionConfiguration | None = None


class SessionUpdate(BaseModel):
    metadata: StoredJson | None = None
    configuration: SessionConfiguration | None = None


class Session(BaseModel):
    id: str
    is_active: bool
    workspace_id: str
    metadata: JsonObject
    configuration: JsonObject
    created_at: datetime


class Filters(BaseModel):
    """The body of every `.../list` route."""

    filters: JsonObject | None = None  # checked as it is compiled (memory/filters.py)


# --- messages ----------------------------------------------------------------------------


class MessageCreate(BaseModel):
    content: StoredText = Field(min_length=0, max_length=message_rules.MAX_CONTENT_CHARS)
    peer_id: CreateName
    metadata: StoredJson | None = None
    configuration: MessageConfiguration | None = None
    created_at: AwareDatetime | None = None


class MessageBatchCreate(BaseModel):
    messages: list[MessageCreate] = Field(min_length=1, max_length=message_rules.MAX_BATCH)


class MessageUpdate(BaseModel):
    metadata: StoredJson | None = None


class Message(BaseModel):
    id: str
    content: str
    peer_id: str
    session_id: str
    metadata: JsonObject
    created_at: datetime
    workspace_id: str
    token_count: int


# --- webhooks, status ------------------------------------------------------------------


class WebhookEndpointCreate(BaseModel):
    url: str = Field(min_length=1)


class WebhookEndpoint(BaseModel):
    id: str
    workspace_id: str | None
    url: str
    created_at: datetime


class SessionDeriverStatus(BaseModel):
    session_id: str | None = None
    total_work_units: int
    completed_work_units: int
    in_progress_work_units: int
    pending_work_units: int
    failed_work_units: int = 0  # Parley: kept past their attempts, with their error
    embedding_backlog: int = 0  # Parley: messages not yet findable by meaning (also pending)


class WorkFailure(BaseModel):
    task_type: str
    session_id: str | None
    sender_id: str | None
    observer_id: str | None
    attempts: int
    error: str
    failed_at: datetime | None


class DeriverStatus(BaseModel):
    total_work_units: int
    completed_work_units: int
    in_progress_work_units: int
    pending_work_units: int
    sessions: dict[str, SessionDeriverStatus] | None = None
    # Parley's additions: what failed for good, and what the reasoning can do without models
    failed_work_units: int = 0
    embedding_backlog: int = 0  # messages not yet findable by meaning (also pending)
    failures: list[WorkFailure] = []
    reasoning_mode: str = "model"
    notes: list[str] = []


# --- pages -------------------------------------------------------------------------------


class Page(BaseModel, Generic[T]):
    items: list[T]
    total: int
    page: int
    size: int
    pages: int


def page_of(page: DomainPage[Any], convert: Any) -> dict[str, Any]:
    return {
        "items": [convert(item) for item in page.items],
        "total": page.total,
        "page": page.page,
        "size": page.size,
        "pages": page.pages,
    }


# --- row -> response ---------------------------------------------------------------------


def workspace_out(row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "metadata": row.metadata_,
        "configuration": row.configuration,
        "created_at": row.created_at,
    }


def peer_out(row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "workspace_id": row.workspace_id,
        "created_at": row.created_at,
        "metadata": row.metadata_,
        "configuration": row.configuration,
    }


def session_out(row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "is_active": row.is_active,
        "workspace_id": row.workspace_id,
        "metadata": row.metadata_,
        "configuration": row.configuration,
        "created_at": row.created_at,
    }


def message_out(row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "content": row.content,
        "peer_id": row.peer_id,
        "session_id": row.session_id,
        "metadata": row.metadata_,
        "created_at": row.created_at,
        "workspace_id": row.workspace_id,
        "token_count": row.token_count,
    }


def webhook_out(row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "workspace_id": row.workspace_id,
        "url": row.url,
        "created_at": row.created_at,
    }
