"""CSV, Parquet and JSON files queried through DuckDB. Each file is a view in a database opened
read-only, whose configuration is then locked with external access off, so a statement can read
those files and nothing else on the machine; a timer on the event loop interrupts a statement at
its deadline. Cursors are kept between statements (a few, each used by one statement at a
time), so a query does not pay for a new one."""

from __future__ import annotations

import asyncio
import re
import shutil
import tempfile
import threading
from collections import OrderedDict
from collections.abc import AsyncGenerator, Callable
from pathlib import Path
from typing import Any

import duckdb

from parley.data.connectors.base import (
    BadCredential,
    ColumnInfo,
    ConfigField,
    ConnectionFailed,
    Connector,
    ConnectorEnv,
    TableInfo,
    check_unmoved,
    run_interruptible,
    stream_in_thread,
)
from parley.data.connectors.results import ResultBuilder, ResultCaps, ResultSet, cut_in_source
from parley.data.sql_text import string_literal

READERS = {
    ".csv": "read_csv_auto",
    ".tsv": "read_csv_auto",
    ".parquet": "read_parquet",
    ".json": "read_json_auto",
    ".jsonl": "read_json_auto",
    ".ndjson": "read_json_auto",
}
FORMATS = {"CSV": ".csv", "PARQUET": ".parquet", "JSON": ".json"}
IDLE_CURSORS = 4
DESCRIBED = 256  # statements whose columns (and wrapped form) are kept, per connector
GLOB_CHARACTERS = re.compile(r"[*?\[]")
TABLE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")


_Described = tuple[list[tuple[str, str]], str | None]  # columns, the statement that cuts
_RAN: _Described = ([], None)


def _duckdb_cut(column: str, source_type: str, keep: int) -> str | None:
    """What DuckDB returns of a cuttable column: a cell within the cap as it is (its size is
    known to DuckDB without reading it, and `left` would copy it), a longer one's first `keep`
    characters or bytes."""
    if source_type in ("VARCHAR", "JSON"):
        text = f"{column}::VARCHAR"
        return f"CASE WHEN strlen({text}) < {keep} THEN {text} ELSE left({text}, {keep}) END"
    if source_type == "BLOB":
        return (
            f"CASE WHEN octet_length({column}) < {keep} THEN {column} ELSE {column}[1:{keep}] END"
        )
    return None


