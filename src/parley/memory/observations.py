"""Observations: facts one peer (the observer) holds about another or itself (the observed).

Every observation carries its embedding, so it can be found by meaning. Texts are embedded
before any database session is opened. A derived observation (the deriver's, a dream's) is
compared with the nearest current observations of its scope: the same (workspace, observer,
observed) and level, and for an explicit fact the same session (a deduction, drawn from what
the observer knows, may confirm one made in another session). `fact_identity.relation` decides:

- SAME: it is not stored again; the stored one's `times_derived` goes up and stands for it;
- CHANGED ("March 3" then "March 9", "allergic" then "not allergic"): it is stored and the
  stored one is superseded (`superseded_by` names the new one): kept as history, not counted,
  no longer current;
- DIFFERENT: it is stored beside the others.

A manual create (the API's) stores one row per input, as Honcho does, and supersedes nothing.
Lists, queries, representations, context and chat read current observations; a filter on
`superseded` or `superseded_by` reaches the history. Deleting an observation makes what it
superseded stand as it stood before.

Vector search: pgvector's HNSW index on PostgreSQL; on SQLite, exact cosine in numpy over the
candidates the filters leave (the API's query), or the per-pair cache of `observation_index`
(the near-duplicate check and representations).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, cast

import numpy as np
from sqlalchemy import (
    ColumnElement,
    Table,
    bindparam,
    case,
    insert,
    select,
    text,
    true,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from parley.errors import InvalidInput, NotFound
from parley.ids import new_public_id
from parley.llm.embeddings import Embedder
from parley.memory.fact_identity import CHANGE_DISTANCE, MERGE_DISTANCE, Relation, relation
from parley.memory.filters import FilterField, Kind, compile_filters
from parley.memory.observation_index import Hit, MergeScope, ObservationIndex, cosine_distance
from parley.memory.pages import Page, paginate
from parley.memory.peers import get_peer
from parley.memory.sessions import get_session
from parley.memory.workspaces import get_workspace
from parley.store.engine import Database
from parley.store.models import Observation, utcnow
from parley.store.pg_pool import widen_search

MAX_CONTENT_CHARS = 65_535
MAX_BATCH = 100
MAX_TOP_K = 100
CANDIDATES = 4  # the nearest stored observations a derived one is compared with
REACH = max(MERGE_DISTANCE, CHANGE_DISTANCE)  # farther ones are different facts
OBSERVATIONS = cast(Table, Observation.__table__)  # for writes that load no ORM objects
LEVELS = frozenset({"explicit", "deductive", "inductive", "contradiction"})

# Honcho's filter keys for observations (its documents, src/utils/filter.py): the public names
# and, unlike other resources, the column names themselves (observer, session_name, ...).
# Honcho's `metadata` (internal_metadata) has no counterpart here and is refused.
FILTER_FIELDS = {
    name: field
    for names, field in (
        (("id",), FilterField(Observation.id, Kind.TEXT)),
        (("workspace_id", "workspace_name"), FilterField(Observation.workspace_id, Kind.TEXT)),
        (("observer_id", "observer"), FilterField(Observation.observer_id, Kind.TEXT)),
        (("observed_id", "observed"), FilterField(Observation.observed_id, Kind.TEXT)),
        (("session_id", "session_name"), FilterField(Observation.session_id, Kind.TEXT)),
        (("content",), FilterField(Observation.content, Kind.TEXT)),
        (("level",), FilterField(Observation.level, Kind.TEXT)),
        (("times_derived",), FilterField(Observation.times_derived, Kind.INT)),
        (("created_at",), FilterField(Observation.created_at, Kind.DATETIME)),
        # Parley's: the history of changed facts (current ones are listed otherwise)
        (("superseded",), FilterField(Observation.superseded_by.is_not(None), Kind.BOOL)),
        (("superseded_by",), FilterField(Observation.superseded_by, Kind.TEXT)),
    )
    for name in names
}
HISTORY_KEYS = frozenset({"superseded", "superseded_by"})


@dataclass(frozen=True)
class NewObservation:
    content: str
    observer_id: str
    observed_id: str
    session_id: str | None  # None: no session (Honcho 3's conclusions may have none)
    level: str = "explicit"
    premises: list[str] = field(default_factory=list)
    message_ids: list[str] = field(default_factory=list)

    @property
    def scope(self) -> MergeScope:
        return merge_scope(self.level, self.session_id)


def merge_scope(level: str, session_id: str | None) -> MergeScope:
    """Where a derived observation's repeat may be: its level, and for an explicit fact its
    session (what was said there); deductions and other conclusions are drawn from all the
    observer knows, so they span the pair's sessions (as in Honcho 3)."""
    return (level, session_id if level == "explicit" else None)


