"""Settings: one object, read from `PARLEY_*` environment variables, built once and passed in."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import secrets
from collections.abc import Mapping
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any

from pydantic import AliasChoices, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from parley.data.file_roots import parse_grants

PLACEHOLDER_SECRETS = {"changeme", "change-me", "secret", "your-secret", "placeholder", "test"}
MIN_SECRET_LENGTH = 32
# built in: auto, openai, anthropic, llama_cpp, none; a package can add more (parley.llm.providers)
LlmProvider = str
# Settings renamed so that one prefix names one thing (`worker_*`: the worker and the work it
# runs): the old name still works, as a keyword and as PARLEY_<OLD> (the new one wins when both
# are set), and `deprecated_environment` names the old variables a process was started with.
RENAMED = {
    "work_max_attempts": "worker_max_attempts",
    "work_backoff_s": "worker_backoff_s",
    "work_retention_days": "worker_retention_days",
    "webhook_allow_private": "webhook_allow_private_hosts",
}
ENV_PREFIX = "PARLEY_"


def _also_read_as(old: str) -> AliasChoices:
    """The environment variables of a renamed setting: its own, then its old one."""
    return AliasChoices(f"{ENV_PREFIX}{RENAMED[old].upper()}", f"{ENV_PREFIX}{old.upper()}")


def deprecated_environment(environ: Mapping[str, str]) -> list[str]:
    """'PARLEY_OLD: use PARLEY_NEW' for each renamed setting set by its old variable."""
    names = {name.upper() for name in environ}
    return [
        f"{ENV_PREFIX}{old.upper()}: use {ENV_PREFIX}{new.upper()}"
        for old, new in RENAMED.items()
        if f"{ENV_PREFIX}{old.upper()}" in names
    ]


class SettingsError(ValueError):
    """A setting makes it unsafe or impossible to start; the message says what to change."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, extra="ignore", frozen=True, validate_by_name=True
    )

    data_dir: Path = Field(
        default=Path("parley-data"),
        description="Directory for the SQLite file and the generated server secret.",
    )
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL. Default: sqlite+aiosqlite:///<data_dir>/parley.db. "
        "PostgreSQL: postgresql+asyncpg://user:pass@host/db.",
    )
    host: str = Field(default="127.0.0.1", description="Address `parley serve` binds to.")
    port: int = Field(default=8000, ge=1, le=65535, description="Port `parley serve` listens on.")
    auth_enabled: bool = Field(
        default=False, description="Require JWT bearer tokens on every route except /health."
    )
    allow_unauthenticated: bool = Field(
        default=False,
        description="Allow auth off on a non-loopback address (only behind your own gateway).",
    )
    jwt_secret: str | None = Field(
        default=None,
        description="HS256 signing secret (32+ chars). Default: derived from "
        "<data_dir>/server-secret, created on first start.",
    )
    webhook_secret: str | None = Field(
        default=None,
        description="HMAC key for X-Honcho-Signature. Default: derived from the server secret.",
    )
    webhook_allow_private_hosts: bool = Field(
        default=False,
        description="Allow webhook URLs that point at private, loopback or link-local addresses.",
        validation_alias=_also_read_as("webhook_allow_private"),
    )
    webhook_max_attempts: int = Field(
        default=5, ge=1, le=20, description="Delivery attempts per webhook event."
    )
    webhook_timeout_s: float = Field(
        default=10.0, gt=0, description="Timeout of one webhook delivery attempt, in seconds."
    )
    webhook_backoff_s: float = Field(
        default=1.0, ge=0, description="First retry delay of a webhook; doubles per attempt."
    )
    max_webhooks_per_workspace: int = Field(
        default=10, ge=1, description="Webhook endpoints one workspace may register."
    )
    max_body_bytes: int = Field(
        default=5 * 1024 * 1024,
        ge=1024,
        description="Largest accepted request body (bytes); larger bodies get 413.",
    )
    max_upload_bytes: int = Field(
        default=5 * 1024 * 1024, ge=1024, description="Largest accepted file upload (bytes)."
    )
    embedding_provider: str = Field(
        default="auto",
        description="Embedding provider: local (the bundled model), openai (any "
        "OpenAI-compatible /embeddings endpoint), one a package registers, or auto (openai when "
        "embedding_base_url is set, else local).",
    )
    embedding_base_url: str | None = Field(
        default=None,
        description="OpenAI-compatible base URL for embeddings, e.g. http://localhost:11434/v1 "
        "(Ollama). Unset: the bundled local model.",
    )
    embedding_model: str = Field(
        default="text-embedding-3-small", description="Embedding model name at that endpoint."
    )
    embedding_dimensions: int = Field(
        default=1536, ge=8, le=16000, description="Vector size the embedding model returns."
    )
    embedding_send_dimensions: bool = Field(
        default=False,
        description="Send `dimensions` in each request (models that can shorten their vectors).",
    )
    embedding_api_key: str | None = Field(
        default=None, description="API key for the embedding endpoint, if it needs one."
    )
    llm_provider: LlmProvider = Field(
        default="auto",
        description="Chat model provider: openai (any OpenAI-compatible server), anthropic, "
        "llama_cpp (in-process GGUF), none, one a package registers, or auto (none without a "
        "model; anthropic for claude-* models; llama_cpp with a GGUF path; otherwise openai).",
    )
    llm_base_url: str | None = Field(
        default=None,
        description="Base URL of the chat model server, e.g. http://localhost:11434/v1 (Ollama).",
    )
    llm_api_key: str | None = Field(default=None, description="API key of the chat model server.")
    llm_model: str | None = Field(
        default=None, description="Chat model name. Unset (and no GGUF path): no model."
    )
    llm_gguf_path: Path | None = Field(
        default=None, description="GGUF file for the llama_cpp provider (extra parley[local])."
    )
    deriver_provider: LlmProvider | None = Field(
        default=None, description="Provider for the deriver role (default: llm_provider)."
    )
    deriver_base_url: str | None = Field(
        default=None, description="Base URL for the deriver role (default: llm_base_url)."
    )
    deriver_api_key: str | None = Field(
        default=None, description="API key for the deriver role (default: llm_api_key)."
    )
    deriver_model: str | None = Field(
        default=None, description="Model for the deriver role (default: llm_model)."
    )
    summary_provider: LlmProvider | None = Field(
        default=None, description="Provider for the summary role (default: llm_provider)."
    )
    summary_base_url: str | None = Field(
        default=None, description="Base URL for the summary role (default: llm_base_url)."
    )
    summary_api_key: str | None = Field(
        default=None, description="API key for the summary role (default: llm_api_key)."
    )
    summary_model: str | None = Field(
        default=None, description="Model for the summary role (default: llm_model)."
    )
    dialectic_provider: LlmProvider | None = Field(
        default=None, description="Provider for the dialectic (chat) role (default: llm_provider)."
    )
    dialectic_base_url: str | None = Field(
        default=None, description="Base URL for the dialectic role (default: llm_base_url)."
    )
    dialectic_api_key: str | None = Field(
        default=None, description="API key for the dialectic role (default: llm_api_key)."
    )
    dialectic_model: str | None = Field(
        default=None, description="Model for the dialectic role (default: llm_model)."
    )
    agent_provider: LlmProvider | None = Field(
        default=None, description="Provider for the data agent role (default: llm_provider)."
    )
    agent_base_url: str | None = Field(
        default=None, description="Base URL for the data agent role (default: llm_base_url)."
    )
    agent_api_key: str | None = Field(
        default=None, description="API key for the data agent role (default: llm_api_key)."
    )
    agent_model: str | None = Field(
        default=None, description="Model for the data agent role (default: llm_model)."
    )
    llm_timeout_s: float = Field(
        default=120.0, gt=0, description="Timeout of one model call, in seconds."
    )
    llm_max_retries: int = Field(
        default=3, ge=0, le=10, description="Retries of a model call on 429, 5xx and timeouts."
    )
    llm_concurrency: int = Field(
        default=4, ge=1, le=256, description="Model calls in flight at once, per role and process."
    )
    worker_embedded: bool = Field(
        default=True,
        description="Run a worker (reasoning, webhooks, refreshes) inside `parley serve`.",
    )
    worker_concurrency: int = Field(
        default=4, ge=1, le=64, description="Reasoning work units one worker process runs at once."
    )
    worker_delivery_concurrency: int = Field(
        default=2,
        ge=1,
        le=64,
        description="Webhook deliveries and refresh callbacks one worker process sends at once.",
    )
    worker_refresh_concurrency: int = Field(
        default=1, ge=1, le=16, description="Catalog refreshes one worker process runs at once."
    )
    worker_poll_s: float = Field(
        default=1.0, gt=0, description="How often an idle worker looks for work, in seconds."
    )
    worker_lease_s: float = Field(
        default=60.0, ge=1, description="Lease on a claimed work unit; renewed while it runs."
    )
    worker_max_attempts: int = Field(
        default=5,
        ge=1,
        le=50,
        description="Attempts per task before it is kept as failed.",
        validation_alias=_also_read_as("work_max_attempts"),
    )
    worker_backoff_s: float = Field(
        default=5.0,
        ge=0,
        description="First retry delay of a failed task; doubles per attempt.",
        validation_alias=_also_read_as("work_backoff_s"),
    )
    worker_retention_days: float = Field(
        default=7.0,
        gt=0,
        description="Days finished work items stay in the queue's status.",
        validation_alias=_also_read_as("work_retention_days"),
    )
    deriver_batch_messages: int = Field(
        default=50, ge=1, le=200, description="Messages the deriver reasons over in one call."
    )
    summary_short_every: int = Field(
        default=20, ge=10, description="Messages per short session summary."
    )
    summary_long_every: int = Field(
        default=60, ge=20, description="Messages per long session summary."
    )
    peer_card_max_facts: int = Field(
        default=40, ge=1, le=500, description="Facts a peer card holds at most."
    )
    credentials_secret: str | None = Field(
        default=None,
        description="Key that encrypts data connection credentials at rest (32+ chars). "
        "Default: derived from the server secret.",
    )
    data_file_roots: Annotated[dict[str, tuple[str, ...]], NoDecode] = Field(
        default_factory=dict,
        description="Directories whose files each project's connections may read, as a JSON "
        'object from project id to directories: {"shop": ["/srv/shop"]}. "*" grants to every '
        "project: shared, or a folder of each project's own with {projectId}. Empty: uploads "
        "only. See parley.data.file_roots.",
    )
    data_allow_private_hosts: bool = Field(
        default=False,
        description="Allow PostgreSQL connections to unix sockets, loopback and private hosts.",
    )
    query_timeout_s: float = Field(
        default=30.0, gt=0, le=600, description="Default and largest timeout of one data query."
    )
    query_max_rows: int = Field(
        default=10_000, ge=1, le=1_000_000, description="Most rows one data query returns."
    )
    query_max_bytes: int = Field(
        default=16 * 1024 * 1024,
        ge=1024,
        description="Most bytes of rows (as JSON) one data query returns; it stops at the row "
        "that would pass them, and says so.",
    )
    query_max_cell_bytes: int = Field(
        default=1024 * 1024,
        ge=64,  # connectors.results.MIN_CELL_BYTES: room for the marker
        description="Longest text, binary or nested cell a data query returns whole; longer "
        "ones are cut and end with '…[truncated]'.",
    )
    sql_page_rows: int = Field(
        default=1000,
        ge=1,
        le=100_000,
        description="Most rows in one page of the SQL endpoint's results (/v1/statement).",
    )
    sql_result_ttl_s: float = Field(
        default=300.0,
        gt=0,
        description="How long the SQL endpoint holds a result its client stopped polling.",
    )
    sql_max_held_queries: int = Field(
        default=64,
        ge=1,
        description="Most statements the SQL endpoint runs or holds results of at once.",
    )
    agent_result_max_bytes: int = Field(
        default=256 * 1024,
        ge=1024,
        description="Most bytes of rows the data agent's query keeps (its result, the thread).",
    )
    key_cache_ttl_s: float = Field(
        default=5.0,
        ge=0,
        le=300,
        description="Seconds a Peaka API key lookup is cached in process (0: no cache).",
    )
    catalog_cache_ttl_s: float = Field(
        default=5.0,
        ge=0,
        le=300,
        description="Seconds a project's catalogs are cached in process for queries (0: no cache).",
    )
    metrics_enabled: bool = Field(
        default=True,
        description="Serve Prometheus metrics at GET /metrics (and count HTTP requests for it).",
    )
    metrics_public: bool = Field(
        default=False,
        description="With auth on, serve /metrics without a key (default: it needs an admin key).",
    )
    auto_migrate: bool = Field(
        default=True, description="Apply database migrations when the server starts."
    )
    log_level: str = Field(default="info", description="Log level of `parley serve`.")
    # embedded UI sessions (/api/v1/ui/initSession)
    ui_session_lifetime_s: int = Field(
        default=300,
        ge=1,
        le=86_400,
        description="Seconds an embedded-UI session token lasts when the request names none.",
    )
    ui_session_max_lifetime_s: int = Field(
        default=86_400,
        ge=1,
        le=2_592_000,
        description="The longest timeoutInSeconds an embedded-UI session may ask for.",
    )
    # internal tables (/api/v1/data/projects/{projectId}/table/.../import)
    internal_tables_max_import_bytes: int = Field(
        default=5 * 1024 * 1024,
        ge=1024,
        description="Largest CSV file an internal-table import takes (bytes); larger ones get "
        "413. PARLEY_MAX_BODY_BYTES caps every request body too.",
    )
    # exports (/api/v1/data/projects/{projectId}/.../exports): background jobs writing files
    exports_max_rows: int = Field(
        default=1_000_000,
        ge=1,
        le=1_000_000,
        description="Most rows one export writes; an export of more, without a smaller limit, "
        "fails.",
    )
    exports_max_bytes: int = Field(
        default=1024 * 1024 * 1024,
        ge=1024,
        description="Largest export file, in bytes (after compression); an export that would "
        "pass it fails.",
    )
    exports_page_rows: int = Field(
        default=10_000,
        ge=1,
        le=100_000,
        description="Rows an export reads from its source per statement (one page).",
    )
    exports_concurrency: int = Field(
        default=1, ge=1, le=16, description="Exports one worker process runs at once."
    )
    # cached tables and materialized queries (parley.data.caches), kept under <data_dir>/cache
    cache_refresh_concurrency: int = Field(
        default=1, ge=1, le=16, description="Cache refreshes one worker process runs at once."
    )
    cache_refresh_timeout_s: float = Field(
        default=3600.0, gt=0, description="Longest a cache refresh may run before it is failed."
    )
    cache_quota_bytes: int = Field(
        default=10 * 1024**3,
        ge=0,
        description="Disk the cached copies of one project may take, in bytes.",
    )
    cache_page_rows: int = Field(
        default=50_000, ge=1, description="Rows a cache refresh reads from its source at a time."
    )
    cache_max_rows: int = Field(
        default=10_000_000,
        ge=1,
        description="Most rows a copy read in one statement may hold (no key column, queries).",
    )
    cache_max_age_s: float = Field(
        default=0.0,
        ge=0,
        description="Oldest a copy may be and still serve queries, in seconds (0: no limit).",
    )

    @model_validator(mode="before")
    @classmethod
    def _old_keywords(cls, data: Any) -> Any:
        """Settings(work_backoff_s=...) still works: an old keyword becomes the new one (and,
        as any keyword does, wins over the environment)."""
        if not isinstance(data, dict) or not RENAMED.keys() & data.keys():
            return data
        data = dict(data)
        for old, new in RENAMED.items():
            if old in data:
                value = data.pop(old)
                if new not in data:
                    for variable in _also_read_as(old).choices:
                        data.pop(variable, None)
                    data[new] = value
        return data

    @field_validator("jwt_secret", "webhook_secret", "credentials_secret")
    @classmethod
    def _refuse_placeholder(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if value.lower() in PLACEHOLDER_SECRETS or len(value) < MIN_SECRET_LENGTH:
            raise ValueError(
                f"must be a random string of at least {MIN_SECRET_LENGTH} characters, "
                "for example the output of `openssl rand -hex 32`"
            )
        return value

    @field_validator("data_file_roots", mode="before")
    @classmethod
    def _file_roots(cls, value: object) -> dict[str, tuple[str, ...]]:
        return parse_grants(value)

    @model_validator(mode="after")
    def _summary_intervals(self) -> Settings:
        if self.summary_long_every <= self.summary_short_every:
            raise ValueError(
                "summary_long_every must be greater than summary_short_every "
                f"({self.summary_long_every} <= {self.summary_short_every})"
            )
        return self

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'parley.db').resolve()}"

    @property
    def is_sqlite(self) -> bool:
        return self.resolved_database_url.startswith("sqlite")

    def bound_to_loopback(self) -> bool:
        if self.host == "localhost":
            return True
        try:
            return ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            return False

    def check_serve_safety(self) -> None:
        """Refuse to serve without auth on a reachable address unless the operator said so."""
        if (
            not self.auth_enabled
            and not self.bound_to_loopback()
            and not self.allow_unauthenticated
        ):
            raise SettingsError(
                f"refusing to serve without authentication on {self.host}: set "
                "PARLEY_AUTH_ENABLED=true (and create keys with `parley keys create`), bind to "
                "127.0.0.1, or set PARLEY_ALLOW_UNAUTHENTICATED=true if a gateway in front "
                "of Parley authenticates requests."
            )

    @cached_property
    def server_secret(self) -> bytes:
        """The random secret in <data_dir>/server-secret, created (mode 0600) on first use."""
        path = self.data_dir / "server-secret"
        if path.exists():
            return path.read_bytes().strip()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        value = secrets.token_hex(32).encode()
        path.touch(mode=0o600, exist_ok=True)
        path.write_bytes(value)
        return path.read_bytes().strip()

    def _derived(self, label: str) -> str:
        return hmac.new(self.server_secret, label.encode(), hashlib.sha256).hexdigest()

    @cached_property
    def signing_key(self) -> str:
        return self.jwt_secret or self._derived("parley-jwt")

    @cached_property
    def webhook_signing_key(self) -> str:
        return self.webhook_secret or self._derived("parley-webhook")

    @property
    def callback_allow_private_hosts(self) -> bool:
        """Refresh callbacks may reach private hosts when data sources or webhooks may."""
        return self.data_allow_private_hosts or self.webhook_allow_private_hosts

    @cached_property
    def credentials_key(self) -> str:
        return self.credentials_secret or self._derived("parley-credentials")
