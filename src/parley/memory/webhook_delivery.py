"""Signed webhook delivery with retries and exponential backoff.

Body: `{"type", "data", "timestamp"}`; header `X-Honcho-Signature`: hex HMAC-SHA256 of the exact
body bytes. A delivery is retried on connection errors, 429 and 5xx; the target address is checked
again before every attempt, so a name that starts resolving to a private address is refused.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx

from parley.errors import InvalidInput

log = logging.getLogger("parley.webhooks")

SIGNATURE_HEADER = "X-Honcho-Signature"

UrlSource = Callable[[str], Awaitable[list[str]]]
TargetCheck = Callable[[str], Awaitable[None]]
# Told how each delivery ended: delivered, failed (a 4xx, or retries spent), refused (the
# target address is not allowed) or error (a bug, logged).
OutcomeSink = Callable[[str], None]


def sign(body: bytes, key: str) -> str:
    return hmac.new(key.encode(), body, hashlib.sha256).hexdigest()


def encode_event(event_type: str, data: dict[str, Any]) -> bytes:
    event = {"type": event_type, "data": data, "timestamp": datetime.now(UTC).isoformat()}
    return json.dumps(event, separators=(",", ":"), ensure_ascii=False).encode()


@dataclass
class DeliveryPolicy:
    max_attempts: int
    timeout_s: float
    backoff_s: float


class WebhookDispatcher:
    """Sends events to a workspace's endpoints in background tasks owned by the app."""

    def __init__(
        self,
        *,
        signing_key: str,
        policy: DeliveryPolicy,
        endpoint_urls: UrlSource,
        check_target: TargetCheck,
        on_outcome: OutcomeSink | None = None,
    ) -> None:
        self._key = signing_key
        self._on_outcome = on_outcome
        self._policy = policy
        self._endpoint_urls = endpoint_urls
        self._check_target = check_target
        self._client = httpx.AsyncClient(timeout=policy.timeout_s, follow_redirects=False)
        self._tasks: set[asyncio.Task[None]] = set()

    async def emit(self, workspace_id: str, event_type: str, data: dict[str, Any]) -> int:
        """Queue `event_type` for every endpoint of the workspace; returns how many."""
        urls = await self._endpoint_urls(workspace_id)
        body = encode_event(event_type, data)
        for url in urls:
            task = asyncio.create_task(self._deliver(url, body))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return len(urls)

    async def _deliver(self, url: str, body: bytes) -> None:
        outcome = await self._attempts(url, body)
        if self._on_outcome is not None:
            self._on_outcome(outcome)

    async def _attempts(self, url: str, body: bytes) -> str:
        headers = {"Content-Type": "application/json", SIGNATURE_HEADER: sign(body, self._key)}
        delay = self._policy.backoff_s
        for attempt in range(1, self._policy.max_attempts + 1):
            try:
                await self._check_target(url)
                status = await self._post(url, body, headers)
                if status < 400:
                    return "delivered"
                retryable = status == 429 or status >= 500
                outcome = f"HTTP {status}"
            except InvalidInput as err:
                log.warning("webhook to %s refused: %s", url, err.detail)
                return "refused"
            except (httpx.HTTPError, TimeoutError) as err:
                retryable, outcome = True, f"{type(err).__name__}: {err}"
            except Exception:  # a background task: log it, never let it die unobserved
                log.exception("webhook to %s failed unexpectedly", url)
                return "error"
            if not retryable or attempt == self._policy.max_attempts:
                log.warning("webhook to %s failed after %d attempt(s): %s", url, attempt, outcome)
                return "failed"
            log.info("webhook to %s attempt %d failed (%s); retrying", url, attempt, outcome)
            await asyncio.sleep(delay)
            delay *= 2
        return "failed"  # not reached: the last attempt returns above

    async def _post(self, url: str, body: bytes, headers: dict[str, str]) -> int:
        """One attempt; the whole attempt is bounded by the timeout, and the response body is
        never read (a receiver cannot make us buffer an arbitrarily large answer)."""
        async with (
            asyncio.timeout(self._policy.timeout_s),
            self._client.stream("POST", url, content=body, headers=headers) as response,
        ):
            return response.status_code

    async def drain(self, timeout_s: float = 5.0) -> None:
        """Wait for deliveries in flight (tests, shutdown); cancel what is left at `timeout_s`."""
        if self._tasks:
            _, pending = await asyncio.wait(set(self._tasks), timeout=timeout_s)
            for task in pending:
                task.cancel()

    async def close(self) -> None:
        await self.drain()
        await self._client.aclose()
