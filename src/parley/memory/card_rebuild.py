"""Peer cards rebuilt after a delete: a card is text a model made from facts, so when a delete
takes some of them (memory/erase.py) the card is taken down and this task writes it again
from the pair's explicit observations that remain. Without a model nothing is written."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from parley.llm.chat import ChatModel, UsageMeter
from parley.llm.structured import complete_structured
from parley.memory import peer_cards, prompts
from parley.memory.reasoning import enqueue_card_rebuild
from parley.store.chunks import chunks
from parley.store.engine import Database
from parley.store.models import Observation, Peer
from parley.store.queue import Claim, Commit, no_writes

MAX_FACTS_FOR_MODEL = 200  # the newest explicit facts of the pair


class CardRebuilder:
    def __init__(self, database: Database, model: ChatModel | None, *, card_max_facts: int):
        self._database = database
        self._model = model
        self._card_max_facts = card_max_facts

    async def __call__(self, claim: Claim, meter: UsageMeter) -> Commit:
        if self._model is None:
            return no_writes
        workspace_id = claim.workspace_id
        observer = claim.items[0].payload["observer"]
        observed = claim.items[0].payload["observed"]
        async with self._database.read() as db:
            rows = (
                await db.execute(
                    select(Observation.id, Observation.content)
                    .where(
                        Observation.workspace_id == workspace_id,
                        Observation.observer_id == observer,
                        Observation.observed_id == observed,
                        Observation.level == "explicit",
                    )
                    .order_by(Observation.created_at.desc(), Observation.id.desc())
                    .limit(MAX_FACTS_FOR_MODEL)
                )
            ).all()[::-1]
            read = await peer_cards.get_card(db, workspace_id, observer, observed) or []
        if not rows:
            return no_writes
        reply = await complete_structured(
            self._model,
            prompts.card_prompt(
                observed=observed,
                card=[],
                new_facts=[r.content for r in rows],
                max_facts=self._card_max_facts,
            ),
            prompts.CardUpdate,
            meter=meter,
        )
        card = peer_cards.bounded([], reply.card, self._card_max_facts)
        used = [r.id for r in rows]

        async def commit(db: AsyncSession) -> None:
            peers = await db.scalars(
                select(Peer.id)
                .where(Peer.workspace_id == workspace_id, Peer.id.in_(sorted({observer, observed})))
                .with_for_update(key_share=True)
            )
            if len(peers.all()) != len({observer, observed}):
                return
            present = 0
            for part in chunks(used):
                found = await db.scalars(
                    select(Observation.id)
                    .where(Observation.id.in_(part))
                    .with_for_update(key_share=True)
                )
                present += len(found.all())
            if present != len(used):  # a fact it was made from went meanwhile: again
                await enqueue_card_rebuild(
                    db, workspace_id=workspace_id, observer_id=observer, observed_id=observed
                )
                return
            current = await peer_cards.get_card(db, workspace_id, observer, observed) or []
            merged = peer_cards.rebase(read, card, current, self._card_max_facts)
            await peer_cards.set_card(db, workspace_id, observer, observed, merged)

        return commit
