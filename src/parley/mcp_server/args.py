"""The argument types tools share: ids as the HTTP paths take them, with what they name."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from parley.ids import MAX_NAME_LENGTH, NAME_PATTERN


def _id(description: str) -> object:
    return Field(
        min_length=1, max_length=MAX_NAME_LENGTH, pattern=NAME_PATTERN, description=description
    )


WorkspaceId = Annotated[str, _id("The workspace (a data project is the workspace of its id).")]
PeerId = Annotated[str, _id("A peer of the workspace: a user or an agent.")]
SessionId = Annotated[str, _id("A session (a conversation) of the workspace.")]
ProjectId = Annotated[str, _id("The data project (the workspace of the same id).")]
TargetId = Annotated[
    str | None,
    _id("The peer observed, when it is not the peer itself (what `peer_id` knows of them)."),
]
