"""Writing an export's file: rows (JSON values, as connectors return them) written as CSV or
JSONL, optionally gzipped, to a hidden temporary name in the project's export folder, renamed
to its final name only when the export has succeeded. A crash or a cancel leaves at most the
temporary file, which no route serves and the next attempt (or the cancel) removes.

Writing is blocking file work: callers run each call in a thread (`asyncio.to_thread`). The
standard library's csv, json and gzip do the writing: the formats Peaka exports (CSV, JSONL)
are text, written a page at a time, and neither DuckDB nor pyarrow would hold less in memory
or write the CSV options (delimiter, quote, record separator, null text) more exactly."""

from __future__ import annotations

import contextlib
import csv
import gzip
import io
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from parley.data.file_roots import project_folder_name
from parley.data.sql_text import quoted_name, string_literal

CSV, JSONL, PARQUET = "CSV", "JSONL", "PARQUET"
FORMATS = (CSV, JSONL, PARQUET)  # PARQUET: a Parley extension (Peaka lists CSV and JSONL)
NONE, GZIP = "NONE", "GZIP"
COMPRESSIONS = (NONE, GZIP)
EXTENSIONS = {CSV: ".csv", JSONL: ".jsonl", PARQUET: ".parquet"}
MEDIA_TYPES = {
    CSV: "text/csv; charset=utf-8",
    JSONL: "application/x-ndjson; charset=utf-8",
    PARQUET: "application/vnd.apache.parquet",
}
# the escapes Peaka's documentation writes options in ("\\n"), read as the characters
ESCAPES = {"\\n": "\n", "\\r": "\r", "\\t": "\t", "\\r\\n": "\r\n"}

_encode = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode


@dataclass(frozen=True)
class CsvOptions:
    delimiter: str = ","
    quote_char: str = '"'
    record_separator: str = "\n"
    include_header: bool = True
    null_value: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "delimiter": self.delimiter,
            "quoteChar": self.quote_char,
            "recordSeparator": self.record_separator,
            "includeHeader": self.include_header,
            "nullValue": self.null_value,
        }

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> CsvOptions:
        return cls(
            delimiter=values["delimiter"],
            quote_char=values["quoteChar"],
            record_separator=values["recordSeparator"],
            include_header=values["includeHeader"],
            null_value=values["nullValue"],
        )


def unescape(value: str) -> str:
    """A CSV option as given: `\\t`, `\\n`, `\\r\\n` (Peaka's documentation writes the
    default record separator so) become the characters they name."""
    return ESCAPES.get(value, value)


def export_folder(root: Path, project_id: str) -> Path:
    """<data_dir>/exports/<project folder>: the project's folder name as for its uploads."""
    return root / project_folder_name(project_id)


def final_path(root: Path, project_id: str, export_id: str, fmt: str, compression: str) -> Path:
    """Where a finished export's file is: named by the export's id (a UUID), never by what the
    request named, so no name can lead out of the folder."""
    suffix = EXTENSIONS[fmt] + (".gz" if compression == GZIP else "")
    return export_folder(root, project_id) / f"{export_id}{suffix}"


def partial_path(root: Path, project_id: str, export_id: str) -> Path:
    return export_folder(root, project_id) / f".{export_id}.partial"


def _csv_cell(value: Any, null_value: str) -> str:
    if value is None:
        return null_value
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, str):
        return value
    if isinstance(value, list | dict):
        return _encode(value)
    return str(value)


class ExportWriter:
    """One export's temporary file, open for writing pages of rows. A Parquet export writes its
    pages to it as JSONL, and when it closes DuckDB writes the Parquet file (zstd, the column
    types read from the values) beside it, which then replaces it: the cleanups of a temporary
    file (a cancel, the next attempt after a crash) need know no other name."""

    def __init__(
        self,
        path: Path,
        *,
        fmt: str,
        compression: str,
        csv_options: CsvOptions,
    ) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._fmt = fmt
        self._csv = csv_options
        # mode 0600: only Parley reads it, and only through the download route
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        self._raw: IO[bytes] = os.fdopen(fd, "wb")
        self._zip: gzip.GzipFile | None = None
        binary: IO[bytes] = self._raw
        if compression == GZIP:
            self._zip = gzip.GzipFile(fileobj=self._raw, mode="wb", mtime=0)
            binary = self._zip  # type: ignore[assignment]  # GzipFile is a binary file
        self._text = io.TextIOWrapper(binary, encoding="utf-8", newline="", write_through=False)
        self._rows: Any = None
        self._names: list[str] | None = None
        self._pick: list[int] | None = None
        if fmt == CSV:
            self._rows = csv.writer(
                self._text,
                delimiter=csv_options.delimiter,
                quotechar=csv_options.quote_char,
                lineterminator=csv_options.record_separator,
                quoting=csv.QUOTE_MINIMAL,
                doublequote=True,
            )

    def start(self, columns: Sequence[str], pick: Sequence[int] | None = None) -> None:
        """Called once, before the first page: the result's columns, and the positions of
        those to write (None: all); the header (CSV), the keys (JSONL)."""
        self._pick = None if pick is None else list(pick)
        self._names = list(columns) if pick is None else [columns[i] for i in pick]
        if self._fmt == CSV and self._csv.include_header:
            self._rows.writerow(self._names)

    def write(self, rows: Sequence[Sequence[Any]]) -> int:
        """Writes a page; the bytes in the file so far (compressed, what is flushed of it)."""
        assert self._names is not None, "start() first"
        if self._pick is not None:
            pick = self._pick
            rows = [[row[i] for i in pick] for row in rows]
        if self._fmt == CSV:
            null = self._csv.null_value
            self._rows.writerows([_csv_cell(v, null) for v in row] for row in rows)
        else:
            names = self._names
            self._text.write(
                "".join(_encode(dict(zip(names, row, strict=True))) + "\n" for row in rows)
            )
        self._text.flush()
        return self._raw.tell()

    def close(self) -> int:
        """Finishes the file; its size in bytes."""
        self._text.flush()
        self._text.detach()
        if self._zip is not None:
            self._zip.close()
        self._raw.flush()
        os.fsync(self._raw.fileno())
        size = self._raw.tell()
        self._raw.close()
        if self._fmt == PARQUET:
            return self._to_parquet(empty=size == 0)
        return size

    def _to_parquet(self, *, empty: bool) -> int:
        import duckdb

        assert self._names is not None
        parquet = self.path.with_name(self.path.name + ".parquet")
        db = duckdb.connect(":memory:")
        try:
            if empty:  # no rows: the columns, as text
                columns = ", ".join(f"NULL::VARCHAR AS {quoted_name(n)}" for n in self._names)
                source = f"SELECT {columns} LIMIT 0"
            else:
                source = (
                    f"SELECT * FROM read_json({string_literal(str(self.path))}, "
                    "format = 'newline_delimited', sample_size = -1)"
                )
            target = string_literal(str(parquet))
            db.execute(f"COPY ({source}) TO {target} (FORMAT parquet, COMPRESSION zstd)")
        except BaseException:
            parquet.unlink(missing_ok=True)
            raise
        finally:
            db.close()
        os.chmod(parquet, 0o600)
        os.replace(parquet, self.path)
        return self.path.stat().st_size

    def abandon(self) -> None:
        """Closes and removes the temporary file (a failed or cancelled export)."""
        for close in (self._text.close, self._raw.close):
            with contextlib.suppress(OSError, ValueError):  # closed already
                close()
        self.path.unlink(missing_ok=True)
