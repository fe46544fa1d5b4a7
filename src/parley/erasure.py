"""Every delete that takes content goes through here, so that no copy of it survives.

Each function deletes its resource with what was derived from it (`memory/erase.py` for the
memory domain; the data domain's rows cascade), then takes the copies out of the data
agent's stored turns (`agent/redaction.py`), in the same transaction. A turn redacted that
way also loses its answer's copy in the thread's memory session, which is a message delete
of its own; that repeats until nothing more goes.

The routes that delete content call these and nothing else; a test walks every DELETE route
of the app to keep it so.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from parley.agent import redaction, threads
from parley.data import catalog as catalogs
from parley.data import metadata
from parley.data.connections import DataServices
from parley.data.connections import delete_connection as remove_connection
from parley.errors import NotFound
from parley.memory import erase, peer_cards
from parley.memory.configuration import ReasoningDefaults
from parley.memory.erase import Erased
from parley.memory.peers import ensure_peers, get_peer
from parley.store.agent_models import AgentThread
from parley.store.data_models import DataCatalog, GoldenSql
from parley.store.models import Session


async def delete_message(
    db: AsyncSession,
    *,
    reasoning: ReasoningDefaults,
    workspace_id: str,
    session_id: str,
    message_id: str,
) -> None:
    erased = await erase.erase_message(
        db,
        workspace_id=workspace_id,
        session_id=session_id,
        message_id=message_id,
        reasoning=reasoning,
    )
    await _settle(db, workspace_id, erased, reasoning)


async def delete_peer(
    db: AsyncSession, *, reasoning: ReasoningDefaults, workspace_id: str, peer_id: str
) -> None:
    """The peer, and the data agent threads it asked in (their memory sessions too: the
    agent's answers there are copies of the turns)."""
    await get_peer(db=db, workspace_id=workspace_id, peer_id=peer_id)
    own_threads = list(
        await db.scalars(
            select(AgentThread.id).where(
                AgentThread.project_id == workspace_id, AgentThread.user_peer_id == peer_id
            )
        )
    )
    erased = await erase.erase_peer(
        db,
        workspace_id=workspace_id,
        peer_id=peer_id,
        reasoning=reasoning,
        with_sessions=own_threads,
    )
    await _settle(db, workspace_id, erased, reasoning)


async def delete_session(
    db: AsyncSession, *, reasoning: ReasoningDefaults, workspace_id: str, session_id: str
) -> None:
    """The session, and the data agent thread it is the memory of, if any."""
    erased = await erase.erase_session(
        db, workspace_id=workspace_id, session_id=session_id, reasoning=reasoning
    )
    await _settle(db, workspace_id, erased, reasoning)


async def delete_observation(
    db: AsyncSession, *, reasoning: ReasoningDefaults, workspace_id: str, observation_id: str
) -> None:
    erased = await erase.erase_observation(
        db, workspace_id=workspace_id, observation_id=observation_id, reasoning=reasoning
    )
    await _settle(db, workspace_id, erased, reasoning)


async def replace_card(
    db: AsyncSession,
    *,
    reasoning: ReasoningDefaults,
    workspace_id: str,
    observer_id: str,
    observed_id: str,
    facts: list[str],
) -> None:
    """Set a peer card by hand: the facts it no longer holds are deleted facts, taken out of
    the turns that showed them."""
    await get_peer(db=db, workspace_id=workspace_id, peer_id=observer_id)
    # as in Honcho, the target need not exist (it is created here: a card is about a peer)
    await ensure_peers(db=db, workspace_id=workspace_id, peer_ids=[observed_id])
    before = await peer_cards.get_card(db, workspace_id, observer_id, observed_id) or []
    await peer_cards.set_card(db, workspace_id, observer_id, observed_id, facts)
    removed = set(before) - set(facts)
    if removed:
        ref = erase.card_ref(observer_id, observed_id)
        await _forget(db, workspace_id, redaction.Gone(cards={ref: removed}), reasoning)


async def delete_thread(
    db: AsyncSession, *, reasoning: ReasoningDefaults, project_id: str, thread_id: str
) -> AgentThread:
    """The thread, its turns, and its memory session: the messages and what the deriver
    learned from them, wherever other turns copied it."""
    thread = await threads.delete_thread(db, project_id, thread_id)
    erased = Erased()
    if await db.get(Session, (project_id, thread_id)) is not None:
        erased = await erase.erase_session(
            db, workspace_id=project_id, session_id=thread_id, reasoning=reasoning
        )
    await _settle(db, project_id, erased, reasoning)
    return thread


async def delete_golden_sql(
    db: AsyncSession, *, reasoning: ReasoningDefaults, project_id: str, golden_id: str
) -> GoldenSql:
    """The deleted golden SQL, as it was."""
    row = await metadata.delete_golden_sql(db=db, project_id=project_id, golden_id=golden_id)
    gone = redaction.Gone(refs={redaction.GOLDEN: {golden_id}})
    await _forget(db, project_id, gone, reasoning)
    return row


async def delete_catalog(
    db: AsyncSession, *, reasoning: ReasoningDefaults, project_id: str, catalog_id: str
) -> None:
    await catalogs.delete_catalog(db=db, project_id=project_id, catalog_id=catalog_id)
    gone = redaction.Gone(refs={redaction.CATALOG: {catalog_id}})
    await _forget(db, project_id, gone, reasoning)


async def delete_connection(
    services: DataServices,
    db: AsyncSession,
    *,
    reasoning: ReasoningDefaults,
    project_id: str,
    connection_id: str,
) -> None:
    """The connection and its catalogs (their rows cascade)."""
    catalog_ids = set(
        await db.scalars(
            select(DataCatalog.id).where(
                DataCatalog.project_id == project_id, DataCatalog.connection_id == connection_id
            )
        )
    )
    await remove_connection(services, db=db, project_id=project_id, connection_id=connection_id)
    gone = redaction.Gone(refs={redaction.CATALOG: catalog_ids})
    await _forget(db, project_id, gone, reasoning)


# --- the copies ---------------------------------------------------------------------------


def _gone(erased: Erased) -> redaction.Gone:
    return redaction.Gone(
        refs={
            redaction.QUESTION: set(erased.messages),
            redaction.ANSWER: set(erased.messages),
            redaction.MESSAGE: set(erased.messages),
            redaction.OBSERVATION: set(erased.observations),
        },
        cards=dict(erased.cards),
        threads=set(erased.sessions),
        users=set(erased.peers),
    )


async def _settle(
    db: AsyncSession, workspace_id: str, erased: Erased, reasoning: ReasoningDefaults
) -> None:
    await _forget(db, workspace_id, _gone(erased), reasoning)


async def _forget(
    db: AsyncSession,
    project_id: str,
    gone: redaction.Gone,
    reasoning: ReasoningDefaults,
) -> None:
    """Redact the turns that copied what went; the answers of redacted turns are copies in
    memory sessions, deleted in turn (with what was derived from them), until none is left."""
    while gone:
        copies = await redaction.forget(db, project_id, gone)
        more = Erased()
        for session_id, message_id in sorted(copies):
            try:
                more.add(
                    await erase.erase_message(
                        db,
                        workspace_id=project_id,
                        session_id=session_id,
                        message_id=message_id,
                        reasoning=reasoning,
                    )
                )
            except NotFound:  # went with this delete already
                continue
        gone = _gone(more)
