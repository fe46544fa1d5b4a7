"""Saved queries: named SQL a project keeps, checked by the guard when stored and run through
it again on every execution (the catalogs may have changed since)."""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from parley.data import caches, query_folders
from parley.data.connections import DataServices
from parley.data.execute import check_sql, load_catalogs
from parley.data.projects import get_project
from parley.errors import Conflict, InvalidInput, NotFound
from parley.ids import new_public_id
from parley.store.data_models import SavedQuery
from parley.store.engine import Database
from parley.store.models import utcnow

SAVED_QUERY_CATALOG = "peaka"
SAVED_QUERY_SCHEMA = "query"


def query_name(display_name: str) -> str:
    """The name a saved query has in SQL: `peaka.query.<name>`."""
    name = re.sub(r"\W+", "_", display_name.strip()).strip("_").lower()
    if not name:
        raise InvalidInput("displayName must hold at least one letter or digit")
    return name[:200]


async def _check(
    db: AsyncSession,
    project_id: str,
    sql: str,
    checked_by: DataServices | None,
    query_id: str | None = None,
) -> None:
    """Through the guard; a changed query is checked as the semantic tables built on it
    would read it, so a change that makes one of them read itself is refused."""
    if checked_by is None:
        return
    catalogs = await load_catalogs(db=db, project_id=project_id)
    if query_id is not None and catalogs and catalogs[0].virtual:
        virtual = catalogs[0].virtual.with_query_text(query_id, sql)
        catalogs = [replace(c, virtual=virtual) for c in catalogs]
    await check_sql(checked_by, sql, catalogs, row_cap=1)


async def _no_clash(db: AsyncSession, project_id: str, name: str, query_id: str | None) -> None:
    clash = await find_by_name(db=db, project_id=project_id, name=name)
    if clash is not None and clash.id != query_id:
        raise Conflict(f"a query named {name} exists in this project")


MATERIALIZED = "MATERIALIZED"
MATERIALIZED_SCHEMA = "mtquery"  # a materialized query's copy reads as peaka.mtquery.<name>


def _plain(query_type: str) -> None:
    if query_type not in ("PLAIN", MATERIALIZED):
        raise InvalidInput("queryType is PLAIN or MATERIALIZED")


# The guard runs in a read session, before the write: a long statement takes about a second of
# CPU to check, and on SQLite a write session holds the one write lock all that time (every
# other write, messages included, would wait). What the read found is checked again in the
# write, so a query stored in between still clashes.


async def create_query(
    *,
    database: Database,
    project_id: str,
    display_name: str,
    input_query: str,
    query_type: str,
    checked_by: DataServices | None,
    path: str | None = None,
    schedule: dict[str, Any] | None = None,
) -> SavedQuery:
    """A new saved query, filed at `path` if given (its missing folders are created). A
    MATERIALIZED query gets its copy, and its first refresh queued, in the same transaction
    (`parley.data.caches.materialize`)."""
    folder_names = query_folders.parse_path(path) if path is not None else []
    async with database.read() as db:
        await get_project(db=db, project_id=project_id)
        _plain(query_type)
        name = query_name(display_name)
        await _no_clash(db, project_id, name, None)
        await _check(db, project_id, input_query, checked_by)
    async with database.write() as db:
        await get_project(db=db, project_id=project_id)
        await _no_clash(db, project_id, name, None)
        row = SavedQuery(
            id=new_public_id(),
            project_id=project_id,
            name=name,
            display_name=display_name,
            input_query=input_query,
            query_type=query_type,
            folder_id=await query_folders.folder_at(
                db=db, project_id=project_id, names=folder_names
            ),
        )
        db.add(row)
        await db.flush()
        if query_type == MATERIALIZED:
            await caches.materialize(db=db, query=row, schedule=schedule, refresh_now=True)
    return row


async def get_query(*, db: AsyncSession, project_id: str, query_id: str) -> SavedQuery:
    row = await db.get(SavedQuery, query_id)
    if row is None or row.project_id != project_id:
        raise NotFound(f"Query {query_id} not found")
    return row


async def find_by_name(*, db: AsyncSession, project_id: str, name: str) -> SavedQuery | None:
    return await db.scalar(
        select(SavedQuery).where(SavedQuery.project_id == project_id, SavedQuery.name == name)
    )


async def list_queries(*, db: AsyncSession, project_id: str) -> list[SavedQuery]:
    await get_project(db=db, project_id=project_id)
    rows = await db.scalars(
        select(SavedQuery)
        .where(SavedQuery.project_id == project_id)
        .order_by(SavedQuery.created_at, SavedQuery.id)
    )
    return list(rows)


async def update_query(
    *,
    database: Database,
    project_id: str,
    query_id: str,
    display_name: str | None,
    input_query: str | None,
    query_type: str,
    checked_by: DataServices | None,
    schedule: dict[str, Any] | None = None,
) -> SavedQuery:
    """`queryType: MATERIALIZED` turns a plain query into a materialized one (PLAIN, the
    default, leaves the type as it is); a materialized query whose SQL changed is refreshed."""
    async with database.read() as db:
        row = await get_query(db=db, project_id=project_id, query_id=query_id)
        _plain(query_type)
        name = None
        if display_name is not None and display_name != row.display_name:
            name = query_name(display_name)
            await _no_clash(db, project_id, name, row.id)
        if input_query is not None:
            await _check(db, project_id, input_query, checked_by, query_id)
    async with database.write() as db:
        row = await get_query(db=db, project_id=project_id, query_id=query_id)
        if display_name is not None and name is not None:
            await _no_clash(db, project_id, name, row.id)
            row.display_name, row.name = display_name, name
        changed = input_query is not None and input_query != row.input_query
        if input_query is not None:
            row.input_query = input_query
        converted = query_type == MATERIALIZED and row.query_type != MATERIALIZED
        if converted:
            row.query_type = MATERIALIZED
        row.updated_at = utcnow()
        await db.flush()
        if row.query_type == MATERIALIZED and (converted or changed or schedule is not None):
            await caches.materialize(
                db=db, query=row, schedule=schedule, refresh_now=converted or changed
            )
    return row


async def delete_query(*, db: AsyncSession, project_id: str, query_id: str) -> None:
    row = await get_query(db=db, project_id=project_id, query_id=query_id)
    await db.delete(row)
    await db.flush()
