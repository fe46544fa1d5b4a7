"""Which files a project's connections may open: the project's own uploads, and the directories
the operator grants that project in `PARLEY_DATA_FILE_ROOTS`, a JSON object from project id to
directories:

    {"shop": ["/srv/shop"], "*": ["/srv/tenants/{projectId}", "/srv/public"]}

`*` grants a directory to every project. With `{projectId}` as one of its folder names it is a
different directory for each project (`/srv/tenants/shop` for project `shop`); without it, it
is shared by all of them, on purpose. A plain list, the setting's old form, is refused: every
project shared it, and only the operator can say whose each directory is."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from parley.ids import MAX_NAME_LENGTH, NAME_RE

ALL_PROJECTS = "*"
PROJECT_PLACEHOLDER = "{projectId}"
MAX_FOLDER_NAME = 200
_DIGEST_NAME = re.compile(r"^id-[0-9a-f]{64}$")

LEGACY_LIST = (
    "is a list of directories, which every project could read; it is now a JSON object from "
    "project id to the directories that project may read. Name the project each directory "
    'belongs to ({"shop": ["/srv/data"]}); give every project a folder of its own '
    '({"*": ["/srv/data/{projectId}"]}, read as /srv/data/shop by project shop); or, only if '
    'every project may read them, share them ({"*": ["/srv/data"]})'
)


def project_folder_name(project_id: str) -> str:
    """The one folder name of a project, in the uploads directory and for `{projectId}`: its
    id, or a digest of it for ids longer than a file name may be (ids go up to 512 characters,
    names to 255 bytes), for anything but letters, digits, `_` and `-`, and for ids that look
    like a digest themselves (so no id can take another's folder)."""
    if (
        len(project_id) <= MAX_FOLDER_NAME
        and NAME_RE.match(project_id)
        and not _DIGEST_NAME.match(project_id)
    ):
        return project_id
    return "id-" + hashlib.sha256(project_id.encode()).hexdigest()


def parse_grants(value: object) -> dict[str, tuple[str, ...]]:
    """The setting as given (JSON text from the environment, or an object), checked: keys are
    project ids or `*`, values lists of absolute directories. Raises ValueError saying what to
    change."""
    if isinstance(value, str):
        text = value.strip()
        try:
            value = json.loads(text) if text else {}
        except json.JSONDecodeError as err:
            raise ValueError(f"must be a JSON object ({err})") from err
    if isinstance(value, list | tuple):
        if not value:
            return {}  # the old default: it granted nothing, so nothing is lost
        raise ValueError(LEGACY_LIST)
    if not isinstance(value, Mapping):
        raise ValueError('must be a JSON object from project id to directories: {"shop": [...]}')
    grants: dict[str, tuple[str, ...]] = {}
    for key, roots in value.items():
        if not isinstance(key, str) or not (
            key == ALL_PROJECTS or (len(key) <= MAX_NAME_LENGTH and NAME_RE.match(key))
        ):
            raise ValueError(f"{key!r} is neither a project id nor * (every project)")
        if isinstance(roots, str | Path):
            roots = [roots]
        if not isinstance(roots, list | tuple):
            raise ValueError(f"the directories of {key} must be a list")
        grants[key] = tuple(_checked_root(key, root) for root in roots)
    return grants


def _checked_root(key: str, root: object) -> str:
    text = str(root) if isinstance(root, str | Path) else None
    if not text or "\x00" in text or not PurePosixPath(text).is_absolute():
        raise ValueError(f"the directories of {key} must be absolute paths; {root!r} is not")
    for part in PurePosixPath(text).parts:
        if PROJECT_PLACEHOLDER in part and part != PROJECT_PLACEHOLDER:
            raise ValueError(
                f"{text}: use {PROJECT_PLACEHOLDER} as a whole folder name, as in "
                f"/srv/data/{PROJECT_PLACEHOLDER}"
            )
    return text


@dataclass(frozen=True)
class FileRoots:
    """The directories granted to projects, as `parse_grants` returns them."""

    grants: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def for_project(self, project_id: str | None) -> tuple[Path, ...]:
        """The directories `project_id` may read: its own grants and those of `*`, with
        `{projectId}` replaced by the project's folder name. Without a project, only shared
        directories (those of `*` without `{projectId}`)."""
        keys = [ALL_PROJECTS] if project_id is None else [project_id, ALL_PROJECTS]
        roots = []
        for key in keys:
            for root in self.grants.get(key, ()):
                parts = PurePosixPath(root).parts
                if PROJECT_PLACEHOLDER in parts:
                    if project_id is None:
                        continue
                    folder = project_folder_name(project_id)
                    parts = tuple(folder if p == PROJECT_PLACEHOLDER else p for p in parts)
                roots.append(Path(*parts))
        return tuple(roots)
