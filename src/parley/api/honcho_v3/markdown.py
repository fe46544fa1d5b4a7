"""A representation as Honcho 3 shows it (`Representation.format_as_markdown`): a section per
level that has conclusions, each stamped with its time to the second (UTC, no zone), a
deduction's premises under it, an inductive conclusion's sources (Parley keeps no confidence
or pattern type: Honcho 3's defaults, `medium` and `pattern`), a contradiction's conflicting
statements. Empty: no text at all."""

from __future__ import annotations

from datetime import UTC, datetime

from parley.memory.context import Rendering
from parley.memory.representation import Representation
from parley.store.models import Observation

MAX_SOURCES_SHOWN = 5  # an inductive conclusion's sources, as Honcho 3 lists them
SECTIONS = (
    ("explicit", "## Explicit Observations\n"),
    ("deductive", "## Deductive Observations\n"),
    ("inductive", "## Inductive Observations\n"),
    ("contradiction", "## Contradictions\n"),
)


def _stamp(when: datetime) -> str:
    when = when.astimezone(UTC) if when.tzinfo is not None else when
    return str(when.replace(microsecond=0, tzinfo=None))


def observation_markdown(row: Observation) -> str:
    """One conclusion's lines (all but an explicit one's end with the blank line Honcho 3 puts
    after it)."""
    if row.level == "explicit":
        return f"[{_stamp(row.created_at)}] {row.content}"
    sources = list(row.premises)
    if row.level == "deductive":
        lines = [f"[{_stamp(row.created_at)}] {row.content}"]
        if sources:
            lines += ["   Premises:", *(f"   - {premise}" for premise in sources)]
    elif row.level == "inductive":
        lines = [f" **Pattern** [medium]: {row.content}", "   **Type**: pattern"]
        if sources:
            lines.append("   **Sources**:")
            lines += [f"   - {source}" for source in sources[:MAX_SOURCES_SHOWN]]
            if len(sources) > MAX_SOURCES_SHOWN:
                lines.append(f"   - ... and {len(sources) - MAX_SOURCES_SHOWN} more")
    else:  # a contradiction
        lines = [f" **CONTRADICTION**: {row.content}"]
        if sources:
            lines += ["   **Conflicting statements**:", *(f"   - {s}" for s in sources)]
    return "\n".join([*lines, ""])


def representation_markdown(representation: Representation) -> str:
    rows = sorted(representation.all(), key=lambda r: (r.created_at, r.id))
    parts: list[str] = []
    for level, heading in SECTIONS:
        of_level = [observation_markdown(r) for r in rows if r.level == level]
        if of_level:
            parts += [heading, *of_level, ""]
    return "\n".join(parts)


MARKDOWN = Rendering(line=observation_markdown, whole=representation_markdown)
