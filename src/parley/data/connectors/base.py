"""What a connector is: a small class that opens a data source from its credential, tests it,
introspects it, and runs one already-guarded statement on a read-only connection with a
timeout that really stops the query. Connectors never see unguarded SQL."""

from __future__ import annotations

import asyncio
import ipaddress
import os
import socket
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, TypeVar

from parley.data.connectors.results import ResultCaps, ResultSet
from parley.data.file_roots import FileRoots, project_folder_name
from parley.errors import ParleyError

if TYPE_CHECKING:
    from parley.data.internal.files import InternalFiles


class ConnectionFailed(ParleyError):
    status_code = 400
    error_code = "CONNECTION_FAILED"


class BadCredential(ParleyError):
    status_code = 400
    error_code = "INVALID_CREDENTIAL"


class QueryFailed(ParleyError):
    status_code = 400
    error_code = "QUERY_FAILED"


class QueryTimeout(ParleyError):
    status_code = 408
    error_code = "QUERY_TIMEOUT"

    def __init__(self, timeout_s: float) -> None:
        super().__init__(f"the query ran longer than its {timeout_s:g} s timeout and was cancelled")


@dataclass(frozen=True)
class ConfigField:
    name: str
    type: str  # text | number | boolean
    required: bool
    description: str
    secret: bool = False

    def public(self) -> dict[str, Any]:
        return {
            "fieldName": self.name,
            "fieldType": self.type,
            "required": self.required,
            "description": self.description,
        }


@dataclass(frozen=True)
class ColumnInfo:
    name: str
    data_type: str
    not_null: bool = False
    primary: bool = False
    unique: bool = False
    default: str | None = None


@dataclass(frozen=True)
class ForeignKeyInfo:
    column: str
    target_schema: str
    target_table: str
    target_column: str


@dataclass(frozen=True)
class TableInfo:
    schema: str
    name: str
    columns: tuple[ColumnInfo, ...]
    foreign_keys: tuple[ForeignKeyInfo, ...] = ()


@dataclass(frozen=True)
class ConnectorEnv:
    """Where connectors may read files from, and which network targets they may reach."""

    file_roots: FileRoots = field(default_factory=FileRoots)  # granted per project
    forbidden_paths: tuple[Path, ...] = ()  # Parley's own data and database, never a source
    uploads_dir: Path | None = None  # <data_dir>/uploads: one folder per project
    project_id: str | None = None  # set by `for_project`: its upload folder is readable
    allow_private_hosts: bool = False
    memory_limit_mb: int = 512
    max_timeout_s: float = 600.0  # the server-side backstop of every statement
    extra: dict[str, Any] = field(default_factory=dict)
    internal_files: InternalFiles | None = None  # the projects' internal tables (DuckDB files)

    def for_project(self, project_id: str) -> ConnectorEnv:
        return replace(self, project_id=project_id)

    def project_uploads(self) -> Path | None:
        if self.uploads_dir is None or self.project_id is None:
            return None
        return self.uploads_dir / project_folder_name(self.project_id)

    def readable_file(self, raw: object, what: str) -> Path:
        """The file a credential names, with every link and `..` resolved, if it lies in the
        project's own upload folder or in a directory granted to the project; the connector
        opens this resolved path, so a link cannot lead it elsewhere."""
        if not isinstance(raw, str) or not raw.strip() or "\x00" in raw:
            raise BadCredential(f"credential.{what} must be a file path")
        path = Path(raw).expanduser()
        if not path.is_absolute():
            raise BadCredential(f"credential.{what} must be an absolute path")
        resolved = _resolved(path)
        if resolved is None:
            raise BadCredential(f"{raw} cannot be resolved: links in it lead in a loop")
        path = resolved
        uploads = self.project_uploads()
        if uploads is not None and _inside(path, (uploads,)):
            if not path.is_file():
                raise ConnectionFailed(f"no file at {raw}")
            return path
        if not _inside(path, self.file_roots.for_project(self.project_id)):
            raise BadCredential(
                f"{raw} is outside the directories this project's connections may read: its "
                "uploads and the directories PARLEY_DATA_FILE_ROOTS grants it"
            )
        if _inside(path, self.forbidden_paths):
            raise BadCredential(f"{raw} is inside Parley's own data")
        if not path.is_file():
            raise ConnectionFailed(f"no file at {raw}")
        return path

    def check_host(self, host: str) -> None:
        """Refuse unix sockets, loopback and private addresses unless the operator allows
        them: a project must not reach Parley's own database or the internal network."""
        if self.allow_private_hosts:
            return
        if host.startswith("/") or host in ("", "localhost"):
            raise BadCredential(
                f"host {host or '(empty)'} is local; set PARLEY_DATA_ALLOW_PRIVATE_HOSTS=true "
                "to allow local and private database hosts"
            )
        try:
            infos = socket.getaddrinfo(host, None)
        except OSError as err:
            raise ConnectionFailed(f"cannot resolve host {host}: {err}") from err
        for info in infos:
            address = ipaddress.ip_address(info[4][0])
            if not address.is_global:
                raise BadCredential(
                    f"host {host} resolves to the non-public address {address}; set "
                    "PARLEY_DATA_ALLOW_PRIVATE_HOSTS=true to allow it"
                )


