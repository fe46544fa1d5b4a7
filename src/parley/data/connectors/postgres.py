"""PostgreSQL through asyncpg: a few sessions per connection, each keeping the statements it
prepared; every statement runs in a `READ ONLY` transaction with `statement_timeout`, and
asyncpg cancels it server-side if the client-side timeout fires first."""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlparse

import asyncpg

from parley.data.connectors.base import (
    BadCredential,
    ColumnInfo,
    ConfigField,
    ConnectionFailed,
    Connector,
    ConnectorEnv,
    ForeignKeyInfo,
    QueryFailed,
    QueryTimeout,
    StreamBudget,
    TableInfo,
    required_text,
)
from parley.data.connectors.results import ResultBuilder, ResultCaps, ResultSet, cut_in_source

CONNECT_TIMEOUT_S = 10.0
MAX_SESSIONS = 4
PREPARED_PER_SESSION = 100
FIRST_CHUNK = 8  # rows of the first fetch (each fetch is a round trip; later ones are sized)
HIDDEN_SCHEMAS = ("pg_catalog", "information_schema", "pg_toast")

# Trino-style names, as Peaka reports them.
TYPE_NAMES = {
    "int2": "smallint",
    "int4": "integer",
    "int8": "bigint",
    "float4": "real",
    "float8": "double",
    "numeric": "decimal",
    "text": "varchar",
    "varchar": "varchar",
    "bpchar": "char",
    "bool": "boolean",
    "timestamptz": "timestamp with time zone",
    "timestamp": "timestamp",
    "date": "date",
    "time": "time",
    "json": "json",
    "jsonb": "json",
    "uuid": "uuid",
    "bytea": "varbinary",
}

INTROSPECT_COLUMNS = """
SELECT c.table_schema, c.table_name, c.column_name, c.data_type, c.is_nullable,
       c.column_default, c.ordinal_position
FROM information_schema.columns c
JOIN information_schema.tables t
  ON t.table_schema = c.table_schema AND t.table_name = c.table_name
WHERE c.table_schema NOT IN ('pg_catalog', 'information_schema', 'pg_toast')
  AND t.table_type IN ('BASE TABLE', 'VIEW')
ORDER BY c.table_schema, c.table_name, c.ordinal_position
"""

INTROSPECT_CONSTRAINTS = """
SELECT n.nspname, r.relname, con.contype::text, array_agg(a.attname ORDER BY k.ord),
       fn.nspname, fr.relname,
       (SELECT array_agg(fa.attname ORDER BY fk.ord)
          FROM unnest(con.confkey) WITH ORDINALITY fk(attnum, ord)
          JOIN pg_attribute fa ON fa.attrelid = con.confrelid AND fa.attnum = fk.attnum)
FROM pg_constraint con
JOIN pg_class r ON r.oid = con.conrelid
JOIN pg_namespace n ON n.oid = r.relnamespace
JOIN unnest(con.conkey) WITH ORDINALITY k(attnum, ord) ON true
JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.attnum
LEFT JOIN pg_class fr ON fr.oid = con.confrelid
LEFT JOIN pg_namespace fn ON fn.oid = fr.relnamespace
WHERE con.contype IN ('p', 'u', 'f')
  AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')
GROUP BY con.oid, n.nspname, r.relname, con.contype, fn.nspname, fr.relname
"""


@dataclass
class _Session:
    """One server session and the statements prepared on it, by SQL text (each costs a
    named prepared statement on the server, closed when it falls out of this cache)."""

    conn: asyncpg.Connection
    prepared: OrderedDict[str, asyncpg.prepared_stmt.PreparedStatement] = field(
        default_factory=OrderedDict
    )

    async def prepare(self, sql: str, timeout_s: float) -> asyncpg.prepared_stmt.PreparedStatement:
        found = self.prepared.get(sql)
        if found is not None:
            self.prepared.move_to_end(sql)
            return found
        statement = await self.conn.prepare(sql, timeout=timeout_s)
        self.prepared[sql] = statement
        if len(self.prepared) > PREPARED_PER_SESSION:
            self.prepared.popitem(last=False)
        return statement


