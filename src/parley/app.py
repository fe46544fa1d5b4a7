"""create_app(settings): engines and clients are built in the lifespan and handed to routers
through dependencies; nothing lives in module globals."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Annotated

from fastapi import FastAPI

from parley import __version__
from parley.agent.graph import DataAgent
from parley.api.body_limit import BodyLimitMiddleware
from parley.api.deps import Scope, requires
from parley.api.errors import detail_errors, install_error_handlers
from parley.api.foreground import ForegroundMiddleware
from parley.api.metrics import MetricsMiddleware
from parley.api.route_table import api_routes, metrics_routes
from parley.api.state import AppState
from parley.auth.keys import Principal
from parley.config import Settings
from parley.console import console_routes
from parley.core import open_core
from parley.data.semantics import Semantics
from parley.llm.query_cache import QueryCachingEmbedder
from parley.mcp_server.http import McpEndpoint
from parley.memory.dialectic import Dialectic
from parley.memory.embedding_indexer import FULL_PASS_EVERY_S, EmbeddingIndexer
from parley.memory.search import MessageSearch
from parley.memory.vector_index import MessageVectorIndex
from parley.metrics import Metrics
from parley.trino.queries import QueryRegistry
from parley.ttl_cache import TtlCache
from parley.worker.setup import reasoning_defaults

log = logging.getLogger("parley")


async def _stop(task: asyncio.Task[None]) -> None:
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


StartupHook = Callable[[AppState], Awaitable[None]]


@asynccontextmanager
async def running_state(
    settings: Settings, *, metrics: Metrics, startup: Sequence[StartupHook] = ()
) -> AsyncIterator[AppState]:
    """The services requests reach, with the embedding indexer and (if embedded) the worker
    running; stopped on the way out. `parley serve` runs it in the app's lifespan,
    `parley mcp --stdio` around its stdio server."""
    with_worker = settings.worker_embedded
    async with (
        open_core(settings, with_worker=with_worker, metrics=metrics) as core,
        AsyncExitStack() as cleanup,  # stops the loops below before the core closes
    ):
        database, models, data = core.database, core.models, core.data
        vector_index = MessageVectorIndex(core.embedder.dimensions) if core.in_memory else None
        indexer = EmbeddingIndexer(
            database,
            core.embedder,
            full_pass_every_s=None if core.in_memory else FULL_PASS_EVERY_S,  # SQLite: in order
        )
        # questions (search, chat, representations) repeat: their vectors are remembered
        questions = QueryCachingEmbedder(core.embedder)
        search = MessageSearch(database, questions, vector_index)
        statements = QueryRegistry(  # the SQL endpoint's results, held between pages
            page_rows=settings.sql_page_rows,
            ttl_s=settings.sql_result_ttl_s,
            max_held=settings.sql_max_held_queries,
        )
        cleanup.push_async_callback(statements.close)

        def memory_written() -> None:  # the agent stored a turn: embed it and reason on it
            indexer.notify()
            if core.worker is not None:
                core.worker.notify()

        state = AppState(
            settings=settings,
            database=database,
            embedder=questions,
            indexer=indexer,
            search=search,
            observation_index=core.observation_index,
            dialectic=Dialectic(
                database, questions, core.observation_index, search, models.dialectic
            ),
            models=models,
            reasoning=reasoning_defaults(settings, models),
            worker=core.worker,
            data=data,
            agent=DataAgent(
                data,
                observation_index=core.observation_index,
                model=models.agent,
                reasoning=reasoning_defaults(settings, models),
                memory_written=memory_written,
            ),
            keys=TtlCache(settings.key_cache_ttl_s),
            semantics=Semantics(database, models.agent),
            metrics=metrics,
            statements=statements,
        )
        indexing = asyncio.create_task(indexer.run(), name="parley-embedding-indexer")
        cleanup.push_async_callback(_stop, indexing)
        if core.worker is not None:
            working = asyncio.create_task(core.worker.run(), name="parley-worker")
            cleanup.push_async_callback(_stop, working)
        for hook in startup:
            await hook(state)
        log.info("Parley %s ready on %s", __version__, database.dialect)
        yield state


def create_app(settings: Settings, *, startup: Sequence[StartupHook] = ()) -> FastAPI:
    """`startup` hooks run once everything is built, before the first request is served
    (`parley serve --demo` registers the demo project in one)."""
    metrics = Metrics()  # this app's own registry: the middleware counts into it from the start
    mcp = McpEndpoint(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with (
            running_state(settings, metrics=metrics, startup=startup) as state,
            mcp.running(state),
        ):
            app.state.parley = state
            yield

    app = FastAPI(
        title="Parley",
        version=__version__,
        description="Memory and data for AI agents (Honcho-compatible /v2 and /v3, Peaka /api/v1).",
        lifespan=lifespan,
    )
    install_error_handlers(app)
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(ForegroundMiddleware)  # background embedding gives way to requests
    app.router.routes.extend(api_routes())  # built once per process: they hold no state
    app.router.routes.append(mcp.route())  # POST/GET/DELETE /mcp, outside the OpenAPI schema
    app.router.routes.extend(console_routes())  # the web console's static files at /console
    if settings.metrics_enabled:
        # added last, so outermost: it also counts the 413s of the body limit
        app.add_middleware(MetricsMiddleware, metrics=metrics)
        app.router.routes.extend(metrics_routes(public=settings.metrics_public))

    @app.get("/health", tags=["meta"], responses=detail_errors(413))
    async def health(_: Annotated[Principal, requires(Scope.PUBLIC)]) -> dict[str, str]:
        return {"status": "ok", "version": __version__}

    return app
