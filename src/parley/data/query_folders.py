"""Query folders: a project's saved queries filed in folders and subfolders, addressed by id or
by path ("/Reports/Monthly"). A folder's path is computed from its ancestors (never stored), so
renaming or moving a folder writes one row and its subfolders and queries follow.

Rules: a name is 1 to MAX_NAME_CHARS characters (NFC-normalised, trimmed; no "/", no control
characters, not "." or ".."), unique among its siblings (exact match); folders nest at most
MAX_DEPTH levels; a project holds at most MAX_FOLDERS folders. A folder never moves under itself
or its own subfolder. Deleting a folder that holds anything is refused unless forced, and a
forced delete removes its subfolders and their queries with it (Peaka's `force=true`)."""

from __future__ import annotations

import unicodedata
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from parley.data.projects import get_project
from parley.errors import Conflict, InvalidInput, NotFound
from parley.store.data_models import QueryFolder, SavedQuery

MAX_NAME_CHARS = 100
MAX_DEPTH = 10
MAX_FOLDERS = 2000


def folder_name(raw: str) -> str:
    """A folder name as stored, or a 422 saying what is wrong with it."""
    name = unicodedata.normalize("NFC", raw).strip()
    if not name:
        raise InvalidInput("a folder name must not be empty")
    if len(name) > MAX_NAME_CHARS:
        raise InvalidInput(f"a folder name is at most {MAX_NAME_CHARS} characters")
    if "/" in name:
        raise InvalidInput(f"a folder name cannot hold '/': {name!r}")
    if name in {".", ".."}:
        raise InvalidInput(f"{name!r} is not a folder name")
    if any(unicodedata.category(c) in {"Cc", "Cf", "Cs", "Co"} for c in name):
        raise InvalidInput("a folder name cannot hold control or format characters")
    return name


def _names(parts: Iterable[str], what: str) -> list[str]:
    names = [folder_name(part) for part in parts]
    if len(names) > MAX_DEPTH:
        raise InvalidInput(f"{what} is {len(names)} folders deep; folders nest {MAX_DEPTH} deep")
    return names


def parse_path(raw: str) -> list[str]:
    """The folder names of a path from the root ("/Reports/Monthly"; "/" or "" is the root).
    The leading and a trailing "/" may be left out; an empty name ("/a//b") is refused."""
    text = raw.strip()
    if text in {"", "/"}:
        return []
    body = text.removeprefix("/").removesuffix("/")
    if any(not part.strip() for part in body.split("/")):
        raise InvalidInput(f"a folder path has no empty names: {raw!r}")
    return _names(body.split("/"), "the path")


def relative_names(raw: str) -> list[str]:
    """The names in a folderName: one name, or a nested "Reports/Monthly" (a leading "/" is
    allowed), whose missing parents are created too."""
    text = raw.strip().strip("/")
    if not text.strip():
        raise InvalidInput("folderName must not be empty")
    if any(not part.strip() for part in text.split("/")):
        raise InvalidInput(f"folderName has no empty names: {raw!r}")
    return _names(text.split("/"), "folderName")


def path_text(names: Iterable[str]) -> str:
    return "/" + "/".join(names)


