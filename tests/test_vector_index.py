"""The SQLite in-memory vector index (per-scope row lists) and the scope tokens of full-text
search: exact answers for every scope, kept right after writes and deletes, and never another
workspace's messages (ids of sessions and peers repeat across workspaces on purpose)."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pytest
from fastapi.testclient import TestClient

from parley.memory.vector_index import Collection, View, ranked
from parley.store import migrate

DIMS = 8


class Row(NamedTuple):  # a row as the index reads it: (seq, session_id, peer_id, embedding)
    seq: int
    session_id: str
    peer_id: str
    embedding: np.ndarray


def random_rows(rng: np.random.Generator, first_seq: int, n: int) -> list[Row]:
    vectors = rng.standard_normal((n, DIMS)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return [
        Row(
            seq=first_seq + i,
            session_id=f"s{rng.integers(5)}",
            peer_id=f"p{rng.integers(4)}",
            embedding=vectors[i],
        )
        for i in range(n)
    ]


def brute_force(
    rows: list[Row], query: np.ndarray, k: int, **scope: Any
) -> list[tuple[int, float]]:
    """The answer computed the plain way: filter in Python, score each row, sort."""
    kept = [
        r
        for r in rows
        if scope.get("session_id") in (None, r.session_id)
        and scope.get("peer_id") in (None, r.peer_id)
        and (scope.get("sessions") is None or r.session_id in scope["sessions"])
        and (scope.get("allowed") is None or r.seq in set(scope["allowed"].tolist()))
    ]
    scored = [(r.seq, float(np.dot(r.embedding, query))) for r in kept]
    scored.sort(key=lambda item: (-item[1], -item[0]))
    return [(seq, 1.0 - score) for seq, score in scored[:k]]


SCOPES: list[dict[str, Any]] = [
    {},
    {"session_id": "s1"},
    {"peer_id": "p2"},
    {"session_id": "s3", "peer_id": "p0"},
    {"peer_id": "p1", "sessions": ["s0", "s4", "missing"]},
    {"sessions": ["s2", "s4"]},
    {"session_id": "missing"},
    {"peer_id": "missing"},
    {"sessions": []},
    {"allowed": np.arange(10, 300, 3, dtype=np.int64)},
    {"peer_id": "p3", "allowed": np.arange(1, 400, 2, dtype=np.int64)},
]


@pytest.mark.parametrize("scope", SCOPES, ids=lambda s: ",".join(s) or "workspace")
def test_every_scope_matches_brute_force_across_appends(scope: dict[str, Any]) -> None:
    rng = np.random.default_rng(7)
    collection = Collection(dims=DIMS)
    rows: list[Row] = []
    for batch in (3, 1, 250, 40, 700):  # appends of every size, buffers grow several times
        new = random_rows(rng, first_seq=len(rows) * 2 + 1, n=batch)  # seqs with gaps
        new = [Row(r.seq + i, r.session_id, r.peer_id, r.embedding) for i, r in enumerate(new)]
        rows += new
        collection.append(new)
        for _ in range(3):
            query = rng.standard_normal(DIMS).astype(np.float32)
            query /= np.linalg.norm(query)
            for k in (1, 5, 30, 5000):
                got = collection.top(query, k, **scope)
                want = brute_force(rows, query, k, **scope)
                assert [seq for seq, _ in got] == [seq for seq, _ in want]
                assert np.allclose([d for _, d in got], [d for _, d in want], atol=1e-5)
                for parts in (2, 3):  # scored in pieces (threads, for a whole workspace)
                    merged = in_pieces(collection.view(**scope), query, k, parts)
                    assert [seq for seq, _ in merged] == [seq for seq, _ in want]


def in_pieces(view: View, query: np.ndarray, k: int, parts: int) -> list[tuple[int, float]]:
    found = [piece.best(query, k) for piece in view.split(parts)]
    assert sum(piece.size for piece in view.split(parts)) == view.size
    scores = np.concatenate([scores for scores, _ in found])
    return ranked(scores, np.concatenate([seqs for _, seqs in found]), k)


def test_equal_scores_rank_newest_first_and_views_stay_fixed() -> None:
    vector = np.eye(DIMS, dtype=np.float32)[0]
    collection = Collection(dims=DIMS)
    collection.append([Row(seq, "s", "p", vector) for seq in (4, 9, 11)])
    view = collection.view(session_id="s")
    collection.append([Row(20, "s", "p", vector)])  # after the view was taken
    assert [seq for seq, _ in view.top(vector, 10)] == [11, 9, 4]
    assert [seq for seq, _ in view.top(vector, 2)] == [11, 9]  # ties cut: the newest stay
    assert [seq for seq, _ in in_pieces(view, vector, 2, parts=3)] == [11, 9]
    assert [seq for seq, _ in collection.top(vector, 10, peer_id="p")] == [20, 11, 9, 4]
    assert collection.top(vector, 0) == []


# --- through the app, on both backends ------------------------------------------------------

# Two workspaces with the same session and peer ids, and the same words.
WORKSPACES = ("tenant-a", "tenant-b")
MESSAGES = [
    ("s1", "alice", "I adopted a golden retriever puppy"),
    ("s1", "bob", "The golden gate bridge was foggy"),
    ("s2", "alice", "My cello lessons start on Monday"),
    ("s2", "bob", "A retriever dog fetched the ball"),
]


def add(client: TestClient, workspace: str, session: str, peer: str, text: str) -> None:
    response = client.post(
        f"/v2/workspaces/{workspace}/sessions/{session}/messages/",
        json={"messages": [{"peer_id": peer, "content": f"{text} ({workspace})"}]},
    )
    assert response.status_code == 200, response.text


def catch_up(client: TestClient) -> None:
    client.portal.call(client.app.state.parley.indexer.catch_up)


def found(client: TestClient, workspace: str, path: str, query: str, mode: str) -> list[str]:
    """Contents found; `mode` picks one side alone, through the service (the API has none)."""
    from parley.memory.search import SearchScope

    state = client.app.state.parley
    parts = path.strip("/").split("/")
    scope = SearchScope(
        workspace,
        session_id=parts[1] if parts[0] == "sessions" else None,
        peer_id=parts[1] if parts[0] == "peers" else None,
    )

    async def run() -> list[str]:
        rows = await state.search.search(scope, query, filters=None, limit=50, mode=mode)
        return [row.content for row in rows]

    return client.portal.call(run)


@pytest.fixture
def tenants(client: TestClient) -> TestClient:
    for workspace in WORKSPACES:
        assert client.post("/v2/workspaces", json={"id": workspace}).status_code == 200
        for session, peer, text in MESSAGES:
            add(client, workspace, session, peer, text)
    catch_up(client)
    return client


@pytest.mark.parametrize("mode", ["hybrid", "vector", "text"])
def test_scoped_searches_never_cross_workspaces(tenants: TestClient, mode: str) -> None:
    query = "golden retriever dog cello"
    for workspace in WORKSPACES:
        everything = found(tenants, workspace, "", query, mode)
        assert everything and all(t.endswith(f"({workspace})") for t in everything)
        if mode != "text":  # every message is some distance away
            assert len(everything) == len(MESSAGES)
        session = found(tenants, workspace, "/sessions/s1", query, mode)
        assert sorted(session) == sorted(f"{t} ({workspace})" for s, _, t in MESSAGES if s == "s1")
        peer = found(tenants, workspace, "/peers/alice", query, mode)
        assert sorted(peer) == sorted(f"{t} ({workspace})" for _, p, t in MESSAGES if p == "alice")


def test_index_follows_writes_and_deletes(tenants: TestClient) -> None:
    query = "a violin recital"
    assert found(tenants, "tenant-a", "/sessions/s1", query, "vector")  # the index is loaded
    add(tenants, "tenant-a", "s3", "alice", "My violin recital went well")
    add(tenants, "tenant-b", "s3", "alice", "My violin recital went well")
    catch_up(tenants)
    # appended to the cached collection: a new session, an existing peer
    assert found(tenants, "tenant-a", "/sessions/s3", query, "vector") == [
        "My violin recital went well (tenant-a)"
    ]
    assert found(tenants, "tenant-a", "/peers/alice", query, "hybrid")[0] == (
        "My violin recital went well (tenant-a)"
    )
    assert tenants.delete("/v2/workspaces/tenant-a/sessions/s3").status_code == 202
    for mode in ("hybrid", "vector", "text"):
        for path in ("", "/peers/alice"):  # the session itself is gone (404)
            assert "My violin recital went well (tenant-a)" not in found(
                tenants, "tenant-a", path, query, mode
            ), (mode, path)
    # the other workspace's copy is untouched
    assert found(tenants, "tenant-b", "/sessions/s3", query, "text") == [
        "My violin recital went well (tenant-b)"
    ]


def test_a_small_workspace_beside_a_large_one(tenants: TestClient) -> None:
    """Full text in a workspace that holds most messages skips its scope token; a small one
    uses it: both find only their own."""
    for i in range(12):
        add(tenants, "tenant-b", "s9", "carol", f"golden retriever note {i}")
    catch_up(tenants)
    small = found(tenants, "tenant-a", "", "golden retriever", "text")
    large = found(tenants, "tenant-b", "", "golden retriever", "text")
    assert sorted(small) == sorted(
        f"{t} (tenant-a)" for _, _, t in MESSAGES if "golden" in t or "retriever" in t
    )
    assert len(large) == 3 + 12 and all(t.endswith("(tenant-b)") for t in large)


# --- migration 0009 on existing data (SQLite) ----------------------------------------------


def test_scope_tokens_are_rebuilt_by_migration_0009(tmp_path: Path) -> None:
    from parley.memory.search import peer_token, session_token, workspace_token

    url = f"sqlite+aiosqlite:///{tmp_path / 'old.db'}"
    migrate.upgrade(url, "0007")
    con = sqlite3.connect(tmp_path / "old.db")
    now = "2025-01-01 00:00:00.000000"
    rows = {
        "workspaces": {"id": "w", "metadata": "{}", "configuration": "{}"},
        "sessions": {"workspace_id": "w", "id": "s", "is_active": 1},
        "peers": {"workspace_id": "w", "id": "p"},
        "messages": {"id": "m1", "workspace_id": "w", "session_id": "s", "peer_id": "p"},
    }
    rows["sessions"] |= {"metadata": "{}", "configuration": "{}"}
    rows["peers"] |= {"metadata": "{}", "configuration": "{}"}
    rows["messages"] |= {"content": "golden puppies", "metadata": "{}"}
    rows["messages"] |= {"internal_metadata": "{}", "token_count": 2}
    for name, row in rows.items():
        row = row | {"created_at": now}
        marks = ", ".join("?" * len(row))
        con.execute(f"INSERT INTO {name} ({', '.join(row)}) VALUES ({marks})", list(row.values()))
    con.commit()
    con.close()
    migrate.upgrade(url)
    con = sqlite3.connect(tmp_path / "old.db")

    def matches(token: str) -> list[int]:
        rows = con.execute(
            "SELECT rowid FROM messages_fts WHERE messages_fts MATCH ?",
            (f'content : ("puppy") AND scope : {token}',),
        )
        return [r[0] for r in rows]

    seq = con.execute("SELECT seq FROM messages").fetchone()[0]
    assert matches(workspace_token("w")) == [seq]
    assert matches(session_token("w", "s")) == [seq]
    assert matches(peer_token("w", "p")) == [seq]
    assert matches(session_token("x", "s")) == []
    con.execute("DELETE FROM messages")
    con.commit()
    assert matches(session_token("w", "s")) == []
    con.close()
