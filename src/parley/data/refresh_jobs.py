"""Catalog refreshes with a callback, run by the durable work queue: the request marks the
catalogs ACTIVE and enqueues the job (task type `catalog_refresh`) in one transaction and
answers at once; a worker refreshes the catalogs, then enqueues the outcome's callback (task
type `refresh_callback`) in the transaction that finishes the job, and the callback is POSTed,
success or failure, to the caller's URL with its token as a bearer token.

A job cut off by a crash is run again (its lease runs out) once a worker runs, and its catalogs
stay ACTIVE until then. A job that fails past its attempts (`PARLEY_WORKER_MAX_ATTEMPTS`; a
catalog that cannot be read is an outcome, not a failure) leaves its ACTIVE catalogs FAILED and
still calls back. One project's jobs run one at a time, in order.

The target must be http(s) and public unless the operator allows private hosts (checked when
the refresh is asked for and again before every attempt, as for memory webhooks); attempts are
`parley.outbound`'s, with the webhook settings' attempts, timeout and backoff. The token is
stored sealed with the credentials key.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from parley.data.catalog import refresh_catalogs
from parley.data.connections import DataServices
from parley.data.credentials import CredentialBox
from parley.data.projects import get_project
from parley.errors import InvalidInput, NotFound, ParleyError
from parley.ids import new_public_id
from parley.llm.chat import UsageMeter
from parley.memory.webhooks import check_target
from parley.outbound import Courier, DeliveryTask, TargetCheck
from parley.store.data_models import DataCatalog
from parley.store.queue import Claim, ClaimedItem, Commit, NewWork, Retry, enqueue

log = logging.getLogger("parley.data")

ACTIVE = "ACTIVE"
CATALOG_REFRESH, REFRESH_CALLBACK = "catalog_refresh", "refresh_callback"
INTERNAL_ERROR = "internal error"


@dataclass(frozen=True)
class Callback:
    url: str
    token: str | None


def callback_check(*, allow_private_hosts: bool) -> TargetCheck:
    """The memory webhooks' address rules, with messages about the callback URL."""

    async def check(url: str) -> None:
        try:
            await check_target(url, allow_private_hosts=allow_private_hosts)
        except InvalidInput as err:
            raise InvalidInput(
                err.detail.replace("webhook URL", "callbackURL")
                .replace("webhook host", "callbackURL host")
                .replace(
                    "set PARLEY_WEBHOOK_ALLOW_PRIVATE_HOSTS=true",
                    "set PARLEY_DATA_ALLOW_PRIVATE_HOSTS=true",
                )
            ) from err

    return check


def outcome(project_id: str, catalogs: list[DataCatalog]) -> dict[str, Any]:
    """What a refresh answers (synchronously) or reports to its callback."""
    failed = any(c.refresh_status == "FAILED" for c in catalogs)
    return {
        "projectId": project_id,
        "status": "FAILED" if failed else "COMPLETED",
        "catalogs": [
            {"catalogId": c.id, "status": c.refresh_status, "error": c.refresh_error}
            for c in catalogs
        ],
    }


async def start_refresh(
    services: DataServices,
    *,
    project_id: str,
    catalog_id: str | None,
    callback: Callback,
    check_callback: TargetCheck,
) -> dict[str, Any]:
    """Check the callback target, then mark the catalogs ACTIVE and enqueue the job in one
    transaction; answers what is now running."""
    await check_callback(callback.url)
    token = services.box.seal({"token": callback.token}) if callback.token else None
    async with services.database.write() as db:
        await get_project(db=db, project_id=project_id)
        stmt = select(DataCatalog).where(DataCatalog.project_id == project_id)
        if catalog_id is not None:
            stmt = stmt.where(DataCatalog.id == catalog_id)
        rows = list(await db.scalars(stmt.order_by(DataCatalog.created_at, DataCatalog.id)))
        if catalog_id is not None and not rows:
            raise NotFound(f"Catalog {catalog_id} not found")
        for row in rows:
            row.refresh_status, row.refresh_error = ACTIVE, None
        job = NewWork(
            task_type=CATALOG_REFRESH,
            work_unit_key=f"{project_id}/{CATALOG_REFRESH}",  # a project's jobs run in order
            payload={"catalog_id": catalog_id, "callback": {"url": callback.url, "token": token}},
        )
        await enqueue(db, project_id, [job])
    running = [{"catalogId": r.id, "status": ACTIVE, "error": None} for r in rows]
    return {"projectId": project_id, "status": ACTIVE, "catalogs": running}


