"""What a stored agent turn copies, and how a delete takes the copies out of every turn.

A turn keeps its state as Peaka's agent returns it, and that state holds copies: lines of
what memory knew about the user, golden SQLs, catalogs' schemas and values, query results,
and text the agent made from all of these. When the turn is stored, each thing it copied is
recorded as a source (`AgentTurnSource`):

| kind          | ref                  | the turn's copy (entry)      | when it goes             |
| ------------- | -------------------- | ---------------------------- | ------------------------ |
| `question`    | memory message id    | the question                 | the turn goes            |
| `answer`      | memory message id    | the answer                   | what the agent made goes |
| `observation` | observation id       | a `userMemory` line          | the line goes (*)        |
| `message`     | message id behind it | a `userMemory` line          | the line goes (*)        |
| `card`        | `observer/observed`  | a `userMemory` line (a fact) | the line goes (*)        |
| `golden`      | golden SQL id        | a `goldSQLs` entry           | the entry goes (*)       |
| `catalog`     | catalog id           | its entries, by its name     | its entries go (*)       |

(*) and when the source was `derived` (the model saw it, or the result came from it), what
the agent made goes too: the SQL, the result, the reasoning, follow-up questions and the
answer are replaced by `REDACTED` (the question stays), and the answer's copy in the
thread's memory session is deleted as well.

Every key of a stored state is classified in `STATE_FIELDS` and every column of a turn in
`TURN_COLUMNS`: a test fails on any key or column that is not, so a new copy cannot be
stored without saying how a delete takes it out. Every delete goes through `parley.erasure`,
which calls `forget` with what went.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from parley.agent import lc_messages
from parley.agent.threads import display_name_for
from parley.store.agent_models import AgentThread, AgentTurn, AgentTurnSource
from parley.store.chunks import chunks
from parley.store.data_models import DataCatalog, GoldenSql
from parley.store.models import Message, Observation, PeerCard

QUESTION, ANSWER = "question", "answer"
OBSERVATION, MESSAGE, CARD = "observation", "message", "card"
GOLDEN, CATALOG = "golden", "catalog"
MEMORY_KINDS = (OBSERVATION, MESSAGE, CARD)
REDACTED = "[removed: this answer drew on content that has since been deleted]"


class Copy(StrEnum):
    """What one field of a stored turn holds, as far as a delete is concerned."""

    NEUTRAL = "neutral"  # ids, flags, timings: nothing a delete could take
    QUESTION = "question"  # the user's question: goes with the turn
    MADE = "made"  # made by the agent from its sources: replaced when one it drew on goes
    MEMORY = "memory"  # lines of what memory knew about the user
    GOLDEN = "golden"  # golden SQLs shown to the model
    CATALOG = "catalog"  # entries of catalogs (schemas, values), keyed by catalog


@dataclass(frozen=True)
class StateField:
    copy: Copy
    redacted: Any = None  # a MADE field's value once redacted


STATE_FIELDS: dict[str, StateField] = {
    "projectId": StateField(Copy.NEUTRAL),
    "messages": StateField(Copy.MADE),  # [question, answer]: rebuilt, see `_redact_made`
    "noExecute": StateField(Copy.NEUTRAL),
    "userIntentReasoning": StateField(Copy.NEUTRAL),  # the intent's name
    "tableNames": StateField(Copy.CATALOG),
    "metadata": StateField(Copy.CATALOG),
    "currentGeneratedQuery": StateField(Copy.MADE),
    "currentQueryError": StateField(Copy.MADE),
    "invalidQuery": StateField(Copy.MADE, False),
    "currentQueryResult": StateField(Copy.MADE),
    "goldSQLs": StateField(Copy.GOLDEN),
    "currentQueryReasoning": StateField(Copy.MADE),
    "catalogs": StateField(Copy.CATALOG),
    "sampleQuestions": StateField(Copy.MADE, []),
    "userId": StateField(Copy.NEUTRAL),
    "userMemory": StateField(Copy.MEMORY),
    "valueMatches": StateField(Copy.CATALOG),
    "attempts": StateField(Copy.MADE, []),
    "timingsMs": StateField(Copy.NEUTRAL),
    "redacted": StateField(Copy.NEUTRAL),  # set once a delete took something out
}
TURN_COLUMNS: dict[str, Copy] = {
    "id": Copy.NEUTRAL,
    "project_id": Copy.NEUTRAL,
    "thread_id": Copy.NEUTRAL,
    "seq": Copy.NEUTRAL,
    "question": Copy.QUESTION,
    "answer": Copy.MADE,
    "state": Copy.NEUTRAL,  # its keys: STATE_FIELDS
    "created_at": Copy.NEUTRAL,
}


@dataclass(frozen=True)
class Source:
    """One thing a turn copied (see the table above)."""

    kind: str
    ref: str
    entry: str | None = None
    derived: bool = False


def golden_entry(question: str, sql: str) -> str:
    """A `goldSQLs` entry as a source's entry."""
    return json.dumps({"question": question, "sql": sql}, sort_keys=True)


