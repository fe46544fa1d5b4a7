"""The DuckDB file of each project's internal tables: <data_dir>/internal/<project>.duckdb.

DuckDB lets one process write a file, or several read it, never both; in one process it also
refuses a read-only and a read-write connection to the same file at once. So every use of a
file, reading or writing, holds that file's lock in this process (one writer at a time, and no
reader while it writes) and opens its own connection, closed when done; another process holding
the file (an API replica, a worker) is waited for a few seconds. Readers open the file read-only
with external access off and the configuration locked, as the file connector does."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

from parley.data.connectors.base import ConnectionFailed
from parley.data.file_roots import project_folder_name

BUSY_WAIT_S = 10.0  # how long another process may hold the file before a request fails
META = "_parley"  # the schema of Parley's own bookkeeping; never in the catalog


class InternalFiles:
    """Where the files are, and the lock of each (shared by readers and writers)."""

    def __init__(self, folder: Path | None, memory_limit_mb: int = 512) -> None:
        self.folder = folder
        self.memory_limit_mb = memory_limit_mb
        self._locks: dict[Path, threading.Lock] = {}
        self._guard = threading.Lock()

    def path(self, project_id: str) -> Path:
        if self.folder is None:
            raise ConnectionFailed("internal tables are not available on this server")
        return self.folder / f"{project_folder_name(project_id)}.duckdb"

    def lock(self, path: Path) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(path, threading.Lock())

    def remove(self, project_id: str) -> None:
        """Delete a project's file (the project is gone)."""
        path = self.path(project_id)
        with self.lock(path):
            for suffix in ("", ".wal"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)

    def connect(self, path: Path, *, read_only: bool) -> duckdb.DuckDBPyConnection:
        """A connection to the file; the caller holds its lock."""
        deadline = time.monotonic() + BUSY_WAIT_S
        while True:
            try:
                con = duckdb.connect(str(path), read_only=read_only)
                break
            except (duckdb.IOException, duckdb.ConnectionException) as err:
                # another process holds the file, or (in this process) a connection built
                # outside these locks: wait for it a little
                if time.monotonic() > deadline:
                    raise ConnectionFailed(
                        f"the project's internal tables are busy, try again: {err}"
                    ) from err
                time.sleep(0.05)
        try:
            if read_only:
                con.execute("SET enable_external_access = false")
                con.execute("SET autoinstall_known_extensions = false")
                con.execute("SET autoload_known_extensions = false")
                con.execute("SET python_enable_replacements = false")
                con.execute(f"SET memory_limit = '{int(self.memory_limit_mb)}MB'")
                con.execute("SET lock_configuration = true")
        except BaseException:
            con.close()
            raise
        return con

    @contextmanager
    def writing(self, project_id: str) -> Iterator[duckdb.DuckDBPyConnection]:
        """The file open read-write (created with Parley's bookkeeping if new), this process's
        one writer of it until the block ends. Call in a worker thread."""
        path = self.path(project_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        with self.lock(path):
            con = self.connect(path, read_only=False)
            try:
                ensure_meta(con)
                yield con
            finally:
                con.close()

    @contextmanager
    def reading(self, project_id: str) -> Iterator[duckdb.DuckDBPyConnection | None]:
        """The file open read-only (None while it does not exist). Call in a worker thread."""
        path = self.path(project_id)
        with self.lock(path):
            if not path.exists():
                yield None
                return
            con = self.connect(path, read_only=True)
            try:
                yield con
            finally:
                con.close()


def ensure_meta(con: duckdb.DuckDBPyConnection) -> None:
    """Parley's bookkeeping and the two schemas, made once per file (and on a file made before
    one of them existed)."""
    found = con.execute(
        "SELECT COUNT(*) FROM duckdb_tables() WHERE schema_name = ? "
        "AND table_name IN ('tables', 'columns')",
        [META],
    ).fetchone()
    schemas = con.execute(
        "SELECT COUNT(*) FROM duckdb_schemas() WHERE schema_name IN ('table', 'bitable')"
    ).fetchone()
    if found and found[0] == 2 and schemas and schemas[0] == 2:
        return
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {META}")
    con.execute(
        f"CREATE TABLE IF NOT EXISTS {META}.tables (schema_name VARCHAR NOT NULL, "
        "table_name VARCHAR NOT NULL, created_at TIMESTAMP NOT NULL, "
        "PRIMARY KEY (schema_name, table_name))"
    )
    con.execute(
        f"CREATE TABLE IF NOT EXISTS {META}.columns (schema_name VARCHAR NOT NULL, "
        "table_name VARCHAR NOT NULL, id BIGINT NOT NULL, position INTEGER NOT NULL, "
        "name VARCHAR NOT NULL, data_type VARCHAR NOT NULL, display_name VARCHAR, "
        "default_value VARCHAR, not_null BOOLEAN NOT NULL, is_unique BOOLEAN NOT NULL)"
    )
    for schema in ("table", "bitable"):
        con.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
