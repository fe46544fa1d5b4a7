"""The real Honcho SDK drives the core resources end to end, on both backends."""

from __future__ import annotations

from typing import Any


def test_sdk_workspace_peers_sessions_messages(honcho: Any) -> None:
    alice = honcho.peer("alice", metadata={"role": "user"})
    bot = honcho.peer("bot")
    session = honcho.session("s1", metadata={"topic": "travel"})
    session.add_peers([alice, bot])
    sent = session.add_messages([alice.message("I love Lisbon 🇵🇹"), bot.message("Noted!")])

    assert [m.content for m in sent] == ["I love Lisbon 🇵🇹", "Noted!"]
    assert [m.peer_id for m in sent] == ["alice", "bot"]
    assert all(len(m.id) == 21 for m in sent)
    assert sent[0].token_count > 0

    listed = list(session.get_messages())
    assert [m.id for m in listed] == [m.id for m in sent]
    assert sorted(p.id for p in session.get_peers()) == ["alice", "bot"]
    assert alice.get_metadata() == {"role": "user"}
    assert session.get_metadata() == {"topic": "travel"}
    assert [s.id for s in alice.get_sessions()] == ["s1"]
    assert sorted(p.id for p in honcho.get_peers()) == ["alice", "bot"]
