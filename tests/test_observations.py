"""Observations (and their `/conclusions` alias): a manual create stores what it is given, the
deriver's writes merge near-duplicates; list, semantic query (of one observer/observed pair),
delete, on both backends, through HTTP and the real SDK."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from conftest import run_latest_honcho_core
from parley.memory.observations import NewObservation, get_observation, store_observations
from parley.store.models import Observation

W = "w"
BASE = f"/v2/workspaces/{W}/observations"
FACTS = [
    "Alice has a golden retriever",
    "Alice works as a nurse at the city hospital",
    "Alice is learning to play the violin",
]


def obs(content: str, observed: str = "alice", session: str = "s1") -> dict[str, str]:
    return {
        "content": content,
        "observer_id": "alice",
        "observed_id": observed,
        "session_id": session,
    }


@pytest.fixture
def seeded(client: TestClient) -> TestClient:
    assert client.post("/v2/workspaces", json={"id": W}).status_code == 200
    for peer in ("alice", "bob"):
        assert client.post(f"/v2/workspaces/{W}/peers", json={"id": peer}).status_code == 200
    for session in ("s1", "s2"):
        response = client.post(f"/v2/workspaces/{W}/sessions", json={"id": session})
        assert response.status_code == 200
    return client


def create(client: TestClient, *items: dict[str, str], base: str = BASE) -> list[dict[str, Any]]:
    response = client.post(base, json={"observations": list(items)})
    assert response.status_code == 200, response.text
    return list(response.json())


def listed(client: TestClient, filters: dict[str, Any] | None = None, **params: Any) -> list[str]:
    response = client.post(f"{BASE}/list", json={"filters": filters}, params=params)
    assert response.status_code == 200, response.text
    return [o["content"] for o in response.json()["items"]]


def query(
    client: TestClient,
    text: str,
    base: str = BASE,
    pair: tuple[str, str] = ("alice", "alice"),
    **body: Any,
) -> list[str]:
    """A semantic query of one (observer, observed) pair, which Honcho requires."""
    filters = {"observer": pair[0], "observed": pair[1]} | body.pop("filters", {})
    response = client.post(f"{base}/query", json={"query": text, "filters": filters} | body)
    assert response.status_code == 200, response.text
    return [o["content"] for o in response.json()]


def derive(client: TestClient, *items: dict[str, str]) -> list[dict[str, Any]]:
    """Store facts the way the deriver and dreams do (merging near-duplicates); returns, per
    input, the id and times_derived of the row that stands for it."""
    state = client.app.state.parley

    async def write() -> list[dict[str, Any]]:
        news = [NewObservation(**item) for item in items]
        vectors = await state.embedder.embed([n.content for n in news])
        async with state.database.read() as db:
            await state.observation_index.warm(
                db, {(W, n.observer_id, n.observed_id) for n in news}
            )
        async with state.database.write() as db:
            rows = await store_observations(db, W, news, vectors, state.observation_index)
            return [{"id": r.id, "times_derived": r.times_derived} for r in rows]

    return client.portal.call(write)


def db_rows(client: TestClient) -> list[tuple[str, str, int]]:
    async def read() -> list[tuple[str, str, int]]:
        async with client.app.state.parley.database.read() as db:
            rows = await db.execute(
                select(
                    Observation.content, Observation.observed_id, Observation.times_derived
                ).order_by(Observation.created_at)
            )
            return [tuple(r) for r in rows]

    return client.portal.call(read)


def times_derived(client: TestClient, observation_id: str) -> int:
    async def read() -> int:
        async with client.app.state.parley.database.read() as db:
            row = await get_observation(db=db, workspace_id=W, observation_id=observation_id)
            return row.times_derived

    return client.portal.call(read)


def test_create_list_query_delete(seeded: TestClient) -> None:
    created = create(seeded, *(obs(f) for f in FACTS))
    assert [o["content"] for o in created] == FACTS
    first = created[0]
    honcho_fields = {"id", "content", "observer_id", "observed_id", "session_id", "created_at"}
    parley_fields = {"level", "premises", "message_ids", "times_derived", "superseded_by"}
    assert set(first) == honcho_fields | parley_fields
    assert (first["level"], first["premises"], first["times_derived"]) == ("explicit", [], 1)
    assert first["superseded_by"] is None
    assert (first["observer_id"], first["observed_id"], first["session_id"]) == (
        "alice",
        "alice",
        "s1",
    )
    assert all(len(o["id"]) == 21 for o in created)

    page = seeded.post(f"{BASE}/list", json={}).json()
    assert (page["total"], page["page"], page["size"], page["pages"]) == (3, 1, 50, 1)
    assert [o["content"] for o in page["items"]] == FACTS[::-1]  # newest first
    assert listed(seeded, reverse=True) == FACTS
    assert listed(seeded, size=2, page=2, reverse=True) == [FACTS[2]]

    assert query(seeded, "pets", top_k=1) == ["Alice has a golden retriever"]
    assert query(seeded, "what is her job", top_k=1) == [FACTS[1]]
    assert query(seeded, "musical instrument", top_k=1) == [FACTS[2]]
    assert sorted(query(seeded, "pets")) == sorted(FACTS)  # top_k 10 > 3 rows

    response = seeded.delete(f"{BASE}/{first['id']}")
    assert response.status_code == 200
    assert response.json() == {"message": "Observation deleted successfully"}
    assert listed(seeded, reverse=True) == FACTS[1:]
    assert "Alice has a golden retriever" not in query(seeded, "pets")
    assert seeded.delete(f"{BASE}/{first['id']}").status_code == 404
    assert seeded.delete(f"{BASE}/nope").json() == {
        "detail": "Observation nope not found in workspace w"
    }


def test_a_manual_create_stores_every_input_as_given(seeded: TestClient) -> None:
    """Honcho stores one document per input of POST /observations: nothing merges, not even
    an exact repeat, and each row keeps its own session."""
    numbered = create(seeded, *(obs(f"Observation {i}") for i in range(15)))
    assert [o["content"] for o in numbered] == [f"Observation {i}" for i in range(15)]
    assert len({o["id"] for o in numbered}) == 15
    assert listed(seeded, {"content": {"contains": "Observation"}}, reverse=True) == [
        f"Observation {i}" for i in range(15)
    ]
    [in_s1] = create(seeded, obs("Alice has a golden retriever"))
    [in_s2] = create(seeded, obs("Alice has a golden retriever", session="s2"))
    twice = create(seeded, obs("Alice swims"), obs("Alice swims"))
    assert in_s2["id"] != in_s1["id"] and twice[0]["id"] != twice[1]["id"]
    assert (in_s1["session_id"], in_s2["session_id"]) == ("s1", "s2")
    assert [o["times_derived"] for o in (in_s1, in_s2, *twice)] == [1, 1, 1, 1]
    assert listed(seeded, {"session_id": "s2"}) == ["Alice has a golden retriever"]
    assert [row for row in db_rows(seeded) if not row[0].startswith("Observation")] == [
        ("Alice has a golden retriever", "alice", 1),
        ("Alice has a golden retriever", "alice", 1),
        ("Alice swims", "alice", 1),
        ("Alice swims", "alice", 1),
    ]


def test_derived_near_duplicates_merge(seeded: TestClient) -> None:
    [first] = derive(seeded, obs("Alice has a golden retriever"))
    [again] = derive(seeded, obs("Alice has a golden retriever"))
    assert again["id"] == first["id"]
    assert times_derived(seeded, first["id"]) == 2

    [other] = derive(seeded, obs("Alice is allergic to peanuts"))
    assert other["id"] != first["id"]
    [about_bob] = derive(seeded, obs("Alice has a golden retriever", observed="bob"))
    assert about_bob["id"] != first["id"]

    # within one batch: the second copy merges into the first one of the batch
    batch = derive(seeded, obs("Bob plays chess"), obs("Bob plays chess"), obs("Bob swims"))
    assert batch[0]["id"] == batch[1]["id"] != batch[2]["id"]
    assert times_derived(seeded, batch[0]["id"]) == 2

    assert db_rows(seeded) == [
        ("Alice has a golden retriever", "alice", 2),
        ("Alice is allergic to peanuts", "alice", 1),
        ("Alice has a golden retriever", "bob", 1),
        ("Bob plays chess", "alice", 2),
        ("Bob swims", "alice", 1),
    ]


def test_distance_threshold(seeded: TestClient) -> None:
    create(seeded, obs("Alice has a golden retriever"), obs("The quarterly tax report is due"))
    assert query(seeded, "Alice has a golden retriever", distance=0.01) == [
        "Alice has a golden retriever"
    ]
    assert query(seeded, "dog", distance=0.0) == []
    assert query(seeded, "dog", distance=1.0) == [
        "Alice has a golden retriever",
        "The quarterly tax report is due",
    ]


def test_filters(seeded: TestClient) -> None:
    create(
        seeded,
        obs("Alice has a golden retriever"),
        obs("Bob has a tabby cat", observed="bob", session="s2"),
    )
    assert listed(seeded, {"observed_id": "bob"}) == ["Bob has a tabby cat"]
    assert listed(seeded, {"session_id": "s1"}) == ["Alice has a golden retriever"]
    assert listed(seeded, {"level": "explicit"}, reverse=True) == [
        "Alice has a golden retriever",
        "Bob has a tabby cat",
    ]
    assert listed(seeded, {"content": {"icontains": "TABBY"}}) == ["Bob has a tabby cat"]
    assert listed(seeded, {"NOT": [{"observed_id": "bob"}]}) == ["Alice has a golden retriever"]
    assert query(seeded, "pets") == ["Alice has a golden retriever"]
    assert query(seeded, "pets", pair=("alice", "bob")) == ["Bob has a tabby cat"]
    assert query(seeded, "pets", filters={"observer_id": "bob"}) == []
    assert query(seeded, "pets", filters={"session_id": "s2"}) == []
    # Honcho's keys for documents: the public names and the column names themselves
    assert listed(seeded, {"observer": "alice", "observed": "bob"}) == ["Bob has a tabby cat"]
    assert listed(seeded, {"session_name": "s1", "workspace_name": W}) == [
        "Alice has a golden retriever"
    ]
    assert listed(seeded, {"observed": {"in": ["bob", "x"]}, "times_derived": 1}) == [
        "Bob has a tabby cat"
    ]
    assert listed(seeded, {"times_derived": {"gt": 1}}) == []
    for path, body in (
        ("list", {"filters": {"nope": 1}}),
        ("query", {"query": "x", "filters": {"observer": "alice", "observed": "alice", "x": 1}}),
        ("list", {"filters": {"peer_id": "alice"}}),
        ("list", {"filters": {"metadata": {"a": 1}}}),
    ):
        response = seeded.post(f"{BASE}/{path}", json=body)
        assert response.status_code == 422, body
        assert response.json()["detail"].startswith("unknown filter field"), body


@pytest.mark.parametrize(
    "filters",
    [
        None,
        {},
        {"observer": "alice"},
        {"observed_id": "alice"},
        {"observer": "alice", "observed": ""},
        {"observer_id": "alice", "session_id": "s1"},
        {"AND": [{"observer": "alice"}, {"observed": "alice"}]},
    ],
)
def test_a_query_must_name_observer_and_observed(seeded: TestClient, filters: Any) -> None:
    create(seeded, obs("Alice has a golden retriever"))
    response = seeded.post(f"{BASE}/query", json={"query": "pets", "filters": filters})
    assert (response.status_code, response.json()) == (
        422,
        {"detail": "observer and observed must be specified for semantic search"},
    )


def test_a_query_pair_must_be_peer_ids(seeded: TestClient) -> None:
    create(seeded, obs("Alice has a golden retriever"))
    body = {"query": "pets", "filters": {"observer": {"in": ["alice"]}, "observed": "alice"}}
    response = seeded.post(f"{BASE}/query", json=body)
    assert (response.status_code, response.json()) == (
        422,
        {"detail": "a semantic search names one observer: a peer id, got {'in': ['alice']}"},
    )
    assert query(seeded, "pets", pair=("*", "alice")) == []  # "*" names no peer, as in Honcho
    assert query(seeded, "pets", filters={"observer_id": "alice", "observed_id": "alice"}) == [
        "Alice has a golden retriever"
    ]


def test_unknown_references_are_404(seeded: TestClient) -> None:
    cases = [
        (obs("x", observed="carol"), "Peer carol not found in workspace w"),
        (obs("x") | {"observer_id": "dave"}, "Peer dave not found in workspace w"),
        (obs("x", session="s9"), "Session s9 not found in workspace w"),
    ]
    for item, detail in cases:
        response = seeded.post(BASE, json={"observations": [obs("fine"), item]})
        assert response.status_code == 404
        assert response.json() == {"detail": detail}
    response = seeded.post("/v2/workspaces/nowhere/observations", json={"observations": [obs("x")]})
    assert response.status_code == 404
    assert listed(seeded) == []  # nothing of a failed batch was stored


def test_validation_is_422(seeded: TestClient) -> None:
    bodies: list[Any] = [
        {"observations": []},
        {"observations": [obs(f"fact {i}") for i in range(101)]},
        {"observations": [obs("")]},
        {"observations": [obs("x" * 65_536)]},
        {"observations": [{"content": "x"}]},
    ]
    for body in bodies:
        assert seeded.post(BASE, json=body).status_code == 422
    for body in (
        {"query": "x", "top_k": 0},
        {"query": "x", "top_k": 101},
        {"query": "x", "distance": 1.5},
    ):
        assert seeded.post(f"{BASE}/query", json=body).status_code == 422
    assert listed(seeded) == []
    assert len(create(seeded, *(obs(f"fact number {i}") for i in range(100)))) == 100


def test_deleting_the_session_removes_its_observations(seeded: TestClient) -> None:
    create(seeded, obs("Alice has a golden retriever"), obs("Alice likes jazz", session="s2"))
    assert seeded.delete(f"/v2/workspaces/{W}/sessions/s1").status_code == 202
    assert listed(seeded) == ["Alice likes jazz"]
    assert query(seeded, "pets") == ["Alice likes jazz"]
    assert db_rows(seeded) == [("Alice likes jazz", "alice", 1)]


def test_conclusions_alias(seeded: TestClient) -> None:
    alias = f"/v2/workspaces/{W}/conclusions"
    [made] = create(seeded, obs("Alice has a golden retriever"), base=alias)
    page = seeded.post(f"{alias}/list", json={}).json()
    assert [o["id"] for o in page["items"]] == [made["id"]]
    assert query(seeded, "pets", base=alias) == ["Alice has a golden retriever"]
    assert seeded.delete(f"{alias}/{made['id']}").status_code == 200
    assert listed(seeded) == []
    schema_paths = seeded.get("/openapi.json").json()["paths"]
    assert "/v2/workspaces/{workspace_id}/observations" in schema_paths
    assert not [p for p in schema_paths if p.startswith("/v2/") and "conclusions" in p]


def test_sdk(seeded: TestClient, honcho_for: Any) -> None:
    core = honcho_for(W).core
    observations = core.workspaces.observations
    created = observations.create(W, observations=[obs(f) for f in FACTS])
    assert [o.content for o in created] == FACTS
    assert [o.content for o in observations.list(W, reverse=True)] == FACTS
    found = observations.list(W, filters={"content": {"contains": "nurse"}})
    assert [o.id for o in found] == [created[1].id]
    pair = {"observer": "alice", "observed": "alice"}
    nearest = observations.query(W, query="pets", top_k=1, filters=pair)
    assert [o.content for o in nearest] == ["Alice has a golden retriever"]
    observations.delete(created[0].id, workspace_id=W)
    assert [o.content for o in observations.list(W, reverse=True)] == FACTS[1:]
    assert "Alice has a golden retriever" not in [
        o.content for o in observations.query(W, query="pets", filters=pair)
    ]


def test_sdk_observation_scopes(seeded: TestClient, honcho_for: Any) -> None:
    """honcho-ai's scopes list and query with `observer`/`observed` filters, and create one
    row per input."""
    alice = honcho_for(W).peer("alice")
    own = alice.observations
    made = own.create(
        [{"content": f"Observation {i}", "session_id": "s1"} for i in range(15)]
        + [{"content": "Alice has a golden retriever", "session_id": "s2"}]
    )
    assert len({o.id for o in made}) == 16
    about_bob = alice.observations_of("bob")
    [bob_fact] = about_bob.create({"content": "Bob has a tabby cat", "session_id": "s2"})
    assert (bob_fact.observer_id, bob_fact.observed_id, bob_fact.session_id) == (
        "alice",
        "bob",
        "s2",
    )
    listed_own = own.list(size=100)
    assert sorted(o.content for o in listed_own) == sorted(
        [f"Observation {i}" for i in range(15)] + ["Alice has a golden retriever"]
    )
    assert [o.content for o in own.list(session="s2")] == ["Alice has a golden retriever"]
    assert [o.content for o in about_bob.list()] == ["Bob has a tabby cat"]
    assert [o.content for o in own.query("pets", top_k=1)] == ["Alice has a golden retriever"]
    assert [o.content for o in about_bob.query("pets")] == ["Bob has a tabby cat"]
    assert [o.content for o in honcho_for(W).peer("bob").observations.query("pets")] == []


LATEST_SCRIPT = r"""
import json, sys
import honcho_core
from honcho_core import Honcho

