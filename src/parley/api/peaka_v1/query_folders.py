"""/api/v1/data/projects/{projectId}/queries/folders: folders and subfolders of saved queries
(the tree, create, rename, move, file queries, delete), and PATCH queries/{queryId}/path.

Included before the queries router: its `GET queries/{query_id}` would take "folders"."""

from __future__ import annotations

from collections import defaultdict
from typing import Annotated, Any

from fastapi import BackgroundTasks, Path, Query, Response
from sqlalchemy.ext.asyncio import AsyncSession

from parley.api.deps import Name, OwnProject, ReadDb, WriteDb
from parley.api.errors import peaka_errors
from parley.api.peaka_v1 import folder_schemas as models
from parley.api.peaka_v1 import responses as out
from parley.api.peaka_v1.deps import DataDep
from parley.api.peaka_v1.folder_schemas import (
    FolderCreateRequest,
    FolderRenameRequest,
    FolderUpdateRequest,
    PathRequest,
    folder_out,
)
from parley.api.peaka_v1.routing import family_router
from parley.api.peaka_v1.schemas import saved_query_out
from parley.api.peaka_v1.semantic_catalogs import SharedChange
from parley.data import caches, saved_queries
from parley.data import query_folders as service
from parley.data.projects import get_project
from parley.data.query_folders import Folders
from parley.store.data_models import QueryFolder, SavedQuery

router = family_router(tags=["query folders"])
QUERIES = "/data/projects/{project_id}/queries"
BASE = QUERIES + "/folders"
# a folder or query id in the path (longer ones are 422s, unknown ones 404s)
ItemId = Annotated[str, Path(min_length=1, max_length=64)]


async def _contents(db: AsyncSession, folder: QueryFolder, folders: Folders) -> dict[str, Any]:
    """The folder with its direct subfolders and its queries."""
    queries = await service.queries_in(db=db, project_id=folder.project_id, folder_ids=[folder.id])
    path = folders.path(folder.id)
    return folder_out(folder, folders) | {
        "folders": [folder_out(f, folders) for f in folders.children.get(folder.id, [])],
        "queries": [saved_query_out(q, path) for q in queries],
    }


@router.get(BASE, response_model=models.QueryFolderListResponse)
async def list_query_folders(project_id: Name, db: ReadDb, _: OwnProject) -> dict[str, Any]:
    """Every folder of the project, flat, in path order."""
    await get_project(db=db, project_id=project_id)
    folders = await service.load_folders(db=db, project_id=project_id)
    rows = sorted(folders.by_id.values(), key=lambda f: (folders.names(f.id), f.id))
    return {"items": [folder_out(f, folders) for f in rows]}


@router.post(
    BASE,
    status_code=201,
    responses=peaka_errors(409),
    response_model=models.QueryFolderItem,
)
async def create_query_folder_at_root(
    project_id: Name, body: FolderCreateRequest, db: WriteDb, _: OwnProject
) -> dict[str, Any]:
    """A folder at the root ("Reports" is /Reports); a nested "Reports/Monthly" creates the
    missing parents too. A 409 if a folder is already there."""
    made, folders = await service.create_folder(
        db=db, project_id=project_id, parent_id=None, folder_name=body.folderName
    )
    return folder_out(made, folders)


@router.get(BASE + "/tree", response_model=models.QueryFolderTreeResponse)
async def get_query_folder_tree(
    project_id: Name,
    db: ReadDb,
    _: OwnProject,
    includeQueries: bool = False,  # noqa: N803 - Peaka's query parameter name
    rootFolderId: Annotated[str | None, Query(max_length=64)] = None,  # noqa: N803
) -> dict[str, Any]:
    """The folders as a tree (siblings by name); with includeQueries, each node's queries;
    with rootFolderId, the subtree of that folder (one root node)."""
    await get_project(db=db, project_id=project_id)
    folders = await service.load_folders(db=db, project_id=project_id)
    if rootFolderId is None:
        roots = folders.children.get(None, [])
    else:
        roots = [await service.get_folder(db=db, project_id=project_id, folder_id=rootFolderId)]
    filed: dict[str, list[SavedQuery]] = defaultdict(list)
    if includeQueries:
        for query in await service.queries_in(db=db, project_id=project_id):
            filed[query.folder_id or ""].append(query)

    def node(folder: QueryFolder) -> dict[str, Any]:
        path = folders.path(folder.id)
        assert path is not None
        made: dict[str, Any] = {
            "id": folder.id,
            "name": folder.name,
            "path": path,
            "children": [node(child) for child in folders.children.get(folder.id, [])],
        }
        if includeQueries:
            made["queries"] = [saved_query_out(q, path) for q in filed[folder.id]]
        return made

    return {"tree": [node(folders.by_id[root.id]) for root in roots]}


