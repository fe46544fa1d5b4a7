"""The files of cached copies: one Parquet file per copy under <data_dir>/cache/<projectId>/,
written aside (`<name>.partial`), renamed when whole, and only then named by the cache's row.

Rows come from a connector as JSON values (`connectors.results.json_value`); a writer puts
them, a page at a time, into a DuckDB table typed from the source's columns (through CSV,
which DuckDB loads fast), and writes the table out as Parquet. An incremental copy is the
current copy with the new rows appended, written as a new file: the current one is never
touched, so a reader (or a crash) never sees a half-written copy.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import tempfile
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import duckdb

from parley.data.connectors.files import FileConnector
from parley.data.file_roots import project_folder_name
from parley.data.sql_text import quoted_name, string_literal

PARTIAL = ".partial"


def project_folder(root: Path, project_id: str) -> Path:
    return root / project_folder_name(project_id)


INTEGER_TYPE = re.compile(
    r"^(u?(big|small|tiny|medium|huge)?int(eger)?\d*|(big|small)?serial\d*)( unsigned)?$"
)
FLOAT_TYPE = re.compile(r"^(real|float\d*|double( precision)?|numeric|decimal|number|money)$")


def duck_type(source_type: str) -> str:
    """The DuckDB type a source column is kept as (exact decimals become DOUBLE; anything
    unknown is kept as text)."""
    t = source_type.lower().strip()
    base = t.split("(", 1)[0].strip()
    if base in ("bool", "boolean"):
        return "BOOLEAN"
    if INTEGER_TYPE.match(base):
        return "BIGINT"
    if FLOAT_TYPE.match(base):
        return "DOUBLE"
    if base.startswith("timestamp") and ("tz" in t or "with time zone" in t):
        return "TIMESTAMPTZ"
    if base.startswith("timestamp") or base == "datetime":
        return "TIMESTAMP"
    if base == "date":
        return "DATE"
    return "VARCHAR"


def _quote(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return _quote(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    return _quote(json.dumps(value, ensure_ascii=False))


class CopyWriter:
    """Builds one copy (in a worker thread: every method blocks). `base`: the current copy,
    whose rows the new one starts with (an incremental refresh)."""

    def __init__(
        self,
        final: Path,
        columns: Sequence[tuple[str, str]],
        *,
        base: Path | None = None,
        memory_limit_mb: int = 512,
    ) -> None:
        self.final = final
        self.partial = final.with_name(final.name + PARTIAL)
        self.columns = [(name, duck_type(t)) for name, t in columns]
        self._scratch = Path(tempfile.mkdtemp(prefix=final.name + ".scratch-", dir=final.parent))
        self._db = duckdb.connect(str(self._scratch / "build.duckdb"))
        self._db.execute(f"SET memory_limit = '{int(memory_limit_mb)}MB'")
        self._db.execute("SET preserve_insertion_order = true")
        spec = ", ".join(f"{quoted_name(n)} {t}" for n, t in self.columns)
        self._db.execute(f"CREATE TABLE copy ({spec})")
        self.rows = 0
        if base is not None:
            self._db.execute(
                f"INSERT INTO copy SELECT * FROM read_parquet({string_literal(str(base))})"
            )
            self.rows = int(self._db.execute("SELECT count(*) FROM copy").fetchone()[0])  # type: ignore[index]  # count(*) always has a row

    def add(self, rows: Sequence[Sequence[Any]]) -> None:
        if not rows:
            return
        page = self._scratch / "page.csv"
        with page.open("w", encoding="utf-8", newline="") as out:
            out.writelines(",".join(map(_cell, row)) + "\n" for row in rows)
        self._db.execute(
            f"COPY copy FROM {string_literal(str(page))} "
            "(FORMAT csv, HEADER false, NULLSTR '', ALLOW_QUOTED_NULLS false, QUOTE '\"', "
            "ESCAPE '\"', DELIMITER ',')"
        )
        self.rows += len(rows)

    def finish(self) -> int:
        """Write the Parquet file aside, then rename it into place; its size in bytes."""
        self._db.execute(
            f"COPY copy TO {string_literal(str(self.partial))} (FORMAT parquet, COMPRESSION zstd)"
        )
        self.close()
        os.replace(self.partial, self.final)
        return self.final.stat().st_size

    def close(self) -> None:
        with contextlib.suppress(duckdb.Error):
            self._db.close()
        shutil.rmtree(self._scratch, ignore_errors=True)

    def discard(self) -> None:
        self.close()
        for path in (self.partial, self.final):
            path.unlink(missing_ok=True)


_UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"


def is_copy_of(name: str, cache_id: str) -> bool:
    """Whether a file (or scratch folder) `name` is one of this cache's: `<cache_id>-<run
    uuid>.parquet`, its `.partial` or its `.scratch-*`. Exactly, since ids may hold `-`: the
    copies of cache `a-b` are not cache `a`'s."""
    pattern = re.escape(cache_id) + "-" + _UUID + r"\.parquet(\.partial|\.scratch-[^/]+)?"
    return re.fullmatch(pattern, name) is not None


def remove_unused(folder: Path, cache_id: str, keep: set[str]) -> None:
    """Delete a cache's files and leftovers (a refresh cut off by a crash) but `keep`."""
    if not folder.is_dir():
        return
    for path in folder.iterdir():
        if is_copy_of(path.name, cache_id) and path.name not in keep:
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)


class CopyReaders:
    """Read-only DuckDB connectors over sets of copies, kept for the next query (a few
    milliseconds to build each); a set whose files were replaced is not asked for again, and
    falls out."""

    def __init__(self, keep: int = 32, memory_limit_mb: int = 512) -> None:
        self._keep = keep
        self._memory_limit_mb = memory_limit_mb
        self._open: OrderedDict[tuple[tuple[str, str], ...], FileConnector] = OrderedDict()

    def reader(self, views: dict[str, Path]) -> tuple[FileConnector, FileConnector | None]:
        """The connector over `views`, and one that fell out (for the caller to close)."""
        key = tuple(sorted((name, str(path)) for name, path in views.items()))
        found = self._open.get(key)
        if found is not None:
            self._open.move_to_end(key)
            return found, None
        made = FileConnector(
            {name: (path, "read_parquet") for name, path in views.items()}, self._memory_limit_mb
        )
        self._open[key] = made
        dropped = self._open.popitem(last=False)[1] if len(self._open) > self._keep else None
        return made, dropped

    def forget(self, path: Path) -> list[FileConnector]:
        """Drop the readers over `path` (its cache was deleted); the caller closes them."""
        gone = [k for k in self._open if any(p == str(path) for _, p in k)]
        return [self._open.pop(k) for k in gone]

    async def close(self) -> None:
        while self._open:
            await self._open.popitem()[1].close()
