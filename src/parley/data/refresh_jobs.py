"""Catalog refreshes with a callback: the request answers at once (the catalogs are ACTIVE), the
refresh runs in a background task owned by the app, and its outcome, success or failure, is
POSTed to the caller's URL with its token as a bearer token.

The target must be http(s) and public unless the operator allows private hosts (checked when
the refresh is asked for and again before every attempt, as for memory webhooks); redirects
are not followed and the receiver's answer is not read. A delivery is retried on connection
errors, 429 and 5xx, with the webhook settings' attempts, timeout and backoff."""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
from sqlalchemy import select

from parley.data.catalog import refresh_catalogs
from parley.data.connections import DataServices
from parley.data.projects import get_project
from parley.errors import InvalidInput, NotFound, ParleyError
from parley.memory.webhook_delivery import DeliveryPolicy, TargetCheck
from parley.memory.webhooks import check_target
from parley.store.data_models import DataCatalog

log = logging.getLogger("parley.data")

ACTIVE = "ACTIVE"


@dataclass(frozen=True)
class Callback:
    url: str
    token: str | None


def callback_check(*, allow_private: bool) -> TargetCheck:
    """The memory webhooks' address rules, with messages about the callback URL."""

    async def check(url: str) -> None:
        try:
            await check_target(url, allow_private=allow_private)
        except InvalidInput as err:
            raise InvalidInput(
                err.detail.replace("webhook URL", "callbackURL")
                .replace("webhook host", "callbackURL host")
                .replace(
                    "set PARLEY_WEBHOOK_ALLOW_PRIVATE=true",
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


class RefreshJobs:
    def __init__(self, *, policy: DeliveryPolicy, check_target: TargetCheck) -> None:
        self._policy = policy
        self._check_target = check_target
        self._client = httpx.AsyncClient(timeout=policy.timeout_s, follow_redirects=False)
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(
        self,
        services: DataServices,
        *,
        project_id: str,
        catalog_id: str | None,
        callback: Callback,
    ) -> dict[str, Any]:
        """Check the callback target, mark the catalogs ACTIVE, start the refresh; answers
        what is now running."""
        await self._check_target(callback.url)
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
            running = [{"catalogId": r.id, "status": ACTIVE, "error": None} for r in rows]
        task = asyncio.create_task(self._run(services, project_id, catalog_id, callback))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return {"projectId": project_id, "status": ACTIVE, "catalogs": running}

    async def _run(
        self, services: DataServices, project_id: str, catalog_id: str | None, callback: Callback
    ) -> None:
        try:
            done = await refresh_catalogs(services, project_id=project_id, catalog_id=catalog_id)
            body = outcome(project_id, done)
        except ParleyError as err:
            body = {"projectId": project_id, "status": "FAILED", "error": err.detail}
        except Exception:  # a background task: log it, and still tell the caller
            log.exception("refresh of project %s failed unexpectedly", project_id)
            body = {"projectId": project_id, "status": "FAILED", "error": "internal error"}
        body["finishedAt"] = datetime.now(UTC).isoformat().replace("+00:00", "Z")
        await self.deliver(callback, body)

    async def deliver(self, callback: Callback, body: dict[str, Any]) -> None:
        content = json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()
        headers = {"Content-Type": "application/json"}
        if callback.token:
            headers["Authorization"] = f"Bearer {callback.token}"
        delay = self._policy.backoff_s
        for attempt in range(1, self._policy.max_attempts + 1):
            try:
                await self._check_target(callback.url)
                status = await self._post(callback.url, content, headers)
                if status < 400:
                    return
                retryable, result = status == 429 or status >= 500, f"HTTP {status}"
            except InvalidInput as err:
                log.warning("refresh callback to %s refused: %s", callback.url, err.detail)
                return
            except (httpx.HTTPError, TimeoutError) as err:
                retryable, result = True, f"{type(err).__name__}: {err}"
            except Exception:
                log.exception("refresh callback to %s failed unexpectedly", callback.url)
                return
            if not retryable or attempt == self._policy.max_attempts:
                log.warning(
                    "refresh callback to %s failed after %d attempt(s): %s",
                    callback.url,
                    attempt,
                    result,
                )
                return
            await asyncio.sleep(delay)
            delay *= 2

    async def _post(self, url: str, content: bytes, headers: dict[str, str]) -> int:
        async with (
            asyncio.timeout(self._policy.timeout_s),
            self._client.stream("POST", url, content=content, headers=headers) as response,
        ):
            return response.status_code

    async def drain(self, timeout_s: float = 30.0) -> None:
        """Wait for refreshes and deliveries in flight (tests, shutdown); cancel the rest."""
        if self._tasks:
            _, pending = await asyncio.wait(set(self._tasks), timeout=timeout_s)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.gather(*pending, return_exceptions=True)

    async def close(self) -> None:
        await self.drain()
        await self._client.aclose()