@router.get(BASE + "/{folder_id}", response_model=models.QueryFolderWithContentsResponse)
async def read_query_folder(
    project_id: Name, folder_id: ItemId, db: ReadDb, _: OwnProject
) -> dict[str, Any]:
    folder = await service.get_folder(db=db, project_id=project_id, folder_id=folder_id)
    folders = await service.load_folders(db=db, project_id=project_id)
    return await _contents(db, folders.by_id[folder.id], folders)


@router.put(BASE + "/{folder_id}", response_model=models.QueryFolderWithContentsResponse)
async def add_or_remove_query_from_folder(
    project_id: Name, folder_id: ItemId, body: FolderUpdateRequest, db: WriteDb, _: OwnProject
) -> dict[str, Any]:
    """Moves the queries of queryIdsAdded into the folder, and those of queryIdsRemoved that
    are in it to the root. An unknown query id is a 404 and nothing moves."""
    folder = await service.file_queries(
        db=db,
        project_id=project_id,
        folder_id=folder_id,
        added=body.queryIdsAdded,
        removed=body.queryIdsRemoved,
    )
    folders = await service.load_folders(db=db, project_id=project_id)
    return await _contents(db, folders.by_id[folder.id], folders)


@router.delete(
    BASE + "/{folder_id}",
    status_code=204,
    response_class=Response,
    responses={**peaka_errors(409), 204: {"description": "Folder deleted"}},
)
async def delete_query_folder(
    project_id: Name,
    folder_id: ItemId,
    _: OwnProject,
    __: SharedChange,  # before WriteDb: the cached catalogs are dropped after the commit
    db: WriteDb,
    data: DataDep,
    after: BackgroundTasks,
    force: bool = False,
) -> Response:
    """An empty folder goes; one holding subfolders or queries is a 409 unless force=true,
    which deletes it with its subfolders and every query in them, as DELETE queries/{id}
    deletes one: the semantic tables on them and their materialized copies go too."""
    copies = []
    if force:
        for query_id in await service.queries_under(
            db=db, project_id=project_id, folder_id=folder_id
        ):
            copy = await caches.query_copy(db=db, project_id=project_id, query_id=query_id)
            if copy is not None:
                copies.append(copy)
    await service.delete_folder(db=db, project_id=project_id, folder_id=folder_id, force=force)
    for copy in copies:  # their files, once the delete has committed
        after.add_task(caches.remove_files, data, copy)
    return Response(status_code=204)


@router.patch(
    BASE + "/{folder_id}/name", responses=peaka_errors(409), response_model=models.QueryFolderItem
)
async def rename_query_folder(
    project_id: Name, folder_id: ItemId, body: FolderRenameRequest, db: WriteDb, _: OwnProject
) -> dict[str, Any]:
    folder, folders = await service.rename_folder(
        db=db, project_id=project_id, folder_id=folder_id, name=body.name
    )
    return folder_out(folder, folders)


@router.patch(
    BASE + "/{folder_id}/path", responses=peaka_errors(409), response_model=models.QueryFolderItem
)
async def move_query_folder(
    project_id: Name, folder_id: ItemId, body: PathRequest, db: WriteDb, _: OwnProject
) -> dict[str, Any]:
    """`path` is the folder's new full path ("/Archive/Reports": into /Archive, created if
    missing, named Reports); its subfolders and queries go with it. Under itself or its own
    subfolder, or onto another folder's path, is a 409."""
    folder, folders = await service.move_folder(
        db=db, project_id=project_id, folder_id=folder_id, path=body.path
    )
    return folder_out(folder, folders)


@router.post(
    BASE + "/{parent_folder_id}",
    status_code=201,
    responses=peaka_errors(409),
    response_model=models.QueryFolderItem,
)
async def create_query_folder_with_parent_id(
    project_id: Name,
    parent_folder_id: ItemId,
    body: FolderCreateRequest,
    db: WriteDb,
    _: OwnProject,
) -> dict[str, Any]:
    """A folder at "{parentPath}/{folderName}"; a 404 if the parent is not this project's."""
    made, folders = await service.create_folder(
        db=db, project_id=project_id, parent_id=parent_folder_id, folder_name=body.folderName
    )
    return folder_out(made, folders)


@router.patch(QUERIES + "/{query_id}/path", tags=["queries"], response_model=out.Query)
async def update_query_path(
    project_id: Name, query_id: ItemId, body: PathRequest, db: WriteDb, _: OwnProject
) -> dict[str, Any]:
    """Files the query at `path` (missing folders are created; "/" is the root) and answers
    the query, with its new path and folderId."""
    folder_id = await service.move_query(
        db=db, project_id=project_id, query_id=query_id, path=body.path
    )
    row = await saved_queries.get_query(db=db, project_id=project_id, query_id=query_id)
    if folder_id is None:
        return saved_query_out(row)
    folders = await service.load_folders(db=db, project_id=project_id)
    return saved_query_out(row, folders.path(folder_id))