class FileConnector(Connector):
    type = "FILE"
    label = "Files (CSV, Parquet, JSON) via DuckDB"
    dialect = "duckdb"
    default_schema = "main"
    fields = (
        ConfigField("path", "text", False, "Absolute path of one CSV, Parquet or JSON file"),
        ConfigField(
            "files",
            "text",
            False,
            "Instead of path: a list of {path, tableName?, format?} (format CSV|PARQUET|JSON)",
        ),
    )

    def __init__(self, files: dict[str, tuple[Path, str]], memory_limit_mb: int) -> None:
        self.files = files  # table name -> (path, reader)
        self.memory_limit_mb = memory_limit_mb
        self._db: duckdb.DuckDBPyConnection | None = None
        self._folder: Path | None = None
        self._lock = threading.Lock()
        self._idle: list[duckdb.DuckDBPyConnection] = []
        # (sql, cell cap) -> columns and the statement that cuts long cells (`_described`)
        self._described: OrderedDict[tuple[str, int], _Described] = OrderedDict()
        self._described_for: tuple[tuple[int, int], ...] | None = None  # the files' state

    @classmethod
    def open(cls, credential: dict[str, Any], env: ConnectorEnv) -> FileConnector:
        entries = credential.get("files")
        if entries is None:
            entries = [{k: credential.get(k) for k in ("path", "format", "tableName")}]
        if not isinstance(entries, list) or not entries or len(entries) > 200:
            raise BadCredential("credential.files must be a list of 1 to 200 files")
        files: dict[str, tuple[Path, str]] = {}
        for i, entry in enumerate(entries):
            if not isinstance(entry, dict):
                raise BadCredential(f"credential.files[{i}] must be an object with a path")
            path = env.readable_file(entry.get("path"), f"files[{i}].path")
            if GLOB_CHARACTERS.search(str(path)):
                raise BadCredential(
                    f"{path}: DuckDB reads *, ? and [ in a path as a pattern that could match "
                    "other files; rename the file"
                )
            fmt = entry.get("format")
            suffix = FORMATS.get(str(fmt).upper()) if fmt is not None else path.suffix.lower()
            reader = READERS.get(suffix or "")
            if reader is None:
                raise BadCredential(
                    f"cannot tell the format of {path.name}: use a .csv, .parquet or .json "
                    "file, or give format CSV, PARQUET or JSON"
                )
            table = entry.get("tableName") or re.sub(r"\W", "_", path.stem)
            if not isinstance(table, str) or not TABLE_NAME.match(table):
                raise BadCredential(f"{table!r} is not a valid table name")
            if table in files:
                raise BadCredential(f"two files would both be table {table}")
            files[table] = (path, reader)
        return cls(files, env.memory_limit_mb)

    def detail(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "files": [{"tableName": t, "path": str(p)} for t, (p, _) in self.files.items()],
        }

    def _open_db(self) -> duckdb.DuckDBPyConnection:
        """The views live in a small database file opened read-only, so not even a statement
        that slipped past the guard could drop or replace them; external access is off except
        for the connection's own files, and the configuration is locked."""
        with self._lock:
            if self._db is None:
                for file, _ in self.files.values():
                    check_unmoved(file)  # DuckDB reads the files to build the views
                folder = Path(tempfile.mkdtemp(prefix="parley-duckdb-"))
                path = folder / "views.duckdb"
                try:
                    builder = duckdb.connect(str(path))
                    for table, (file, reader) in self.files.items():
                        builder.execute(
                            f'CREATE VIEW "{table}" AS SELECT * FROM {reader}'
                            f"({string_literal(str(file))})"
                        )
                    builder.close()
                    paths = ", ".join(string_literal(str(p)) for p, _ in self.files.values())
                    db = duckdb.connect(str(path), read_only=True)
                    db.execute(f"SET allowed_paths = [{paths}]")
                    db.execute("SET enable_external_access = false")
                    db.execute("SET autoinstall_known_extensions = false")
                    db.execute("SET autoload_known_extensions = false")
                    db.execute("SET python_enable_replacements = false")
                    db.execute(f"SET memory_limit = '{int(self.memory_limit_mb)}MB'")
                    # keeping file order makes every thread buffer what it scanned until the
                    # rows before it are out (for the LIMIT every statement has, hundreds of
                    # megabytes of wide rows); without ORDER BY, SQL promises no order anyway
                    db.execute("SET preserve_insertion_order = false")
                    db.execute("SET lock_configuration = true")
                except duckdb.Error as err:
                    shutil.rmtree(folder, ignore_errors=True)
                    raise ConnectionFailed(f"DuckDB cannot read the files: {err}") from err
                self._db, self._folder = db, folder
            return self._db

    async def check(self) -> None:
        def probe() -> None:
            db = self._open_db()
            cursor = db.cursor()
            try:
                for table in self.files:
                    cursor.execute(f'SELECT * FROM "{table}" LIMIT 1').fetchall()
            except duckdb.Error as err:
                raise ConnectionFailed(f"DuckDB cannot read the files: {err}") from err
            finally:
                cursor.close()

        await asyncio.to_thread(probe)

    async def introspect(self) -> list[TableInfo]:
        def read() -> list[TableInfo]:
            cursor = self._open_db().cursor()
            try:
                tables = []
                for table in self.files:
                    rows = cursor.execute(f'DESCRIBE "{table}"').fetchall()
                    columns = tuple(
                        ColumnInfo(name=r[0], data_type=str(r[1]).lower(), not_null=r[2] == "NO")
                        for r in rows
                    )
                    tables.append(TableInfo("main", table, columns))
                return tables
            except duckdb.Error as err:
                raise ConnectionFailed(f"DuckDB cannot read the files: {err}") from err
            finally:
                cursor.close()

        return await asyncio.to_thread(read)

    def _cursor(self) -> duckdb.DuckDBPyConnection:
        db = self._open_db()
        with self._lock:
            if self._idle:
                return self._idle.pop()
        return db.cursor()

    def _give_back(self, cursor: duckdb.DuckDBPyConnection) -> None:
        with self._lock:
            if self._db is not None and len(self._idle) < IDLE_CURSORS:
                self._idle.append(cursor)
                return
        cursor.close()

    async def run(self, sql: str, *, timeout_s: float, caps: ResultCaps) -> ResultSet:
        """In a worker thread, stopped at its deadline (see `run_interruptible`)."""
        return await run_interruptible(
            take=self._cursor,
            run=lambda handle: self._run(handle, sql, caps),
            give_back=self._give_back,
            timeout_s=timeout_s,
            errors=duckdb.Error,
            label="DuckDB",
        )

    def stream(
        self, sql: str, *, timeout_s: float, caps: ResultCaps, batch_rows: int
    ) -> AsyncGenerator[ResultSet, None]:
        """A batch at a time from one cursor (see `stream_in_thread`), long cells cut by
        DuckDB as in `_run`."""
        return stream_in_thread(
            take=self._cursor,
            start=lambda cursor: self._start(cursor, sql, caps),
            give_back=self._give_back,
            timeout_s=timeout_s,
            caps=caps,
            batch_rows=batch_rows,
            errors=duckdb.Error,
            label="DuckDB",
        )

    def _start(
        self, cursor: duckdb.DuckDBPyConnection, sql: str, caps: ResultCaps
    ) -> tuple[list[tuple[str, str | None]], Callable[[int], list[Any]], Callable[[], None]]:
        """Runs the statement: its columns, a fetch of n rows, and (nothing to) close. Long
        text and binary columns are cut by DuckDB, from the statement's columns
        (`_described_as`); a statement that is no query has run when it was described."""
        described = None
        if caps.cell_bytes is not None:
            described = self._described_as(cursor, sql, caps.cell_bytes)
            if described is _RAN:
                return [], lambda n: [], lambda: None
        if described is None:
            cursor.execute(sql)
            columns = [(d[0], str(d[1]).lower()) for d in cursor.description or ()]
        else:
            columns, wrapped = described
            cursor.execute(wrapped or sql)
        typed: list[tuple[str, str | None]] = list(columns)
        return typed, cursor.fetchmany, lambda: None

    def _run(self, cursor: duckdb.DuckDBPyConnection, sql: str, caps: ResultCaps) -> ResultSet:
        """DuckDB computes 2,048 rows at a time, whatever is fetched of them: long text and
        binary columns are cut by DuckDB itself (`_start`), before rows are fetched a chunk
        at a time."""
        columns, fetch, _ = self._start(cursor, sql, caps)
        result = ResultBuilder(caps, columns)
        while wanted := result.chunk():
            rows = fetch(wanted)
            result.add(rows)
            if len(rows) < wanted:
                break
        return result.finish()

    def _described_as(
        self, cursor: duckdb.DuckDBPyConnection, sql: str, cell_bytes: int
    ) -> _Described | None:
        """The statement's columns and its wrapped form, from binding it (a relation, not
        run: a few milliseconds over Parquet, as DuckDB reads the files' metadata), kept per
        statement while the files stay as they were (size and time). None when it does not
        bind: run as it is, it fails with DuckDB's own message (which points at the text);
        `_RAN` when it was no query, and binding it ran it."""
        try:
            state = tuple(
                (s.st_mtime_ns, s.st_size) for s in (p.stat() for p, _ in self.files.values())
            )
        except OSError:
            state = None
        key = (sql, cell_bytes)
        with self._lock:
            if state != self._described_for:
                self._described.clear()
                self._described_for = state
            found = self._described.get(key)
            if found is not None:
                self._described.move_to_end(key)
                return found
        try:
            relation = cursor.sql(sql)
        except duckdb.InterruptException:
            raise
        except duckdb.Error:
            return None
        if relation is None:
            return _RAN
        types = [str(t) for t in relation.types]
        keep = cell_bytes + 1  # characters, or bytes: more than the cap either way
        described = (
            [(n, t.lower()) for n, t in zip(relation.columns, types, strict=True)],
            cut_in_source(
                sql,
                list(zip(relation.columns, types, strict=True)),
                lambda column, t: _duckdb_cut(column, t, keep),
            ),
        )
        with self._lock:
            if state is not None and state == self._described_for:
                self._described[key] = described
                if len(self._described) > DESCRIBED:
                    self._described.popitem(last=False)
        return described

    async def close(self) -> None:
        with self._lock:
            for cursor in self._idle:
                cursor.close()
            self._idle.clear()
            if self._db is not None:
                self._db.close()
                self._db = None
            if self._folder is not None:
                shutil.rmtree(self._folder, ignore_errors=True)
                self._folder = None
