"""The connector of a project's internal tables (type INTERNAL): its own DuckDB file, opened
read-only for each statement (see `parley.data.internal.files`). Parley makes this connection
itself, with the project's first internal table; clients cannot make one."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import duckdb

from parley.data.connectors.base import (
    BadCredential,
    Connector,
    ConnectorEnv,
    TableInfo,
    run_interruptible,
)
from parley.data.connectors.results import ResultBuilder, ResultCaps, ResultSet
from parley.data.internal import tables
from parley.data.internal.files import InternalFiles


class _Reader:
    """A read-only connection holding the file's lock until it is closed (by the statement
    itself, when it ends, or by `run_interruptible`)."""

    def __init__(self, files: InternalFiles, project_id: str) -> None:
        self._path = files.path(project_id)
        self._lock = files.lock(self._path)
        self._lock.acquire()
        self._con: duckdb.DuckDBPyConnection | None = None
        try:
            self._con = files.connect(self._path, read_only=True) if self._path.exists() else None
        except BaseException:
            self._lock.release()
            raise
        self._closed = False

    @property
    def con(self) -> duckdb.DuckDBPyConnection:
        if self._con is None:
            raise duckdb.CatalogException("this project has no internal tables yet")
        return self._con

    def interrupt(self) -> None:
        if not self._closed and self._con is not None:
            with contextlib.suppress(duckdb.Error):  # closed meanwhile: it has ended
                self._con.interrupt()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            if self._con is not None:
                self._con.close()
        finally:
            self._lock.release()


class InternalConnector(Connector):
    type = "INTERNAL"
    label = "Parley internal tables"
    dialect = "duckdb"
    default_schema = "table"
    fields = ()
    user_creatable = False

    def __init__(self, files: InternalFiles, project_id: str) -> None:
        self.files = files
        self.project_id = project_id

    @classmethod
    def open(cls, credential: dict[str, Any], env: ConnectorEnv) -> InternalConnector:
        if env.internal_files is None or env.project_id is None:
            raise BadCredential("internal tables are not available on this server")
        return cls(env.internal_files, env.project_id)

    def detail(self) -> dict[str, Any]:
        return {"type": self.type}

    async def check(self) -> None:
        pass

    async def introspect(self) -> list[TableInfo]:
        def read() -> list[TableInfo]:
            with self.files.reading(self.project_id) as con:
                return [] if con is None else tables.introspect(con)

        return await asyncio.to_thread(read)

    async def run(self, sql: str, *, timeout_s: float, caps: ResultCaps) -> ResultSet:
        def take() -> _Reader:
            return _Reader(self.files, self.project_id)

        def run(reader: _Reader) -> ResultSet:
            try:
                cursor = reader.con
                cursor.execute(sql)
                result = ResultBuilder(
                    caps, [(d[0], str(d[1]).lower()) for d in cursor.description or ()]
                )
                while wanted := result.chunk():
                    rows = cursor.fetchmany(wanted)
                    result.add(rows)
                    if len(rows) < wanted:
                        break
                return result.finish()
            finally:
                reader.close()

        return await run_interruptible(
            take=take,
            run=run,
            give_back=lambda reader: reader.close(),
            timeout_s=timeout_s,
            errors=duckdb.Error,
            label="DuckDB",
        )
