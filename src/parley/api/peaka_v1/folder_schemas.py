"""Request bodies and answers of Peaka's Query Folders routes, in its camelCase field names
(QueryFolderCreateRequest, QueryFolderItem, QueryFolderTreeNode, ...)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field

from parley.api.peaka_v1.responses import Answer, Query
from parley.api.peaka_v1.schemas import Body, _iso
from parley.api.storable import Storable
from parley.data.query_folders import Folders
from parley.store.data_models import QueryFolder

# long enough for a nested "a/b/..." of MAX_DEPTH names at MAX_NAME_CHARS, with room to spare;
# the service says which name or depth is wrong
FolderText = Annotated[str, Field(max_length=2000), Storable]
QueryIds = Annotated[list[Annotated[str, Field(max_length=64)]], Field(max_length=1000)]


class FolderCreateRequest(Body):
    folderName: FolderText


class FolderRenameRequest(Body):
    name: FolderText


class PathRequest(Body):
    path: FolderText


class FolderUpdateRequest(Body):
    queryIdsAdded: QueryIds = []
    queryIdsRemoved: QueryIds = []


class QueryFolderItem(Answer):
    id: str
    name: str
    path: str
    parentId: str | None
    createdAt: str | None


class QueryFolderListResponse(Answer):
    items: list[QueryFolderItem]


class QueryFolderWithContentsResponse(QueryFolderItem):
    folders: list[QueryFolderItem]
    queries: list[Query]


class QueryFolderTreeNode(Answer):
    id: str
    name: str
    path: str
    children: list[QueryFolderTreeNode]


class QueryFolderTreeNodeWithQueries(Answer):
    """A tree node when includeQueries=true: `queries` is there only then."""

    id: str
    name: str
    path: str
    children: list[QueryFolderTreeNodeWithQueries]
    queries: list[Query]


class QueryFolderTreeResponse(Answer):
    tree: list[QueryFolderTreeNodeWithQueries] | list[QueryFolderTreeNode]


def folder_out(row: QueryFolder, folders: Folders) -> dict[str, Any]:
    return {
        "id": row.id,
        "name": row.name,
        "path": folders.path(row.id),
        "parentId": row.parent_id,
        "createdAt": _iso(row.created_at),
    }
