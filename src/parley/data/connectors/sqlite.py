"""SQLite files, opened `mode=ro` with `query_only`, an authorizer that allows only reads, and an
interrupt from an event-loop timer that aborts the statement at its deadline. A few connections
stay open between statements (each used by one statement at a time), so a query does not pay
for opening one."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import threading
import urllib.parse
from collections.abc import AsyncGenerator, Callable
from pathlib import Path
from typing import Any

from parley.data.connectors.base import (
    ColumnInfo,
    ConfigField,
    ConnectionFailed,
    Connector,
    ConnectorEnv,
    ForeignKeyInfo,
    QueryFailed,
    TableInfo,
    check_unmoved,
    run_interruptible,
    stream_in_thread,
)
from parley.data.connectors.results import ResultBuilder, ResultCaps, ResultSet
from parley.data.sql_guard import FORBIDDEN_FUNCTIONS, FORBIDDEN_PREFIXES

JOURNALS = ("-wal", "-shm", "-journal")  # files SQLite opens next to the database
MAX_VALUE_BYTES = 16 * 1024 * 1024  # SQLITE_LIMIT_LENGTH: no multi-gigabyte strings or blobs
IDLE_CONNECTIONS = 4

_ALLOWED_ACTIONS = {
    sqlite3.SQLITE_SELECT,
    sqlite3.SQLITE_READ,
    sqlite3.SQLITE_FUNCTION,
    getattr(sqlite3, "SQLITE_RECURSIVE", 33),
}


def _authorize(action: int, arg1: str | None, arg2: str | None, *_: Any) -> int:
    if action not in _ALLOWED_ACTIONS:
        return sqlite3.SQLITE_DENY
    if action == sqlite3.SQLITE_FUNCTION:
        name = (arg2 or "").casefold()
        if name in FORBIDDEN_FUNCTIONS or name.startswith(FORBIDDEN_PREFIXES):
            return sqlite3.SQLITE_DENY
    return sqlite3.SQLITE_OK


class SqliteConnector(Connector):
    type = "SQLITE"
    label = "SQLite"
    dialect = "sqlite"
    default_schema = "main"
    fields = (ConfigField("path", "text", True, "Absolute path of the SQLite database file"),)

    def __init__(self, path: Path) -> None:
        self.path = path
        self._idle: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._closed = False

    @classmethod
    def open(cls, credential: dict[str, Any], env: ConnectorEnv) -> SqliteConnector:
        return cls(env.readable_file(credential.get("path"), "path"))

    def detail(self) -> dict[str, Any]:
        return {"type": self.type, "path": str(self.path)}

    def _uri(self) -> str:
        """Checked before every new connection (see `check_unmoved`): SQLite follows links,
        also those put in place of the file's journals."""
        check_unmoved(self.path)
        for suffix in JOURNALS:
            if os.path.islink(f"{self.path}{suffix}"):
                raise ConnectionFailed(
                    f"{self.path}{suffix} is a link; Parley does not open a database whose "
                    "journal is a link"
                )
        return f"file:{urllib.parse.quote(str(self.path))}?mode=ro"

    def _connect(self) -> sqlite3.Connection:
        uri = self._uri()
        conn = sqlite3.connect(uri, uri=True, check_same_thread=False, isolation_level=None)
        conn.execute("PRAGMA query_only = 1")
        conn.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, MAX_VALUE_BYTES)
        conn.setlimit(sqlite3.SQLITE_LIMIT_ATTACHED, 0)
        conn.set_authorizer(_authorize)
        return conn

    async def check(self) -> None:
        def probe() -> None:
            try:
                conn = self._connect()
                try:
                    conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
                finally:
                    conn.close()
            except sqlite3.Error as err:
                raise ConnectionFailed(f"cannot open SQLite file {self.path}: {err}") from err

        await asyncio.to_thread(probe)

    async def introspect(self) -> list[TableInfo]:
        try:
            return await asyncio.to_thread(self._introspect)
        except sqlite3.Error as err:  # the file went away or is no database any more
            raise ConnectionFailed(f"cannot read SQLite file {self.path}: {err}") from err

    def _introspect(self) -> list[TableInfo]:
        conn = sqlite3.connect(self._uri(), uri=True, isolation_level=None)
        conn.execute("PRAGMA query_only = 1")
        try:
            names = [
                r[0]
                for r in conn.execute(
                    "SELECT name FROM sqlite_master WHERE type IN ('table', 'view') "
                    "AND name NOT LIKE 'sqlite_%' ORDER BY name"
                )
            ]
            tables = []
            for name in names:
                uniques = self._unique_columns(conn, name)
                info = conn.execute("SELECT * FROM pragma_table_info(?)", (name,)).fetchall()
                pk_count = sum(1 for r in info if r[5])
                columns = tuple(
                    ColumnInfo(
                        name=r[1],
                        data_type=(r[2] or "").lower() or "unknown",
                        not_null=bool(r[3]) or (bool(r[5]) and pk_count == 1),
                        primary=bool(r[5]),
                        unique=(bool(r[5]) and pk_count == 1) or r[1] in uniques,
                        default=None if r[4] is None else str(r[4]),
                    )
                    for r in info
                )
                fks = tuple(
                    ForeignKeyInfo(
                        column=r[3],
                        target_schema="main",
                        target_table=r[2],
                        target_column=r[4] or self._primary_key(conn, r[2]),
                    )
                    for r in conn.execute("SELECT * FROM pragma_foreign_key_list(?)", (name,))
                )
                tables.append(TableInfo("main", name, columns, fks))
            return tables
        finally:
            conn.close()

    @staticmethod
    def _unique_columns(conn: sqlite3.Connection, table: str) -> set[str]:
        found: set[str] = set()
        for index in conn.execute("SELECT * FROM pragma_index_list(?)", (table,)).fetchall():
            if not index[2]:
                continue
            cols = conn.execute("SELECT name FROM pragma_index_info(?)", (index[1],)).fetchall()
            if len(cols) == 1:
                found.add(cols[0][0])
        return found

    @staticmethod
    def _primary_key(conn: sqlite3.Connection, table: str) -> str:
        for r in conn.execute("SELECT * FROM pragma_table_info(?)", (table,)):
            if r[5]:
                return str(r[1])
        return "rowid"

    async def run(self, sql: str, *, timeout_s: float, caps: ResultCaps) -> ResultSet:
        """In a worker thread, stopped at its deadline (see `run_interruptible`)."""
        return await run_interruptible(
            take=self._take,
            run=lambda handle: self._run(handle, sql, caps),
            give_back=self._give_back,
            timeout_s=timeout_s,
            errors=sqlite3.Error,
            label="SQLite",
        )

    def stream(
        self, sql: str, *, timeout_s: float, caps: ResultCaps, batch_rows: int
    ) -> AsyncGenerator[ResultSet, None]:
        """A batch at a time from one open cursor (see `stream_in_thread`); the connection
        goes back to the idle ones when the stream ends, early or not."""
        return stream_in_thread(
            take=self._take,
            start=lambda conn: self._start(conn, sql),
            give_back=self._give_back,
            timeout_s=timeout_s,
            caps=caps,
            batch_rows=batch_rows,
            errors=sqlite3.Error,
            label="SQLite",
        )

    @staticmethod
    def _start(
        conn: sqlite3.Connection, sql: str
    ) -> tuple[list[tuple[str, str | None]], Callable[[int], list[Any]], Callable[[], None]]:
        cursor = conn.execute(sql)
        columns: list[tuple[str, str | None]] = [(d[0], None) for d in cursor.description or ()]
        return columns, cursor.fetchmany, cursor.close

    def _take(self) -> sqlite3.Connection:
        with self._lock:
            if self._idle:
                return self._idle.pop()
        try:
            return self._connect()
        except sqlite3.Error as err:
            raise QueryFailed(f"cannot open the SQLite file: {err}") from err

    def _give_back(self, conn: sqlite3.Connection) -> None:
        with self._lock:
            if not self._closed and len(self._idle) < IDLE_CONNECTIONS:
                self._idle.append(conn)
                return
        conn.close()

    @staticmethod
    def _run(conn: sqlite3.Connection, sql: str, caps: ResultCaps) -> ResultSet:
        """SQLite makes one row at a time: a chunk is fetched (the first one row), counted,
        and the next one sized from it; types come from the values (SQLite reports none)."""
        columns, fetch, close = SqliteConnector._start(conn, sql)
        try:
            result = ResultBuilder(caps, columns)
            while wanted := result.chunk():
                rows = fetch(wanted)
                result.add(rows)
                if len(rows) < wanted:
                    break
        finally:
            close()  # ends the read, so the connection holds no snapshot while idle
        return result.finish()

    async def close(self) -> None:
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()
