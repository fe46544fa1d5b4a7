"""Webhook events, delivered through the durable work queue (task type `webhook`).

An event is one queue item per endpoint of its workspace, enqueued in the transaction of the
change that caused it (`queue.empty`: the one that finds the workspace's work all done, see
`memory/queue_empty.py`), so an accepted event survives a crash and is delivered at least once.
Each delivery is a work unit of its own: one that fails waits out its backoff without holding
up any other. Deleting the endpoint, or the workspace, drops its deliveries not yet made.

Body: `{"type", "data", "timestamp"}`, encoded once when the event is enqueued so every attempt
sends the same bytes; header `X-Honcho-Signature`: hex HMAC-SHA256 of them. Header
`X-Parley-Event-Id` (Parley's own; Honcho sends none) is one id per event, the same for every
endpoint and every attempt, so a receiver can drop a redelivery. Attempts and retries are
`parley.outbound`'s.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from parley.ids import new_public_id
from parley.outbound import Courier, DeliveryTask, OutcomeSink, TargetCheck
from parley.store.models import WebhookEndpoint
from parley.store.queue import (
    ClaimedItem,
    NewWork,
    Retry,
    enqueue,
)

log = logging.getLogger("parley.webhooks")

WEBHOOK = "webhook"
SIGNATURE_HEADER = "X-Honcho-Signature"
EVENT_ID_HEADER = "X-Parley-Event-Id"


def sign(body: bytes, key: str) -> str:
    return hmac.new(key.encode(), body, hashlib.sha256).hexdigest()


def encode_event(event_type: str, data: dict[str, Any]) -> bytes:
    event = {"type": event_type, "data": data, "timestamp": datetime.now(UTC).isoformat()}
    return json.dumps(event, separators=(",", ":"), ensure_ascii=False).encode()


def endpoint_deliveries(workspace_id: str, endpoint_id: str) -> str:
    """The work unit key prefix of every delivery to one endpoint."""
    return f"{workspace_id}/{WEBHOOK}/{endpoint_id}/"


async def enqueue_event(
    db: AsyncSession, *, workspace_id: str, event_type: str, data: dict[str, Any]
) -> int:
    """In the caller's transaction: queue `event_type` for every endpoint of the workspace;
    returns how many (none for an unknown workspace)."""
    endpoints = (
        await db.execute(
            select(WebhookEndpoint.id, WebhookEndpoint.url)
            .where(WebhookEndpoint.workspace_id == workspace_id)
            .order_by(WebhookEndpoint.created_at, WebhookEndpoint.id)
        )
    ).all()
    body = encode_event(event_type, data).decode()
    event_id = new_public_id()
    await enqueue(
        db,
        workspace_id,
        [
            NewWork(
                task_type=WEBHOOK,
                work_unit_key=endpoint_deliveries(workspace_id, endpoint_id) + event_id,
                payload={"url": url, "body": body, "event_id": event_id},
            )
            for endpoint_id, url in endpoints
        ],
    )
    return len(endpoints)


def webhook_task(
    *,
    signing_key: str,
    courier: Courier,
    check_target: TargetCheck,
    retry: Retry,
    on_outcome: OutcomeSink | None = None,
) -> DeliveryTask:
    """The handler of `webhook` items: one signed attempt at one endpoint."""

    def headers(item: ClaimedItem, body: bytes) -> dict[str, str]:
        return {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: sign(body, signing_key),
            # items queued before event ids had none: their own id is stable across retries
            EVENT_ID_HEADER: str(item.payload.get("event_id") or f"item-{item.id}"),
        }

    return DeliveryTask(
        what="webhook",
        log=log,
        courier=courier,
        check_target=check_target,
        retry=retry,
        headers=headers,
        on_outcome=on_outcome,
    )