class PostgresConnector(Connector):
    type = "POSTGRES"
    label = "PostgreSQL"
    dialect = "postgres"
    default_schema = "public"
    fields = (
        ConfigField("dsn", "text", False, "postgresql://user:password@host:port/database"),
        ConfigField("url", "text", False, "Host name or address (instead of dsn)"),
        ConfigField("port", "number", False, "Port (default 5432)"),
        ConfigField("user", "text", False, "User name"),
        ConfigField("password", "text", False, "Password", secret=True),
        ConfigField("databaseName", "text", False, "Database name"),
        ConfigField("useSsl", "boolean", False, "Require TLS"),
    )

    def __init__(self, params: dict[str, Any], max_timeout_s: float = 600.0) -> None:
        self.params = params
        self.max_timeout_s = max_timeout_s
        self._idle: list[_Session] = []
        self._slots = asyncio.Semaphore(MAX_SESSIONS)
        self._resetting: set[asyncio.Task[None]] = set()
        self._closed = False

    @classmethod
    def open(cls, credential: dict[str, Any], env: ConnectorEnv) -> PostgresConnector:
        if credential.get("dsn") is not None:
            dsn = required_text(credential, "dsn")
            parsed = urlparse(dsn)
            if parsed.scheme not in ("postgresql", "postgres"):
                raise BadCredential("credential.dsn must be a postgresql:// URL")
            host = parsed.hostname or ""
            for part in parsed.query.split("&"):
                key, _, value = part.partition("=")
                if key == "host":
                    host = value
            env.check_host(host)
            return cls({"dsn": dsn}, env.max_timeout_s)
        host = required_text(credential, "url")
        env.check_host(host)
        port = credential.get("port", 5432)
        if isinstance(port, str) and port.isdigit():
            port = int(port)
        if not isinstance(port, int) or isinstance(port, bool) or not 0 < port < 65536:
            raise BadCredential("credential.port must be a port number")
        params: dict[str, Any] = {
            "host": host,
            "port": port,
            "user": required_text(credential, "user"),
            "database": required_text(credential, "databaseName"),
        }
        password = credential.get("password")
        if password is not None:
            params["password"] = required_text(credential, "password")
        if credential.get("useSsl") is True:
            params["ssl"] = "require"
        return cls(params, env.max_timeout_s)

    def detail(self) -> dict[str, Any]:
        if "dsn" in self.params:
            parsed = urlparse(self.params["dsn"])
            return {
                "type": self.type,
                "url": parsed.hostname,
                "port": parsed.port,
                "user": parsed.username,
                "databaseName": parsed.path.lstrip("/") or None,
            }
        return {
            "type": self.type,
            "url": self.params["host"],
            "port": self.params["port"],
            "user": self.params["user"],
            "databaseName": self.params["database"],
            "useSsl": "ssl" in self.params,
        }

    async def _connect(self) -> asyncpg.Connection:
        try:
            return await asyncpg.connect(**self.params, timeout=CONNECT_TIMEOUT_S)
        except (TimeoutError, OSError, asyncpg.PostgresError, ValueError) as err:
            # the message names what failed, never the password
            raise ConnectionFailed(
                f"cannot connect to PostgreSQL: {type(err).__name__}: "
                f"{_scrub(str(err), self.params)}"
            ) from err

    async def _open_session(self) -> _Session:
        try:
            conn = await asyncpg.connect(
                **self.params,
                timeout=CONNECT_TIMEOUT_S,
                server_settings=self._session_settings(),
            )
        except (TimeoutError, OSError, asyncpg.PostgresError, ValueError) as err:
            raise ConnectionFailed(
                f"cannot connect to PostgreSQL: {type(err).__name__}: "
                f"{_scrub(str(err), self.params)}"
            ) from err
        return _Session(conn)

    def _session_settings(self) -> dict[str, str]:
        """Every transaction of these sessions is read-only, and no statement outlives the
        largest timeout, whatever the client does (the guard also refuses SET)."""
        return {
            "default_transaction_read_only": "on",
            "statement_timeout": str(int(self.max_timeout_s * 1000)),
            "idle_in_transaction_session_timeout": str(int(self.max_timeout_s * 1000)),
        }

    async def check(self) -> None:
        conn = await self._connect()
        try:
            await conn.fetchval("SELECT 1")
        finally:
            await conn.close()

    async def introspect(self) -> list[TableInfo]:
        conn = await self._connect()
        try:
            async with conn.transaction(readonly=True):
                columns = await conn.fetch(INTROSPECT_COLUMNS)
                constraints = await conn.fetch(INTROSPECT_CONSTRAINTS)
        finally:
            await conn.close()
        primary: set[tuple[str, str, str]] = set()
        unique: set[tuple[str, str, str]] = set()
        fks: dict[tuple[str, str], list[ForeignKeyInfo]] = {}
        for schema, table, kind, cols, fschema, ftable, fcols in constraints:
            if kind == "p":
                primary.update((schema, table, c) for c in cols)
                if len(cols) == 1:
                    unique.add((schema, table, cols[0]))
            elif kind == "u" and len(cols) == 1:
                unique.add((schema, table, cols[0]))
            elif kind == "f" and len(cols) == 1 and fcols:
                fks.setdefault((schema, table), []).append(
                    ForeignKeyInfo(cols[0], fschema, ftable, fcols[0])
                )
        grouped: dict[tuple[str, str], list[ColumnInfo]] = {}
        for schema, table, name, data_type, nullable, default, _ in columns:
            grouped.setdefault((schema, table), []).append(
                ColumnInfo(
                    name=name,
                    data_type=data_type,
                    not_null=nullable == "NO",
                    primary=(schema, table, name) in primary,
                    unique=(schema, table, name) in unique,
                    default=default,
                )
            )
        return [
            TableInfo(schema, table, tuple(cols), tuple(fks.get((schema, table), ())))
            for (schema, table), cols in grouped.items()
        ]

    async def _session(self) -> _Session:
        """An idle session, or a new one, holding one of the slots (released by `_give_back`
        or by the reset after it)."""
        await self._slots.acquire()
        session: _Session | None = None
        try:
            while self._idle and session is None:
                found = self._idle.pop()
                if found.conn.is_closed():
                    found.prepared.clear()
                else:
                    session = found
            if session is None:
                session = await self._open_session()
        except BaseException:
            self._slots.release()
            raise
        return session

    async def stream(
        self, sql: str, *, timeout_s: float, caps: ResultCaps, batch_rows: int
    ) -> AsyncGenerator[ResultSet, None]:
        """A batch at a time from a server-side cursor in a read-only transaction, fetched
        only as the consumer asks (see `Connector.stream`); `timeout_s` bounds the time spent
        waiting on the server, not the consumer's pauses. Closed early or cancelled, the
        running FETCH is cancelled on the server (asyncpg's CancelRequest) and the session is
        reset (its transaction rolled back) and goes back to the idle ones."""
        session: _Session | None = await self._session()
        assert session is not None
        healthy = True
        open_transaction: asyncpg.transaction.Transaction | None = None
        loop = asyncio.get_running_loop()
        spent = 0.0

        def left() -> float:
            if spent >= timeout_s:
                raise TimeoutError
            return timeout_s - spent

        try:
            statement, columns = await _prepared(session, sql, caps, left)
            transaction = session.conn.transaction(readonly=True)
            await transaction.start()
            open_transaction = transaction
            cursor = await statement.cursor(timeout=left())
            budget = StreamBudget(caps, batch_rows)
            typed: list[tuple[str, str | None]] = list(columns)
            while not budget.done:
                records: list[Any] = []
                began = loop.time()
                # fetched here, built in a thread: `batch` calls `fetch` for each chunk
                while len(records) < budget.batch_rows and not budget.done:
                    want = min(budget.batch_rows, budget.rows_left) - len(records)
                    if want <= 0:
                        break
                    got = await cursor.fetch(want, timeout=left())
                    records.extend(got)
                    if len(got) < want:
                        break
                spent += loop.time() - began
                pending = list(records)

                def fetch(n: int, pending: list[Any] = pending) -> list[Any]:
                    taken = pending[:n]
                    del pending[:n]
                    return taken

                yield await asyncio.to_thread(budget.batch, typed, fetch)
            open_transaction = None
            await transaction.commit()
        except TimeoutError as err:
            await self._reset(session)
            session = None
            raise QueryTimeout(timeout_s) from err
        except asyncpg.QueryCanceledError as err:
            raise QueryTimeout(timeout_s) from err
        except asyncpg.PostgresError as err:
            raise QueryFailed(f"PostgreSQL error: {err}") from err
        except (OSError, asyncpg.InterfaceError) as err:
            healthy = False
            raise QueryFailed(f"PostgreSQL connection error: {err}") from err
        finally:
            if session is not None and healthy and open_transaction is not None:
                # closed early (the reader left): end the transaction, and with it the cursor
                try:
                    await asyncio.wait_for(open_transaction.rollback(), CONNECT_TIMEOUT_S)
                except (TimeoutError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
                    healthy = False
            if session is not None:
                self._give_back(session, healthy)

    async def run(self, sql: str, *, timeout_s: float, caps: ResultCaps) -> ResultSet:
        session: _Session | None = await self._session()  # its slot: see _give_back
        assert session is not None
        healthy = True  # even when cancelled: the reset waits for asyncpg's cancel request
        try:
            return await self._run(session, sql, timeout_s, caps)
        except TimeoutError as err:
            # asyncpg is cancelling the statement on the server; the reset waits for that,
            # so the answer goes out only once the server has stopped it
            await self._reset(session)
            session = None
            raise QueryTimeout(timeout_s) from err
        except asyncpg.QueryCanceledError as err:
            raise QueryTimeout(timeout_s) from err
        except asyncpg.PostgresError as err:
            raise QueryFailed(f"PostgreSQL error: {err}") from err
        except (OSError, asyncpg.InterfaceError) as err:
            healthy = False
            raise QueryFailed(f"PostgreSQL connection error: {err}") from err
        finally:
            if session is not None:
                self._give_back(session, healthy)

    @staticmethod
    async def _run(session: _Session, sql: str, timeout_s: float, caps: ResultCaps) -> ResultSet:
        """The statement is prepared once per session (then reused, with its column types);
        where it has long text or binary columns, PostgreSQL cuts them itself, from a wrapped
        statement (`cut_in_source`), so no cell longer than the cap crosses the wire. Rows
        come through a cursor, a chunk at a time (each chunk made JSON in a thread) until the
        caps; the transaction is read-only, as every one of these sessions is by default.
        When `timeout_s` passes, asyncpg cancels the statement on the server (a
        CancelRequest), and the session's statement_timeout is the backstop."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s

        def left() -> float:
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError
            return remaining

        statement, columns = await _prepared(session, sql, caps, left)
        result = ResultBuilder(caps, columns, first_chunk=FIRST_CHUNK)
        async with session.conn.transaction(readonly=True):
            cursor = await statement.cursor(timeout=left())
            while wanted := result.chunk():
                records = await cursor.fetch(wanted, timeout=left())
                await asyncio.to_thread(result.add, records)
                if len(records) < wanted:
                    break
        return result.finish()

    def _give_back(self, session: _Session, healthy: bool) -> None:
        """A session that finished cleanly is reset (asyncpg's RESET ALL, CLOSE ALL, UNLISTEN,
        advisory unlock: whatever a statement did to it is undone, its prepared statements
        stay) in a background task, so the answer does not wait for that round trip, and is
        idle again after. One that failed on the wire is dropped."""
        if not healthy or self._closed or session.conn.is_closed():
            session.prepared.clear()
            session.conn.terminate()
            self._slots.release()
            return
        task = asyncio.create_task(self._reset(session))
        self._resetting.add(task)
        task.add_done_callback(self._resetting.discard)

    async def _reset(self, session: _Session) -> None:
        try:
            await session.conn.reset(timeout=CONNECT_TIMEOUT_S)
        except BaseException as err:
            session.prepared.clear()
            session.conn.terminate()  # a session that cannot be reset is never used again
            if not isinstance(err, Exception):
                raise
        else:
            if self._closed:
                session.prepared.clear()
                session.conn.terminate()
            else:
                self._idle.append(session)
        finally:
            self._slots.release()

    async def close(self) -> None:
        self._closed = True
        if self._resetting:
            await asyncio.gather(*self._resetting, return_exceptions=True)
        idle, self._idle = self._idle, []
        for session in idle:
            session.prepared.clear()
            await session.conn.close(timeout=CONNECT_TIMEOUT_S)


async def _prepared(
    session: _Session, sql: str, caps: ResultCaps, left: Callable[[], float]
) -> tuple[asyncpg.prepared_stmt.PreparedStatement, list[tuple[str, str]]]:
    """The statement prepared on the session (see `_Session.prepare`), and its columns; where
    it has long text or binary columns, the wrapped statement that has PostgreSQL cut them
    itself (`cut_in_source`), so no cell longer than the cap crosses the wire."""
    statement = await session.prepare(sql, left())
    attributes = statement.get_attributes()
    columns = [(a.name, TYPE_NAMES.get(a.type.name, a.type.name)) for a in attributes]
    if caps.cell_bytes is not None:
        keep = caps.cell_bytes + 1  # characters, or bytes: more than the cap either way
        wrapped = cut_in_source(
            sql, [(a.name, a.type.name) for a in attributes], lambda c, t: _pg_cut(c, t, keep)
        )
        if wrapped is not None:
            statement = await session.prepare(wrapped, left())
    return statement, columns


def _pg_cut(column: str, source_type: str, keep: int) -> str | None:
    """What PostgreSQL sends of a cuttable column (`bpchar` is left whole: `left` would drop
    its padding, and its declared length bounds it)."""
    if source_type in ("text", "varchar"):
        return f"left({column}, {keep})"
    if source_type in ("json", "jsonb"):
        return f"left({column}::text, {keep})"
    if source_type == "bytea":
        return f"substring({column} from 1 for {keep})"
    return None


def _scrub(message: str, params: dict[str, Any]) -> str:
    for secret in (params.get("password"), urlparse(params.get("dsn", "")).password):
        if secret:
            message = message.replace(secret, "***")
    return message
