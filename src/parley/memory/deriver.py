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

import asyncio
import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sentencex import segment
from sqlalchemy import Integer, func, literal, select, union_all
from sqlalchemy.ext.asyncio import AsyncSession

from parley.llm.chat import ChatModel, UsageMeter
from parley.llm.embeddings import Embedder
from parley.llm.structured import complete_structured
from parley.memory import fact_identity, peer_cards, prompts
from parley.memory.configuration import ReasoningConfig, ReasoningDefaults, resolve
from parley.memory.observation_index import ObservationIndex
from parley.memory.observations import NewObservation, write_observations
from parley.memory.reasoning import enqueue_card_rebuild
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
        session_id = claim.items[0].session_id
        sender = claim.items[0].sender_id
        assert session_id is not None and sender is not None
        observers_of: dict[int, set[str]] = defaultdict(set)
        for item in claim.items:
            assert item.message_seq is not None and item.observer_id is not None
            observers_of[item.message_seq].add(item.observer_id)
        async with self._database.read() as db:
            # what others said between the sender's messages belongs with them
            batch, context, between = await _conversation(
                db, workspace_id, session_id, sender, sorted(observers_of)
            )
            if not batch:  # deleted since: nothing to learn
                return no_writes
            config = await _config(db, self._defaults, workspace_id, session_id, batch[-1])
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
                    sender, part, context, others, known, shown_card, config, meter
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
            await asyncio.to_thread(fact_identity.read_ahead, sorted({i.content for i in items}))
            async with self._database.read() as db:
                pairs = {(workspace_id, i.observer_id, i.observed_id) for i in items}
                await self._observation_index.warm(db, pairs)

        async def commit(db: AsyncSession) -> None:
            present = await _present(
                db, workspace_id, session_id, [sender, *observers], [m.seq for m in batch]
            )
            if present is None or sender not in present[0]:
                return
            peers, messages = present
            kept, lost = _still_derived(items, vectors, peers, messages)
            if kept is not None:
                await write_observations(
                    db, workspace_id, kept[0], kept[1], self._observation_index
                )
            # a card made from facts deleted since is rebuilt from what is left instead
            cards_now = {o: card for o, card in new_cards.items() if o in peers}
            writable = {o: card for o, card in cards_now.items() if not lost.get(o)}
            for observer in sorted(set(cards_now) - set(writable)):
                await enqueue_card_rebuild(
                    db, workspace_id=workspace_id, observer_id=observer, observed_id=sender
                )
            if writable:
                # another task may have changed a card while the model thought: keep its
                # additions too
                current = await peer_cards.get_cards(db, workspace_id, sorted(writable), sender)
                merged = {
                    observer: peer_cards.rebase(
                        cards[observer], card, current.get(observer, []), self._card_max_facts
                    )
                    for observer, card in writable.items()
                }
                await peer_cards.set_cards(db, workspace_id, sender, merged)

        return commit

    async def _extract(
        self,
        sender: str,
        batch: Sequence[Said],
        context: Sequence[Said],
        between: Sequence[Said],
        known: list[str],
        card: list[str] | None,
        config: ReasoningConfig,
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
                custom_instructions=config.custom_instructions,
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
        for deduction in reply.deductive:
            if deduction.content:
                facts.append(Fact(deduction.content, "deductive", own, tuple(deduction.premises)))
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


def _line(number: int | None, message: Said) -> str:
    content = message.content
    if len(content) > PROMPT_CHARS:
        content = content[:PROMPT_CHARS] + " [...]"
    return prompts.message_line(number, message.peer_id, message.created_at, content)


def _by_size(batch: Sequence[Said], budget: int) -> list[list[Said]]:
    """Consecutive parts whose contents fit `budget` characters (a longer message alone)."""
    parts: list[list[Said]] = [[]]
    used = 0
    for message in batch:
        size = min(len(message.content), budget)
        if parts[-1] and used + size > budget:
            parts.append([])
            used = 0
        parts[-1].append(message)
        used += size
    return parts


def sentence_facts(sender: str, batch: Sequence[Said], context: Sequence[Said]) -> list[Fact]:
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


@dataclass(frozen=True, slots=True)
class Said:
    """A stored message, as far as the deriver reads it."""

    seq: int
    id: str
    peer_id: str
    content: str
    created_at: datetime
    internal_metadata: dict[str, Any]


async def _conversation(
    db: AsyncSession, workspace_id: str, session_id: str, sender: str, seqs: list[int]
) -> tuple[list[Said], list[Said], list[Said]]:
    """In one statement: the batch's messages (those not deleted), up to `CONTEXT_MESSAGES`
    before the first of them (within `CONTEXT_CHARS`, newest kept), and up to `MAX_BETWEEN`
    that others wrote between the first and the last; each in order."""
    in_session = (Message.workspace_id == workspace_id, Message.session_id == session_id)
    in_batch = (*in_session, Message.seq.in_(seqs))
    first = select(func.min(Message.seq)).where(*in_batch).scalar_subquery()
    last = select(func.max(Message.seq)).where(*in_batch).scalar_subquery()
    columns = (
        Message.seq,
        Message.id,
        Message.peer_id,
        Message.content,
        Message.created_at,
        Message.internal_metadata,
    )
    parts = (
        select(literal(0, Integer).label("part"), *columns).where(*in_batch),
        select(literal(1, Integer).label("part"), *columns)
        .where(*in_session, Message.seq < first)
        .order_by(Message.seq.desc())
        .limit(CONTEXT_MESSAGES),
        select(literal(2, Integer).label("part"), *columns)
        .where(*in_session, Message.seq > first, Message.seq < last, Message.peer_id != sender)
        .order_by(Message.seq)
        .limit(MAX_BETWEEN),
    )
    rows = (await db.execute(union_all(*(p.subquery().select() for p in parts)))).all()
    found: tuple[list[Said], list[Said], list[Said]] = ([], [], [])
    for part, *values in rows:
        found[part].append(Said(*values))
    batch, before, between = (sorted(p, key=lambda m: m.seq) for p in found)
    kept, used = [], 0
    for message in reversed(before):  # newest first, within a character budget
        used += len(message.content)
        if used > CONTEXT_CHARS:
            break
        kept.append(message)
    return batch, kept[::-1], between if len(batch) >= 2 else []


async def _config(
    db: AsyncSession,
    defaults: ReasoningDefaults,
    workspace_id: str,
    session_id: str,
    message: Said,
) -> ReasoningConfig:
    workspace = (
        select(Workspace.configuration).where(Workspace.id == workspace_id).scalar_subquery()
    )
    session = (
        select(Session.configuration)
        .where(Session.workspace_id == workspace_id, Session.id == session_id)
        .scalar_subquery()
    )
    found = (await db.execute(select(workspace, session))).one()
    return resolve(
        defaults,
        workspace=found[0],
        session=found[1],
        message=message.internal_metadata.get("configuration"),
    )


async def _known_facts(db: AsyncSession, workspace_id: str, observed: str) -> list[str]:
    rows = await db.scalars(
        select(Observation.content)
        .where(
            Observation.workspace_id == workspace_id,
            Observation.observer_id == observed,
            Observation.observed_id == observed,
            Observation.superseded_by.is_(None),
        )
        .order_by(Observation.created_at.desc())
        .limit(KNOWN_FACTS)
    )
    return list(rows.all())[::-1]


async def _present(
    db: AsyncSession,
    workspace_id: str,
    session_id: str,
    peer_ids: list[str],
    seqs: list[int],
) -> tuple[set[str], set[str]] | None:
    """Which of the peers and of the batch's messages are still there: they may have been
    deleted while the model thought. Locked FOR KEY SHARE (PostgreSQL) until the commit, peers
    before messages as a delete locks them (memory/erase.py). None when the session went."""
    session = await db.scalar(
        select(Session.id).where(Session.workspace_id == workspace_id, Session.id == session_id)
    )
    if session is None:
        return None
    peers = set(
        await db.scalars(
            select(Peer.id)
            .where(Peer.workspace_id == workspace_id, Peer.id.in_(sorted(set(peer_ids))))
            .order_by(Peer.id)
            .with_for_update(key_share=True)
        )
    )
    messages = set(
        await db.scalars(
            select(Message.id)
            .where(Message.seq.in_(sorted(seqs)))
            .order_by(Message.seq)
            .with_for_update(key_share=True)
        )
    )
    return peers, messages


def _still_derived(
    items: list[NewObservation],
    vectors: Any,
    peers: set[str],
    messages: set[str],
) -> tuple[tuple[list[NewObservation], Any] | None, dict[str, set[str]]]:
    """The observations to write now that some peers or messages may be gone: an observation
    loses the deleted messages it cited, and goes when none is left (or its observer went);
    then deductions lose premises that were the texts of facts that went, and go when none is
    left. Returns them with their vectors (None if none), and per observer the texts lost."""
    keep: dict[int, NewObservation] = {}
    lost: dict[str, set[str]] = {}
    for position, item in enumerate(items):
        cited = [m for m in item.message_ids if m in messages]
        if item.observer_id not in peers or (item.message_ids and not cited):
            lost.setdefault(item.observer_id, set()).add(item.content)
        else:
            keep[position] = replace(item, message_ids=cited)
    changed = bool(lost)
    while changed:
        changed = False
        for position, item in list(keep.items()):
            gone = lost.get(item.observer_id, set())
            premises = [p for p in item.premises if p not in gone]
            if item.premises and not premises:
                del keep[position]
                lost.setdefault(item.observer_id, set()).add(item.content)
                changed = True
            elif len(premises) != len(item.premises):
                keep[position] = replace(item, premises=premises)
    if not keep or vectors is None:
        return None, lost
    rows = sorted(keep)
    return ([keep[i] for i in rows], vectors[rows]), lost