def _resolved(path: Path) -> Path | None:
    """`path` with every link and `..` resolved; None when links lead in a loop."""
    try:
        return path.resolve()
    except (OSError, RuntimeError):
        return None


def _inside(path: Path, folders: tuple[Path, ...]) -> bool:
    """Whether resolved `path` is one of `folders` (resolved too) or lies inside one."""
    for folder in folders:
        resolved = _resolved(folder)
        if resolved is not None and path.is_relative_to(resolved):
            return True
    return False


def check_unmoved(path: Path) -> None:
    """`path` was resolved (`ConnectorEnv.readable_file`) when the connector was built; refuse
    it once a link has taken the place of the file or of a folder above it, before opening it
    again: the link could lead out of the project's directories."""
    if os.path.realpath(path) != str(path):
        raise ConnectionFailed(
            f"{path} has been replaced by a link since the connection was made; Parley does "
            "not follow it (point the connection at the file itself)"
        )


class Interruptible(Protocol):
    """A database handle whose running statement another thread may stop."""

    def interrupt(self) -> None: ...

    def close(self) -> None: ...


H = TypeVar("H", bound=Interruptible)


async def run_interruptible(
    *,
    take: Callable[[], H],
    run: Callable[[H], ResultSet],
    give_back: Callable[[H], None],
    timeout_s: float,
    errors: type[Exception],
    label: str,
) -> ResultSet:
    """Runs `run` on a handle from `take` in a worker thread; `timeout_s` after the statement
    starts (once the thread runs and has its handle: waiting for a free thread or opening a
    connection does not count) a timer on the event loop calls the handle's `interrupt()` (no
    thread per statement, no Python callback while the engine works). A handle goes back
    through `give_back` only from here, after the timer is cancelled, so a late timer never
    interrupts another statement; an interrupted handle, or one whose statement failed, is
    closed. `errors` are the engine's exceptions, reported as `<label> error: ...`."""
    loop = asyncio.get_running_loop()
    taken: list[H] = []
    timers: list[asyncio.TimerHandle] = []
    fired = finished = False

    def interrupt() -> None:  # on the event loop thread
        nonlocal fired
        fired = True  # set before looking for the handle, which `work` takes first
        if taken:
            taken[0].interrupt()

    def start_timer() -> None:  # on the event loop thread, before `work`'s result arrives
        if not finished:
            timers.append(loop.call_later(timeout_s, interrupt))

    def stop_timer() -> None:
        nonlocal finished
        finished = True
        for timer in timers:
            timer.cancel()

    def work() -> ResultSet:  # in a worker thread
        taken.append(take())
        if fired:
            raise QueryTimeout(timeout_s)
        loop.call_soon_threadsafe(start_timer)
        return run(taken[0])

    try:
        result = await asyncio.to_thread(work)
    except errors as err:
        stop_timer()
        if taken:
            taken[0].close()
        if fired:
            raise QueryTimeout(timeout_s) from err
        raise QueryFailed(f"{label} error: {err}") from err
    except BaseException:
        # cancelled while the thread runs on: stop the statement now, keep no handle
        stop_timer()
        interrupt()
        raise
    stop_timer()
    if fired:
        taken[0].close()
    else:
        give_back(taken[0])
    return result


class Connector(ABC):
    """One open data source. Subclasses register with `parley.data.connectors.register`."""

    type: ClassVar[str]  # the connection type clients send, e.g. "POSTGRES"
    label: ClassVar[str]
    dialect: ClassVar[str]  # sqlglot dialect the guard parses and writes
    default_schema: ClassVar[str]
    fields: ClassVar[tuple[ConfigField, ...]]
    user_creatable: ClassVar[bool] = True  # False: Parley makes these connections itself

    @classmethod
    @abstractmethod
    def open(cls, credential: dict[str, Any], env: ConnectorEnv) -> Connector:
        """Validate the credential and build the connector; no I/O beyond local checks."""

    @abstractmethod
    async def check(self) -> None:
        """Connect once; raise ConnectionFailed with a clear message when that fails."""

    @abstractmethod
    async def introspect(self) -> list[TableInfo]: ...

    @abstractmethod
    async def run(self, sql: str, *, timeout_s: float, caps: ResultCaps) -> ResultSet:
        """Run a guarded statement read-only; raise QueryTimeout after `timeout_s`. Rows are
        fetched a chunk at a time (`ResultBuilder`) and fetching stops at the caps, so what
        the source would return beyond them is never held."""

    @abstractmethod
    def detail(self) -> dict[str, Any]:
        """The non-secret parts of the credential."""

    async def close(self) -> None:  # noqa: B027 - most connectors hold nothing open
        pass

    @classmethod
    def configuration(cls) -> dict[str, Any]:
        return {
            "connectionType": cls.type,
            "connectionTypeLabel": cls.label,
            "name": cls.label,
            "authorizationType": "credentials",
            "credentialSchemaType": cls.type,
            "redirectRequired": False,
            "category": "database" if cls.type != "FILE" else "file",
            "configuration": [f.public() for f in cls.fields],
            "documentationUrl": None,
        }


def required_text(credential: dict[str, Any], name: str) -> str:
    value = credential.get(name)
    if not isinstance(value, str) or not value.strip():
        raise BadCredential(f"credential.{name} is required (text)")
    if "\x00" in value:
        raise BadCredential(f"credential.{name} must not contain NUL characters")
    return value
