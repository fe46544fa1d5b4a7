"""The newest honcho-core (1.11.0) against a real `parley serve`: it calls the later names
(`/messages` without a slash, `/queue/status`). It cannot share the venv with honcho-ai 1.6.0,
so `scripts/test` installs it into its own directory and it runs in a subprocess."""

from __future__ import annotations

from conftest import run_latest_honcho_core

SCRIPT = r"""
import json, sys, time
import honcho_core
from honcho_core import Honcho

assert honcho_core.__version__ == "1.11.0", honcho_core.__version__
client = Honcho(base_url=sys.argv[1], max_retries=0)
ws = client.workspaces.get_or_create(id="latest").id
client.workspaces.sessions.get_or_create(workspace_id=ws, id="s", peers={"alice": {}})
sent = client.workspaces.sessions.messages.create(
    "s", workspace_id=ws, messages=[{"content": "one", "peer_id": "alice"},
                                    {"content": "two", "peer_id": "bob"}])
got = client.workspaces.sessions.messages.get(sent[1].id, workspace_id=ws, session_id="s")
client.workspaces.sessions.messages.update(
    sent[0].id, workspace_id=ws, session_id="s", metadata={"k": 1})
listed = client.workspaces.sessions.messages.list("s", workspace_id=ws, filters={"metadata": {"k": 1}})
# the embedded worker works off the two messages' reasoning meanwhile: read until it has
deadline = time.monotonic() + 30
while True:
    status = client.workspaces.queue.status(ws)
    if status.pending_work_units == status.embedding_backlog or time.monotonic() > deadline:
        break
    time.sleep(0.1)
clone = client.workspaces.sessions.clone("s", workspace_id=ws)
peers = client.workspaces.sessions.peers.list(clone.id, workspace_id=ws)
print(json.dumps({
    "sent": [m.content for m in sent],
    "got": got.content,
    "listed": [m.content for m in listed.items],
    # Parley's embedding backlog (pending too) depends on how far the indexer is
    "pending": status.pending_work_units - status.embedding_backlog,
    "clone_peers": sorted(p.id for p in peers.items),
}))
"""


def test_newest_honcho_core_works(served_shared: str) -> None:
    assert run_latest_honcho_core(SCRIPT, served_shared) == {
        "sent": ["one", "two"],
        "got": "two",
        "listed": ["one"],
        "pending": 0,
        "clone_peers": ["alice", "bob"],
    }


LENIENT = r"""
import json, sys
from honcho_core import Honcho

client = Honcho(base_url=sys.argv[1], max_retries=0)
# a session's first add_peers, in a workspace nobody created: both are created
added = client.workspaces.sessions.peers.add("fresh", workspace_id="new-ws", body={"alice": {}})
members = client.workspaces.sessions.peers.list("fresh", workspace_id="new-ws")
# unknown ids read as empty
listed = client.workspaces.sessions.messages.list("nope", workspace_id="new-ws")
found = client.workspaces.sessions.search("nope", workspace_id="new-ws", query="anything")
card = client.workspaces.peers.card("nobody", workspace_id="new-ws")
status = client.workspaces.queue.status("no-such-ws")
print(json.dumps({
    "added": [added.id, added.workspace_id],
    "members": [p.id for p in members.items],
    "listed": listed.total,
    "found": list(found),
    "card": card.peer_card,
    "status": [status.total_work_units, status.sessions],
}))
"""


def test_newest_honcho_core_sees_honchos_lenient_answers(served_shared: str) -> None:
    assert run_latest_honcho_core(LENIENT, served_shared) == {
        "added": ["fresh", "new-ws"],
        "members": ["alice"],
        "listed": 0,
        "found": [],
        "card": None,
        "status": [0, None],
    }
