"""Reading cached copies instead of sources: a guarded statement whose every table has a fresh
copy runs on DuckDB over those copies (the statement rewritten to read them, and guarded again
in DuckDB's dialect); otherwise, or when the copy cannot be read, it goes to the source.

A copy is fresh when it exists, is no older than PARLEY_CACHE_MAX_AGE_S (when set), and, for
a cache on a schedule, no older than twice its shortest period (a schedule that stopped
firing does not leave queries reading an ever older copy).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlglot
from sqlalchemy import select
from sqlglot import exp
from sqlglot.errors import SqlglotError

from parley.data.cache_files import project_folder
from parley.data.cache_schedule import period
from parley.data.connectors.base import ConnectionFailed, QueryFailed
from parley.data.connectors.results import ResultCaps, ResultSet
from parley.data.sql_guard import CatalogScope, GuardedSql, QueryRejected, TableName, guard
from parley.store.cache_models import QUERY, TABLE, DataCache
from parley.store.models import utcnow

if TYPE_CHECKING:
    from parley.data.connections import DataServices

log = logging.getLogger("parley.data")


@dataclass(frozen=True)
class CacheHit:
    """Which copies served a statement, and how old the oldest is."""

    cache_ids: tuple[str, ...]
    refreshed_at: datetime

    def to_json(self) -> dict[str, Any]:
        return {
            "servedFromCache": True,
            "cacheIds": list(self.cache_ids),
            "refreshedAt": self.refreshed_at.isoformat().replace("+00:00", "Z"),
        }


@dataclass(frozen=True)
class _Copy:
    cache_id: str
    schema: str
    table: str
    path: Path
    refreshed_at: datetime


def is_fresh(cache: DataCache, *, now: datetime, max_age_s: float) -> bool:
    if cache.file is None or cache.refreshed_at is None:
        return False
    age = now - cache.refreshed_at
    if max_age_s and age > timedelta(seconds=max_age_s):
        return False
    periods = [p for p in (period(cache.full_schedule), period(cache.incremental_schedule)) if p]
    return not periods or age <= 2 * min(periods)


async def _fresh_copies(services: DataServices, project_id: str, catalog_id: str) -> list[_Copy]:
    assert services.cache_dir is not None
    async with services.database.read() as db:
        rows = list(
            await db.scalars(
                select(DataCache).where(
                    DataCache.project_id == project_id,
                    DataCache.kind == TABLE,
                    DataCache.catalog_id == catalog_id,
                    DataCache.file.is_not(None),
                )
            )
        )
    now = utcnow()
    folder = project_folder(services.cache_dir, project_id)
    return [
        _Copy(
            r.id, r.schema_name or "", r.table_name or "", folder / (r.file or ""), r.refreshed_at
        )
        for r in rows
        if r.refreshed_at is not None and is_fresh(r, now=now, max_age_s=services.cache_max_age_s)
    ]


def _rewrite(sql: str, dialect: str, views: dict[TableName, str]) -> str:
    """The guarded statement in DuckDB's dialect, its tables replaced by the copies' views."""
    tree = sqlglot.parse_one(sql, read=dialect)
    ctes = {cte.alias_or_name for cte in tree.find_all(exp.CTE)}
    for table in list(tree.find_all(exp.Table)):
        if not table.db and table.name in ctes:
            continue  # a CTE's name, not the table
        view = views.get(TableName(table.db, table.name))
        if view is None:
            continue
        alias = table.args.get("alias")
        swapped = exp.table_(view, quoted=True)
        if alias is None:
            alias = exp.TableAlias(this=exp.to_identifier(table.name, quoted=True))
        swapped.set("alias", alias)
        table.replace(swapped)
    return tree.sql(dialect="duckdb")


async def run_from_copies(
    services: DataServices,
    *,
    project_id: str,
    catalog_id: str,
    dialect: str,
    default_schema: str,
    guarded: GuardedSql,
    timeout_s: float,
    caps: ResultCaps,
) -> tuple[ResultSet, CacheHit] | None:
    """The statement's result from fresh copies of all its tables, or None (go to the
    source): a table without one, a statement DuckDB cannot run as written, an unreadable
    copy."""
    if services.cache_dir is None or not guarded.tables:
        return None
    copies = {(c.schema, c.table): c for c in await _fresh_copies(services, project_id, catalog_id)}
    used: list[_Copy] = []
    for name in guarded.tables:
        found = copies.get((name.schema or default_schema, name.table))
        if found is None:
            return None
        used.append(found)
    return await _run_on(
        services,
        used,
        guarded,
        dialect=dialect,
        default_schema=default_schema,
        timeout_s=timeout_s,
        caps=caps,
    )


async def _run_on(
    services: DataServices,
    used: Sequence[_Copy],
    guarded: GuardedSql,
    *,
    dialect: str,
    default_schema: str,
    timeout_s: float,
    caps: ResultCaps,
) -> tuple[ResultSet, CacheHit] | None:
    names = {c.cache_id: f"copy_{i}" for i, c in enumerate(dict.fromkeys(used))}
    views: dict[TableName, str] = {}
    for copy in used:
        views[TableName(copy.schema, copy.table)] = names[copy.cache_id]
        if copy.schema == default_schema:
            views[TableName("", copy.table)] = names[copy.cache_id]
    try:
        sql = _rewrite(guarded.sql, dialect, views)
        scope = CatalogScope(
            names=frozenset(),
            dialect="duckdb",
            default_schema="main",
            tables=tuple(TableName("main", v) for v in names.values()),
        )
        again = await services.sql_work.run(
            guard, sql, scope=scope, row_cap=guarded.row_cap, chars=len(sql)
        )
    except (SqlglotError, QueryRejected) as err:
        log.info("statement not run on cached copies (%s); reading the source", err)
        return None
    reader, dropped = services.copies.reader(
        {names[c.cache_id]: c.path for c in dict.fromkeys(used)}
    )
    if dropped is not None:
        await dropped.close()
    try:
        result = await reader.run(
            again.sql, timeout_s=timeout_s, caps=replace(caps, rows=again.row_cap)
        )
    except (QueryFailed, ConnectionFailed) as err:
        # a copy replaced or gone under it, or SQL DuckDB reads otherwise: the source answers
        log.info("cached copies could not run a statement (%s); reading the source", err)
        return None
    if result.truncated and not result.rows:
        return None  # the source says why (ResultTooLarge)
    oldest = min(c.refreshed_at for c in used)
    return result, CacheHit(tuple(dict.fromkeys(c.cache_id for c in used)), oldest)


async def read_materialized(
    services: DataServices,
    *,
    project_id: str,
    query_id: str,
    timeout_s: float,
    caps: ResultCaps,
) -> tuple[ResultSet, CacheHit] | None:
    """All rows of a materialized query's copy (up to the caps), or None when it has none."""
    if services.cache_dir is None:
        return None
    async with services.database.read() as db:
        cache = await db.scalar(
            select(DataCache).where(
                DataCache.project_id == project_id,
                DataCache.kind == QUERY,
                DataCache.query_id == query_id,
            )
        )
    if cache is None or cache.refreshed_at is None:
        return None
    if not is_fresh(cache, now=utcnow(), max_age_s=services.cache_max_age_s):
        return None
    path = project_folder(services.cache_dir, project_id) / (cache.file or "")
    copy = _Copy(cache.id, "mtquery", "result", path, cache.refreshed_at)
    guarded = GuardedSql(
        sql=f'SELECT * FROM "mtquery"."result" LIMIT {caps.rows}',
        tables=(TableName("mtquery", "result"),),
        row_cap=caps.rows,
    )
    return await _run_on(
        services,
        [copy],
        guarded,
        dialect="duckdb",
        default_schema="main",
        timeout_s=timeout_s,
        caps=caps,
    )