assert honcho_core.__version__ == "1.11.0", honcho_core.__version__
client = Honcho(base_url=sys.argv[1], max_retries=0)
ws = client.workspaces.get_or_create(id="latest-conclusions").id
client.workspaces.sessions.get_or_create(workspace_id=ws, id="s", peers={"alice": {}})
conclusions = client.workspaces.conclusions
made = conclusions.create(ws, conclusions=[
    {"content": "Alice has a golden retriever", "observer_id": "alice", "observed_id": "alice",
     "session_id": "s"},
    {"content": "Alice works night shifts", "observer_id": "alice", "observed_id": "alice",
     "session_id": "s"},
])
nearest = conclusions.query(
    ws, query="pets", top_k=1, filters={"observer": "alice", "observed": "alice"}
)
conclusions.delete(made[0].id, workspace_id=ws)
listed = conclusions.list(ws)
print(json.dumps({
    "made": [c.content for c in made],
    "nearest": [c.content for c in nearest],
    "listed": [c.content for c in listed.items],
}))
"""


def test_newest_honcho_core_conclusions(served_shared: str) -> None:
    assert run_latest_honcho_core(LATEST_SCRIPT, served_shared) == {
        "made": ["Alice has a golden retriever", "Alice works night shifts"],
        "nearest": ["Alice has a golden retriever"],
        "listed": ["Alice works night shifts"],
    }


def test_postgres_nearest_observations_use_the_hnsw_index(seeded: TestClient, backend: str) -> None:
    """The distance expression must be the index's, or pgvector scans every row."""
    if backend != "postgres":
        pytest.skip("pgvector only")
    import numpy as np
    from sqlalchemy import text

    from parley.memory.observation_index import cosine_distance

    create(seeded, *(obs(f) for f in FACTS))
    dims = seeded.app.state.parley.embedder.dimensions

    async def plan() -> str:
        async with seeded.app.state.parley.database.read() as db:
            await db.execute(text("SET LOCAL enable_seqscan = off"))
            stmt = (
                select(Observation.id)
                .order_by(cosine_distance(np.ones(dims, dtype=np.float32)))
                .limit(3)
            )
            sql = str(stmt.compile(db.bind))  # our expression, with the query vector inlined
            vector = "[" + ",".join(["1"] * dims) + "]"
            sql = sql.replace("$1", f"'{vector}'").replace("$2::INTEGER", "3")
            rows = await db.execute(text(f"EXPLAIN {sql}"))
            return "\n".join(r[0] for r in rows)

    assert f"ix_observations_hnsw_{dims}" in seeded.portal.call(plan)


def test_the_near_duplicate_check_follows_deletes_and_new_rows(seeded: TestClient) -> None:
    """On SQLite the check reads a per-pair cache: new rows are appended to it, a delete makes
    it reload. Deleted facts never absorb new ones; new facts absorb their repeats (manual
    creates, which never merge, are absorbed by later derived repeats too)."""
    first = derive(seeded, obs(FACTS[0]))[0]
    [second] = create(seeded, obs(FACTS[1]))  # appended to the cached pair
    again = derive(seeded, obs(FACTS[1]))[0]
    assert again["id"] == second["id"] and again["times_derived"] == 2
    assert seeded.delete(f"{BASE}/{first['id']}").status_code == 200
    reborn = derive(seeded, obs(FACTS[0]))[0]
    assert reborn["id"] != first["id"] and reborn["times_derived"] == 1
    assert sorted(listed(seeded)) == sorted([FACTS[0], FACTS[1]])
