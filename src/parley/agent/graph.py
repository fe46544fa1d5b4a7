"""The data agent: one turn of a thread, as Peaka's agent graph runs it.

    prepare -> retrieve -> generate -> check -> execute -> analyze -> save
                              ^          |         |
                              +- repair -+---------+   (at most MAX_TRIES statements)

- prepare: the thread (new or existing) and its history; who is asking.
- retrieve: the schema context (tables, known values, golden SQLs) and, when the memory join is
  on, what memory holds about the user.
- generate: the model classifies the question (text-to-SQL, schema discovery, unclear) and
  writes the SQL. A message that is itself SQL skips the model.
- check: the SQL guard, then a dry run (EXPLAIN) on the source. `noExecute` stops here.
- execute: read-only, capped, with a timeout. An error in check or execute goes back to the
  model with the error (repair), at most MAX_TRIES statements in all.
- analyze: the model explains the result in a few sentences (streamed when asked).
- save: the turn is stored in the thread, with what it copied (its sources, see
  `agent/redaction.py`); with the memory join, the question and the answer go into the
  thread's memory session, where the deriver learns about the user. Anything it copied that
  was deleted meanwhile is taken out first.

Without a model: schema questions are answered from the catalog, SQL is guarded and run, and
anything else is told that a model is needed.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from parley.agent import discovery, redaction, threads, user_memory
from parley.agent.prompts import (
    PastTurn,
    Plan,
    SqlFix,
    analyze_prompt,
    fix_prompt,
    plan_prompt,
    result_table,
)
from parley.agent.schema_context import SchemaContext, build_context
from parley.agent.state import AgentState, Attempt, Intent, QueryOutcome
from parley.agent.value_index import ValueIndexCache
from parley.data.connections import DataServices, open_connector
from parley.data.connectors.base import QueryFailed, QueryTimeout
from parley.data.execute import (
    ResultTooLarge,
    check_sql,
    effective_limits,
    explain_guarded,
    run_checked,
)
from parley.data.projects import get_project
from parley.data.sql_guard import QueryRejected
from parley.errors import InvalidInput, NotFound, UpstreamFailed
from parley.llm.chat import ChatModel, ModelError, UsageMeter
from parley.llm.structured import complete_structured
from parley.memory.configuration import ReasoningDefaults
from parley.memory.observation_index import ObservationIndex
from parley.memory.usage import record_usage
from parley.memory.workspaces import get_workspace

MAX_TRIES = 3
STATE_ROWS = 1000  # rows kept in the returned state; the query itself may return more
CELL_BYTES = 4096  # the longest cell the agent keeps whole (its prompt shows 80 characters)
STORED_ROWS = 100  # rows kept with the turn in the thread
NO_EXECUTE_ANSWER = "Here is the query (checked, not run):"

Update = Callable[[str, dict[str, Any], AgentState], Awaitable[None]]
Token = Callable[[str], Awaitable[None]]


@dataclass(frozen=True)
class AgentRequest:
    project_id: str
    message: str
    thread_id: str | None = None
    no_execute: bool = False
    user_id: str | None = None  # the asking user, when the caller names one
    default_user: str = user_memory.DEFAULT_USER_PEER  # else: the thread's user, or this


@dataclass
class Listener:
    """Where a streaming caller hears about progress: node updates and answer pieces."""

    update: Update | None = None
    token: Token | None = None


@dataclass
class Turn:
    request: AgentRequest
    user_peer: str
    thread_id: str
    new_thread: bool
    memory_on: bool
    history: list[PastTurn]
    state: AgentState
    meter: UsageMeter
    context: SchemaContext | None = None
    memory: user_memory.UserMemory | None = None
    queried: set[str] = field(default_factory=set)  # the catalogs its statements were run on
    clock: float = field(default_factory=time.perf_counter)  # when the last step ended


def _stored(result: dict[str, Any]) -> dict[str, Any]:
    """A turn's state as kept in its thread: the result's first STORED_ROWS rows."""
    query = result.get("currentQueryResult")
    if query and len(query["rows"]) > STORED_ROWS:
        result["currentQueryResult"] = {**query, "rows": query["rows"][:STORED_ROWS]}
    return result


class DataAgent:
    def __init__(
        self,
        services: DataServices,
        *,
        observation_index: ObservationIndex,
        model: ChatModel | None,
        reasoning: ReasoningDefaults,
        memory_written: Callable[[], None] = lambda: None,
    ) -> None:
        """`memory_written` is called once a turn stored in memory is committed (the app
        wakes the embedding indexer and the worker with it, as the message routes do)."""
        self._services = services
        self._observation_index = observation_index
        self._model = model
        self._reasoning = reasoning
        self._memory_written = memory_written
        self._values = ValueIndexCache(services)

    @property
    def has_model(self) -> bool:
        return self._model is not None

    async def check(self, request: AgentRequest) -> Turn:
        """Raises what `run` would raise before its first step (unknown project, thread);
        `run(request, prepared=...)` goes on from what it returns."""
        return await self._prepare(request)

    async def run(
        self,
        request: AgentRequest,
        listener: Listener | None = None,
        *,
        prepared: Turn | None = None,
    ) -> AgentState:
        listener = listener or Listener()
        turn = prepared or await self._prepare(request)
        try:
            await self._notify(listener, "prepare", turn, {"threadId": turn.thread_id})
            await self._retrieve(turn, listener)
            if discovery.looks_like_sql(request.message):
                turn.state.intent = Intent.TEXT_TO_SQL
                turn.state.reasoning = "The message is a SQL query; it is checked and run as sent."
                await self._answer_sql(turn, listener, request.message)
            elif self._model is None:
                await self._without_model(turn, listener)
            else:
                await self._with_model(turn, listener)
            await self._save(turn)
            await self._notify(listener, "save", turn, {"messages": turn.state.messages()})
            return turn.state
        finally:
            await self._record_usage(request.project_id, turn.meter)

    # --- nodes ----------------------------------------------------------------------------

    async def _prepare(self, request: AgentRequest) -> Turn:
        started = time.perf_counter()  # the prepare step's time counts from here
        async with self._services.database.read() as db:
            await get_project(db=db, project_id=request.project_id)
            workspace = await get_workspace(db=db, workspace_id=request.project_id)
            memory_on = user_memory.memory_enabled(workspace)
            thread = None
            if request.thread_id is not None:
                thread = await threads.find_thread(db, request.project_id, request.thread_id)
            past = []
            if thread is not None:
                if request.user_id is not None and thread.user_peer_id != request.user_id:
                    raise NotFound(f"Thread {request.thread_id} not found")  # another user's
                past = await threads.list_turns(db, request.project_id, thread.id)
        user = request.user_id or (thread.user_peer_id if thread else request.default_user)
        if user == user_memory.AGENT_PEER:
            raise InvalidInput(f"userId {user} is the agent's own peer id")
        history = [
            PastTurn(t.question, t.state.get("currentGeneratedQuery"), t.answer) for t in past
        ]
        thread_id = request.thread_id or threads.new_thread_id()
        state = AgentState(
            project_id=request.project_id,
            thread_id=thread_id,
            question=request.message,
            no_execute=request.no_execute,
            user_id=user,
            history=threads.thread_messages(past),
        )
        return Turn(
            request=request,
            user_peer=user,
            thread_id=thread_id,
            new_thread=thread is None,
            memory_on=memory_on,
            history=history,
            state=state,
            meter=UsageMeter(),
            clock=started,
        )

    async def _retrieve(self, turn: Turn, listener: Listener) -> None:
        request = turn.request
        question = self._retrieval_text(turn)
        vector = (await self._services.embedder.embed([question]))[0]
        context = await build_context(
            self._services,
            self._values,
            project_id=request.project_id,
            question=question,
            vector=vector,
        )
        turn.context = context
        state = turn.state
        state.table_names = context.table_names()
        state.metadata = context.metadata()
        state.catalogs = context.catalog_list()
        state.gold_sqls = context.golden
        state.value_matches = [m.to_json() for m in context.values]
        if turn.memory_on:
            async with self._services.database.read() as db:
                memory = await user_memory.recall(
                    db,
                    observation_index=self._observation_index,
                    workspace_id=request.project_id,
                    user_peer=turn.user_peer,
                    vector=vector,
                )
            turn.memory = memory
            state.user_memory = memory.lines()
        await self._notify(
            listener,
            "retrieve",
            turn,
            {
                "tableNames": state.table_names,
                "metadata": state.metadata,
                "catalogs": state.catalogs,
                "goldSQLs": state.gold_sqls,
            },
        )

    def _retrieval_text(self, turn: Turn) -> str:
        """A follow-up ("now only 2024") is searched with the question it follows."""
        if turn.history and len(turn.request.message.split()) < 8:
            return f"{turn.history[-1].question} {turn.request.message}"
        return turn.request.message

    async def _without_model(self, turn: Turn, listener: Listener) -> None:
        state = turn.state
        assert turn.context is not None
        if discovery.asks_about_schema(turn.request.message):
            state.intent = Intent.DB_SCHEMA_DISCOVERY
            state.reasoning = "The question asks about the schema; answered from the catalog."
            state.answer = discovery.describe_schema(turn.context, turn.request.message)
        else:
            state.intent = Intent.WAITING_FOR_INPUT
            state.reasoning = "No language model is configured."
            state.answer = discovery.MODEL_NEEDED
        await self._notify(listener, "generate", turn, self._intent_update(state))

    async def _with_model(self, turn: Turn, listener: Listener) -> None:
        assert self._model is not None and turn.context is not None
        state = turn.state
        plan = await self._structured(
            plan_prompt(
                question=turn.request.message,
                context=turn.context,
                history=turn.history,
                memory=state.user_memory,
                today=datetime.now(UTC).date(),
            ),
            Plan,
            turn,
        )
        state.intent = Intent(plan.intent)
        state.reasoning = plan.reasoning
        state.sample_questions = [q for q in plan.follow_up_questions if q.strip()][:3]
        sql = (plan.sql or "").strip()
        if state.intent is Intent.TEXT_TO_SQL and not sql:
            state.intent = Intent.USER_INTENT_NOT_CLEAR
        if state.intent is Intent.DB_SCHEMA_DISCOVERY:
            state.answer = (plan.answer or "").strip() or discovery.describe_schema(
                turn.context, turn.request.message
            )
        elif state.intent is Intent.USER_INTENT_NOT_CLEAR:
            state.answer = (plan.answer or "").strip() or (
                "Could you say more precisely what you want to know, and about which data?"
            )
        await self._notify(
            listener, "generate", turn, {**self._intent_update(state), "currentGeneratedQuery": sql}
        )
        if state.intent is Intent.TEXT_TO_SQL:
            await self._answer_sql(turn, listener, sql)

    async def _answer_sql(self, turn: Turn, listener: Listener, sql: str) -> None:
        """check -> execute, repairing on error, then analyze."""
        state = turn.state
        assert turn.context is not None
        for attempt in range(1, MAX_TRIES + 1):
            error = await self._check_and_execute(turn, listener, sql)
            if error is None:
                break
            state.attempts.append(Attempt(sql=sql, error=error))
            if self._model is None or attempt == MAX_TRIES or not self._repairable(sql):
                state.query_error = error
                state.invalid_query = True
                state.result = None
                state.answer = f"I could not run a query for this: {error}"
                return
            fix = await self._structured(
                fix_prompt(
                    question=turn.request.message,
                    context=turn.context,
                    history=turn.history,
                    sql=sql,
                    error=error,
                ),
                SqlFix,
                turn,
            )
            sql = fix.sql.strip()
            state.reasoning = fix.reasoning
            await self._notify(listener, "repair", turn, {"currentGeneratedQuery": sql})
        state.attempts.append(Attempt(sql=state.sql or sql))
        state.query_error = None
        state.invalid_query = False
        if state.no_execute:
            state.answer = f"{NO_EXECUTE_ANSWER}\n\n{state.sql}"
            return
        await self._analyze(turn, listener)

    @staticmethod
    def _repairable(sql: str) -> bool:
        return bool(sql.strip())

    async def _check_and_execute(self, turn: Turn, listener: Listener, sql: str) -> str | None:
        """None when the statement passed (and ran, unless noExecute); else the error."""
        state = turn.state
        assert turn.context is not None
        services = self._services
        caps, timeout = effective_limits(
            services,
            limit=None,
            timeout_s=None,
            max_bytes=services.agent_result_max_bytes,
            max_cell_bytes=CELL_BYTES,
        )
        cap = caps.rows
        try:
            catalog, guarded = await check_sql(services, sql, turn.context.catalogs, row_cap=cap)
            turn.queried.add(catalog.catalog.id)
            connector = await open_connector(services, catalog.connection)
            await explain_guarded(connector, guarded, timeout_s=timeout)
        except (QueryRejected, QueryFailed, QueryTimeout, InvalidInput) as err:
            state.sql = sql
            await self._notify(listener, "check", turn, {"currentQueryError": str(err)})
            return str(err)
        state.sql = guarded.sql
        await self._notify(listener, "check", turn, {"currentGeneratedQuery": guarded.sql})
        if state.no_execute:
            return None
        try:
            result, hit = await run_checked(
                services,
                project_id=turn.request.project_id,
                catalog=catalog,
                guarded=guarded,
                timeout_s=timeout,
                caps=caps,
                connector=connector,
            )
        except (QueryFailed, QueryTimeout, ResultTooLarge) as err:
            await self._notify(listener, "execute", turn, {"currentQueryError": str(err)})
            return str(err)
        rows = result.rows  # JSON values, within PARLEY_AGENT_RESULT_MAX_BYTES
        state.result = QueryOutcome(
            columns=[{"name": n, "type": t} for n, t in result.columns],
            rows=rows[:STATE_ROWS],
            row_count=len(rows),
            truncated=result.truncated
            or len(rows) > STATE_ROWS
            or (len(rows) >= cap and guarded.row_cap == cap),
        )
        executed: dict[str, Any] = {"currentQueryResult": state.result.to_json()}
        if hit is not None:  # beyond Peaka's shape: the cached copies that answered
            executed["cache"] = hit.to_json()
        await self._notify(listener, "execute", turn, executed)
        return None

    async def _analyze(self, turn: Turn, listener: Listener) -> None:
        state = turn.state
        assert state.result is not None and state.sql is not None
        columns = [c["name"] for c in state.result.columns]
        if self._model is None:
            count = state.result.row_count
            noun = "row" if count == 1 else "rows"
            more = " (the first ones are shown)" if count > 10 else ""
            table = result_table(columns, state.result.rows, limit=10)
            plus = "+" if state.result.truncated else ""
            state.answer = f"The query returned {count}{plus} {noun}{more}.\n\n{table}"
            await self._notify(listener, "analyze", turn, {"messages": state.messages()})
            return
        prompt = analyze_prompt(
            question=turn.request.message,
            sql=state.sql,
            columns=columns,
            rows=state.result.rows,
            row_count=state.result.row_count,
            truncated=state.result.truncated,
            memory=state.user_memory,
        )
        try:
            if listener.token is None:
                reply = await self._model.complete(prompt, meter=turn.meter, max_tokens=512)
                state.answer = reply.text.strip()
            else:
                pieces = []
                async for piece in self._model.stream(prompt, meter=turn.meter, max_tokens=512):
                    pieces.append(piece)
                    await listener.token(piece)
                state.answer = "".join(pieces).strip()
        except ModelError as err:
            raise UpstreamFailed(f"the agent model failed: {err}") from err
        await self._notify(listener, "analyze", turn, {"messages": state.messages()})

    async def _save(self, turn: Turn) -> None:
        request = turn.request
        state = turn.state
        sources = self._sources(turn)
        async with self._services.database.write() as db:
            gone = await redaction.missing(db, request.project_id, sources)
            answer, result = state.answer, _stored(state.to_result(with_history=False))
            if gone:  # deleted while the agent worked: not brought back
                redacted = redaction.redact(request.message, answer, result, gone)
                answer, result = redacted.answer, redacted.state
                sources = [s for s in sources if s not in gone]
            thread = await threads.find_thread(db, request.project_id, turn.thread_id)
            if thread is None:
                thread = await threads.create_thread(
                    db,
                    project_id=request.project_id,
                    thread_id=turn.thread_id,
                    user_peer_id=turn.user_peer,
                    question=request.message,
                )
            stored = await threads.add_turn(
                db, thread, question=request.message, answer=answer, state=result
            )
            if turn.memory_on:
                sources += await user_memory.remember_turn(
                    db,
                    workspace_id=request.project_id,
                    thread_id=turn.thread_id,
                    user_peer=turn.user_peer,
                    question=request.message,
                    answer=answer if answer != redaction.REDACTED else "",
                    reasoning=self._reasoning,
                )
            await redaction.record(db, stored, sources)
        if turn.memory_on:
            self._memory_written()

    def _sources(self, turn: Turn) -> list[redaction.Source]:
        """What the turn's stored state copies. With a model, everything it made was made
        from the memory and golden SQLs it was shown; catalogs whose tables it was shown or
        ran a statement on fed what it made, with or without a model."""
        context = turn.context
        assert context is not None
        model_saw = self._model is not None
        sources = turn.memory.sources(derived=model_saw) if turn.memory else []
        for golden_id, example in zip(context.golden_ids, context.golden, strict=True):
            entry = redaction.golden_entry(example["question"], example["sql"])
            sources.append(redaction.Source(redaction.GOLDEN, golden_id, entry, model_saw))
        fed = {view.catalog.id for view in context.tables} | turn.queried
        for catalog in context.catalogs:
            ref = catalog.catalog
            sources.append(redaction.Source(redaction.CATALOG, ref.id, ref.name, ref.id in fed))
        return sources

    # --- helpers --------------------------------------------------------------------------

    async def _structured(self, prompt: Any, schema: type[Any], turn: Turn) -> Any:
        assert self._model is not None
        try:
            return await complete_structured(self._model, prompt, schema, meter=turn.meter)
        except ModelError as err:
            raise UpstreamFailed(f"the agent model failed: {err}") from err

    @staticmethod
    def _intent_update(state: AgentState) -> dict[str, Any]:
        return {
            "userIntentReasoning": state.intent.value if state.intent else None,
            "currentQueryReasoning": state.reasoning,
        }

    @staticmethod
    async def _notify(listener: Listener, node: str, turn: Turn, changes: dict[str, Any]) -> None:
        now = time.perf_counter()
        timings = turn.state.timings_ms
        timings[node] = round(timings.get(node, 0.0) + (now - turn.clock) * 1000, 1)
        turn.clock = now
        if listener.update is not None:
            await listener.update(node, changes, turn.state)

    async def _record_usage(self, project_id: str, meter: UsageMeter) -> None:
        if meter.calls:
            await asyncio.shield(self._write_usage(project_id, meter))

    async def _write_usage(self, project_id: str, meter: UsageMeter) -> None:
        async with self._services.database.write() as db:
            await record_usage(db, project_id, meter)
