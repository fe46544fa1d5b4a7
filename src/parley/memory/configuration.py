"""Reasoning configuration, resolved message, then session, then workspace, then server.

Each level is the stored `configuration` dict of that resource (Honcho's shape: sections
`deriver`, `peer_card`, `summary`, `dream`); a value of None or a missing key defers to the next
level. Turning the deriver off also turns off peer cards and dreams, as in Honcho.

Honcho 3 names the deriver section `reasoning` (/v3 stores it as `deriver`, see
api/honcho_v3/schemas.py) and reads, within one level, `reasoning.enabled`, then
`deriver.enabled`, then a legacy top-level `skip_deriver: true` as off
(`utils/config_helpers.py:normalize_configuration_dict`). A message's configuration has only the
reasoning section: summaries and dreams are set per session or workspace; a dream made for no
session reads the workspace alone.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ReasoningDefaults:
    """The server level: from Settings, and whether each role has a model."""

    short_summary_every: int = 20
    long_summary_every: int = 60
    summaries_possible: bool = False  # a summary model is configured
    cards_possible: bool = False  # a deriver model is configured (it writes peer cards)
    deriver_enabled: bool = True


@dataclass(frozen=True)
class ReasoningConfig:
    deriver_enabled: bool
    peer_card_use: bool
    peer_card_create: bool
    summary_enabled: bool
    short_summary_every: int
    long_summary_every: int
    dream_enabled: bool
    custom_instructions: str | None = None  # for the deriver's extraction prompt


def _lookup(levels: list[Mapping[str, Any]], section: str, key: str, default: Any) -> Any:
    for level in levels:
        block = level.get(section)
        if isinstance(block, Mapping) and block.get(key) is not None:
            return block[key]
    return default


REASONING_SECTIONS = ("reasoning", "deriver")  # within a level, the first that sets a key wins


def _reasoning(levels: list[Mapping[str, Any]], key: str, default: Any) -> Any:
    for level in levels:
        for section in REASONING_SECTIONS:
            block = level.get(section)
            if isinstance(block, Mapping) and block.get(key) is not None:
                return block[key]
        if key == "enabled" and level.get("skip_deriver") is True:
            return False
    return default


def resolve(
    defaults: ReasoningDefaults,
    *,
    workspace: Mapping[str, Any] | None = None,
    session: Mapping[str, Any] | None = None,
    message: Mapping[str, Any] | None = None,
) -> ReasoningConfig:
    levels = [level for level in (message, session, workspace) if isinstance(level, Mapping)]
    deriver = bool(_reasoning(levels, "enabled", defaults.deriver_enabled))
    instructions = _reasoning(levels, "custom_instructions", None)
    instructions = instructions.strip() if isinstance(instructions, str) else None
    # summaries are set per session or workspace, never per message
    session_levels = [level for level in (session, workspace) if isinstance(level, Mapping)]
    short_every = _int(_lookup(session_levels, "summary", "messages_per_short_summary", None))
    long_every = _int(_lookup(session_levels, "summary", "messages_per_long_summary", None))
    return ReasoningConfig(
        deriver_enabled=deriver,
        peer_card_use=deriver and bool(_lookup(levels, "peer_card", "use", True)),
        peer_card_create=deriver and bool(_lookup(levels, "peer_card", "create", True)),
        summary_enabled=defaults.summaries_possible
        and bool(_lookup(session_levels, "summary", "enabled", True)),
        short_summary_every=short_every or defaults.short_summary_every,
        long_summary_every=long_every or defaults.long_summary_every,
        dream_enabled=deriver and bool(_lookup(session_levels, "dream", "enabled", True)),
        custom_instructions=instructions or None,
    )


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None
