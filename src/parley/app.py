"""create_app(settings): engines and clients are built in the lifespan and handed to routers
through dependencies; nothing lives in module globals."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Annotated

from fastapi import FastAPI

from parley import __version__, tokens
from parley.agent.graph import DataAgent
from parley.api.body_limit import BodyLimitMiddleware
from parley.api.deps import Scope, requires
from parley.api.errors import detail_errors, install_error_handlers
from parley.api.honcho_v2 import build_router as build_honcho_v2
from parley.api.honcho_v3 import build_router as build_honcho_v3
from parley.api.metrics import MetricsMiddleware
from parley.api.metrics import build_router as build_metrics
from parley.api.peaka_v1 import build_router as build_peaka_v1
from parley.api.state import AppState
from parley.auth.keys import Principal
from parley.blas import one_blas_thread
from parley.config import Settings
from parley.data.semantics import Semantics
from parley.llm import build_embedder
from parley.llm.query_cache import QueryCachingEmbedder
from parley.llm.roles import build_chat_models
from parley.memory.dialectic import Dialectic
from parley.memory.embedding_indexer import FULL_PASS_EVERY_S, EmbeddingIndexer
from parley.memory.observation_index import ObservationIndex
from parley.memory.search import MessageSearch
from parley.memory.vector_index import MessageVectorIndex
from parley.metrics import Metrics
from parley.store import migrate
from parley.store.engine import create_database
from parley.store.meta import ensure_embedding_model
from parley.ttl_cache import TtlCache
from parley.worker.setup import (
    build_courier,
    build_data_services,
    build_worker,
    reasoning_defaults,
)

log = logging.getLogger("parley")


async def _stop(task: asyncio.Task[None]) -> None:
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


StartupHook = Callable[[AppState], Awaitable[None]]


def create_app(settings: Settings, *, startup: Sequence[StartupHook] = ()) -> FastAPI:
    """`startup` hooks run once everything is built, before the first request is served
    (`parley serve --demo` registers the demo project in one)."""
    metrics = Metrics()  # this app's own registry: the middleware counts into it from the start

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        url = settings.resolved_database_url
        one_blas_thread()
        if settings.auto_migrate:
            await asyncio.to_thread(migrate.upgrade, url)
        async with AsyncExitStack() as cleanup:  # undoes whatever started, even a failed start
            database = create_database(url)
            cleanup.push_async_callback(database.dispose)
            await asyncio.to_thread(tokens.warm_up)
            embedder = await asyncio.to_thread(build_embedder, settings)
            cleanup.push_async_callback(embedder.close)
            async with database.write() as db:
                await ensure_embedding_model(db, name=embedder.name, dimensions=embedder.dimensions)
            models = build_chat_models(settings, observer=metrics)
            cleanup.push_async_callback(models.close)
            # SQLite searches vectors in process memory; PostgreSQL has pgvector's HNSW index
            in_memory = database.dialect == "sqlite"
            index = MessageVectorIndex(embedder.dimensions) if in_memory else None
            observation_index = ObservationIndex(embedder.dimensions, in_memory=in_memory)
            data = build_data_services(settings, database, embedder)
            cleanup.push_async_callback(data.close)
            worker = None
            if settings.worker_embedded:
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
                    on_webhook_outcome=metrics.webhook_delivery,
                )
            indexer = EmbeddingIndexer(
                database,
                embedder,
                full_pass_every_s=None if in_memory else FULL_PASS_EVERY_S,  # SQLite: in order
            )
            # questions (search, chat, representations) repeat: their vectors are remembered
            questions = QueryCachingEmbedder(embedder)
            search = MessageSearch(database, questions, index)
            app.state.parley = AppState(
                settings=settings,
                database=database,
                embedder=questions,
                indexer=indexer,
                search=search,
                observation_index=observation_index,
                dialectic=Dialectic(
                    database, questions, observation_index, search, models.dialectic
                ),
                models=models,
                reasoning=reasoning_defaults(settings, models),
                worker=worker,
                data=data,
                agent=DataAgent(
                    data,
                    index=observation_index,
                    model=models.agent,
                    reasoning=reasoning_defaults(settings, models),
                ),
                keys=TtlCache(settings.key_cache_ttl_s),
                semantics=Semantics(database, models.agent),
                metrics=metrics,
            )
            indexing = asyncio.create_task(indexer.run(), name="parley-embedding-indexer")
            cleanup.push_async_callback(_stop, indexing)
            if worker is not None:
                working = asyncio.create_task(worker.run(), name="parley-worker")
                cleanup.push_async_callback(_stop, working)
            for hook in startup:
                await hook(app.state.parley)
            log.info("Parley %s ready on %s", __version__, database.dialect)
            yield

    app = FastAPI(
        title="Parley",
        version=__version__,
        description="Memory and data for AI agents (Honcho-compatible /v2, Peaka /api/v1).",
        lifespan=lifespan,
    )
    install_error_handlers(app)
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.include_router(build_honcho_v2())
    app.include_router(build_honcho_v3())
    app.include_router(build_peaka_v1())
    if settings.metrics_enabled:
        # added last, so outermost: it also counts the 413s of the body limit
        app.add_middleware(MetricsMiddleware, metrics=metrics)
        app.include_router(build_metrics(public=settings.metrics_public))

    @app.get("/health", tags=["meta"], responses=detail_errors(413))
    async def health(_: Annotated[Principal, requires(Scope.PUBLIC)]) -> dict[str, str]:
        return {"status": "ok", "version": __version__}

    return app
