"""`queue.empty`: the webhook event of a workspace whose background work is done, its reasoning
settled and its messages all findable by meaning.

Honcho 2.5.1 sends it when a work unit of reasoning drains, so a workspace with reasoning off
(no such work) never gets one, and Honcho embeds messages inside the write, so nothing else is
left by then. Parley embeds in the background (`memory/embedding_indexer.py`), so the event also
waits for the workspace's messages to have their vectors; what triggers it is the same.

The transaction that settles the workspace's last open reasoning work (done, or failed for
good) enqueues one `queue_empty` item (if the workspace has a webhook endpoint and no such item
is waiting already). The item, in the delivery lane, looks for a message of the workspace still
without its vector: while there is one, or reasoning work is open again, it waits (`Deferred`,
a short while, attempts not counted); once there is none it enqueues the event's deliveries, in
the transaction that marks it done, so the event is sent once per drain, survives a crash
while it waits, and goes with its workspace if that is deleted. The indexer never sends it (it
would race the worker and send twice).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from parley.llm.chat import UsageMeter
from parley.memory.reasoning import REASONING
from parley.memory.webhook_delivery import enqueue_event
from parley.store.engine import Database
from parley.store.models import Message, MessageEmbedding, WebhookEndpoint
from parley.store.queue import (
    Claim,
    Commit,
    Deferred,
    NewWork,
    enqueue,
    workspace_has_open_work,
)

QUEUE_EMPTY = "queue_empty"
FIRST_WAIT_S = 0.1  # the first wait for the embeddings; it doubles, up to MAX_WAIT_S
MAX_WAIT_S = 1.0


def queue_empty_key(workspace_id: str) -> str:
    return f"{workspace_id}/{QUEUE_EMPTY}"


async def enqueue_queue_empty(db: AsyncSession, claim: Claim) -> bool:
    """In the transaction that settled a batch: when it was the workspace's last open reasoning
    work, queue the item that sends its `queue.empty` once its messages are embedded. True if
    queued (none for a workspace without webhook endpoints, or with such an item waiting)."""
    if claim.task_type not in REASONING:
        return False
    workspace_id = claim.workspace_id
    if await workspace_has_open_work(db, workspace_id, REASONING):
        return False
    endpoint = await db.scalar(
        select(WebhookEndpoint.id).where(WebhookEndpoint.workspace_id == workspace_id).limit(1)
    )
    if endpoint is None:
        return False
    if await workspace_has_open_work(db, workspace_id, (QUEUE_EMPTY,)):
        return False  # it sends the event once this drain's messages are embedded too
    data = {
        "workspace_id": workspace_id,
        "queue_type": claim.task_type,
        "session_id": claim.items[0].session_id,
    }
    await enqueue(
        db,
        workspace_id,
        [
            NewWork(
                task_type=QUEUE_EMPTY,
                work_unit_key=queue_empty_key(workspace_id),
                payload={"data": data, "from_seq": 0, "waits": 0},
            )
        ],
    )
    return True


async def first_unembedded(db: AsyncSession, workspace_id: str, *, from_seq: int) -> int | None:
    """The lowest seq, from `from_seq` on, of a message of the workspace without its vector."""
    seq = await db.scalar(
        select(func.min(Message.seq))
        .outerjoin(MessageEmbedding, MessageEmbedding.seq == Message.seq)
        .where(
            Message.workspace_id == workspace_id,
            Message.seq >= from_seq,
            MessageEmbedding.seq.is_(None),
        )
    )
    return None if seq is None else int(seq)


class QueueEmptyTask:
    """The handler of `queue_empty` items."""

    def __init__(self, database: Database) -> None:
        self._database = database

    async def __call__(self, claim: Claim, _meter: UsageMeter) -> Commit:
        item = claim.items[0]
        workspace_id = item.workspace_id
        payload = dict(item.payload)
        waits = int(payload.get("waits", 0))

        def wait(from_seq: int) -> Deferred:
            # every message below `from_seq` was seen embedded: the next look starts there
            later = payload | {"from_seq": from_seq, "waits": waits + 1}
            return Deferred(min(FIRST_WAIT_S * 2**waits, MAX_WAIT_S), payload=later)

        async with self._database.read() as db:
            # the newest seq first: a message committed after the look below is in the tail
            newest = await db.scalar(select(func.max(Message.seq))) or 0
            waiting = await first_unembedded(
                db, workspace_id, from_seq=int(payload.get("from_seq", 0))
            )
        if waiting is not None:
            raise wait(waiting)

        async def commit(db: AsyncSession) -> None:
            # in the transaction that marks the item done: new reasoning work settles into
            # this item (it sees it open), so it waits for that too
            if await workspace_has_open_work(db, workspace_id, REASONING):
                raise wait(newest + 1)
            tail = await first_unembedded(db, workspace_id, from_seq=newest + 1)
            if tail is not None:
                raise wait(tail)
            data: dict[str, Any] = payload["data"]
            await enqueue_event(db, workspace_id=workspace_id, event_type="queue.empty", data=data)

        return commit
