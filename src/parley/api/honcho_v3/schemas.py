"""Request and response models of Honcho's /v3 API (3.0.12) where they differ from /v2's.

The resources answer the same fields as in /v2 (the /v2 models are reused). What changed is the
configuration: v3 names the `deriver` section `reasoning`, and a message's configuration holds
only that section. Stored configuration keeps one spelling (`deriver`, which the resolver in
memory/configuration.py reads), so a setting made through either family reads the same through
the other: `to_stored` renames on the way in, `from_stored` on the way out.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    AliasChoices,
    BaseModel,
    BeforeValidator,
    Field,
    field_validator,
)

from parley.api.honcho_v2 import schemas as v2
from parley.api.honcho_v2.schemas import (
    ID_OR_NAME,
    CreateName,
    DeriverConfiguration,
    DreamConfiguration,
    PeerCardConfiguration,
    SessionPeerConfig,
    SummaryConfiguration,
)
from parley.api.storable import AwareDatetime, Storable, StoredJson
from parley.memory import messages as message_rules
from parley.tokens import count_tokens

STORED_NAME = {"reasoning": "deriver"}  # v3's section name -> the stored one
V3_NAME = {stored: v3 for v3, stored in STORED_NAME.items()}


MAX_CUSTOM_INSTRUCTIONS_TOKENS = 2000  # Honcho 3's DERIVER.MAX_CUSTOM_INSTRUCTIONS_TOKENS


class ReasoningConfiguration(DeriverConfiguration):
    """v3's `reasoning` section: what /v2 calls `deriver`. Its `custom_instructions` go into
    the deriver's prompt, so Honcho 3 bounds them."""

    @field_validator("custom_instructions")
    @classmethod
    def _bounded(cls, value: str | None) -> str | None:
        if (
            value is not None
            and value.strip()
            and count_tokens(value) > (MAX_CUSTOM_INSTRUCTIONS_TOKENS)
        ):
            raise ValueError(
                "custom_instructions exceeds DERIVER.MAX_CUSTOM_INSTRUCTIONS_TOKENS "
                f"({MAX_CUSTOM_INSTRUCTIONS_TOKENS} tokens)"
            )
        return value


class V3WorkspaceConfiguration(v2._Config):
    reasoning: ReasoningConfiguration | None = None
    peer_card: PeerCardConfiguration | None = None
    summary: SummaryConfiguration | None = None
    dream: DreamConfiguration | None = None


V3SessionConfiguration = V3WorkspaceConfiguration


class V3MessageConfiguration(BaseModel):
    reasoning: ReasoningConfiguration | None = None


def to_stored(config: BaseModel | None) -> dict[str, Any] | None:
    """A v3 configuration as it is stored (None: not given). A `deriver` section sent to v3
    is kept as it came (v3 reads it as `reasoning` too) unless `reasoning` is also given."""
    if config is None:
        return None
    given = config.model_dump(exclude_none=True)
    stored = {k: v for k, v in given.items() if k not in STORED_NAME.values()}
    for v3_name, stored_name in STORED_NAME.items():
        if v3_name in given:
            stored[stored_name] = stored.pop(v3_name)
        elif stored_name in given:
            stored[stored_name] = given[stored_name]
    return stored


def from_stored(config: dict[str, Any]) -> dict[str, Any]:
    return {V3_NAME.get(key, key): value for key, value in config.items()}


# --- requests ----------------------------------------------------------------------------

METADATA_MAX_KEYS = 100  # top-level keys (Honcho 3)
METADATA_MAX_DEPTH = 5  # nested objects, the top one counting as 1


def _strip_nul(value: Any) -> Any:
    """Honcho 3 drops NUL characters from text and metadata instead of refusing them."""
    if isinstance(value, str):
        return value.replace("\x00", "")
    if isinstance(value, dict):
        return {_strip_nul(k): _strip_nul(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_strip_nul(item) for item in value]
    return value


def _check_depth(value: dict[str, Any], depth: int = 1) -> None:
    if depth > METADATA_MAX_DEPTH:
        raise ValueError(f"Metadata nesting exceeds maximum depth of {METADATA_MAX_DEPTH}")
    for item in value.values():
        if isinstance(item, dict):
            _check_depth(item, depth + 1)


def _v3_metadata(value: Any) -> Any:
    if not isinstance(value, dict):
        return value  # pydantic's dict_type error follows
    if len(value) > METADATA_MAX_KEYS:
        raise ValueError(f"Metadata exceeds maximum of {METADATA_MAX_KEYS} top-level keys")
    _check_depth(value)
    return _strip_nul(value)


Metadata = Annotated[StoredJson, BeforeValidator(_v3_metadata)]
Content = Annotated[
    str,
    Field(min_length=0, max_length=message_rules.MAX_CONTENT_CHARS),
    AfterValidator(_strip_nul),
    Storable,
]


class V3WorkspaceCreate(BaseModel):
    id: CreateName = Field(validation_alias=ID_OR_NAME)
    metadata: Metadata = Field(default_factory=dict)
    configuration: V3WorkspaceConfiguration | None = None


class V3WorkspaceUpdate(BaseModel):
    metadata: Metadata | None = None
    configuration: V3WorkspaceConfiguration | None = None


class V3SessionCreate(BaseModel):
    id: CreateName = Field(validation_alias=ID_OR_NAME)
    metadata: Metadata | None = None
    peers: dict[CreateName, SessionPeerConfig] | None = Field(
        default=None, validation_alias=AliasChoices("peers", "peer_names")
    )
    configuration: V3SessionConfiguration | None = None


class V3SessionUpdate(BaseModel):
    metadata: Metadata | None = None
    configuration: V3SessionConfiguration | None = None


class V3MessageCreate(BaseModel):
    content: Content
    peer_id: CreateName
    metadata: Metadata | None = None
    configuration: V3MessageConfiguration | None = None
    created_at: AwareDatetime | None = None


class V3MessageUpdate(BaseModel):
    metadata: Metadata | None = None


class V3PeerCreate(BaseModel):
    id: CreateName = Field(validation_alias=ID_OR_NAME)
    metadata: Metadata | None = None
    configuration: StoredJson | None = None


class V3PeerUpdate(BaseModel):
    metadata: Metadata | None = None
    configuration: StoredJson | None = None


class V3MessageBatchCreate(BaseModel):
    messages: list[V3MessageCreate] = Field(min_length=1, max_length=message_rules.MAX_BATCH)


# --- responses: the /v2 models (same fields), with the configuration renamed -------------


def workspace_out(row: Any) -> dict[str, Any]:
    out = v2.workspace_out(row)
    return out | {"configuration": from_stored(out["configuration"])}


def session_out(row: Any) -> dict[str, Any]:
    out = v2.session_out(row)
    return out | {"configuration": from_stored(out["configuration"])}
