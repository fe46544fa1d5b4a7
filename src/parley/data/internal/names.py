"""What an internal table may be called and hold: names checked against one pattern (no
quotes, dots or slashes, so no path or SQL tricks; SQL keywords are fine, every identifier is
quoted), and Peaka's column types mapped to DuckDB's from a fixed list."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum

from parley.errors import InvalidInput

MAX_NAME_CHARS = 63
NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,62}$")
MAX_COLUMNS = 500
MAX_DISPLAY_NAME_CHARS = 200
MAX_DEFAULT_CHARS = 1000


class Flavour(Enum):
    """Peaka's two kinds of internal table: a Peaka Table (schema `table`, JSON allowed) and a
    Peaka BI Table (schema `bitable`, no JSON). One implementation serves both."""

    TABLE = "table"
    BITABLE = "bitable"

    @property
    def schema(self) -> str:
        return self.value

    @property
    def types(self) -> dict[str, str]:
        return TABLE_TYPES if self is Flavour.TABLE else BITABLE_TYPES


# Peaka's type name -> the DuckDB type it is stored as
BITABLE_TYPES = {
    "VARCHAR": "VARCHAR",
    "BIGINT": "BIGINT",
    "BOOLEAN": "BOOLEAN",
    "DECIMAL": "DECIMAL(38,10)",
    "TIMESTAMP": "TIMESTAMP",
    "TIME": "TIME",
    "DATE": "DATE",
    "UUID": "UUID",
}
TABLE_TYPES = {**BITABLE_TYPES, "JSON": "JSON"}
PEAKA_TYPE_OF = {duck: peaka for peaka, duck in TABLE_TYPES.items()}


def check_name(name: str, what: str) -> str:
    if not isinstance(name, str) or not NAME.fullmatch(name):
        raise InvalidInput(
            f"{what} {name!r} is not a valid name: use 1 to {MAX_NAME_CHARS} letters, digits "
            "and underscores, starting with a letter"
        )
    return name


@dataclass(frozen=True)
class ColumnSpec:
    """One column as Parley keeps it: its Peaka type and its constraints."""

    name: str
    data_type: str  # Peaka's name: VARCHAR, BIGINT, ...
    display_name: str | None = None
    default_value: str | None = None
    not_null: bool = False
    unique: bool = False

    @property
    def duck_type(self) -> str:
        return TABLE_TYPES[self.data_type]


def check_type(flavour: Flavour, data_type: object) -> str:
    name = str(data_type).upper() if isinstance(data_type, str) else ""
    if name not in flavour.types:
        kind = "a Peaka Table" if flavour is Flavour.TABLE else "a Peaka BI Table"
        raise InvalidInput(
            f"dataType {data_type!r} is not one {kind} holds; use one of "
            + ", ".join(flavour.types)
        )
    return name