async def create_observations(
    *,
    database: Database,
    embedder: Embedder,
    observation_index: ObservationIndex,
    workspace_id: str,
    observations: list[NewObservation],
) -> list[Observation]:
    """Store a batch as given, one new row per input, in order, never merged (Honcho's manual
    create). Unknown peers or sessions are a NotFound before anything is embedded."""
    for item in observations:
        if item.level not in LEVELS:
            raise ValueError(f"unknown observation level {item.level!r}")
    async with database.read() as db:
        await _check_references(db, workspace_id, observations)
    vectors = await embedder.embed([o.content for o in observations])
    async with database.write() as db:
        await _check_references(db, workspace_id, observations)  # may have gone meanwhile
        return await store_observations(
            db, workspace_id, observations, vectors, observation_index, merge=False
        )


async def _check_references(
    db: AsyncSession, workspace_id: str, observations: list[NewObservation]
) -> None:
    await get_workspace(db=db, workspace_id=workspace_id)
    peers = {p for o in observations for p in (o.observer_id, o.observed_id)}
    for peer_id in sorted(peers):
        await get_peer(db=db, workspace_id=workspace_id, peer_id=peer_id)
    for session_id in sorted({o.session_id for o in observations if o.session_id is not None}):
        await get_session(db=db, workspace_id=workspace_id, session_id=session_id)


async def store_observations(
    db: AsyncSession,
    workspace_id: str,
    observations: list[NewObservation],
    vectors: np.ndarray,
    observation_index: ObservationIndex,
    *,
    merge: bool = True,
) -> list[Observation]:
    """Write a batch whose texts are embedded already, merging repeats and superseding
    changed facts unless `merge` is False, inside the caller's write transaction; one row per
    input, in order (a merged input gets the row it merged into; new rows are not attached to
    the session)."""
    written = await write_observations(
        db, workspace_id, observations, vectors, observation_index, merge=merge
    )
    fresh = {i: Observation(**row) for i, row in written.new_rows.items()}
    return [fresh[i] if i in fresh else written.existing[i] for i in written.ids]


@dataclass
class Written:
    ids: list[str]  # per input, the row that stands for it
    new_rows: dict[str, dict[str, Any]]  # inserted, by id
    existing: dict[str, Observation]  # stored rows compared with, up to date
    superseded: dict[str, str] = field(default_factory=dict)  # replaced id -> its successor


@dataclass
class _Added:
    """The rows a batch adds to one pair so far, to compare its later inputs with."""

    ids: list[str]
    contents: list[str]
    scopes: list[MergeScope]
    vectors: np.ndarray  # unit vectors, filled in place


