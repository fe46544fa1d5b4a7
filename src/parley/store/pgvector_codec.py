"""pgvector's `vector` in its binary wire format, for asyncpg.

Without a codec, every vector goes to PostgreSQL as text: at 1,536 dimensions Python spent
about 0.3 ms formatting each float of a vector with `str()`, and the server as long again
parsing them back. The binary format is the dimension count, a reserved zero and the floats,
all big-endian: numpy writes and reads it at once. Registered on each new asyncpg connection
of the engine (`store/engine.py`); `PgVector` is the column and bind type that lets numpy arrays
through untouched, so statements bind vectors as arrays, never as text.
"""

from __future__ import annotations

import struct
from typing import Any

import numpy as np
from sqlalchemy import Float
from sqlalchemy.dialects.postgresql.base import ischema_names
from sqlalchemy.types import UserDefinedType

_HEADER = struct.Struct(">HH")
_BIG_ENDIAN_F4 = np.dtype(">f4")


def encode(value: Any) -> bytes:
    array = np.asarray(value, dtype=np.float32)
    if array.ndim != 1:
        raise ValueError(f"a vector is one-dimensional, not of shape {array.shape}")
    return _HEADER.pack(len(array), 0) + array.astype(_BIG_ENDIAN_F4).tobytes()


def decode(data: bytes) -> np.ndarray:
    dims, _unused = _HEADER.unpack_from(data)
    return np.frombuffer(data, dtype=_BIG_ENDIAN_F4, count=dims, offset=_HEADER.size).astype(
        np.float32
    )


async def register(connection: Any) -> None:
    """Set the codec on one asyncpg connection, wherever the extension put the type; a
    database without pgvector (not migrated yet) has no vectors to code."""
    schema = await connection.fetchval(
        "SELECT n.nspname FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace "
        "WHERE t.typname = 'vector' LIMIT 1"
    )
    if schema is None:
        return
    await connection.set_type_codec(
        "vector", schema=schema, encoder=encode, decoder=decode, format="binary"
    )


def on_connect(dbapi_connection: Any, _record: Any) -> None:
    """SQLAlchemy's `connect` event on the engine: the adapted connection runs `register` on
    the asyncpg connection inside."""
    dbapi_connection.run_async(register)


class PgVector(UserDefinedType[Any]):
    """pgvector's `vector` (`vector(dims)` with a size) passed to and from asyncpg as it is:
    a numpy array, which the codec above puts on the wire."""

    cache_ok = True

    def __init__(self, dims: int | None = None) -> None:
        self.dims = dims

    def get_col_spec(self, **_kw: Any) -> str:
        return "vector" if self.dims is None else f"vector({self.dims})"

    class comparator_factory(UserDefinedType.Comparator[Any]):  # noqa: N801 (SQLAlchemy's name)
        def cosine_distance(self, other: Any) -> Any:
            return self.op("<=>", return_type=Float)(other)


ischema_names["vector"] = PgVector  # reflection (Alembic's comparison with the models)
