"""Builds a worker with the task handlers (reasoning, webhook deliveries, catalog refreshes and
their callbacks); shared by `serve` and `parley worker`."""

from __future__ import annotations

import logging
from functools import partial
from pathlib import Path

from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession

from parley.config import Settings
from parley.data.cache_jobs import CacheLimits, CacheRefreshJob, CacheScheduler
from parley.data.cache_jobs import refresh_failed as cache_refresh_failed
from parley.data.caches import CACHE_REFRESH
from parley.data.connections import DataServices
from parley.data.connectors.base import ConnectorEnv
from parley.data.credentials import CredentialBox
from parley.data.exports import EXPORT, ExportJob, ExportPolicy, export_failed_hook
from parley.data.file_roots import FileRoots
from parley.data.internal.files import InternalFiles
from parley.data.pool import ConnectorPool
from parley.data.refresh_jobs import (
    CATALOG_REFRESH,
    REFRESH_CALLBACK,
    RefreshJob,
    callback_check,
    callback_task,
    refresh_failed,
)
from parley.llm.embeddings import Embedder
from parley.llm.roles import ChatModels
from parley.memory import webhooks as webhook_endpoints
from parley.memory.card_rebuild import CardRebuilder
from parley.memory.configuration import ReasoningDefaults
from parley.memory.deriver import Deriver
from parley.memory.dreams import Dreamer
from parley.memory.observation_index import ObservationIndex
from parley.memory.queue_empty import QUEUE_EMPTY, QueueEmptyTask, enqueue_queue_empty
from parley.memory.reasoning import CARD, DERIVE, DREAM, REASONING, SUMMARY
from parley.memory.summaries import Summarizer
from parley.memory.webhook_delivery import WEBHOOK, webhook_task
from parley.outbound import Courier, DeliveryPolicy, OutcomeSink
from parley.store.engine import Database
from parley.store.queue import Claim, QueuePolicy
from parley.ttl_cache import TtlCache
from parley.worker.runner import Lane, TaskHandler, Worker

log = logging.getLogger("parley.worker")

DELIVERIES = (WEBHOOK, REFRESH_CALLBACK)
# `queue.empty` waits in the delivery lane for the workspace's embeddings, then queues its
# deliveries there (memory/queue_empty.py)
DELIVERY_LANE = (*DELIVERIES, QUEUE_EMPTY)


def delivery_policy(settings: Settings) -> DeliveryPolicy:
    return DeliveryPolicy(
        max_attempts=settings.webhook_max_attempts,
        timeout_s=settings.webhook_timeout_s,
        backoff_s=settings.webhook_backoff_s,
    )


def build_courier(settings: Settings) -> Courier:
    return Courier(timeout_s=settings.webhook_timeout_s)


def _own_database_files(settings: Settings) -> tuple[Path, ...]:
    """Parley's own SQLite file and its journals, wherever PARLEY_DATABASE_URL puts them: no
    data connection may read them (they hold every project)."""
    if not settings.is_sqlite:
        return ()
    name = make_url(settings.resolved_database_url).database
    if not name or name == ":memory:":
        return ()
    return tuple(Path(f"{name}{suffix}") for suffix in ("", "-wal", "-shm", "-journal"))


def build_data_services(settings: Settings, database: Database, embedder: Embedder) -> DataServices:
    env = ConnectorEnv(
        file_roots=FileRoots(settings.data_file_roots),
        forbidden_paths=(settings.data_dir, *_own_database_files(settings)),
        uploads_dir=settings.data_dir / "uploads",
        internal_files=InternalFiles(settings.data_dir / "internal"),
        allow_private_hosts=settings.data_allow_private_hosts,
        max_timeout_s=settings.query_timeout_s + 1,
    )
    return DataServices(
        database=database,
        pool=ConnectorPool(env),
        box=CredentialBox(settings.credentials_key),
        embedder=embedder,
        query_timeout_s=settings.query_timeout_s,
        query_max_rows=settings.query_max_rows,
        query_max_bytes=settings.query_max_bytes,
        query_max_cell_bytes=settings.query_max_cell_bytes,
        agent_result_max_bytes=settings.agent_result_max_bytes,
        catalogs=TtlCache(settings.catalog_cache_ttl_s),
        exports_dir=settings.data_dir / "exports",
        cache_dir=settings.data_dir / "cache",
        cache_max_age_s=settings.cache_max_age_s,
    )