async def write_observations(
    db: AsyncSession,
    workspace_id: str,
    observations: list[NewObservation],
    vectors: np.ndarray,
    observation_index: ObservationIndex,
    *,
    merge: bool = True,
) -> Written:
    """`store_observations` without building ORM objects for the new rows (the deriver only
    writes them): inside the caller's write transaction (the deriver commits observations
    with its queue items)."""
    vectors = np.asarray(vectors, dtype=np.float32)
    pairs = sorted({(workspace_id, o.observer_id, o.observed_id) for o in observations})
    if not merge:
        pairs = []  # no neighbours to look up, nothing to take turns over
    if db.get_bind().dialect.name == "postgresql":
        # Writers of one pair take turns, or two near-duplicates written at once would both
        # miss each other (SQLite has one writer at a time anyway). Sorted: no deadlocks.
        for pair in pairs:
            await db.execute(
                text("SELECT pg_advisory_xact_lock(hashtextextended(:pair, 0))"),
                {"pair": "observations/" + "/".join(pair)},
            )
    # the nearest stored neighbours of each in its scope, read before this batch writes
    stored: list[list[Hit]] = [[] for _ in observations]
    rows_of: dict[tuple[str, str, str], list[int]] = {}
    for position, o in enumerate(observations):
        rows_of.setdefault((workspace_id, o.observer_id, o.observed_id), []).append(position)
    for pair in pairs:
        rows = rows_of[pair]
        scopes = [observations[row].scope for row in rows]
        found = await observation_index.candidates(
            db, pair, vectors[rows], scopes, CANDIDATES, REACH
        )
        for row, hits in zip(rows, found, strict=True):
            stored[row] = hits
    # their rows, in one read (absent if deleted or superseded meanwhile)
    near = sorted({h.id for hits in stored for h in hits})
    existing: dict[str, Observation] = {}
    if near:
        found_rows = await db.scalars(
            select(Observation).where(Observation.id.in_(near), Observation.superseded_by.is_(None))
        )
        existing = {row.id: row for row in found_rows}
    now = utcnow()
    ids: list[str] = []
    new_rows: dict[str, dict[str, Any]] = {}  # inserted in one statement
    merges: Counter[str] = Counter()
    superseded: dict[str, str] = {}
    absorbed: dict[str, list[NewObservation]] = {}  # merged inputs, by the row they merged into
    added = {
        pair: _Added([], [], [], np.empty((len(rows), vectors.shape[1]), np.float32))
        for pair, rows in rows_of.items()
    }
    for position, (item, vector, hits) in enumerate(
        zip(observations, vectors, stored, strict=True)
    ):
        batch = added[(workspace_id, item.observer_id, item.observed_id)]
        options = [(h.distance, h.id, existing[h.id].content) for h in hits if h.id in existing]
        if merge and batch.ids:
            distances = 1.0 - batch.vectors[: len(batch.ids)] @ vector
            options += [
                (float(distances[j]), batch.ids[j], batch.contents[j])
                for j in range(len(batch.ids))
                if batch.scopes[j] == item.scope and distances[j] <= REACH
            ]
        options.sort()
        said = [
            (relation(item.content, content, distance), observation_id)
            for distance, observation_id, content in options
            if observation_id not in superseded
        ]
        target = next((i for found, i in said if found is Relation.SAME), None)
        if target is not None:
            merges[target] += 1
            absorbed.setdefault(target, []).append(item)
            ids.append(target)
            continue
        row_id = new_public_id()
        replaced = next((i for found, i in said if found is Relation.CHANGED), None)
        if replaced is not None:
            superseded[replaced] = row_id
        new_rows[row_id] = {
            "id": row_id,
            "workspace_id": workspace_id,
            "observer_id": item.observer_id,
            "observed_id": item.observed_id,
            "session_id": item.session_id,
            "content": item.content,
            "level": item.level,
            "premises": list(item.premises),
            "message_ids": list(item.message_ids),
            "times_derived": 1,
            "embedding": vector,
            # distinct, increasing times keep a batch in its order when listed
            "created_at": now + timedelta(microseconds=position),
            "superseded_by": None,  # set below, once its successor is in
        }
        batch.vectors[len(batch.ids)] = vector
        batch.ids.append(row_id)
        batch.contents.append(item.content)
        batch.scopes.append(item.scope)
        ids.append(row_id)
    for observation_id, count in merges.items():
        if observation_id in new_rows:  # not written yet: it goes in with its count
            pending = new_rows[observation_id]
            pending["times_derived"] += count
            pending["message_ids"], pending["premises"] = _provenance(
                pending["message_ids"], pending["premises"], absorbed[observation_id]
            )
    if new_rows:  # one executemany on the table: the ORM's layers cost more than the INSERT
        await db.execute(insert(OBSERVATIONS), list(new_rows.values()))
    counts = {i: n for i, n in merges.items() if i not in new_rows}
    if counts:  # one statement for every merge into a stored row, whatever their number
        updated = await db.execute(
            update(OBSERVATIONS)
            .where(Observation.id.in_(sorted(counts)))
            .values(times_derived=Observation.times_derived + case(counts, value=Observation.id))
            .returning(Observation.id, Observation.times_derived)
            .execution_options(synchronize_session=False)
        )
        for observation_id, times in updated.all():
            set_committed_value(existing[observation_id], "times_derived", times)
        await _add_provenance(db, {i: existing[i] for i in counts}, absorbed)
    if superseded:  # one statement too; the successors are in by now
        await db.execute(
            update(OBSERVATIONS)
            .where(Observation.id.in_(sorted(superseded)))
            .values(superseded_by=case(superseded, value=Observation.id))
            .execution_options(synchronize_session=False)
        )
        for old, successor in superseded.items():
            if old in new_rows:
                new_rows[old]["superseded_by"] = successor
            else:
                set_committed_value(existing[old], "superseded_by", successor)
    return Written(ids=ids, new_rows=new_rows, existing=existing, superseded=superseded)


