"""Builds a worker with the memory task handlers; shared by `serve` and `parley worker`."""

from __future__ import annotations

import logging
from functools import partial

from parley.config import Settings
from parley.llm.embeddings import Embedder
from parley.llm.roles import ChatModels
from parley.memory import webhooks as webhook_endpoints
from parley.memory.card_rebuild import CardRebuilder
from parley.memory.configuration import ReasoningDefaults
from parley.memory.deriver import Deriver
from parley.memory.dreams import Dreamer
from parley.memory.observation_index import ObservationIndex
from parley.memory.reasoning import CARD, DERIVE, DREAM, SUMMARY
from parley.memory.summaries import Summarizer
from parley.memory.webhook_delivery import DeliveryPolicy, OutcomeSink, WebhookDispatcher
from parley.store.engine import Database
from parley.store.queue import QueuePolicy
from parley.worker.runner import Worker

log = logging.getLogger("parley.worker")


def build_webhook_dispatcher(
    settings: Settings, database: Database, *, on_outcome: OutcomeSink | None = None
) -> WebhookDispatcher:
    async def urls(workspace_id: str) -> list[str]:
        async with database.read() as db:
            return await webhook_endpoints.endpoint_urls(db=db, workspace_id=workspace_id)

    return WebhookDispatcher(
        signing_key=settings.webhook_signing_key,
        policy=DeliveryPolicy(
            max_attempts=settings.webhook_max_attempts,
            timeout_s=settings.webhook_timeout_s,
            backoff_s=settings.webhook_backoff_s,
        ),
        endpoint_urls=urls,
        check_target=partial(
            webhook_endpoints.check_target, allow_private=settings.webhook_allow_private
        ),
        on_outcome=on_outcome,
    )


def reasoning_defaults(settings: Settings, models: ChatModels) -> ReasoningDefaults:
    return ReasoningDefaults(
        short_summary_every=settings.summary_short_every,
        long_summary_every=settings.summary_long_every,
        summaries_possible=models.summary is not None,
        cards_possible=models.deriver is not None,
    )


def queue_policy(settings: Settings) -> QueuePolicy:
    batches = {DERIVE: settings.deriver_batch_messages, SUMMARY: 10, DREAM: 1, CARD: 1}
    return QueuePolicy(
        lease_s=settings.worker_lease_s,
        max_attempts=settings.work_max_attempts,
        backoff_s=settings.work_backoff_s,
        batch_units=lambda task_type: batches.get(task_type, 1),
    )


def build_worker(
    settings: Settings,
    *,
    database: Database,
    embedder: Embedder,
    models: ChatModels,
    webhooks: WebhookDispatcher | None,
    observation_index: ObservationIndex | None = None,
) -> Worker:
    defaults = reasoning_defaults(settings, models)
    card_max = settings.peer_card_max_facts
    index = observation_index or ObservationIndex(
        embedder.dimensions, in_memory=database.dialect == "sqlite"
    )
    handlers = {
        DERIVE: Deriver(
            database,
            embedder,
            models.deriver,
            index=index,
            defaults=defaults,
            card_max_facts=card_max,
        ),
        SUMMARY: Summarizer(database, models.summary),
        DREAM: Dreamer(database, embedder, models.deriver, index=index, card_max_facts=card_max),
        CARD: CardRebuilder(database, models.deriver, card_max_facts=card_max),
    }

    async def queue_empty(workspace_id: str, data: dict[str, object]) -> None:
        if webhooks is not None:
            await webhooks.emit(workspace_id, "queue.empty", data)

    return Worker(
        database,
        handlers,
        policy=queue_policy(settings),
        concurrency=settings.worker_concurrency,
        poll_s=settings.worker_poll_s,
        retention_days=settings.work_retention_days,
        on_queue_empty=queue_empty,
    )


async def run_standalone(settings: Settings) -> None:
    """`parley worker`: the same worker as in `serve`, without HTTP, until cancelled."""
    import asyncio
    import contextlib
    import signal

    from parley import tokens
    from parley.blas import one_blas_thread
    from parley.llm import build_embedder
    from parley.llm.roles import build_chat_models
    from parley.store import migrate
    from parley.store.engine import create_database
    from parley.store.meta import ensure_embedding_model

    one_blas_thread()  # as `serve` does: a spinning BLAS pool costs the slots more than it saves
    url = settings.resolved_database_url
    if settings.auto_migrate:
        await asyncio.to_thread(migrate.upgrade, url)
    async with contextlib.AsyncExitStack() as cleanup:
        database = create_database(url)
        cleanup.push_async_callback(database.dispose)
        await asyncio.to_thread(tokens.warm_up)
        embedder = await asyncio.to_thread(build_embedder, settings)
        cleanup.push_async_callback(embedder.close)
        async with database.write() as db:
            await ensure_embedding_model(db, name=embedder.name, dimensions=embedder.dimensions)
        dispatcher = build_webhook_dispatcher(settings, database)
        cleanup.push_async_callback(dispatcher.close)
        models = build_chat_models(settings)
        cleanup.push_async_callback(models.close)
        worker = build_worker(
            settings, database=database, embedder=embedder, models=models, webhooks=dispatcher
        )
        task = asyncio.current_task()
        assert task is not None
        # SIGTERM cancels the slots, which hand their claimed batches back untouched
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
        log.info("parley worker %s started on %s", worker.queue.worker_id, database.dialect)
        await worker.run()
