"""The memory join: each agent thread is a memory session between the asking user and the agent
peer. The user's questions and the agent's answers are stored there, so the deriver learns what
the user asks about; before answering, the agent reads what memory holds about the user (their
peer card and the observations nearest to the question).

A workspace turns this off with `configuration.agent.memory = false` (PUT /v2/workspaces/{id}).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from parley.agent.redaction import ANSWER, CARD, MESSAGE, OBSERVATION, QUESTION, Source
from parley.memory import peer_cards
from parley.memory.configuration import ReasoningDefaults
from parley.memory.erase import card_ref
from parley.memory.messages import NewMessage, create_messages
from parley.memory.observation_index import ObservationIndex
from parley.memory.representation import RepresentationRequest, select_observations
from parley.memory.sessions import PeerConfig, get_or_create_session
from parley.store.models import Peer, Workspace

AGENT_PEER = "data-agent"
DEFAULT_USER_PEER = "user"
MEMORY_FACTS = 12


@dataclass(frozen=True)
class Recalled:
    """An observation recalled about the user, with what it was derived from."""

    id: str
    content: str
    message_ids: tuple[str, ...] = ()


@dataclass(frozen=True)
class UserMemory:
    user: str
    card: list[str]
    facts: list[Recalled]

    def lines(self) -> list[str]:
        return [*self.card, *(f.content for f in self.facts if f.content not in self.card)]

    def sources(self, *, derived: bool) -> list[Source]:
        """Where each line came from, for the turn's record (agent/redaction.py): the card,
        or the observation and the messages behind it. `derived`: the model saw them."""
        card = card_ref(self.user, self.user)
        found = [Source(CARD, card, line, derived) for line in self.card]
        for fact in self.facts:
            if fact.content in self.card:
                continue  # shown as the card's line
            found.append(Source(OBSERVATION, fact.id, fact.content, derived))
            found += [Source(MESSAGE, m, fact.content, derived) for m in fact.message_ids]
        return found


def memory_enabled(workspace: Workspace) -> bool:
    section = (workspace.configuration or {}).get("agent")
    if isinstance(section, dict) and isinstance(section.get("memory"), bool):
        return section["memory"]
    return True


async def recall(
    db: AsyncSession,
    *,
    observation_index: ObservationIndex,
    workspace_id: str,
    user_peer: str,
    vector: np.ndarray | None,
) -> UserMemory:
    """What memory holds about the user (their own, global view), nearest to the question."""
    exists = await db.scalar(
        select(Peer.id).where(Peer.workspace_id == workspace_id, Peer.id == user_peer)
    )
    if exists is None:
        return UserMemory(user=user_peer, card=[], facts=[])
    card = await peer_cards.get_card(db, workspace_id, user_peer, user_peer) or []
    representation = await select_observations(
        db,
        observation_index=observation_index,
        workspace_id=workspace_id,
        request=RepresentationRequest(
            observer=user_peer,
            observed=user_peer,
            include_most_derived=True,
            max_observations=MEMORY_FACTS,
        ),
        vector=vector,
        message_seqs=False,  # the facts keep their message ids, not seqs
    )
    facts = [
        Recalled(o.id, o.content, tuple(o.message_ids or ()))
        for o in representation.ranked[:MEMORY_FACTS]
    ]
    return UserMemory(user=user_peer, card=list(card), facts=facts)


async def remember_turn(
    db: AsyncSession,
    *,
    workspace_id: str,
    thread_id: str,
    user_peer: str,
    question: str,
    answer: str,
    reasoning: ReasoningDefaults,
) -> list[Source]:
    """Store the turn in the thread's session; the deriver learns about the user, not the agent.
    Returns the messages as the turn's sources (its question and answer are copies of them)."""
    await get_or_create_session(
        db=db,
        workspace_id=workspace_id,
        session_id=thread_id,
        peers={user_peer: PeerConfig(), AGENT_PEER: PeerConfig(observe_me=False)},
    )
    turn = [NewMessage(content=question, peer_id=user_peer)]
    if answer:
        turn.append(NewMessage(content=answer, peer_id=AGENT_PEER))
    stored = await create_messages(
        db=db,
        workspace_id=workspace_id,
        session_id=thread_id,
        messages=turn,
        reasoning=reasoning,
    )
    kinds = [QUESTION, ANSWER]
    return [
        Source(kind, m.id, derived=kind == ANSWER) for kind, m in zip(kinds, stored, strict=False)
    ]
