"""Threads and turns in the database. A thread id is chosen by the client or generated; ids are
per project, so two projects may use the same one without seeing each other's."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from parley.errors import NotFound
from parley.store.agent_models import AgentThread, AgentTurn
from parley.store.models import utcnow

DISPLAY_NAME_CHARS = 200


def new_thread_id() -> str:
    return str(uuid.uuid4())


def display_name_for(question: str) -> str:
    name = " ".join(question.split())
    return name if len(name) <= DISPLAY_NAME_CHARS else name[: DISPLAY_NAME_CHARS - 1] + "…"


async def find_thread(db: AsyncSession, project_id: str, thread_id: str) -> AgentThread | None:
    return await db.get(AgentThread, (project_id, thread_id))


async def get_thread(db: AsyncSession, project_id: str, thread_id: str) -> AgentThread:
    thread = await find_thread(db, project_id, thread_id)
    if thread is None:
        raise NotFound(f"Thread {thread_id} not found")
    return thread


async def create_thread(
    db: AsyncSession, *, project_id: str, thread_id: str, user_peer_id: str, question: str
) -> AgentThread:
    thread = AgentThread(
        project_id=project_id,
        id=thread_id,
        user_peer_id=user_peer_id,
        display_name=display_name_for(question),
    )
    db.add(thread)
    await db.flush()
    return thread


async def list_threads(db: AsyncSession, project_id: str) -> list[AgentThread]:
    rows = await db.scalars(
        select(AgentThread)
        .where(AgentThread.project_id == project_id)
        .order_by(AgentThread.updated_at.desc(), AgentThread.id)
    )
    return list(rows)


async def list_turns(db: AsyncSession, project_id: str, thread_id: str) -> list[AgentTurn]:
    rows = await db.scalars(
        select(AgentTurn)
        .where(AgentTurn.project_id == project_id, AgentTurn.thread_id == thread_id)
        .order_by(AgentTurn.seq)
    )
    return list(rows)


def thread_messages(turns: list[AgentTurn]) -> list[dict[str, Any]]:
    """The thread's LangChain-style messages: each stored turn keeps only its own."""
    return [message for turn in turns for message in turn.state.get("messages", [])]


async def add_turn(
    db: AsyncSession, thread: AgentThread, *, question: str, answer: str, state: dict[str, Any]
) -> AgentTurn:
    if db.get_bind().dialect.name == "postgresql":  # turns of one thread are numbered one at a time
        await db.execute(
            select(AgentThread.id)
            .where(AgentThread.project_id == thread.project_id, AgentThread.id == thread.id)
            .with_for_update()
        )
    last = await db.scalar(
        select(func.max(AgentTurn.seq)).where(
            AgentTurn.project_id == thread.project_id, AgentTurn.thread_id == thread.id
        )
    )
    turn = AgentTurn(
        project_id=thread.project_id,
        thread_id=thread.id,
        seq=(last or 0) + 1,
        question=question,
        answer=answer,
        state=state,
    )
    db.add(turn)
    thread.updated_at = utcnow()
    await db.flush()
    return turn


async def rename_thread(
    db: AsyncSession, project_id: str, thread_id: str, display_name: str
) -> AgentThread:
    thread = await get_thread(db, project_id, thread_id)
    thread.display_name = display_name
    thread.updated_at = utcnow()
    await db.flush()
    return thread


async def delete_thread(db: AsyncSession, project_id: str, thread_id: str) -> AgentThread:
    thread = await get_thread(db, project_id, thread_id)
    await db.delete(thread)
    await db.flush()
    return thread
