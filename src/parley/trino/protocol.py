"""The JSON of Trino's `QueryResults`: what `POST /v1/statement` and each `nextUri` answer
(`id`, `infoUri`, `nextUri`, `columns` with their `typeSignature`, `data`, `stats`, `error`,
`warnings`, `updateType`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from parley.trino.types import TrinoType

QUEUED, RUNNING, FINISHED, FAILED = "QUEUED", "RUNNING", "FINISHED", "FAILED"


def columns_json(columns: Sequence[tuple[str, TrinoType]]) -> list[dict[str, Any]]:
    return [
        {"name": name, "type": kind.name, "typeSignature": kind.signature()}
        for name, kind in columns
    ]


def stats_json(*, state: str, elapsed_ms: int, rows: int, bytes_: int) -> dict[str, Any]:
    done = state in (FINISHED, FAILED)
    return {
        "state": state,
        "queued": state == QUEUED,
        "scheduled": state != QUEUED,
        "progressPercentage": 100.0 if done else None,
        "runningPercentage": 0.0 if done else None,
        "nodes": 1,
        "totalSplits": 1,
        "queuedSplits": 1 if state == QUEUED else 0,
        "runningSplits": 1 if state == RUNNING else 0,
        "completedSplits": 1 if done else 0,
        "cpuTimeMillis": elapsed_ms,
        "wallTimeMillis": elapsed_ms,
        "queuedTimeMillis": 0,
        "elapsedTimeMillis": elapsed_ms,
        "processedRows": rows,
        "processedBytes": bytes_,
        "physicalInputBytes": bytes_,
        "peakMemoryBytes": bytes_,
        "spilledBytes": 0,
    }


def results_json(
    *,
    query_id: str,
    info_uri: str,
    stats: dict[str, Any],
    next_uri: str | None = None,
    columns: list[dict[str, Any]] | None = None,
    data: list[list[Any]] | None = None,
    error: dict[str, Any] | None = None,
    warnings: list[dict[str, Any]] | None = None,
    update_type: str | None = None,
) -> dict[str, Any]:
    body: dict[str, Any] = {"id": query_id, "infoUri": info_uri}
    if next_uri is not None:
        body["nextUri"] = next_uri
    if columns is not None:
        body["columns"] = columns
    if data:
        body["data"] = data
    body["stats"] = stats
    if error is not None:
        body["error"] = error
    body["warnings"] = warnings or []
    if update_type is not None:
        body["updateType"] = update_type
    return body