def _provenance(
    message_ids: list[str], premises: list[str], merged: list[NewObservation]
) -> tuple[list[str], list[str]]:
    """What a row stands on once it also stands for `merged`: their messages and premises
    too, so a delete of one source does not take a fact that others still support."""
    ids = list(dict.fromkeys([*message_ids, *(m for o in merged for m in o.message_ids)]))
    grounds = list(dict.fromkeys([*premises, *(p for o in merged for p in o.premises)]))
    return ids, grounds


async def _add_provenance(
    db: AsyncSession, rows: dict[str, Observation], absorbed: dict[str, list[NewObservation]]
) -> None:
    """Stored rows that absorbed new inputs take on their messages and premises (one
    executemany for the rows that change)."""
    changes = []
    for observation_id, row in rows.items():
        ids, grounds = _provenance(
            list(row.message_ids), list(row.premises), absorbed[observation_id]
        )
        if ids != list(row.message_ids) or grounds != list(row.premises):
            changes.append({"b_id": observation_id, "b_ids": ids, "b_premises": grounds})
            set_committed_value(row, "message_ids", ids)
            set_committed_value(row, "premises", grounds)
    if changes:
        await db.execute(
            update(OBSERVATIONS)
            .where(OBSERVATIONS.c.id == bindparam("b_id"))
            .values(message_ids=bindparam("b_ids"), premises=bindparam("b_premises")),
            changes,
        )


async def get_observation(
    *, db: AsyncSession, workspace_id: str, observation_id: str
) -> Observation:
    row = await db.get(Observation, observation_id)
    if row is None or row.workspace_id != workspace_id:
        raise NotFound(f"Observation {observation_id} not found in workspace {workspace_id}")
    return row


async def list_observations(
    *,
    db: AsyncSession,
    workspace_id: str,
    filters: dict[str, Any] | None,
    reverse: bool,
    page: int,
    size: int,
) -> Page[Observation]:
    """Newest first, like Honcho; `reverse` lists oldest first. Current observations, unless
    the filters ask about `superseded` or `superseded_by`."""
    where = await compile_filters(filters, FILTER_FIELDS, db.get_bind().dialect.name)
    where = where & _current(filters)
    await get_workspace(db=db, workspace_id=workspace_id)
    order = (
        (Observation.created_at, Observation.id)
        if reverse
        else (Observation.created_at.desc(), Observation.id.desc())
    )
    stmt = (
        select(Observation).where(Observation.workspace_id == workspace_id, where).order_by(*order)
    )
    return await paginate(db, stmt, page=page, size=size)


