"""Sharing a catalog (or a semantic catalog) with another project of the same organization:
the target reads it in its queries under the catalog's name; it cannot change it (the catalog
routes of the target do not reach it). Deleting the catalog, or either project, ends the
share."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from parley.data import organizations
from parley.data.catalog import CatalogExists, get_catalog
from parley.data.projects import get_project
from parley.data.semantic_catalogs import get_semantic_catalog, names_taken
from parley.errors import Forbidden, InvalidInput
from parley.ids import new_public_id
from parley.store.data_models import CatalogShare


async def share_catalog(
    *,
    db: AsyncSession,
    project_id: str,
    catalog_id: str,
    target_project_id: str | None,
    semantic: bool,
) -> CatalogShare:
    """The share (the same one when the catalog is shared with that project already)."""
    if semantic:
        name = (
            await get_semantic_catalog(db=db, project_id=project_id, catalog_id=catalog_id)
        ).name
    else:
        name = (await get_catalog(db=db, project_id=project_id, catalog_id=catalog_id)).name
    if not target_project_id:
        raise InvalidInput("the target project's id is required")
    if target_project_id == project_id:
        raise InvalidInput("a catalog is shared with another project, not its own")
    await get_project(db=db, project_id=target_project_id)
    source_org = await organizations.organization_of_project(db=db, project_id=project_id)
    target_org = await organizations.organization_of_project(db=db, project_id=target_project_id)
    if source_org != target_org:
        raise Forbidden(
            f"project {target_project_id} is in another organization; a catalog is shared "
            "only within its project's organization"
        )
    column = CatalogShare.semantic_catalog_id if semantic else CatalogShare.catalog_id
    existing = await db.scalar(
        select(CatalogShare).where(
            column == catalog_id, CatalogShare.target_project_id == target_project_id
        )
    )
    if existing is not None:
        return existing
    if name.casefold() in await names_taken(db, target_project_id):
        raise CatalogExists(f"project {target_project_id} has a catalog named {name} already")
    row = CatalogShare(
        id=new_public_id(),
        project_id=project_id,
        catalog_id=None if semantic else catalog_id,
        semantic_catalog_id=catalog_id if semantic else None,
        target_project_id=target_project_id,
    )
    db.add(row)
    await db.flush()
    return row