@dataclass
class Gone:
    """What a delete removed, as turns may have copied it."""

    refs: dict[str, set[str]] = field(default_factory=dict)  # kind -> refs
    cards: dict[str, set[str] | None] = field(default_factory=dict)  # ref -> facts (None: all)
    threads: set[str] = field(default_factory=set)  # threads whose memory session went
    users: set[str] = field(default_factory=set)  # peers whose threads go

    def __bool__(self) -> bool:
        return bool(any(self.refs.values()) or self.cards or self.threads or self.users)


@dataclass
class Redaction:
    """A turn's question, answer and state after some of its sources went."""

    answer: str
    state: dict[str, Any]
    deleted: bool = False  # its question went: the turn goes
    made_redacted: bool = False


def redact(question: str, answer: str, state: dict[str, Any], gone: Sequence[Source]) -> Redaction:
    """The turn without the copies of `gone` (sources of this turn that went)."""
    if any(s.kind == QUESTION for s in gone):
        return Redaction(answer, state, deleted=True)
    state = json.loads(json.dumps(state))  # a copy to change
    lines = {s.entry for s in gone if s.kind in MEMORY_KINDS and s.entry is not None}
    goldens = [json.loads(s.entry) for s in gone if s.kind == GOLDEN and s.entry is not None]
    catalog_ids = {s.ref for s in gone if s.kind == CATALOG}
    catalog_names = {s.entry for s in gone if s.kind == CATALOG and s.entry is not None}
    for key, spec in STATE_FIELDS.items():
        if key not in state or not isinstance(state[key], list):
            continue
        if spec.copy is Copy.MEMORY:
            state[key] = [line for line in state[key] if line not in lines]
        elif spec.copy is Copy.GOLDEN:
            state[key] = [g for g in state[key] if g not in goldens]
        elif spec.copy is Copy.CATALOG:
            state[key] = [e for e in state[key] if not _of(e, catalog_ids, catalog_names)]
    made = any(s.derived for s in gone)
    if made:
        answer = REDACTED
        _redact_made(question, state)
    state["redacted"] = True
    return Redaction(answer, state, made_redacted=made)


def _of(entry: Any, ids: set[str], names: set[str]) -> bool:
    """Whether a catalog field's entry belongs to one of the catalogs: a dict names its
    catalog (`catalogId`, `catalogName`), a table name starts with the catalog's name."""
    if isinstance(entry, dict):
        return entry.get("catalogId") in ids or entry.get("catalogName") in names
    if isinstance(entry, str):
        return entry.split(".", 1)[0] in names
    return False


def _redact_made(question: str, state: dict[str, Any]) -> None:
    for key, spec in STATE_FIELDS.items():
        if spec.copy is Copy.MADE and key in state:
            state[key] = spec.redacted
    state["messages"] = [lc_messages.human(question), lc_messages.ai(REDACTED)]


# --- in the database ----------------------------------------------------------------------


async def record(db: AsyncSession, turn: AgentTurn, sources: Iterable[Source]) -> None:
    rows = [
        AgentTurnSource(
            turn_id=turn.id,
            project_id=turn.project_id,
            kind=s.kind,
            ref=s.ref,
            entry=s.entry,
            derived=s.derived,
        )
        for s in dict.fromkeys(sources)
    ]
    db.add_all(rows)
    await db.flush()


async def missing(db: AsyncSession, project_id: str, sources: Sequence[Source]) -> list[Source]:
    """The sources that went while the turn was worked on (a turn about to be stored must
    not bring back what a delete took). Those still there are locked FOR KEY SHARE
    (PostgreSQL) until the turn is stored, so a delete waits for it and then finds it."""
    present: dict[str, set[str]] = {}
    ids = {
        OBSERVATION: Observation.id,
        MESSAGE: Message.id,
        GOLDEN: GoldenSql.id,
        CATALOG: DataCatalog.id,
    }
    for kind, column in ids.items():
        found: set[str] = set()
        for part in chunks(sorted({s.ref for s in sources if s.kind == kind})):
            found |= set(
                await db.scalars(
                    select(column).where(column.in_(part)).with_for_update(key_share=True)
                )
            )
        present[kind] = found
    cards: set[str] = set()
    for ref in sorted({s.ref for s in sources if s.kind == CARD}):
        observer, observed = ref.split("/", 1)
        found_card = await db.scalar(
            select(PeerCard.observer_id)
            .where(
                PeerCard.workspace_id == project_id,
                PeerCard.observer_id == observer,
                PeerCard.observed_id == observed,
            )
            .with_for_update(key_share=True)
        )
        if found_card is not None:
            cards.add(ref)
    present[CARD] = cards
    return [s for s in sources if s.kind in present and s.ref not in present[s.kind]]


