"""Dreams: a consolidation pass over what one observer knows about one peer, on demand
(`trigger_dream`). None when the resolved `dream` configuration is off (the workspace's, and
the session's for a dream made for one), read when the dream runs, as in Honcho 3; no new card
when `peer_card.create` is off.

1. Merge the repeats that slipped past the write-time check (manual creates never merge, and
   two workers may write one fact at once): current observations of one scope (level, and
   session for explicit facts) that `fact_identity.relation` finds SAME. The oldest stays, its
   `times_derived` grows by the others', the others go (history they had points at the
   keeper). Changed facts are left to the write-time check: a dream supersedes nothing.
2. With a model: new deductions from the explicit facts, and a fresh peer card.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace

import numpy as np
from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from parley.llm.chat import ChatModel, UsageMeter
from parley.llm.embeddings import Embedder
from parley.llm.structured import complete_structured
from parley.memory import peer_cards, prompts
from parley.memory.configuration import ReasoningDefaults, resolve
from parley.memory.fact_identity import MERGE_DISTANCE, Relation, relation
from parley.memory.observation_index import MergeScope, ObservationIndex
from parley.memory.observations import NewObservation, merge_scope, store_observations
from parley.memory.reasoning import enqueue_card_rebuild
from parley.store.chunks import chunks
from parley.store.engine import Database
from parley.store.models import Observation, Peer, Session, Workspace
from parley.store.queue import Claim, Commit, no_writes

MAX_DREAM_OBSERVATIONS = 5000  # the newest; older ones were consolidated by earlier dreams
MAX_FACTS_FOR_MODEL = 200


def merge_plan(
    ids: list[str], contents: list[str], scopes: list[MergeScope], vectors: np.ndarray
) -> dict[str, list[str]]:
    """Keeper id -> ids merged into it. `ids` are oldest first; each row joins the nearest
    earlier keeper of its scope that states the same fact."""
    keepers: list[int] = []
    plan: dict[str, list[str]] = {}
    for index in range(len(ids)):
        keeper = None
        if keepers:
            distances = 1.0 - vectors[keepers] @ vectors[index]
            for j in np.argsort(distances, kind="stable"):
                if distances[j] > MERGE_DISTANCE:
                    break
                candidate = keepers[int(j)]
                if scopes[candidate] == scopes[index] and (
                    relation(contents[index], contents[candidate], float(distances[j]))
                    is Relation.SAME
                ):
                    keeper = candidate
                    break
        if keeper is None:
            keepers.append(index)
        else:
            plan.setdefault(ids[keeper], []).append(ids[index])
    return plan


class Dreamer:
    def __init__(
        self,
        database: Database,
        embedder: Embedder,
        model: ChatModel | None,
        *,
        observation_index: ObservationIndex,
        defaults: ReasoningDefaults,
        card_max_facts: int,
    ) -> None:
        self._observation_index = observation_index
        self._database = database
        self._embedder = embedder
        self._model = model
        self._defaults = defaults
        self._card_max_facts = card_max_facts

    async def __call__(self, claim: Claim, meter: UsageMeter) -> Commit:
        workspace_id = claim.workspace_id
        observer, observed = claim.items[0].payload["observer"], claim.items[0].payload["observed"]
        session_id = claim.items[0].session_id
        async with self._database.read() as db:
            workspace = await db.get(Workspace, workspace_id)
            session = await db.get(Session, (workspace_id, session_id)) if session_id else None
            config = resolve(
                self._defaults,
                workspace=workspace.configuration if workspace is not None else None,
                session=session.configuration if session is not None else None,
            )
            if not config.dream_enabled:
                return no_writes
            rows = (
                await db.execute(
                    select(
                        Observation.id,
                        Observation.content,
                        Observation.level,
                        Observation.session_id,
                        Observation.embedding,
                        Observation.times_derived,
                        Observation.message_ids,
                        Observation.premises,
                    )
                    .where(
                        Observation.workspace_id == workspace_id,
                        Observation.observer_id == observer,
                        Observation.observed_id == observed,
                        Observation.superseded_by.is_(None),
                    )
                    .order_by(Observation.created_at.desc(), Observation.id.desc())
                    .limit(MAX_DREAM_OBSERVATIONS)
                )
            ).all()[::-1]
            card = await peer_cards.get_card(db, workspace_id, observer, observed) or []
        if not rows:
            return no_writes
        vectors = np.vstack([r.embedding for r in rows]).astype(np.float32)
        # O(n^2) in the worst case: off the event loop
        scopes = [merge_scope(r.level, r.session_id) for r in rows]
        plan = await asyncio.to_thread(
            merge_plan, [r.id for r in rows], [r.content for r in rows], scopes, vectors
        )
        merged = {i for group in plan.values() for i in group}
        times = {r.id: r.times_derived for r in rows}
        survivors = [r for r in rows if r.id not in merged]
        deductions: list[NewObservation] = []
        new_card: list[str] | None = None
        explicit = [r for r in survivors if r.level == "explicit"][-MAX_FACTS_FOR_MODEL:]
        if self._model is not None and explicit:
            reply = await complete_structured(
                self._model,
                prompts.deduction_prompt(observed=observed, facts=[r.content for r in explicit]),
                prompts.Deductions,
                meter=meter,
            )
            cited = {r.content: list(r.message_ids or []) for r in explicit}
            deductions = [
                NewObservation(
                    content=d.content,
                    observer_id=observer,
                    observed_id=observed,
                    session_id=explicit[-1].session_id,
                    level="deductive",
                    premises=list(d.premises),
                    # the messages behind its premises, so deleting them finds it
                    message_ids=list(
                        dict.fromkeys(m for p in d.premises for m in cited.get(p, []))
                    ),
                )
                for d in reply.deductive
                if d.content
            ]
        if self._model is not None and explicit and config.peer_card_create:
            update_card = await complete_structured(
                self._model,
                prompts.card_prompt(
                    observed=observed,
                    card=card,
                    new_facts=[r.content for r in explicit],
                    max_facts=self._card_max_facts,
                ),
                prompts.CardUpdate,
                meter=meter,
            )
            new_card = peer_cards.bounded(card, update_card.card, self._card_max_facts)
        new_vectors = (
            await self._embedder.embed([d.content for d in deductions]) if deductions else None
        )

        by_id = {r.id: r for r in rows}

        async def commit(db: AsyncSession) -> None:
            peers = await db.scalars(
                select(Peer.id)
                .where(Peer.workspace_id == workspace_id, Peer.id.in_(sorted({observer, observed})))
                .with_for_update(key_share=True)
            )
            if len(peers.all()) != len({observer, observed}):
                return
            # what was deleted while the model thought stays deleted (memory/erase.py)
            used = sorted(set(plan) | merged | {r.id for r in explicit})
            present: set[str] = set()
            for part in chunks(used):
                present |= set(
                    await db.scalars(
                        select(Observation.id)
                        .where(Observation.id.in_(part))
                        .with_for_update(key_share=True)
                    )
                )
            for keeper, group in plan.items():
                members = [i for i in group if i in present]
                if keeper not in present or not members:
                    continue
                ids, grounds = by_id[keeper].message_ids or [], by_id[keeper].premises or []
                for i in members:
                    ids = [*ids, *(m for m in by_id[i].message_ids or [] if m not in ids)]
                    grounds = [*grounds, *(p for p in by_id[i].premises or [] if p not in grounds)]
                await db.execute(
                    update(Observation)
                    .where(Observation.id == keeper)
                    .values(
                        times_derived=Observation.times_derived + sum(times[i] for i in members),
                        message_ids=ids,
                        premises=grounds,
                    )
                )
                await db.execute(
                    update(Observation)
                    .where(Observation.superseded_by.in_(members))
                    .values(superseded_by=keeper)
                )
                await db.execute(delete(Observation).where(Observation.id.in_(members)))
            lost = {r.content for r in explicit if r.id not in present}
            kept = _without(deductions, new_vectors, lost)
            if kept:
                await store_observations(
                    db, workspace_id, kept[0], kept[1], self._observation_index
                )
            if new_card is not None and lost:
                # made from facts deleted since: a rebuild from what is left, instead
                await enqueue_card_rebuild(
                    db, workspace_id=workspace_id, observer_id=observer, observed_id=observed
                )
            elif new_card is not None:
                current = await peer_cards.get_card(db, workspace_id, observer, observed) or []
                merged_card = peer_cards.rebase(card, new_card, current, self._card_max_facts)
                await peer_cards.set_card(db, workspace_id, observer, observed, merged_card)

        return commit


def _without(
    deductions: list[NewObservation], vectors: np.ndarray | None, lost: set[str]
) -> tuple[list[NewObservation], np.ndarray] | None:
    """The deductions without the premises that were deleted meanwhile; one whose premises
    all went is dropped. None when nothing is left to store."""
    if not deductions or vectors is None:
        return None
    kept, rows = [], []
    for position, deduction in enumerate(deductions):
        premises = [p for p in deduction.premises if p not in lost]
        if deduction.premises and not premises:
            continue
        kept.append(replace(deduction, premises=premises))
        rows.append(position)
    if not kept:
        return None
    return kept, vectors[rows]
