"""Builds a worker with the memory task handlers; shared by `serve` and `parley worker`."""

from __future__ import annotations

from parley.config import Settings
from parley.llm.embeddings import Embedder
from parley.llm.roles import ChatModels
from parley.memory.configuration import ReasoningDefaults
from parley.memory.deriver import Deriver
from parley.memory.dreams import Dreamer
from parley.memory.reasoning import DERIVE, DREAM, SUMMARY
from parley.memory.summaries import Summarizer
from parley.memory.webhook_delivery import WebhookDispatcher
from parley.store.engine import Database
from parley.store.queue import QueuePolicy
from parley.worker.runner import Worker


def reasoning_defaults(settings: Settings, models: ChatModels) -> ReasoningDefaults:
    return ReasoningDefaults(
        short_summary_every=settings.summary_short_every,
        long_summary_every=settings.summary_long_every,
        summaries_possible=models.summary is not None,
    )


def queue_policy(settings: Settings) -> QueuePolicy:
    batches = {DERIVE: settings.deriver_batch_messages, SUMMARY: 10, DREAM: 1}
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
) -> Worker:
    defaults = reasoning_defaults(settings, models)
    card_max = settings.peer_card_max_facts
    handlers = {
        DERIVE: Deriver(
            database, embedder, models.deriver, defaults=defaults, card_max_facts=card_max
        ),
        SUMMARY: Summarizer(database, models.summary),
        DREAM: Dreamer(database, embedder, models.deriver, card_max_facts=card_max),
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
        on_queue_empty=queue_empty,
    )