async def query_observations(
    *,
    database: Database,
    embedder: Embedder,
    workspace_id: str,
    query: str,
    top_k: int,
    max_distance: float | None,
    filters: dict[str, Any] | None,
) -> list[Observation]:
    """The `top_k` nearest observations of one (observer, observed) pair by cosine distance,
    nearest first; current ones, as in `list_observations`. As in Honcho, the filters must name
    the pair (`observer` or `observer_id`,
    `observed` or `observed_id`), or it is an InvalidInput."""
    where = await compile_filters(filters, FILTER_FIELDS, database.dialect)  # 422s first
    where = where & _current(filters)
    observer, observed = (_pair_member(filters, key) for key in ("observer", "observed"))
    if observer is None or observed is None:
        raise InvalidInput("observer and observed must be specified for semantic search")
    where = where & (Observation.observer_id == observer) & (Observation.observed_id == observed)
    async with database.read() as db:
        await get_workspace(db=db, workspace_id=workspace_id)
    vector = (await embedder.embed([query]))[0]
    async with database.read() as db:
        if database.dialect == "postgresql":
            ids = await _pgvector_nearest(db, workspace_id, where, vector, top_k, max_distance)
        else:
            ids = await _numpy_nearest(db, workspace_id, where, vector, top_k, max_distance)
        if not ids:
            return []
        rows = (await db.scalars(select(Observation).where(Observation.id.in_(ids)))).all()
    by_id = {row.id: row for row in rows}
    return [by_id[i] for i in ids if i in by_id]


def _current(filters: dict[str, Any] | None) -> ColumnElement[bool]:
    """Only current observations, unless the filters name the history's fields (anywhere,
    under AND, OR or NOT too)."""
    if _names_any(filters, HISTORY_KEYS):
        return true()
    return Observation.superseded_by.is_(None)


def _names_any(filters: Any, keys: frozenset[str]) -> bool:
    if isinstance(filters, dict):
        return any(k in keys or _names_any(v, keys) for k, v in filters.items())
    if isinstance(filters, list):
        return any(_names_any(v, keys) for v in filters)
    return False


def _pair_member(filters: dict[str, Any] | None, key: str) -> str | None:
    """The peer a query's filters name under `key` or `key_id` (the first that is set)."""
    value = (filters or {}).get(key) or (filters or {}).get(f"{key}_id")
    if value is None or value == "":
        return None
    if not isinstance(value, str):  # "*" names no peer, as in Honcho: nothing matches
        raise InvalidInput(f"a semantic search names one {key}: a peer id, got {value!r}")
    return value


async def _numpy_nearest(
    db: AsyncSession,
    workspace_id: str,
    where: Any,
    vector: np.ndarray,
    top_k: int,
    max_distance: float | None,
) -> list[str]:
    """Exact cosine over the rows the filters leave (SQLite)."""
    candidates = (
        await db.execute(
            select(Observation.id, Observation.embedding).where(
                Observation.workspace_id == workspace_id, where
            )
        )
    ).all()
    if not candidates:
        return []
    matrix = np.vstack([c.embedding for c in candidates]).astype(np.float32)
    distances = 1.0 - matrix @ np.asarray(vector, dtype=np.float32)
    order = np.argsort(distances, kind="stable")[:top_k]
    if max_distance is not None:
        order = order[distances[order] <= max_distance]
    return [candidates[int(i)].id for i in order]


async def _pgvector_nearest(
    db: AsyncSession,
    workspace_id: str,
    where: Any,
    vector: np.ndarray,
    top_k: int,
    max_distance: float | None,
) -> list[str]:
    """pgvector's HNSW index, with iterative scans so that filters still fill `top_k`."""
    await widen_search(db, top_k)  # relaxed_order iterative scans: the connection's
    distance = cosine_distance(vector)
    rows = (
        await db.execute(
            select(Observation.id, distance.label("distance"))
            .where(Observation.workspace_id == workspace_id, where)
            .order_by(distance)
            .limit(top_k)
        )
    ).all()
    ordered = sorted(rows, key=lambda r: (r.distance, r.id))
    return [r.id for r in ordered if max_distance is None or r.distance <= max_distance]
