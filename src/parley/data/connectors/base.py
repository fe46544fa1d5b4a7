"""What a connector is: a small class that opens a data source from its credential, tests it,
introspects it, and runs one already-guarded statement on a read-only connection with a
timeout that really stops the query. Connectors never see unguarded SQL."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import os
import socket
from abc import ABC, abstractmethod
from collections.abc import AsyncGenerator, Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, TypeVar

from parley.data.connectors.results import ResultBuilder, ResultCaps, ResultSet
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


class StreamBudget:
    """The caps of a streamed result, spent batch by batch: each batch is built within what
    is left of the rows and bytes (so the stream as a whole keeps the caps a whole result
    keeps), and the stream ends at the batch that reaches them. Column types that the source
    does not report are taken from the first batch's values and kept."""

    def __init__(self, caps: ResultCaps, batch_rows: int) -> None:
        self.caps = caps
        self.batch_rows = max(1, batch_rows)
        self.rows_left = caps.rows
        self.bytes_left = caps.bytes - 2  # the array's brackets count once
        self.columns: list[tuple[str, str | None]] | None = None
        self.done = caps.rows <= 0

    def batch(
        self, columns: Sequence[tuple[str, str | None]], fetch: Callable[[int], list[Any]]
    ) -> ResultSet:
        """One batch: rows fetched (`fetch(n)`, a chunk at a time, as `ResultBuilder` sizes
        them) until the batch is full, the caps are reached or the source has no more."""
        if self.columns is None:
            self.columns = list(columns)
        rows = min(self.batch_rows, self.rows_left)
        caps = replace(self.caps, rows=rows, bytes=self.bytes_left + 2)
        builder = ResultBuilder(caps, self.columns)
        exhausted = False
        while wanted := builder.chunk():
            got = fetch(wanted)
            builder.add(got)
            if len(got) < wanted:
                exhausted = True
                break
        result = builder.finish()
        if any(t is None for _, t in self.columns):
            self.columns = [(n, t) for n, t in result.columns]
        self.rows_left -= len(result.rows)
        self.bytes_left -= result.bytes - 2
        self.done = exhausted or result.truncated or self.rows_left <= 0
        return result


async def stream_in_thread(
    *,
    take: Callable[[], H],
    start: Callable[
        [H], tuple[list[tuple[str, str | None]], Callable[[int], list[Any]], Callable[[], None]]
    ],
    give_back: Callable[[H], None],
    timeout_s: float,
    caps: ResultCaps,
    batch_rows: int,
    errors: type[Exception],
    label: str,
) -> AsyncGenerator[ResultSet, None]:
    """A statement's result a batch at a time, for engines run in worker threads (SQLite,
    DuckDB): `start(handle)` runs the statement and gives its columns, a `fetch(n)` and a
    `close()` of its cursor. Each step (the start, each batch) runs in a thread with a timer
    on the event loop that interrupts the handle once the statement has spent `timeout_s` in
    the engine (time the consumer takes between batches does not count). When the consumer
    stops (cancelled, or the stream closed early) the running step is interrupted and awaited,
    and the cursor closed: nothing keeps running for a reader that left. The handle goes back
    to the idle ones, unless it was interrupted (then it is closed, as `run_interruptible`
    does: DuckDB keeps an interrupt that came as a step ended for its next statement)."""
    loop = asyncio.get_running_loop()
    taking = loop.run_in_executor(None, take)
    try:
        handle = await asyncio.shield(taking)
    except asyncio.CancelledError:  # the consumer left while a handle was being opened
        await asyncio.wait({taking})
        if not taking.cancelled() and taking.exception() is None:
            give_back(taking.result())
        raise
    spent = 0.0
    healthy = False
    interrupted = False  # an engine may keep an interrupt that found nothing running (DuckDB)
    close_cursor: Callable[[], None] | None = None

    async def step(work: Callable[[], Any]) -> Any:
        nonlocal spent, interrupted
        left = timeout_s - spent
        if left <= 0:
            raise QueryTimeout(timeout_s)
        fired = False

        def fire() -> None:
            nonlocal fired, interrupted
            fired = interrupted = True
            handle.interrupt()

        timer = loop.call_later(left, fire)
        began = loop.time()
        running = loop.run_in_executor(None, work)
        try:
            return await asyncio.shield(running)
        except errors as err:
            if fired:
                raise QueryTimeout(timeout_s) from err
            raise QueryFailed(f"{label} error: {err}") from err
        except asyncio.CancelledError:
            interrupted = True
            handle.interrupt()  # the consumer left: stop the engine, then wait for the thread
            await asyncio.wait({running})
            if not running.cancelled():
                running.exception()  # retrieved: the interrupt's own error is expected
            raise
        finally:
            timer.cancel()
            spent += loop.time() - began

    try:
        columns, fetch, close_cursor = await step(lambda: start(handle))
        budget = StreamBudget(caps, batch_rows)
        while not budget.done:
            batch = await step(lambda: budget.batch(columns, fetch))
            yield batch
        healthy = True
    except (QueryFailed, QueryTimeout):
        raise
    except BaseException:
        healthy = True  # closed early between steps: the handle is sound
        raise
    finally:
        if close_cursor is not None:
            with contextlib.suppress(Exception):
                close_cursor()
        if healthy and not interrupted:
            give_back(handle)
        else:
            handle.close()


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

    def stream(
        self, sql: str, *, timeout_s: float, caps: ResultCaps, batch_rows: int
    ) -> AsyncGenerator[ResultSet, None]:
        """The result of a guarded statement a batch of at most `batch_rows` rows at a time,
        fetched only as the consumer asks for the next batch; together the batches keep
        `caps`. Closing the iterator early (or cancelling its consumer) stops the statement
        at the source. By default the whole result is one batch (sources that cannot hold a
        cursor open); connectors that can fetch lazily override it."""
        return self._whole(sql, timeout_s=timeout_s, caps=caps)

    async def _whole(
        self, sql: str, *, timeout_s: float, caps: ResultCaps
    ) -> AsyncGenerator[ResultSet, None]:
        yield await self.run(sql, timeout_s=timeout_s, caps=caps)

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