async def forget(db: AsyncSession, project_id: str, gone: Gone) -> set[tuple[str, str]]:
    """Take what went out of every stored turn of the project, in the caller's transaction:
    threads whose session or user went are deleted; turns whose question went are deleted;
    the others lose the copies. Returns the (session, message) ids of answers whose copies in
    memory sessions must be deleted next (their turns were redacted)."""
    if not gone:
        return set()
    await _delete_threads(db, project_id, gone)
    any_turn = await db.scalar(
        select(AgentTurnSource.id).where(AgentTurnSource.project_id == project_id).limit(1)
    )
    if any_turn is None:  # not a project, or one without stored turns: nothing copied
        return set()
    matched: dict[int, list[AgentTurnSource]] = defaultdict(list)
    for kind, refs in sorted(gone.refs.items()):
        for part in chunks(sorted(refs)):
            rows = await db.scalars(
                select(AgentTurnSource).where(
                    AgentTurnSource.project_id == project_id,
                    AgentTurnSource.kind == kind,
                    AgentTurnSource.ref.in_(part),
                )
            )
            for row in rows:
                matched[row.turn_id].append(row)
    for part in chunks(sorted(gone.cards)):
        rows = await db.scalars(
            select(AgentTurnSource).where(
                AgentTurnSource.project_id == project_id,
                AgentTurnSource.kind == CARD,
                AgentTurnSource.ref.in_(part),
            )
        )
        for row in rows:
            facts = gone.cards[row.ref]
            if facts is None or row.entry in facts:
                matched[row.turn_id].append(row)
    if not matched:
        return set()
    copies: set[tuple[str, str]] = set()
    touched: dict[str, list[AgentTurn]] = defaultdict(list)  # thread -> turns deleted
    for turn_ids in chunks(sorted(matched)):
        turns = await db.scalars(select(AgentTurn).where(AgentTurn.id.in_(turn_ids)))
        for turn in turns:
            sources = matched[turn.id]
            result = redact(
                turn.question,
                turn.answer,
                turn.state,
                [Source(s.kind, s.ref, s.entry, s.derived) for s in sources],
            )
            done = [s.id for s in sources]
            if result.deleted or result.made_redacted:  # its answer's copy goes too
                answers = await db.scalars(
                    select(AgentTurnSource).where(
                        AgentTurnSource.turn_id == turn.id, AgentTurnSource.kind == ANSWER
                    )
                )
                for row in answers:
                    copies.add((turn.thread_id, row.ref))
                    done.append(row.id)
            if result.deleted:
                touched[turn.thread_id].append(turn)
                await db.delete(turn)
                continue
            turn.answer, turn.state = result.answer, result.state
            await db.execute(delete(AgentTurnSource).where(AgentTurnSource.id.in_(done)))
            await _drop_entries(db, turn.id, sources)
    await db.flush()
    await _settle_threads(db, project_id, touched)
    return copies


async def _drop_entries(db: AsyncSession, turn_id: int, gone: list[AgentTurnSource]) -> None:
    """The turn's other sources of the entries that went (a memory line stands on its
    observation and on each message behind it): their entries are copies too."""
    lines = sorted({s.entry for s in gone if s.kind in MEMORY_KINDS and s.entry is not None})
    goldens = sorted({s.entry for s in gone if s.kind == GOLDEN and s.entry is not None})
    mine = AgentTurnSource.turn_id == turn_id
    for kinds, entries in ((MEMORY_KINDS, lines), ((GOLDEN,), goldens)):
        for part in chunks(entries):
            await db.execute(
                delete(AgentTurnSource).where(
                    mine, AgentTurnSource.kind.in_(kinds), AgentTurnSource.entry.in_(part)
                )
            )


async def _delete_threads(db: AsyncSession, project_id: str, gone: Gone) -> None:
    """Threads whose memory session went, or whose user went: their turns are copies of
    what went (the question and answer messages)."""
    where = []
    if gone.threads:
        where.append(AgentThread.id.in_(sorted(gone.threads)))
    if gone.users:
        where.append(AgentThread.user_peer_id.in_(sorted(gone.users)))
    for clause in where:
        await db.execute(delete(AgentThread).where(AgentThread.project_id == project_id, clause))


async def _settle_threads(
    db: AsyncSession, project_id: str, touched: dict[str, list[AgentTurn]]
) -> None:
    """Threads that lost turns: one left with none goes; one named after a question that
    went takes its next question's name."""
    for thread_id, deleted in sorted(touched.items()):
        thread = await db.get(AgentThread, (project_id, thread_id))
        if thread is None:
            continue
        first = await db.scalar(
            select(AgentTurn)
            .where(AgentTurn.project_id == project_id, AgentTurn.thread_id == thread_id)
            .order_by(AgentTurn.seq)
            .limit(1)
        )
        if first is None:
            await db.delete(thread)
        elif thread.display_name in {display_name_for(t.question) for t in deleted}:
            thread.display_name = display_name_for(first.question)
    await db.flush()
