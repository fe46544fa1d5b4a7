"""Session summaries: a short one every N messages and a long one every M, each rolling the
previous summary of its kind and the messages since into a new one. Needs a summary model;
without one no summary work is enqueued (see `configuration.ReasoningDefaults`)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from parley.llm.chat import ChatModel, UsageMeter
from parley.memory import prompts
from parley.memory.reasoning import summary_work
from parley.store.chunks import chunks
from parley.store.engine import Database
from parley.store.models import Message, Session, SessionSummary, utcnow
from parley.store.queue import Claim, Commit, enqueue
from parley.tokens import count_tokens

KINDS = {"short": 250, "long": 750}  # kind -> words at most
MAX_INPUT_CHARS = 60_000
MAX_INPUT_MESSAGES = 400


@dataclass(frozen=True)
class NewSummary:
    kind: str
    content: str
    message_id: str
    message_seq: int
    upto_seq: int  # what its queue item asked for
    read: tuple[int, ...] = ()  # the seqs of the messages it was written from
    rolled_from: int | None = None  # the stored summary it rolled up, if any


class Summarizer:
    def __init__(self, database: Database, model: ChatModel | None) -> None:
        self._database = database
        self._model = model

    async def __call__(self, claim: Claim, meter: UsageMeter) -> Commit:
        workspace_id = claim.workspace_id
        session_id = claim.items[0].session_id
        assert session_id is not None
        written: list[NewSummary] = []
        for item in claim.items:
            kind, upto = item.payload["kind"], int(item.payload["upto_seq"])
            if self._model is None or kind not in KINDS:
                continue  # the model was removed since this was enqueued
            previous: NewSummary | SessionSummary | None = next(
                (s for s in reversed(written) if s.kind == kind), None
            )
            async with self._database.read() as db:
                if previous is None:
                    previous = await latest(db, workspace_id, session_id, kind)
                after = previous.message_seq if previous else 0
                messages = await _messages_between(db, workspace_id, session_id, after, upto)
            rolled_from = previous.id if isinstance(previous, SessionSummary) else None
            if not messages:
                continue
            reply = await self._model.complete(
                prompts.summary_prompt(
                    kind=kind,
                    previous=previous.content if previous else None,
                    lines=_fit(messages),
                    max_words=KINDS[kind],
                ),
                meter=meter,
                max_tokens=KINDS[kind] * 2,
                temperature=0.2,
            )
            text = reply.text.strip()
            if text:
                last = messages[-1]
                read = tuple(m.seq for m in messages)
                written.append(NewSummary(kind, text, last.id, last.seq, upto, read, rolled_from))
        counts = await asyncio.to_thread(lambda: [count_tokens(s.content) for s in written])

        async def commit(db: AsyncSession) -> None:
            if await db.get(Session, (workspace_id, session_id)) is None:
                return
            # a message deleted while the model wrote: that summary (and those rolled from it)
            # is written again from what is left (memory/erase.py)
            present: set[int] = set()
            for part in chunks(sorted({seq for s in written for seq in s.read})):
                present |= set(
                    await db.scalars(
                        select(Message.seq)
                        .where(Message.seq.in_(part))
                        .order_by(Message.seq)
                        .with_for_update(key_share=True)
                    )
                )
            rolled = sorted({s.rolled_from for s in written if s.rolled_from is not None})
            kept = set(
                await db.scalars(
                    select(SessionSummary.id)
                    .where(SessionSummary.id.in_(rolled))
                    .with_for_update(key_share=True)
                )
            )
            stale: set[str] = set()
            for summary, tokens in zip(written, counts, strict=True):
                gone = summary.rolled_from is not None and summary.rolled_from not in kept
                if summary.kind in stale or gone or not present.issuperset(summary.read):
                    stale.add(summary.kind)
                    work = summary_work(
                        workspace_id=workspace_id,
                        session_id=session_id,
                        kind=summary.kind,
                        upto_seq=summary.upto_seq,
                    )
                    await enqueue(db, workspace_id, [work])
                    continue
                await db.execute(
                    insert(SessionSummary).values(
                        workspace_id=workspace_id,
                        session_id=session_id,
                        kind=summary.kind,
                        content=summary.content,
                        message_id=summary.message_id,
                        message_seq=summary.message_seq,
                        token_count=tokens,
                        created_at=utcnow(),
                    )
                )

        return commit


async def latest(
    db: AsyncSession, workspace_id: str, session_id: str, kind: str
) -> SessionSummary | None:
    return await db.scalar(
        select(SessionSummary)
        .where(
            SessionSummary.workspace_id == workspace_id,
            SessionSummary.session_id == session_id,
            SessionSummary.kind == kind,
        )
        .order_by(SessionSummary.message_seq.desc(), SessionSummary.id.desc())
        .limit(1)
    )


async def _messages_between(
    db: AsyncSession, workspace_id: str, session_id: str, after: int, upto: int
) -> list[Message]:
    """The newest messages in (after, upto], at most `MAX_INPUT_MESSAGES` (if summaries were
    off for a while, the oldest of the gap are left out rather than read)."""
    rows = await db.scalars(
        select(Message)
        .where(
            Message.workspace_id == workspace_id,
            Message.session_id == session_id,
            Message.seq > after,
            Message.seq <= upto,
        )
        .order_by(Message.seq.desc())
        .limit(MAX_INPUT_MESSAGES)
    )
    return list(rows.all())[::-1]


def _fit(messages: list[Message]) -> list[str]:
    """The newest messages' lines that fit the input budget, in order."""
    lines: list[str] = []
    used = 0
    for message in reversed(messages):
        line = prompts.message_line(None, message.peer_id, message.created_at, message.content)
        used += len(line)
        if used > MAX_INPUT_CHARS and lines:
            break
        lines.append(line)
    return lines[::-1]