@dataclass
class Folders:
    """A project's folders, loaded at once (a project holds at most MAX_FOLDERS)."""

    by_id: dict[str, QueryFolder]
    children: dict[str | None, list[QueryFolder]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for folder in sorted(self.by_id.values(), key=lambda f: (f.name, f.id)):
            self.children.setdefault(folder.parent_id, []).append(folder)

    def names(self, folder_id: str) -> list[str]:
        names: list[str] = []
        current: str | None = folder_id
        while current is not None:
            folder = self.by_id[current]
            names.append(folder.name)
            current = folder.parent_id
        return names[::-1]

    def path(self, folder_id: str | None) -> str | None:
        return None if folder_id is None else path_text(self.names(folder_id))

    def child(self, parent_id: str | None, name: str) -> QueryFolder | None:
        return next((f for f in self.children.get(parent_id, []) if f.name == name), None)

    def subtree(self, folder_id: str) -> list[str]:
        """The folder and every folder under it, parents before children."""
        found, i = [folder_id], 0
        while i < len(found):
            found.extend(f.id for f in self.children.get(found[i], []))
            i += 1
        return found

    def height(self, folder_id: str) -> int:
        """Levels from this folder down to its deepest subfolder (1: no subfolders)."""
        below = self.children.get(folder_id, [])
        return 1 + max((self.height(f.id) for f in below), default=0)

    def add(self, folder: QueryFolder) -> None:
        self.by_id[folder.id] = folder
        siblings = self.children.setdefault(folder.parent_id, [])
        siblings.append(folder)
        siblings.sort(key=lambda f: (f.name, f.id))

    def reparent(self, folder: QueryFolder, parent_id: str | None, name: str) -> None:
        self.children[folder.parent_id].remove(folder)
        folder.parent_id, folder.name = parent_id, name
        self.by_id.pop(folder.id)
        self.add(folder)


async def load_folders(*, db: AsyncSession, project_id: str) -> Folders:
    rows = await db.scalars(select(QueryFolder).where(QueryFolder.project_id == project_id))
    return Folders({row.id: row for row in rows})


async def get_folder(*, db: AsyncSession, project_id: str, folder_id: str) -> QueryFolder:
    row = await db.get(QueryFolder, folder_id)
    if row is None or row.project_id != project_id:
        raise NotFound(f"Folder {folder_id} not found")
    return row


async def _flush(db: AsyncSession, where: str) -> None:
    """A write raced by another one that took the same name (PostgreSQL) is a 409 too."""
    try:
        await db.flush()
    except IntegrityError as err:
        raise Conflict(f"a folder exists at {where}") from err


async def _make_path(
    db: AsyncSession, project_id: str, folders: Folders, parent_id: str | None, names: list[str]
) -> QueryFolder | None:
    """The folder at `names` under `parent_id`, creating what is missing on the way."""
    current = None if parent_id is None else folders.by_id[parent_id]
    for name in names:
        found = folders.child(None if current is None else current.id, name)
        if found is None:
            if len(folders.by_id) >= MAX_FOLDERS:
                raise InvalidInput(f"a project holds at most {MAX_FOLDERS} query folders")
            found = QueryFolder(
                id=str(uuid.uuid4()),
                project_id=project_id,
                parent_id=None if current is None else current.id,
                name=name,
            )
            db.add(found)
            folders.add(found)
            await _flush(db, folders.path(found.id) or "/")
        current = found
    return current


def _depth_ok(folders: Folders, parent_id: str | None, levels: int) -> None:
    depth = (0 if parent_id is None else len(folders.names(parent_id))) + levels
    if depth > MAX_DEPTH:
        raise InvalidInput(f"that would nest folders {depth} deep; folders nest {MAX_DEPTH} deep")


async def create_folder(
    *, db: AsyncSession, project_id: str, parent_id: str | None, folder_name: str
) -> tuple[QueryFolder, Folders]:
    """A new folder (and any missing parents named in a nested folderName); a 409 if a folder
    is already at that path."""
    await get_project(db=db, project_id=project_id)
    if parent_id is not None:
        await get_folder(db=db, project_id=project_id, folder_id=parent_id)
    names = relative_names(folder_name)
    folders = await load_folders(db=db, project_id=project_id)
    _depth_ok(folders, parent_id, len(names))
    parent = await _make_path(db, project_id, folders, parent_id, names[:-1])
    under = None if parent is None else parent.id
    if folders.child(under, names[-1]) is not None:
        where = path_text([*([] if under is None else folders.names(under)), names[-1]])
        raise Conflict(f"a folder exists at {where}")
    made = await _make_path(db, project_id, folders, under, names[-1:])
    assert made is not None
    return made, folders


async def folder_at(*, db: AsyncSession, project_id: str, names: list[str]) -> str | None:
    """The id of the folder at path `names` (None: the root), created with its parents if
    missing: where a saved query is filed by path."""
    if not names:
        return None
    folders = await load_folders(db=db, project_id=project_id)
    made = await _make_path(db, project_id, folders, None, names)
    assert made is not None
    return made.id


async def rename_folder(
    *, db: AsyncSession, project_id: str, folder_id: str, name: str
) -> tuple[QueryFolder, Folders]:
    folder = await get_folder(db=db, project_id=project_id, folder_id=folder_id)
    new = folder_name(name)
    folders = await load_folders(db=db, project_id=project_id)
    folder = folders.by_id[folder.id]
    clash = folders.child(folder.parent_id, new)
    if clash is not None and clash.id != folder.id:
        raise Conflict(f"a folder named {new} exists at the same level")
    folders.reparent(folder, folder.parent_id, new)
    await _flush(db, folders.path(folder.id) or "/")
    return folder, folders


async def move_folder(
    *, db: AsyncSession, project_id: str, folder_id: str, path: str
) -> tuple[QueryFolder, Folders]:
    """The folder moved to `path`, its new full path: "/Archive/Reports" puts it in /Archive
    (created if missing) named Reports. Its subfolders and queries go with it."""
    folder = await get_folder(db=db, project_id=project_id, folder_id=folder_id)
    names = parse_path(path)
    if not names:
        raise InvalidInput("path names the folder's new place, e.g. /Archive/Reports")
    folders = await load_folders(db=db, project_id=project_id)
    folder = folders.by_id[folder.id]
    inside = set(folders.subtree(folder.id))
    # the part of the target's parents that exists: none of it may be this folder or below it
    parent: QueryFolder | None = None
    for i, name in enumerate(names[:-1]):
        found = folders.child(None if parent is None else parent.id, name)
        if found is None:
            break
        if found.id in inside:
            raise Conflict(
                f"cannot move folder {folders.path(folder.id)} under itself or its own "
                f"subfolder ({path_text(names[: i + 1])})"
            )
        parent = found
    else:
        at = folders.child(None if parent is None else parent.id, names[-1])
        if at is not None and at.id == folder.id:
            return folder, folders  # already there
        if at is not None:
            raise Conflict(f"a folder exists at {path_text(names)}")
    levels_above = len(names) - 1
    if levels_above + folders.height(folder.id) > MAX_DEPTH:
        raise InvalidInput(
            f"that would nest folders {levels_above + folders.height(folder.id)} deep; "
            f"folders nest {MAX_DEPTH} deep"
        )
    new_parent = await _make_path(db, project_id, folders, None, names[:-1])
    folders.reparent(folder, None if new_parent is None else new_parent.id, names[-1])
    await _flush(db, path_text(names))
    return folder, folders


async def queries_in(
    *, db: AsyncSession, project_id: str, folder_ids: Iterable[str] | None = None
) -> list[SavedQuery]:
    """The project's saved queries that are in folders (in `folder_ids`, if given)."""
    where = [SavedQuery.project_id == project_id, SavedQuery.folder_id.is_not(None)]
    if folder_ids is not None:
        where.append(SavedQuery.folder_id.in_(list(folder_ids)))
    rows = await db.scalars(
        select(SavedQuery).where(*where).order_by(SavedQuery.created_at, SavedQuery.id)
    )
    return list(rows)


async def move_query(*, db: AsyncSession, project_id: str, query_id: str, path: str) -> str | None:
    """Files a saved query at `path` (its missing folders created; "/" is the root); the
    folder id it is in now."""
    names = parse_path(path)
    row = await db.get(SavedQuery, query_id)
    if row is None or row.project_id != project_id:
        raise NotFound(f"Query {query_id} not found")
    row.folder_id = await folder_at(db=db, project_id=project_id, names=names)
    await db.flush()
    return row.folder_id


async def file_queries(
    *,
    db: AsyncSession,
    project_id: str,
    folder_id: str,
    added: list[str],
    removed: list[str],
) -> QueryFolder:
    """Moves the `added` queries into the folder and the `removed` ones (those in this
    folder) to the root. Every id must be a query of this project; nothing moves otherwise."""
    folder = await get_folder(db=db, project_id=project_id, folder_id=folder_id)
    both = sorted(set(added) & set(removed))
    if both:
        raise InvalidInput(f"a query cannot be added and removed at once: {', '.join(both)}")
    wanted = set(added) | set(removed)
    rows = {
        row.id: row
        for row in await db.scalars(
            select(SavedQuery).where(
                SavedQuery.project_id == project_id, SavedQuery.id.in_(sorted(wanted))
            )
        )
    }
    missing = [query_id for query_id in [*added, *removed] if query_id not in rows]
    if missing:
        raise NotFound(f"Query {missing[0]} not found")
    for query_id in added:
        rows[query_id].folder_id = folder.id
    for query_id in removed:
        if rows[query_id].folder_id == folder.id:
            rows[query_id].folder_id = None
    await db.flush()
    return folder


async def queries_under(*, db: AsyncSession, project_id: str, folder_id: str) -> list[str]:
    """The ids of the saved queries in a folder and its subfolders."""
    folder = await get_folder(db=db, project_id=project_id, folder_id=folder_id)
    folders = await load_folders(db=db, project_id=project_id)
    inside = folders.subtree(folder.id)
    return list(await db.scalars(select(SavedQuery.id).where(SavedQuery.folder_id.in_(inside))))


async def delete_folder(*, db: AsyncSession, project_id: str, folder_id: str, force: bool) -> None:
    """Deletes an empty folder; with `force`, the folder, its subfolders and every query in
    them. A folder that holds anything is a 409 without `force`."""
    folder = await get_folder(db=db, project_id=project_id, folder_id=folder_id)
    folders = await load_folders(db=db, project_id=project_id)
    inside = folders.subtree(folder.id)
    count = await db.scalar(
        select(func.count()).select_from(SavedQuery).where(SavedQuery.folder_id.in_(inside))
    )
    if not force and (len(inside) > 1 or count):
        raise Conflict(
            f"folder {folders.path(folder.id)} is not empty ({len(inside) - 1} subfolders, "
            f"{count} queries): move them out or delete with force=true"
        )
    await db.execute(delete(SavedQuery).where(SavedQuery.folder_id.in_(inside)))
    await db.execute(delete(QueryFolder).where(QueryFolder.id.in_(inside)))
