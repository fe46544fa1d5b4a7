"""Deliveries to URLs outside: webhook events and refresh callbacks, one queue item each.

A `DeliveryTask` is the work queue's handler for one kind of delivery: each claim is one attempt
to POST the item's stored `body` to its `url`. The target's address is checked before every
attempt (a name that starts resolving to a private address is refused), the whole attempt is
bounded by the timeout, redirects are not followed and the answer is never read (a receiver
cannot make us buffer an arbitrarily large one). Connection errors, timeouts, 429 and 5xx are
retried by the queue with backoff, up to the task type's attempts (counted in the database, so
across restarts); any other answer from 400 up, or a refused address, ends the delivery at once.
Every end is logged, counted (`on_outcome`) and kept in the queue: done, or failed with why.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import NoReturn

import httpx

from parley.errors import InvalidInput
from parley.llm.chat import UsageMeter
from parley.store.queue import Claim, ClaimedItem, Commit, Retry, TaskFailed, no_writes

TargetCheck = Callable[[str], Awaitable[None]]
# Told how each delivery ended: delivered, failed (a 4xx, or retries spent), refused (the
# target address is not allowed) or error (a bug, logged).
OutcomeSink = Callable[[str], None]
# The headers of an item's POST, given its body bytes.
HeaderSource = Callable[[ClaimedItem, bytes], dict[str, str]]


@dataclass(frozen=True)
class DeliveryPolicy:
    max_attempts: int
    timeout_s: float
    backoff_s: float

    @property
    def retry(self) -> Retry:
        return Retry(self.max_attempts, self.backoff_s)


class Courier:
    """The HTTP client deliveries share (one connection pool per process)."""

    def __init__(self, *, timeout_s: float) -> None:
        self._timeout_s = timeout_s
        self._client = httpx.AsyncClient(timeout=timeout_s, follow_redirects=False)

    async def post(self, url: str, body: bytes, headers: dict[str, str]) -> int:
        """One attempt, bounded as a whole by the timeout; answers the status code."""
        async with (
            asyncio.timeout(self._timeout_s),
            self._client.stream("POST", url, content=body, headers=headers) as response,
        ):
            return response.status_code

    async def close(self) -> None:
        await self._client.aclose()


class DeliveryTask:
    """The queue handler of one kind of delivery (`what` names it in the log)."""

    def __init__(
        self,
        *,
        what: str,
        log: logging.Logger,
        courier: Courier,
        check_target: TargetCheck,
        retry: Retry,
        headers: HeaderSource,
        on_outcome: OutcomeSink | None = None,
    ) -> None:
        self._what = what
        self._log = log
        self._courier = courier
        self._check_target = check_target
        self._retry = retry
        self._headers = headers
        self._on_outcome = on_outcome

    async def __call__(self, claim: Claim, _meter: UsageMeter) -> Commit:
        item = claim.items[0]  # every delivery is a work unit of its own
        url = str(item.payload["url"])
        body = str(item.payload["body"]).encode()
        try:
            await self._check_target(url)
            status = await self._courier.post(url, body, self._headers(item, body))
        except InvalidInput as err:
            self._log.warning("%s to %s refused: %s", self._what, url, err.detail)
            self._end("refused", err.detail)
        except (httpx.HTTPError, TimeoutError) as err:
            self._failed(item, url, _describe(err), retryable=True)
        except Exception as err:  # a bug: log it, never retry it
            self._log.exception("%s to %s failed unexpectedly", self._what, url)
            self._end("error", _describe(err))
        if status < 400:
            self._count("delivered")
            return no_writes
        self._failed(item, url, f"HTTP {status}", retryable=status == 429 or status >= 500)

    def _failed(self, item: ClaimedItem, url: str, detail: str, *, retryable: bool) -> NoReturn:
        if retryable and item.attempts < self._retry.max_attempts:
            self._log.info(
                "%s to %s attempt %d failed (%s); retrying", self._what, url, item.attempts, detail
            )
            raise TaskFailed(detail, retry=True)
        self._log.warning(
            "%s to %s failed after %d attempt(s): %s", self._what, url, item.attempts, detail
        )
        self._end("failed", detail)

    def _end(self, outcome: str, detail: str) -> NoReturn:
        """The delivery is over without success: count it, keep the item failed with why."""
        self._count(outcome)
        raise TaskFailed(f"{outcome}: {detail}", retry=False)

    def _count(self, outcome: str) -> None:
        if self._on_outcome is not None:
            self._on_outcome(outcome)


def _describe(err: BaseException) -> str:
    return f"{type(err).__name__}: {err}" if str(err) else type(err).__name__
