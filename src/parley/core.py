"""The core both processes run on: database, embedder, chat models, data services, the
observation index and (when this process works the queue) the courier and the worker.

`serve` adds HTTP (middleware, routers, the request-facing services) on top of it, `parley
worker` only the worker's loop. Both open it the same way, so their startup order and their
cleanup on a failed start cannot drift apart."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass

from parley import tokens
from parley.blas import one_blas_thread
from parley.config import Settings
from parley.data.connections import DataServices
from parley.llm import build_embedder
from parley.llm.embeddings import Embedder
from parley.llm.roles import ChatModels, build_chat_models
from parley.memory.observation_index import ObservationIndex
from parley.metrics import Metrics
from parley.store import migrate
from parley.store.engine import Database, create_database
from parley.store.meta import ensure_embedding_model
from parley.worker.runner import Worker
from parley.worker.setup import build_courier, build_data_services, build_worker


@dataclass(frozen=True)
class Core:
    settings: Settings
    database: Database
    embedder: Embedder
    models: ChatModels
    data: DataServices
    observation_index: ObservationIndex
    worker: Worker | None  # built, not started: the caller runs its loop

    @property
    def in_memory(self) -> bool:
        """SQLite searches vectors in process memory; PostgreSQL has pgvector's HNSW index."""
        return self.database.dialect == "sqlite"


@asynccontextmanager
async def open_core(
    settings: Settings, *, with_worker: bool, metrics: Metrics | None = None
) -> AsyncIterator[Core]:
    """Migrates (if `auto_migrate`) before the engine's first use, checks that the stored
    vectors are the embedder's, and closes whatever it started on the way out, a failed start
    included. `metrics`: the app's counters, told of every model call and webhook outcome."""
    one_blas_thread()  # a spinning BLAS pool costs the worker's slots more than it saves
    url = settings.resolved_database_url
    if settings.auto_migrate:
        await asyncio.to_thread(migrate.upgrade, url)
    async with AsyncExitStack() as cleanup:
        database = create_database(url)
        cleanup.push_async_callback(database.dispose)
        await asyncio.to_thread(tokens.warm_up)
        embedder = await asyncio.to_thread(build_embedder, settings)
        cleanup.push_async_callback(embedder.close)
        async with database.write() as db:
            await ensure_embedding_model(db, name=embedder.name, dimensions=embedder.dimensions)
        models = build_chat_models(settings, observer=metrics)
        cleanup.push_async_callback(models.close)
        in_memory = database.dialect == "sqlite"
        observation_index = ObservationIndex(embedder.dimensions, in_memory=in_memory)
        data = build_data_services(settings, database, embedder)
        cleanup.push_async_callback(data.close)
        worker = None
        if with_worker:
            courier = build_courier(settings)
            cleanup.push_async_callback(courier.close)
            worker = build_worker(
                settings,
                database=database,
                embedder=embedder,
                models=models,
                data=data,
                courier=courier,
                observation_index=observation_index,
                on_webhook_outcome=metrics.webhook_delivery if metrics is not None else None,
            )
        yield Core(
            settings=settings,
            database=database,
            embedder=embedder,
            models=models,
            data=data,
            observation_index=observation_index,
            worker=worker,
        )