class RefreshJob:
    """The handler of `catalog_refresh` items. A catalog that cannot be read is reported in
    the outcome; anything else that goes wrong is raised, and the queue retries the job."""

    def __init__(self, services: DataServices) -> None:
        self._services = services

    async def __call__(self, claim: Claim, _meter: UsageMeter) -> Commit:
        job = claim.items[0]  # one job a batch
        project_id, catalog_id = job.workspace_id, job.payload["catalog_id"]
        # ACTIVE again: an earlier job of the project may have finished these catalogs since
        # this one was asked for, or this is a run again after a crash
        async with self._services.database.write() as db:
            await _set_status(db, project_id, catalog_id, ACTIVE, None, only_active=False)
        try:
            done = await refresh_catalogs(
                self._services, project_id=project_id, catalog_id=catalog_id
            )
            body = outcome(project_id, done)
        except ParleyError as err:  # the project or the catalog went meanwhile
            body = {"projectId": project_id, "status": "FAILED", "error": err.detail}

        async def commit(db: AsyncSession) -> None:
            await _enqueue_callback(db, job, body)

        return commit


async def refresh_failed(db: AsyncSession, job: ClaimedItem, error: str) -> None:
    """The `on_failed` hook of `catalog_refresh`: in the transaction that keeps the job as
    failed, its catalogs still ACTIVE become FAILED and the failure is called back."""
    log.warning(
        "refresh of project %s failed after %d attempt(s): %s",
        job.workspace_id,
        job.attempts,
        error,
    )
    await _set_status(
        db, job.workspace_id, job.payload["catalog_id"], "FAILED", INTERNAL_ERROR, only_active=True
    )
    body = {"projectId": job.workspace_id, "status": "FAILED", "error": INTERNAL_ERROR}
    await _enqueue_callback(db, job, body)


async def _set_status(
    db: AsyncSession,
    project_id: str,
    catalog_id: str | None,
    status: str,
    error: str | None,
    *,
    only_active: bool,
) -> None:
    stmt = update(DataCatalog).where(DataCatalog.project_id == project_id)
    if catalog_id is not None:
        stmt = stmt.where(DataCatalog.id == catalog_id)
    if only_active:
        stmt = stmt.where(DataCatalog.refresh_status == ACTIVE)
    await db.execute(stmt.values(refresh_status=status, refresh_error=error))


async def _enqueue_callback(db: AsyncSession, job: ClaimedItem, body: dict[str, Any]) -> None:
    body = body | {"finishedAt": datetime.now(UTC).isoformat().replace("+00:00", "Z")}
    callback = job.payload["callback"]
    delivery = NewWork(
        task_type=REFRESH_CALLBACK,
        work_unit_key=f"{job.workspace_id}/{REFRESH_CALLBACK}/{new_public_id()}",
        payload={
            "url": callback["url"],
            "token": callback["token"],
            "body": json.dumps(body, separators=(",", ":"), ensure_ascii=False),
        },
    )
    await enqueue(db, job.workspace_id, [delivery])


def callback_task(
    *, box: CredentialBox, courier: Courier, check_target: TargetCheck, retry: Retry
) -> DeliveryTask:
    """The handler of `refresh_callback` items: one attempt, with the bearer token."""

    def headers(item: ClaimedItem, _body: bytes) -> dict[str, str]:
        sealed = item.payload.get("token")
        if not sealed:
            return {"Content-Type": "application/json"}
        token = box.open(sealed)["token"]
        return {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}

    return DeliveryTask(
        what="refresh callback",
        log=log,
        courier=courier,
        check_target=check_target,
        retry=retry,
        headers=headers,
    )
