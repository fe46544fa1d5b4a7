"""A project's default metadata refresh callback (`/metadata/{projectId}/refresh/callback`):
a refresh that names no callbackURL reports to it, as if it had been named (see
`parley.data.refresh_jobs`). The URL passes the same checks as a named one when it is
registered (and again before every delivery); the token is sealed with the credentials key."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from parley.data.connections import DataServices
from parley.data.projects import get_project
from parley.data.refresh_jobs import Callback
from parley.outbound import TargetCheck
from parley.store.org_models import RefreshCallback


async def register(
    services: DataServices,
    *,
    project_id: str,
    callback: Callback,
    check_callback: TargetCheck,
) -> RefreshCallback:
    """Set (or replace) the project's default callback."""
    await check_callback(callback.url)
    token = services.box.seal({"token": callback.token}) if callback.token else None
    async with services.database.write() as db:
        await get_project(db=db, project_id=project_id)
        row = await db.get(RefreshCallback, project_id)
        if row is None:
            row = RefreshCallback(project_id=project_id, url=callback.url, token=token)
            db.add(row)
        else:
            row.url, row.token = callback.url, token
        await db.flush()
        return row


async def registered(*, db: AsyncSession, project_id: str) -> RefreshCallback | None:
    await get_project(db=db, project_id=project_id)
    return await db.get(RefreshCallback, project_id)


async def default_callback(services: DataServices, *, project_id: str) -> Callback | None:
    """The callback a refresh that names none reports to, with its token opened."""
    async with services.database.read() as db:
        row = await db.get(RefreshCallback, project_id)
    if row is None:
        return None
    token = services.box.open(row.token)["token"] if row.token else None
    return Callback(row.url, token)


async def unregister(*, db: AsyncSession, project_id: str) -> RefreshCallback | None:
    """Remove the default callback; answers what was removed (None: there was none)."""
    row = await registered(db=db, project_id=project_id)
    if row is not None:
        await db.delete(row)
        await db.flush()
    return row
