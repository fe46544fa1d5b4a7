"""PostgreSQL connections: how the pool checks one before use, and the settings each starts with.

SQLAlchemy's `pool_pre_ping` ran, on every checkout, BEGIN, an empty statement and ROLLBACK
(asyncpg's adapter pings inside a transaction): three round trips before a session's first
statement. A peer chat opens seven sessions, so its pings were 21 of its ~50 round trips, about
0.5 ms of PostgreSQL CPU and 1 ms of the server's. The check here costs no round trip where
the connection was used recently:

- a connection whose socket the server closed (a restart, `pg_terminate_backend`, an idle
  timeout on the server's side) is closed in asyncpg as soon as the event loop read the end of
  the stream, so `is_closed()` tells without asking the server;
- a connection that sat in the pool for over `PING_AFTER_IDLE_S` is pinged as before (a
  peer that vanished without closing, a NAT that forgot the flow, only show on the wire).

A failed check discards the connection and the pool takes another (`DisconnectionError`), as
after a failed pre-ping.

Each connection also starts with pgvector's HNSW search settings that every vector search
here uses (`VECTOR_SEARCH_SETTINGS`, one round trip when it connects), so a search sets only
what differs for its transaction (`widen_search`: a wider `ef_search`): a chat's two vector
searches sent four `SET LOCAL`s, each a round trip.
"""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import event, exc, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

PING_AFTER_IDLE_S = 10.0
# what memory.search and memory.observation_index search with; `ef_search` is the floor they
# widen from (pgvector's own default, set here so a server's other default does not apply)
HNSW_ITERATIVE_SCAN = "relaxed_order"
HNSW_EF_SEARCH = 40
VECTOR_SEARCH_SETTINGS = {
    "hnsw.iterative_scan": HNSW_ITERATIVE_SCAN,
    "hnsw.ef_search": str(HNSW_EF_SEARCH),
}
_IDLE_SINCE = "parley_idle_since"


_SETTINGS_SQL = "; ".join(f"SET {name} = {value}" for name, value in VECTOR_SEARCH_SETTINGS.items())


def install(engine: AsyncEngine) -> None:
    """Settings on each new connection; a check at each checkout (instead of
    `pool_pre_ping`)."""
    event.listen(engine.sync_engine, "connect", _on_connect)
    event.listen(engine.sync_engine, "checkout", _on_checkout)
    event.listen(engine.sync_engine, "checkin", _on_checkin)


async def widen_search(db: AsyncSession, ef_search: int) -> None:
    """`hnsw.ef_search` for this transaction, where a search wants more candidates than the
    connection's default (a placeholder setting before pgvector is loaded, like the default)."""
    if ef_search > HNSW_EF_SEARCH:
        await db.execute(text(f"SET LOCAL hnsw.ef_search = {int(ef_search)}"))


def _on_connect(dbapi_connection: Any, _record: Any) -> None:
    # several statements in one simple query: asyncpg's execute() without arguments
    dbapi_connection.run_async(lambda connection: connection.execute(_SETTINGS_SQL))


def _on_checkin(_dbapi_connection: Any, record: Any) -> None:
    if record is not None:
        record.info[_IDLE_SINCE] = time.monotonic()


def _on_checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
    driver = dbapi_connection.driver_connection  # the asyncpg connection
    if driver is None or driver.is_closed():
        raise exc.DisconnectionError("the server closed the connection")
    idle_since = record.info.get(_IDLE_SINCE)
    if idle_since is None or time.monotonic() - idle_since <= PING_AFTER_IDLE_S:
        return  # new (just connected), or used moments ago
    try:
        dbapi_connection.ping()
    except Exception as err:
        raise exc.DisconnectionError(f"the connection failed its ping: {err}") from err
