"""Honcho's TypeScript SDK (`@honcho-ai/sdk` 2.5.0, the newest; it speaks /v3) against a real
`parley serve`: peers, a session, messages written and listed, search at three scopes, the
queue status and a dream. `scripts/test` installs the SDK where node and npm are; without
node the test is skipped."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

RELEASE = "2.5.0"

SCRIPT = r"""
const { Honcho } = require("@honcho-ai/sdk");
(async () => {
  const honcho = new Honcho({ baseURL: process.argv[2], workspaceId: "v3-ts", maxRetries: 0 });
  const alice = await honcho.peer("alice", { metadata: { role: "user" } });
  const bob = await honcho.peer("bob");
  const session = await honcho.session("chat");
  await session.addPeers([alice, bob]);
  const sent = await session.addMessages([
    alice.message("I moved to Lisbon last spring.", { metadata: { k: 1 } }),
    bob.message("Lisbon is sunny."),
  ]);
  const listed = [];
  for await (const m of await session.messages()) listed.push([m.content, m.peerId, m.metadata]);
  const contents = (found) => found.map((m) => m.content).sort();
  // Parley counts messages not yet embedded as pending too (`embedding_backlog`, which the
  // SDK does not map): wait for them, so that the count below is the reasoning work alone
  const statusUrl = `${process.argv[2]}/v3/workspaces/v3-ts/queue/status?session_id=chat`;
  for (let i = 0; i < 300; i++) {
    if ((await (await fetch(statusUrl)).json()).embedding_backlog === 0) break;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  const status = await honcho.queueStatus({ session });
  console.log(JSON.stringify({
    version: require("@honcho-ai/sdk/package.json").version,
    alice: [alice.id, await alice.getMetadata()],
    sent: sent.map((m) => [m.content, m.peerId, m.sessionId, m.workspaceId]),
    listed,
    members: (await session.peers()).map((p) => p.id).sort(),
    workspace: contents(await honcho.search("Lisbon")),
    filtered: contents(await honcho.search("Lisbon", { filters: { metadata: { k: 1 } } })),
    peer: contents(await alice.search("Lisbon")),
    session: (await session.search("Lisbon", { limit: 1 })).length,
    status: [status.totalWorkUnits, status.sessions ?? null],
    dream: (await honcho.scheduleDream({ observer: alice })) ?? null,
  }));
})().catch((err) => { console.error(err); process.exit(1); });
"""


def _sdk() -> Path:
    default = Path(sys.prefix) / "extra" / f"honcho-ts-{RELEASE}"
    return Path(os.environ.get("PARLEY_TEST_HONCHO_TS") or default)


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed: no TS SDK run")
def test_honcho_ts_sdk_works_over_http(served_shared: str, tmp_path: Path) -> None:
    modules = _sdk() / "node_modules"
    if not (modules / "@honcho-ai" / "sdk").is_dir():
        pytest.fail(
            f"run the suite through ./scripts/test, which installs @honcho-ai/sdk {RELEASE}"
        )
    script = tmp_path / "smoke.js"
    script.write_text(SCRIPT)
    result = subprocess.run(
        ["node", str(script), served_shared],
        env=os.environ | {"NODE_PATH": str(modules)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    lisbon = ["I moved to Lisbon last spring.", "Lisbon is sunny."]
    assert json.loads(result.stdout) == {
        "version": RELEASE,
        "alice": ["alice", {"role": "user"}],
        "sent": [[lisbon[0], "alice", "chat", "v3-ts"], [lisbon[1], "bob", "chat", "v3-ts"]],
        "listed": [[lisbon[0], "alice", {"k": 1}], [lisbon[1], "bob", {}]],
        "members": ["alice", "bob"],
        "workspace": lisbon,
        "filtered": [lisbon[0]],
        "peer": [lisbon[0]],
        "session": 1,
        "status": [2, None],  # one reasoning task per message; no per-session part when filtered
        "dream": None,  # 204
    }
