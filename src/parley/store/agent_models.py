"""Models of the data agent: threads and their turns.

A thread belongs to a project (a workspace) and is also the id of the memory session in which
the asking user and the agent talk, so the reasoning pipeline learns about the user from their
questions. A turn is one question and everything the agent did with it (the state Peaka's
agent returns), kept so a thread can be read back and followed up. A turn's sources are what
its stored state copies from elsewhere (memory, golden SQLs, catalogs, its own memory
messages), so that deleting any of them finds the turns to redact (`agent/redaction.py`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from parley.store.models import NAME, Base, JSONDict, utcnow


class AgentThread(Base):
    __tablename__ = "agent_threads"
    __table_args__ = (Index(None, "project_id", "updated_at"),)

    project_id: Mapped[str] = mapped_column(
        NAME, ForeignKey("workspaces.id", ondelete="CASCADE"), primary_key=True
    )
    id: Mapped[str] = mapped_column(NAME, primary_key=True)  # also the memory session's id
    user_peer_id: Mapped[str] = mapped_column(NAME)
    display_name: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class AgentTurn(Base):
    __tablename__ = "agent_turns"
    __table_args__ = (
        ForeignKeyConstraint(
            ["project_id", "thread_id"],
            ["agent_threads.project_id", "agent_threads.id"],
            ondelete="CASCADE",
        ),
        UniqueConstraint("project_id", "thread_id", "seq"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    project_id: Mapped[str] = mapped_column(NAME)
    thread_id: Mapped[str] = mapped_column(NAME)
    seq: Mapped[int] = mapped_column(Integer)
    question: Mapped[str] = mapped_column(Text)
    answer: Mapped[str] = mapped_column(Text)
    state: Mapped[dict[str, Any]] = mapped_column(JSONDict, default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class AgentTurnSource(Base):
    """One thing a stored turn copied: `kind` names what it is and `ref` its id (see
    `agent/redaction.py` for the kinds). `entry` is the copy as the turn's state holds it
    (a memory line, a golden SQL, a catalog's name), so a redaction removes just that entry;
    `derived` is True when what the agent made (SQL, result, answer) was made from it."""

    __tablename__ = "agent_turn_sources"
    __table_args__ = (Index(None, "project_id", "kind", "ref"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    turn_id: Mapped[int] = mapped_column(
        ForeignKey("agent_turns.id", ondelete="CASCADE"), index=True
    )
    project_id: Mapped[str] = mapped_column(NAME)
    kind: Mapped[str] = mapped_column(String(20))
    ref: Mapped[str] = mapped_column(Text)
    entry: Mapped[str | None] = mapped_column(Text, nullable=True)
    derived: Mapped[bool] = mapped_column(Boolean, default=False)
