"""A representation as Honcho 3 shows it (`Representation.format_as_markdown`): a section per
level, each observation stamped with its time to the second (UTC, no zone), a deduction's
premises under it. Empty: no text at all."""

from __future__ import annotations

from datetime import UTC, datetime

from parley.memory.context import Rendering
from parley.memory.representation import Representation
from parley.store.models import Observation


def _stamp(when: datetime) -> str:
    when = when.astimezone(UTC) if when.tzinfo is not None else when
    return str(when.replace(microsecond=0, tzinfo=None))


def observation_markdown(row: Observation) -> str:
    """One observation's lines (a deduction's end with the blank line Honcho puts after it)."""
    head = f"[{_stamp(row.created_at)}] {row.content}"
    if row.level != "deductive":
        return head
    lines = [head]
    if row.premises:
        lines += ["   Premises:", *(f"   - {premise}" for premise in row.premises)]
    return "\n".join([*lines, ""])


def representation_markdown(representation: Representation) -> str:
    parts: list[str] = []
    if representation.explicit:
        parts += ["## Explicit Observations\n"]
        parts += [observation_markdown(row) for row in representation.explicit]
        parts += [""]
    if representation.deductive:
        parts += ["## Deductive Observations\n"]
        parts += [observation_markdown(row) for row in representation.deductive]
        parts += [""]
    return "\n".join(parts)


MARKDOWN = Rendering(line=observation_markdown, whole=representation_markdown)
