"""What the lifespan builds once and every request reaches through dependencies."""

from __future__ import annotations

from dataclasses import dataclass

from parley.agent.graph import DataAgent
from parley.auth.peaka_keys import KeyCache
from parley.config import Settings
from parley.data.connections import DataServices
from parley.data.semantics import Semantics
from parley.llm.embeddings import Embedder
from parley.llm.roles import ChatModels
from parley.memory.configuration import ReasoningDefaults
from parley.memory.dialectic import Dialectic
from parley.memory.embedding_indexer import EmbeddingIndexer
from parley.memory.observation_index import ObservationIndex
from parley.memory.search import MessageSearch
from parley.metrics import Metrics
from parley.store.engine import Database
from parley.trino.queries import QueryRegistry
from parley.worker.runner import Worker


@dataclass(frozen=True)
class AppState:
    settings: Settings
    database: Database
    embedder: Embedder
    indexer: EmbeddingIndexer
    search: MessageSearch
    observation_index: ObservationIndex
    dialectic: Dialectic
    models: ChatModels
    reasoning: ReasoningDefaults
    worker: Worker | None  # the embedded worker, if this process runs one
    data: DataServices
    agent: DataAgent
    keys: KeyCache  # Peaka API keys seen valid lately; cleared when keys or projects go
    semantics: Semantics  # sample questions and generated descriptions (the agent role)
    metrics: Metrics  # this app's Prometheus instruments (GET /metrics)
    statements: QueryRegistry  # the SQL endpoint's statements in flight and their results
