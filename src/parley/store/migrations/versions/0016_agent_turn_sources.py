"""Agent turn sources: what each stored turn copied from memory, golden SQLs, catalogs and its
own memory messages, so that a delete of any of them finds the turns to redact.

Turns stored before this revision get their sources from what their state shows (see
`_backfill`): catalogs by id, golden SQLs and memory lines by their text (observations of the
thread's user about themself, and the user's card), the question and answer by the thread
session's messages, in order. Copies of what was deleted before the upgrade are not found
(their sources are gone); the backfill links what is still there.

Revision ID: 0016
Revises: 0014
Create Date: 2026-11-24
"""

import json
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0016"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
AGENT_PEER = "data-agent"
SOURCES = sa.table(
    "agent_turn_sources",
    sa.column("turn_id", sa.Integer),
    sa.column("project_id", sa.String),
    sa.column("kind", sa.String),
    sa.column("ref", sa.Text),
    sa.column("entry", sa.Text),
    sa.column("derived", sa.Boolean),
)
TURNS = sa.table(
    "agent_turns",
    sa.column("id", sa.Integer),
    sa.column("project_id", sa.String),
    sa.column("thread_id", sa.String),
    sa.column("seq", sa.Integer),
    sa.column("question", sa.Text),
    sa.column("answer", sa.Text),
    sa.column("state", JSON),
)
THREADS = sa.table(
    "agent_threads",
    sa.column("project_id", sa.String),
    sa.column("id", sa.String),
    sa.column("user_peer_id", sa.String),
)
MESSAGES = sa.table(
    "messages",
    sa.column("seq", sa.Integer),
    sa.column("id", sa.String),
    sa.column("workspace_id", sa.String),
    sa.column("session_id", sa.String),
    sa.column("peer_id", sa.String),
    sa.column("content", sa.Text),
)
OBSERVATIONS = sa.table(
    "observations",
    sa.column("id", sa.String),
    sa.column("workspace_id", sa.String),
    sa.column("observer_id", sa.String),
    sa.column("observed_id", sa.String),
    sa.column("content", sa.Text),
    sa.column("message_ids", JSON),
)
CARDS = sa.table(
    "peer_cards",
    sa.column("workspace_id", sa.String),
    sa.column("observer_id", sa.String),
    sa.column("observed_id", sa.String),
    sa.column("facts", JSON),
)
GOLDEN = sa.table(
    "golden_sqls",
    sa.column("id", sa.String),
    sa.column("project_id", sa.String),
    sa.column("prompt", sa.Text),
    sa.column("sql", sa.Text),
)


def upgrade() -> None:
    op.create_table(
        "agent_turn_sources",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("turn_id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.String(length=512), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("ref", sa.Text(), nullable=False),
        sa.Column("entry", sa.Text(), nullable=True),
        sa.Column("derived", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["turn_id"],
            ["agent_turns.id"],
            name=op.f("fk_agent_turn_sources_turn_id_agent_turns"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agent_turn_sources")),
    )
    op.create_index(
        op.f("ix_agent_turn_sources_project_id_kind_ref"),
        "agent_turn_sources",
        ["project_id", "kind", "ref"],
    )
    op.create_index(op.f("ix_agent_turn_sources_turn_id"), "agent_turn_sources", ["turn_id"])
    _backfill(op.get_bind())


def _backfill(conn: sa.Connection) -> None:
    """Sources for the turns already stored, from what their state shows (see above)."""
    for thread in conn.execute(sa.select(THREADS)).all():
        project, user = thread.project_id, thread.user_peer_id
        turns = conn.execute(
            sa.select(TURNS)
            .where(TURNS.c.project_id == project, TURNS.c.thread_id == thread.id)
            .order_by(TURNS.c.seq)
        ).all()
        messages = conn.execute(
            sa.select(MESSAGES.c.id, MESSAGES.c.peer_id, MESSAGES.c.content)
            .where(MESSAGES.c.workspace_id == project, MESSAGES.c.session_id == thread.id)
            .order_by(MESSAGES.c.seq)
        ).all()
        facts = {
            row.content: (row.id, list(row.message_ids or []))
            for row in conn.execute(
                sa.select(OBSERVATIONS).where(
                    OBSERVATIONS.c.workspace_id == project,
                    OBSERVATIONS.c.observer_id == user,
                    OBSERVATIONS.c.observed_id == user,
                )
            )
        }
        card = conn.scalar(
            sa.select(CARDS.c.facts).where(
                CARDS.c.workspace_id == project,
                CARDS.c.observer_id == user,
                CARDS.c.observed_id == user,
            )
        )
        goldens = {
            (row.prompt, row.sql): row.id
            for row in conn.execute(sa.select(GOLDEN).where(GOLDEN.c.project_id == project))
        }
        position = 0
        for turn in turns:
            rows, position = _sources(turn, user, messages, position, facts, card or [], goldens)
            if rows:
                conn.execute(
                    SOURCES.insert(),
                    [{"turn_id": turn.id, "project_id": project} | r for r in rows],
                )


def _sources(
    turn: Any,
    user: str,
    messages: Sequence[Any],
    position: int,
    facts: dict[str, tuple[str, list[str]]],
    card: list[str],
    goldens: dict[tuple[str, str], str],
) -> tuple[list[dict[str, Any]], int]:
    """One turn's sources (as `agent/redaction.py` records them, every one `derived`: what
    the agent made then cannot be told apart now), and where its thread's messages go on."""
    state = turn.state if isinstance(turn.state, dict) else json.loads(turn.state or "{}")
    rows: list[dict[str, Any]] = []

    def add(kind: str, ref: str, entry: str | None = None) -> None:
        rows.append({"kind": kind, "ref": ref, "entry": entry, "derived": True})

    said = (("question", user, turn.question), ("answer", AGENT_PEER, turn.answer))
    for kind, peer, text in said:
        for index in range(position, len(messages)):
            if (messages[index].peer_id, messages[index].content) == (peer, text):
                add(kind, messages[index].id)
                position = index + 1
                break
    for line in state.get("userMemory") or []:
        if line in card:
            add("card", f"{user}/{user}", line)
        if line in facts:
            observation_id, message_ids = facts[line]
            add("observation", observation_id, line)
            for message_id in message_ids:
                add("message", message_id, line)
    for example in state.get("goldSQLs") or []:
        found = goldens.get((example.get("question"), example.get("sql")))
        if found is not None:
            pair = {"question": example["question"], "sql": example["sql"]}
            add("golden", found, json.dumps(pair, sort_keys=True))
    for catalog in state.get("catalogs") or []:
        if catalog.get("catalogId"):
            add("catalog", catalog["catalogId"], catalog.get("catalogName"))
    return rows, position


def downgrade() -> None:
    op.drop_index(op.f("ix_agent_turn_sources_turn_id"), table_name="agent_turn_sources")
    op.drop_index(
        op.f("ix_agent_turn_sources_project_id_kind_ref"), table_name="agent_turn_sources"
    )
    op.drop_table("agent_turn_sources")
