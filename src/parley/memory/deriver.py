"""The deriver: turns a batch of one sender's messages into observations about the sender, for
every observer the queue items name, and keeps the observers' peer cards current.

With a model: one structured call extracts explicit facts (dated, atomic, third person) and
deductions with premises; one call per observer whose card should be created updates its peer
card. Without a model: each sentence the sender wrote becomes a dated explicit observation,
word for word; sentences that only repeat another speaker are skipped; no deductions, no cards.

Model calls and embeddings happen before any write; the returned `commit` writes everything in
the transaction that marks the queue items done.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from sentencex import segment
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from parley.llm.chat import ChatModel, UsageMeter
from parley.llm.embeddings import Embedder
from parley.llm.structured import complete_structured
from parley.memory import peer_cards, prompts
from parley.memory.configuration import ReasoningConfig, ReasoningDefaults, resolve
from parley.memory.observation_index import ObservationIndex
from parley.memory.observations import NewObservation, write_observations
from parley.store.engine import Database
from parley.store.models import Message, Observation, Peer, Session, Workspace
from parley.store.queue import Claim, Commit, no_writes

CONTEXT_MESSAGES = 10
CONTEXT_CHARS = 6000
PROMPT_CHARS = 16_000  # the new messages of one extraction call, about 4k tokens
MAX_BETWEEN = 200
KNOWN_FACTS = 30
MIN_REPEAT_CHARS = 20


@dataclass(frozen=True)
class Fact:
    content: str
    level: str
    message_ids: tuple[str, ...]
    premises: tuple[str, ...] = ()


class Deriver:
    def __init__(
        self,
        database: Database,
        embedder: Embedder,
        model: ChatModel | None,
        *,
        index: ObservationIndex,
        defaults: ReasoningDefaults,
        card_max_facts: int,
    ) -> None:
        self._index = index
        self._database = database
        self._embedder = embedder
        self._model = model
        self._defaults = defaults
        self._card_max_facts = card_max_facts

    async def __call__(self, claim: Claim, meter: UsageMeter) -> Commit:
        workspace_id = claim.workspace_id
        session_id = claim.items[0].session_id
        sender = claim.items[0].sender_id
        assert session_id is not None and sender is not None
        observers_of: dict[int, set[str]] = defaultdict(set)
        for item in claim.items:
            assert item.message_seq is not None and item.observer_id is not None
            observers_of[item.message_seq].add(item.observer_id)
        async with self._database.read() as db:
            batch = await _messages(db, workspace_id, session_id, sorted(observers_of))
            if not batch:  # deleted since: nothing to learn
                return no_writes
            context = await _context(db, workspace_id, session_id, batch[0].seq)
            # what others said between the sender's messages belongs with them
            between = await _others_between(db, workspace_id, session_id, sender, batch)
            config = await _config(db, self._defaults, batch[-1])
            observers = sorted(set().union(*(observers_of[m.seq] for m in batch)))
            known: list[str] = []
            cards: dict[str, list[str]] = {}
            if self._model is not None:  # what only a model reads
                known = await _known_facts(db, workspace_id, sender)
                for observer in observers:
                    cards[observer] = (
                        await peer_cards.get_card(db, workspace_id, observer, sender) or []
                    )
        if self._model is None:
            facts = sentence_facts(sender, batch, [*context, *between])
        else:
            shown_card = cards.get(sender) if config.peer_card_use else None
            facts = []
            for part in _by_size(batch, PROMPT_CHARS):
                lo, hi = part[0].seq, part[-1].seq
                others = [m for m in between if lo < m.seq < hi]
                facts += await self._extract(
                    sender, part, context, others, known, shown_card, meter
                )
        # An observer learns only what comes from messages it observes: a fact goes to the
        # observers of every message it cites.
        seq_of = {m.id: m.seq for m in batch}
        learns = {
            fact: [
                o
                for o in observers
                if fact.message_ids and all(o in observers_of[seq_of[i]] for i in fact.message_ids)
            ]
            for fact in facts
        }
        new_cards: dict[str, list[str]] = {}
        if self._model is not None and config.peer_card_create:
            for observer in observers:
                told = [f.content for f in facts if f.level == "explicit" and observer in learns[f]]
                if told:
                    new_cards[observer] = await self._update_card(
                        sender, cards[observer], told, meter
                    )
        items = [
            NewObservation(
                content=fact.content,
                observer_id=observer,
                observed_id=sender,
                session_id=session_id,
                level=fact.level,
                premises=list(fact.premises),
                message_ids=list(fact.message_ids),
            )
            for fact in facts
            for observer in learns[fact]
        ]
        vectors = await self._embedder.embed([i.content for i in items]) if items else None
        if items:  # the near-duplicate check's reads, before the write lock
            async with self._database.read() as db:
                pairs = {(workspace_id, i.observer_id, i.observed_id) for i in items}
                await self._index.warm(db, pairs)

        async def commit(db: AsyncSession) -> None:
            if not await _still_there(db, workspace_id, session_id, [sender, *observers]):
                return
            if items and vectors is not None:
                await write_observations(db, workspace_id, items, vectors, self._index)
            if new_cards:
                # another task may have changed a card while the model thought: keep its
                # additions too
                current = await peer_cards.get_cards(db, workspace_id, sorted(new_cards), sender)
                merged = {
                    observer: peer_cards.rebase(
                        cards[observer], card, current.get(observer, []), self._card_max_facts
                    )
                    for observer, card in new_cards.items()
                }
                await peer_cards.set_cards(db, workspace_id, sender, merged)

        return commit

    async def _extract(
        self,
        sender: str,
        batch: Sequence[Message],
        context: Sequence[Message],
        between: Sequence[Message],
        known: list[str],
        card: list[str] | None,
        meter: UsageMeter,
    ) -> list[Fact]:
        assert self._model is not None
        numbered = {n: m for n, m in enumerate(batch, start=1)}
        number_of = {m.seq: n for n, m in numbered.items()}
        conversation = sorted([*batch, *between], key=lambda m: m.seq)
        reply = await complete_structured(
            self._model,
            prompts.extraction_prompt(
                observed=sender,
                context_lines=[_line(None, m) for m in context],
                new_lines=[_line(number_of.get(m.seq), m) for m in conversation],
                known_facts=known,
                card=card or [],
            ),
            prompts.Extraction,
            meter=meter,
        )
        own = tuple(m.id for m in batch)
        facts = []
        for fact in reply.explicit:
            cited = tuple(dict.fromkeys(numbered[n].id for n in fact.messages if n in numbered))
            if fact.content:
                facts.append(Fact(fact.content, "explicit", cited or own))
        for fact in reply.deductive:
            if fact.content:
                facts.append(Fact(fact.content, "deductive", own, tuple(fact.premises)))
        return facts

    async def _update_card(
        self, observed: str, card: list[str], new_facts: list[str], meter: UsageMeter
    ) -> list[str]:
        assert self._model is not None
        reply = await complete_structured(
            self._model,
            prompts.card_prompt(
                observed=observed, card=card, new_facts=new_facts, max_facts=self._card_max_facts
            ),
            prompts.CardUpdate,
            meter=meter,
        )
        if not reply.card and card:
            return card  # an empty card for a known peer is a model slip, not news
        return peer_cards.bounded(card, reply.card, self._card_max_facts)


def _line(number: int | None, message: Message) -> str:
    content = message.content
    if len(content) > PROMPT_CHARS:
        content = content[:PROMPT_CHARS] + " [...]"
    return prompts.message_line(number, message.peer_id, message.created_at, content)


def _by_size(batch: Sequence[Message], budget: int) -> list[list[Message]]:
    """Consecutive parts whose contents fit `budget` characters (a longer message alone)."""
    parts: list[list[Message]] = [[]]
    used = 0
    for message in batch:
        size = min(len(message.content), budget)
        if parts[-1] and used + size > budget:
            parts.append([])
            used = 0
        parts[-1].append(message)
        used += size
    return parts


def sentence_facts(sender: str, batch: Sequence[Message], context: Sequence[Message]) -> list[Fact]:
    """The retrieval-only deriver: each sentence the sender wrote, dated, word for word."""
    others = " ".join(_normal(m.content) for m in [*context, *batch] if m.peer_id != sender)
    facts = []
    for message in batch:
        if message.peer_id != sender:
            continue
        day = message.created_at.strftime("%Y-%m-%d")
        for sentence in split_sentences(message.content):
            norm = _normal(sentence)
            if len(norm) >= MIN_REPEAT_CHARS and norm in others:
                continue  # repeats another speaker (e.g. pasted from the assistant)
            facts.append(Fact(f"{sender} said on {day}: {sentence}", "explicit", (message.id,)))
    return facts


def split_sentences(text: str) -> list[str]:
    sentences = []
    for part in segment("en", text):
        sentence = " ".join(part.split())
        if re.search(r"\w", sentence):
            sentences.append(sentence)
    return sentences


def _normal(text: str) -> str:
    return " ".join(re.findall(r"\w+", text.lower()))


async def _messages(
    db: AsyncSession, workspace_id: str, session_id: str, seqs: list[int]
) -> list[Message]:
    rows = await db.scalars(
        select(Message)
        .where(
            Message.workspace_id == workspace_id,
            Message.session_id == session_id,
            Message.seq.in_(seqs),
        )
        .order_by(Message.seq)
    )
    return list(rows.all())


async def _context(
    db: AsyncSession, workspace_id: str, session_id: str, before_seq: int
) -> list[Message]:
    rows = (
        await db.scalars(
            select(Message)
            .where(
                Message.workspace_id == workspace_id,
                Message.session_id == session_id,
                Message.seq < before_seq,
            )
            .order_by(Message.seq.desc())
            .limit(CONTEXT_MESSAGES)
        )
    ).all()
    kept, used = [], 0
    for row in rows:  # newest first, within a character budget
        used += len(row.content)
        if used > CONTEXT_CHARS:
            break
        kept.append(row)
    return kept[::-1]


async def _others_between(
    db: AsyncSession, workspace_id: str, session_id: str, sender: str, batch: Sequence[Message]
) -> list[Message]:
    if len(batch) < 2:
        return []
    rows = await db.scalars(
        select(Message)
        .where(
            Message.workspace_id == workspace_id,
            Message.session_id == session_id,
            Message.seq > batch[0].seq,
            Message.seq < batch[-1].seq,
            Message.peer_id != sender,
        )
        .order_by(Message.seq)
        .limit(MAX_BETWEEN)
    )
    return list(rows.all())


async def _config(
    db: AsyncSession, defaults: ReasoningDefaults, message: Message
) -> ReasoningConfig:
    workspace = await db.get(Workspace, message.workspace_id)
    session = await db.get(Session, (message.workspace_id, message.session_id))
    return resolve(
        defaults,
        workspace=workspace.configuration if workspace else None,
        session=session.configuration if session else None,
        message=message.internal_metadata.get("configuration"),
    )


async def _known_facts(db: AsyncSession, workspace_id: str, observed: str) -> list[str]:
    rows = await db.scalars(
        select(Observation.content)
        .where(
            Observation.workspace_id == workspace_id,
            Observation.observer_id == observed,
            Observation.observed_id == observed,
        )
        .order_by(Observation.created_at.desc())
        .limit(KNOWN_FACTS)
    )
    return list(rows.all())[::-1]


async def _still_there(
    db: AsyncSession, workspace_id: str, session_id: str, peer_ids: list[str]
) -> bool:
    """The session and peers may have been deleted while the model thought (one read)."""
    wanted = sorted(set(peer_ids))
    session = (
        select(Session.id)
        .where(Session.workspace_id == workspace_id, Session.id == session_id)
        .exists()
    )
    peers = (
        select(func.count())
        .select_from(Peer)
        .where(Peer.workspace_id == workspace_id, Peer.id.in_(wanted))
        .scalar_subquery()
    )
    found = (await db.execute(select(session, peers))).one()
    return bool(found[0]) and found[1] == len(wanted)
