"""/api/v1/ai-agent/{projectId}: the data agent's chat (plain and streamed) and its threads."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from typing import Annotated, Any, Literal

from fastapi.responses import StreamingResponse
from pydantic import Field

from parley import erasure
from parley.agent import lc_messages, threads
from parley.agent.graph import AgentRequest, DataAgent, Listener, Turn
from parley.agent.state import AgentState
from parley.agent.user_memory import DEFAULT_USER_PEER
from parley.api.deps import Name, OwnProject, ReadDb, StateDep, WriteDb
from parley.api.errors import peaka_errors
from parley.api.peaka_v1 import responses as out
from parley.api.peaka_v1.routing import family_router
from parley.api.peaka_v1.schemas import Body
from parley.api.storable import Storable
from parley.auth.keys import Principal
from parley.data.projects import get_project
from parley.errors import ParleyError
from parley.ids import NAME_PATTERN
from parley.store.agent_models import AgentThread

log = logging.getLogger("parley.agent")
router = family_router(tags=["ai-agent"])
BASE = "/ai-agent/{project_id}"
PeerName = Annotated[str, Field(min_length=1, max_length=512, pattern=NAME_PATTERN)]
StreamMode = Literal["values", "updates", "messages", "debug"]


class AgentChatRequest(Body):
    message: Annotated[str, Field(min_length=1, max_length=10_000), Storable]
    threadId: PeerName | None = None
    noExecute: bool = False
    userId: PeerName | None = None  # Parley: the asking user (default: the key's own peer)


class AgentChatStreamRequest(AgentChatRequest):
    streamModes: list[StreamMode] = Field(
        default_factory=lambda: list[StreamMode](["messages"]), max_length=4
    )


class ThreadUpdate(Body):
    displayName: Annotated[str, Field(min_length=1, max_length=200), Storable]


def agent_request(project_id: str, body: AgentChatRequest, principal: Principal) -> AgentRequest:
    default_user = f"key-{principal.key_id}" if principal.key_id else DEFAULT_USER_PEER
    return AgentRequest(
        project_id=project_id,
        message=body.message,
        thread_id=body.threadId,
        no_execute=body.noExecute,
        user_id=body.userId,
        default_user=default_user,
    )


@router.post(BASE + "/chat", responses=peaka_errors(502), response_model=out.ChatAnswer)
async def chat(
    project_id: Name, body: AgentChatRequest, state: StateDep, principal: OwnProject
) -> dict[str, Any]:
    """One turn: `{"threadId", "result"}`, the result being the agent's state (Peaka's keys)."""
    request = agent_request(project_id, body, principal)
    result = await state.agent.run(request)
    return {"threadId": result.thread_id, "result": result.to_result()}


def _sse(event: str, data: dict[str, Any]) -> str:
    return f"event: {event}\ndata: {json.dumps(data, default=str)}\n\n"


async def _run_streamed(
    agent: DataAgent, request: AgentRequest, prepared: Turn, modes: set[str]
) -> AsyncIterator[str]:
    """Runs the agent and yields its events; errors before the first event are raised, so they
    become HTTP errors, later ones an `error` event."""
    queue: asyncio.Queue[str | None] = asyncio.Queue()
    streamed = False
    step = 0

    async def update(node: str, changes: dict[str, Any], state: AgentState) -> None:
        nonlocal step
        step += 1
        if node == "prepare":
            await queue.put(_sse("metadata", {"threadId": state.thread_id}))
        if "updates" in modes:
            await queue.put(_sse("updates", {node: changes}))
        if "values" in modes:
            await queue.put(_sse("values", state.to_result()))
        if "debug" in modes:
            event = {
                "type": "task_result",
                "step": step,
                "payload": {"name": node, "result": changes},
            }
            await queue.put(_sse("debug", event))

    async def token(piece: str) -> None:
        nonlocal streamed
        streamed = True
        if piece:
            await queue.put(_sse("messages", _chunk(piece)))

    async def work() -> None:
        try:
            result = await agent.run(
                request,
                Listener(update=update, token=token if "messages" in modes else None),
                prepared=prepared,
            )
            if "messages" in modes and not streamed and result.answer:
                await queue.put(_sse("messages", _chunk(result.answer)))
            await queue.put(
                _sse("end", {"threadId": result.thread_id, "result": result.to_result()})
            )
        except ParleyError as err:
            await queue.put(_sse("error", {"errorCode": err.error_code, "message": str(err)}))
        except Exception:  # noqa: BLE001 - the stream must end with an error event, not hang
            log.exception("agent stream failed")
            await queue.put(
                _sse("error", {"errorCode": "INTERNAL_ERROR", "message": "the agent failed"})
            )
        finally:
            await queue.put(None)

    task = asyncio.create_task(work())
    try:
        while True:
            item = await queue.get()
            if item is None:
                return
            yield item
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


def _chunk(piece: str) -> dict[str, Any]:
    return {
        "message": lc_messages.lc_message("AIMessageChunk", piece),
        "metadata": {"langgraph_node": "analyze"},
    }


@router.post(
    BASE + "/chat/stream",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}}},
)
async def chat_stream(
    project_id: Name, body: AgentChatStreamRequest, state: StateDep, principal: OwnProject
) -> StreamingResponse:
    """Server-sent events: `metadata` (the threadId) first, then per `streamModes`: `updates`
    (each step's changes), `values` (the whole state after each step), `messages` (pieces of
    the answer), `debug`; `end` with the final `{"threadId", "result"}`, or `error`."""
    request = agent_request(project_id, body, principal)
    prepared = await state.agent.check(request)  # a missing project or thread: an HTTP error
    events = _run_streamed(state.agent, request, prepared, set(body.streamModes))
    return StreamingResponse(
        events,
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


def _thread_out(thread: AgentThread) -> dict[str, Any]:
    return {
        "id": thread.id,
        "threadId": thread.id,
        "projectId": thread.project_id,
        "displayName": thread.display_name,
        "userId": thread.user_peer_id,
        "createdAt": thread.created_at.isoformat(),
        "updatedAt": thread.updated_at.isoformat(),
    }


@router.get(BASE + "/threads", response_model=out.Threads)
async def list_threads(project_id: Name, db: ReadDb, _: OwnProject) -> dict[str, Any]:
    await get_project(db=db, project_id=project_id)
    return {"threads": [_thread_out(t) for t in await threads.list_threads(db, project_id)]}


@router.get(BASE + "/threads/{thread_id}", response_model=out.ThreadDetail)
async def get_thread(
    project_id: Name, thread_id: Name, db: ReadDb, _: OwnProject
) -> dict[str, Any]:
    thread = await threads.get_thread(db, project_id, thread_id)
    turns = await threads.list_turns(db, project_id, thread_id)
    return {
        **_thread_out(thread),
        "messages": threads.thread_messages(turns),
        "turns": [
            {
                "question": t.question,
                "answer": t.answer,
                "createdAt": t.created_at.isoformat(),
                "result": t.state,
            }
            for t in turns
        ],
    }


@router.put(BASE + "/threads/{thread_id}", response_model=out.Thread)
async def rename_thread(
    project_id: Name, thread_id: Name, body: ThreadUpdate, db: WriteDb, _: OwnProject
) -> dict[str, Any]:
    return _thread_out(await threads.rename_thread(db, project_id, thread_id, body.displayName))


@router.delete(BASE + "/threads/{thread_id}", response_model=out.Thread)
async def delete_thread(
    project_id: Name, thread_id: Name, db: WriteDb, state: StateDep, _: OwnProject
) -> dict[str, Any]:
    """Deletes the thread, its turns, and its memory session: the messages and what the
    deriver learned from them, also where other threads' turns copied it."""
    thread = await erasure.delete_thread(
        db, reasoning=state.reasoning, project_id=project_id, thread_id=thread_id
    )
    return _thread_out(thread)