def cache_limits(settings: Settings) -> CacheLimits:
    return CacheLimits(
        page_rows=settings.cache_page_rows,
        max_rows=settings.cache_max_rows,
        timeout_s=settings.cache_refresh_timeout_s,
        quota_bytes=settings.cache_quota_bytes,
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
    deliveries = delivery_policy(settings).retry
    return QueuePolicy(
        lease_s=settings.worker_lease_s,
        max_attempts=settings.worker_max_attempts,
        backoff_s=settings.worker_backoff_s,
        batch_units=lambda task_type: batches.get(task_type, 1),
        retries=dict.fromkeys(DELIVERIES, deliveries),
        on_failed={
            CATALOG_REFRESH: refresh_failed,
            EXPORT: export_failed_hook(ExportPolicy.from_settings(settings)),
            CACHE_REFRESH: cache_refresh_failed,
        },
    )


def lanes(settings: Settings) -> list[Lane]:
    return [
        Lane("reasoning", REASONING, settings.worker_concurrency),
        Lane("delivery", DELIVERY_LANE, settings.worker_delivery_concurrency),
        Lane("refresh", (CATALOG_REFRESH,), settings.worker_refresh_concurrency),
        Lane("exports", (EXPORT,), settings.exports_concurrency),
        Lane("cache", (CACHE_REFRESH,), settings.cache_refresh_concurrency),
    ]


def build_worker(
    settings: Settings,
    *,
    database: Database,
    embedder: Embedder,
    models: ChatModels,
    data: DataServices,
    courier: Courier,
    observation_index: ObservationIndex | None = None,
    on_webhook_outcome: OutcomeSink | None = None,
) -> Worker:
    defaults = reasoning_defaults(settings, models)
    card_max = settings.peer_card_max_facts
    observation_index = observation_index or ObservationIndex(
        embedder.dimensions, in_memory=database.dialect == "sqlite"
    )
    retry = delivery_policy(settings).retry
    handlers: dict[str, TaskHandler] = {
        DERIVE: Deriver(
            database,
            embedder,
            models.deriver,
            observation_index=observation_index,
            defaults=defaults,
            card_max_facts=card_max,
        ),
        SUMMARY: Summarizer(database, models.summary),
        DREAM: Dreamer(
            database,
            embedder,
            models.deriver,
            observation_index=observation_index,
            defaults=defaults,
            card_max_facts=card_max,
        ),
        CARD: CardRebuilder(database, models.deriver, card_max_facts=card_max),
        WEBHOOK: webhook_task(
            signing_key=settings.webhook_signing_key,
            courier=courier,
            check_target=partial(
                webhook_endpoints.check_target,
                allow_private_hosts=settings.webhook_allow_private_hosts,
            ),
            retry=retry,
            on_outcome=on_webhook_outcome,
        ),
        QUEUE_EMPTY: QueueEmptyTask(database),
        CATALOG_REFRESH: RefreshJob(data),
        EXPORT: ExportJob(data, ExportPolicy.from_settings(settings)),
        CACHE_REFRESH: CacheRefreshJob(data, cache_limits(settings)),
        REFRESH_CALLBACK: callback_task(
            box=data.box,
            courier=courier,
            check_target=callback_check(allow_private_hosts=settings.callback_allow_private_hosts),
            retry=retry,
        ),
    }

    async def settled(db: AsyncSession, claim: Claim) -> bool:
        # a finished refresh enqueued its callback, a finished queue_empty item its deliveries:
        # wake the delivery slots for them
        return await enqueue_queue_empty(db, claim) or claim.task_type in (
            CATALOG_REFRESH,
            QUEUE_EMPTY,
        )

    return Worker(
        database,
        handlers,
        policy=queue_policy(settings),
        lanes=lanes(settings),
        poll_s=settings.worker_poll_s,
        retention_days=settings.worker_retention_days,
        settled=settled,
        timers=(CacheScheduler(data).tick,),
    )


async def run_standalone(settings: Settings) -> None:
    """`parley worker`: the same core and worker as in `serve`, without HTTP, until cancelled."""
    import asyncio
    import signal

    from parley.core import open_core  # it builds its worker with this module's functions

    async with open_core(settings, with_worker=True) as core:
        worker = core.worker
        assert worker is not None
        task = asyncio.current_task()
        assert task is not None
        # SIGTERM cancels the slots, which hand their claimed batches back untouched
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
        log.info("parley worker %s started on %s", worker.queue.worker_id, core.database.dialect)
        await worker.run()
