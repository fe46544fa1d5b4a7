"""Honcho 3's conclusions, representation, peer card and peer context (/v3) on the same rows as
/v2's observations and cards: honcho-ai 2.7.0 over real HTTP, then v3's status codes, bodies and
errors in process on both backends, and a conclusion written through one family read through
the other."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from conftest import TEST_SECRET, run_honcho_v3
from parley.auth.keys import Principal, create_key

W = "w"
V3 = f"/v3/workspaces/{W}"
V2 = f"/v2/workspaces/{W}"

SDK = r"""
import json, sys
from honcho import Honcho
from honcho.conclusions import ConclusionCreateParams

client = Honcho(base_url=sys.argv[1], workspace_id="v3-conclusions", max_retries=0)
alice, bob = client.peer("alice"), client.peer("bob")
for name in ("s1", "s2"):
    client.session(name).add_peers([alice, bob])
mine = alice.conclusions.create([
    {"content": "Alice has a golden retriever", "session_id": "s1"},
    {"content": "Alice plays the violin", "session_id": "s2"},
])
about_bob = alice.conclusions_of(bob).create(
    [ConclusionCreateParams(content="Bob is a chef", session_id="s1")]
)
sessionless = alice.conclusions_of(bob).create([{"content": "Bob cooks Thai food"}])
out = {
    "created": [[c.content, c.observer_id, c.observed_id, c.session_id, c.level] for c in mine],
    "about_bob": [[c.content, c.observed_id] for c in about_bob],
    "sessionless": [[c.content, c.session_id] for c in sessionless],
    "list": [c.content for c in alice.conclusions.list()],
    "oldest_first": [c.content for c in alice.conclusions.list(reverse=True)],
    "in_s1": [c.content for c in alice.conclusions.list(session="s1")],
    "workspace": sorted(c.content for c in client.conclusions.list()),
    "query": [c.content for c in alice.conclusions.query("dogs and pets", top_k=1)],
    "stamps": [c.created_at.isoformat() for c in [*mine, *about_bob, *sessionless]],
    "representation": alice.representation(),
    "of_bob": alice.conclusions_of("bob").representation(),
    "in_s2": alice.representation(session="s2"),
    "allowlist": alice.representation(sessions=["s1"]),
    "searched": alice.representation(search_query="pets", search_top_k=1, max_conclusions=1),
    "set_card": alice.set_card(["Has a dog"]),
    "set_bob_card": alice.set_card(["Cooks"], target=bob),
    "card": alice.get_card(),
    "bob_card": alice.get_card(target="bob"),
    "context": alice.context(target=bob).model_dump(),
}
alice.conclusions.delete(mine[0].id)
out["after_delete"] = [c.content for c in alice.conclusions.list()]
print(json.dumps(out))
"""


def stamp(iso: str) -> str:
    """Honcho 3's markdown timestamp of a conclusion created at `iso`."""
    return str(datetime.fromisoformat(iso).replace(microsecond=0, tzinfo=None))


def explicit(*lines: tuple[str, str]) -> str:
    return "\n".join(["## Explicit Observations\n", *(f"[{stamp(t)}] {c}" for t, c in lines), ""])


def test_honcho_ai_2_7_conclusions_representation_card_context(served_each_backend: str) -> None:
    got = run_honcho_v3(SDK, served_each_backend)
    dog, violin, chef, thai = got["stamps"]
    assert got["created"] == [
        ["Alice has a golden retriever", "alice", "alice", "s1", "explicit"],
        ["Alice plays the violin", "alice", "alice", "s2", "explicit"],
    ]
    assert got["about_bob"] == [["Bob is a chef", "bob"]]
    assert got["sessionless"] == [["Bob cooks Thai food", None]]
    assert got["list"] == ["Alice plays the violin", "Alice has a golden retriever"]
    assert got["oldest_first"] == ["Alice has a golden retriever", "Alice plays the violin"]
    assert got["in_s1"] == ["Alice has a golden retriever"]
    assert got["workspace"] == [
        "Alice has a golden retriever",
        "Alice plays the violin",
        "Bob cooks Thai food",
        "Bob is a chef",
    ]
    assert got["query"] == ["Alice has a golden retriever"]
    assert got["representation"] == explicit(
        (dog, "Alice has a golden retriever"), (violin, "Alice plays the violin")
    )
    of_bob = explicit((chef, "Bob is a chef"), (thai, "Bob cooks Thai food"))
    assert got["of_bob"] == of_bob
    assert got["in_s2"] == explicit((violin, "Alice plays the violin"))
    assert got["allowlist"] == explicit((dog, "Alice has a golden retriever"))
    assert got["searched"] == explicit((dog, "Alice has a golden retriever"))
    assert (got["set_card"], got["set_bob_card"]) == (["Has a dog"], ["Cooks"])
    assert (got["card"], got["bob_card"]) == (["Has a dog"], ["Cooks"])
    assert got["context"] == {
        "peer_id": "alice",
        "target_id": "bob",
        "representation": of_bob,
        "peer_card": ["Cooks"],
    }
    assert got["after_delete"] == ["Alice plays the violin"]

    # the same rows through /v2: observations and cards
    with httpx.Client(base_url=served_each_backend) as v2:
        listed = v2.post("/v2/workspaces/v3-conclusions/observations/list", json={}).json()
        assert [(o["content"], o["session_id"]) for o in listed["items"]] == [
            ("Bob cooks Thai food", None),
            ("Bob is a chef", "s1"),
            ("Alice plays the violin", "s2"),
        ]
        card = v2.get("/v2/workspaces/v3-conclusions/peers/alice/card", params={"target": "bob"})
        assert card.json() == {"peer_card": ["Cooks"]}


# --- in process, on both backends ------------------------------------------------------------


def conclusion(content: str, observed: str = "alice", session: str | None = "s1") -> dict[str, Any]:
    item: dict[str, Any] = {"content": content, "observer_id": "alice", "observed_id": observed}
    if session is not None:
        item["session_id"] = session
    return item


@pytest.fixture
def seeded(client: TestClient) -> TestClient:
    assert client.post("/v3/workspaces", json={"id": W}).status_code == 201
    for peer in ("alice", "bob"):
        assert client.post(f"{V3}/peers", json={"id": peer}).status_code == 201
    for session in ("s1", "s2"):
        made = client.post(f"{V3}/sessions", json={"id": session, "peers": {"alice": {}}})
        assert made.status_code == 201
    return client


def create(client: TestClient, *items: dict[str, Any]) -> list[dict[str, Any]]:
    response = client.post(f"{V3}/conclusions", json={"conclusions": list(items)})
    assert response.status_code == 201, response.text
    return list(response.json())


def test_create_list_query_delete_in_v3s_shape(seeded: TestClient) -> None:
    made = create(
        seeded,
        conclusion("Alice has a golden retriever"),
        conclusion("Bob is a chef", observed="bob", session="s2"),
    )
    assert [sorted(c) for c in made] == [
        ["content", "created_at", "id", "level", "observed_id", "observer_id", "session_id"]
    ] * 2
    dog, chef = made
    assert {k: v for k, v in dog.items() if k not in ("id", "created_at")} == {
        "content": "Alice has a golden retriever",
        "observer_id": "alice",
        "observed_id": "alice",
        "session_id": "s1",
        "level": "explicit",
    }
    page = seeded.post(f"{V3}/conclusions/list").json()
    assert page == {"items": [chef, dog], "total": 2, "page": 1, "size": 50, "pages": 1}
    oldest = seeded.post(f"{V3}/conclusions/list?reverse=true&size=1", json={"filters": {}})
    assert oldest.json() == {"items": [dog], "total": 2, "page": 1, "size": 1, "pages": 2}
    about_bob = seeded.post(f"{V3}/conclusions/list", json={"filters": {"observed": "bob"}})
    assert about_bob.json()["items"] == [chef]

    pair = {"observer_id": "alice", "observed_id": "alice"}
    found = seeded.post(f"{V3}/conclusions/query", json={"query": "pets", "filters": pair})
    assert (found.status_code, found.json()) == (200, [dog])
    near = {"query": "pets", "distance": 0.0001, "filters": pair}
    assert seeded.post(f"{V3}/conclusions/query", json=near).json() == []

    gone = seeded.delete(f"{V3}/conclusions/{dog['id']}")
    assert (gone.status_code, gone.content) == (204, b"")
    again = seeded.delete(f"{V3}/conclusions/{dog['id']}")
    assert again.status_code == 404
    assert again.json() == {"detail": f"Observation {dog['id']} not found in workspace w"}
    assert seeded.post(f"{V3}/conclusions/list").json()["items"] == [chef]


def test_a_conclusion_is_an_observation_both_ways(seeded: TestClient) -> None:
    [made] = create(seeded, conclusion("Alice has a golden retriever"))
    v2_rows = seeded.post(f"{V2}/observations/list").json()["items"]
    assert [(o["id"], o["content"], o["level"], o["times_derived"]) for o in v2_rows] == [
        (made["id"], "Alice has a golden retriever", "explicit", 1)
    ]
    written = seeded.post(
        f"{V2}/observations",
        json={"observations": [conclusion("Alice plays the violin", session="s2")]},
    )
    assert written.status_code == 200, written.text
    [v2_made] = written.json()
    v3_rows = seeded.post(f"{V3}/conclusions/list").json()["items"]
    assert [c["id"] for c in v3_rows] == [v2_made["id"], made["id"]]
    assert v3_rows[0] == {
        key: v2_made[key]
        for key in ("id", "content", "observer_id", "observed_id", "session_id", "level")
    } | {"created_at": v2_made["created_at"]}
    # a delete through either family is one through the other
    assert seeded.delete(f"{V2}/observations/{made['id']}").status_code == 200
    assert seeded.delete(f"{V3}/conclusions/{made['id']}").status_code == 404
    assert seeded.delete(f"{V3}/conclusions/{v2_made['id']}").status_code == 204
    assert seeded.post(f"{V2}/observations/list").json()["total"] == 0


def test_a_conclusion_may_have_no_session(seeded: TestClient) -> None:
    """As in Honcho 3: it belongs to its pair, and no session scope shows it."""
    [free] = create(seeded, conclusion("Alice likes tea", session=None))
    [dog] = create(seeded, conclusion("Alice has a golden retriever"))
    assert (free["session_id"], free["level"]) == (None, "explicit")
    v2 = seeded.post(f"{V2}/observations/list").json()["items"]
    assert [(o["content"], o["session_id"]) for o in v2] == [
        ("Alice has a golden retriever", "s1"),
        ("Alice likes tea", None),
    ]
    in_s1 = {"filters": {"session_id": "s1"}}
    assert seeded.post(f"{V3}/conclusions/list", json=in_s1).json()["items"] == [dog]
    pair = {"observer": "alice", "observed": "alice"}
    found = seeded.post(
        f"{V3}/conclusions/query", json={"query": "tea", "top_k": 1, "filters": pair}
    )
    assert found.json() == [free]
    whole = seeded.post(f"{V3}/peers/alice/representation", json={}).json()["representation"]
    assert whole == explicit(
        (free["created_at"], free["content"]), (dog["created_at"], dog["content"])
    )
    scoped = seeded.post(f"{V3}/peers/alice/representation", json={"session_id": "s1"}).json()
    assert scoped == {"representation": explicit((dog["created_at"], dog["content"]))}
    v2_rep = seeded.post(f"{V2}/peers/alice/representation", json={}).json()["representation"]
    assert [(o["content"], o["session_name"]) for o in v2_rep["explicit"]] == [
        ("Alice likes tea", None),
        ("Alice has a golden retriever", "s1"),
    ]
    # deleting a session leaves it
    assert seeded.delete(f"{V3}/sessions/s1").status_code == 202
    assert seeded.post(f"{V3}/conclusions/list").json()["items"] == [free]
    assert seeded.delete(f"{V3}/conclusions/{free['id']}").status_code == 204


def test_unknown_ids_answer_as_honcho_3(seeded: TestClient) -> None:
    # reads in a workspace nobody made are empty (Honcho 3 does not look it up)
    empty = {"items": [], "total": 0, "page": 1, "size": 50, "pages": 0}
    assert seeded.post("/v3/workspaces/nowhere/conclusions/list").json() == empty
    pair = {"observer": "alice", "observed": "alice"}
    query = seeded.post(
        "/v3/workspaces/nowhere/conclusions/query", json={"query": "x", "filters": pair}
    )
    assert (query.status_code, query.json()) == (200, [])
    # writes name what exists
    for item, detail in (
        (conclusion("x", observed="carol"), "Peer carol not found in workspace w"),
        (conclusion("x", session="s9"), "Session s9 not found in workspace w"),
    ):
        response = seeded.post(f"{V3}/conclusions", json={"conclusions": [item]})
        assert (response.status_code, response.json()) == (404, {"detail": detail})
    nowhere = seeded.post(
        "/v3/workspaces/nowhere/conclusions", json={"conclusions": [conclusion("x")]}
    )
    assert (nowhere.status_code, nowhere.json()) == (404, {"detail": "Workspace nowhere not found"})
    missing = seeded.delete(f"{V3}/conclusions/nope")
    assert missing.json() == {"detail": "Observation nope not found in workspace w"}
    assert seeded.post(f"{V3}/conclusions/list").json()["total"] == 0


def test_bad_input_is_422_in_v3s_shape(seeded: TestClient) -> None:
    def issue(path: str, body: Any) -> tuple[str, list[Any]]:
        response = seeded.post(path, json=body)
        assert response.status_code == 422, (body, response.text)
        first = response.json()["detail"][0]
        return first["type"], first["loc"]

    base = f"{V3}/conclusions"
    assert issue(base, {"conclusions": []}) == ("too_short", ["body", "conclusions"])
    assert issue(base, {"conclusions": [conclusion("x")] * 101}) == (
        "too_long",
        ["body", "conclusions"],
    )
    assert issue(base, {"conclusions": [conclusion("")]}) == (
        "string_too_short",
        ["body", "conclusions", 0, "content"],
    )
    assert issue(base, {"conclusions": [{"content": "x"}]})[0] == "missing"
    assert issue(f"{base}/query", {"query": "x", "top_k": 0})[1] == ["body", "top_k"]
    assert issue(f"{base}/query", {"query": "x", "distance": 1.5})[1] == ["body", "distance"]
    assert issue(f"{base}/list?size=101", None)[1] == ["query", "size"]
    # rules of the domain: a message in `detail`
    no_pair = seeded.post(f"{base}/query", json={"query": "x", "filters": {"observer": "alice"}})
    assert (no_pair.status_code, no_pair.json()) == (
        422,
        {"detail": "observer and observed must be specified for semantic search"},
    )
    unknown = seeded.post(f"{base}/list", json={"filters": {"bogus": 1}})
    assert unknown.status_code == 422
    assert unknown.json()["detail"].startswith("unknown filter field 'bogus'")
    # NUL is dropped from content, as Honcho 3 does
    [made] = create(seeded, conclusion("a\u0000b"))
    assert made["content"] == "ab"
    assert seeded.post(f"{base}/list").json()["total"] == 1


def test_another_workspaces_ids_do_not_reach_its_data(seeded: TestClient) -> None:
    [made] = create(seeded, conclusion("Alice has a golden retriever"))
    seeded.post("/v3/workspaces/other/peers", json={"id": "alice"})
    other = "/v3/workspaces/other/conclusions"
    assert seeded.post(f"{other}/list", json={"filters": {"workspace_id": W}}).json()["total"] == 0
    assert seeded.post(f"{other}/list", json={"filters": {"id": made["id"]}}).json()["total"] == 0
    pair = {"observer": "alice", "observed": "alice", "workspace_id": W}
    assert seeded.post(f"{other}/query", json={"query": "dog", "filters": pair}).json() == []
    assert seeded.delete(f"{other}/{made['id']}").status_code == 404
    foreign = seeded.post(other, json={"conclusions": [conclusion("x")]})  # s1 is w's
    assert foreign.json() == {"detail": "Session s1 not found in workspace other"}
    card = seeded.put(f"{V3}/peers/alice/card", json={"peer_card": ["Has a dog"]})
    assert card.status_code == 200
    assert seeded.get("/v3/workspaces/other/peers/alice/card").json() == {"peer_card": None}
    rep = seeded.post("/v3/workspaces/other/peers/alice/representation", json={})
    assert rep.json() == {"representation": ""}
    assert seeded.post(f"{V3}/conclusions/list").json()["items"] == [made]


def test_representation_is_v3s_markdown(seeded: TestClient) -> None:
    dog, violin = create(
        seeded,
        conclusion("Alice has a golden retriever"),
        conclusion("Alice plays the violin", session="s2"),
    )
    deduced = seeded.post(
        f"{V2}/observations",
        json={
            "observations": [
                conclusion("Alice walks a dog daily", session="s1")
                | {"level": "deductive", "premises": ["Alice has a golden retriever"]},
                conclusion("Alice is musical", session="s2")
                | {"level": "inductive", "premises": ["Alice plays the violin"]},
                conclusion("Alice said both yes and no to cats", session="s2")
                | {"level": "contradiction", "premises": ["I love cats", "I hate cats"]},
            ]
        },
    ).json()
    walk = stamp(deduced[0]["created_at"])  # inductive and contradiction lines show no time
    rep = seeded.post(f"{V3}/peers/alice/representation", json={})
    assert rep.status_code == 200
    assert rep.json() == {
        "representation": "\n".join(
            [
                "## Explicit Observations\n",
                f"[{stamp(dog['created_at'])}] Alice has a golden retriever",
                f"[{stamp(violin['created_at'])}] Alice plays the violin",
                "",
                "## Deductive Observations\n",
                f"[{walk}] Alice walks a dog daily",
                "   Premises:",
                "   - Alice has a golden retriever",
                "",
                "",
                "## Inductive Observations\n",
                " **Pattern** [medium]: Alice is musical",
                "   **Type**: pattern",
                "   **Sources**:",
                "   - Alice plays the violin",
                "",
                "",
                "## Contradictions\n",
                " **CONTRADICTION**: Alice said both yes and no to cats",
                "   **Conflicting statements**:",
                "   - I love cats",
                "   - I hate cats",
                "",
                "",
            ]
        )
    }
    # a session (or an allowlist) serves explicit conclusions of it only
    in_s1 = seeded.post(f"{V3}/peers/alice/representation", json={"session_id": "s1"}).json()
    assert in_s1 == {"representation": explicit((dog["created_at"], dog["content"]))}
    allow = {"filters": {"session_id": {"in": ["s2", "s1"]}}}
    both = seeded.post(f"{V3}/peers/alice/representation", json=allow).json()["representation"]
    assert both == explicit(
        (dog["created_at"], dog["content"]), (violin["created_at"], violin["content"])
    )
    # beside an allowlist (that holds it), `session_id` is the scope, as in Honcho 3
    narrowed = seeded.post(
        f"{V3}/peers/alice/representation", json=allow | {"session_id": "s2"}
    ).json()
    assert narrowed == {"representation": explicit((violin["created_at"], violin["content"]))}
    none = {"filters": {"session_id": []}}
    assert seeded.post(f"{V3}/peers/alice/representation", json=none).json() == {
        "representation": ""
    }
    # the cap and the semantic pick
    one = {"search_query": "dogs", "search_top_k": 1, "max_conclusions": 1, "session_id": "s1"}
    assert seeded.post(f"{V3}/peers/alice/representation", json=one).json() == in_s1
    # unknown peers, targets and sessions: empty
    for body in ({"target": "nobody"}, {"session_id": "s9"}):
        got = seeded.post(f"{V3}/peers/alice/representation", json=body)
        assert (got.status_code, got.json()) == (200, {"representation": ""})
    ghost = seeded.post(f"{V3}/peers/ghost/representation", json={})
    assert (ghost.status_code, ghost.json()) == (200, {"representation": ""})


@pytest.mark.parametrize(
    ("filters", "detail"),
    [
        (
            {"peer_id": "x"},
            "Unsupported filter key(s) for this endpoint: ['peer_id']. "
            "Only 'session_id' is supported.",
        ),
        (
            {"session_id": 5},
            'filters.session_id must be a session id, a list of session ids, or {"in": [...]}',
        ),
        ({"session_id": [""]}, "filters.session_id entries must be non-empty strings"),
        ({"session_id": ["s2"]}, "session_id must be included in filters.session_id"),
    ],
)
def test_representation_filters_are_honcho_3s(
    seeded: TestClient, filters: dict[str, Any], detail: str
) -> None:
    body = {"filters": filters, "session_id": "s1"}
    response = seeded.post(f"{V3}/peers/alice/representation", json=body)
    assert (response.status_code, response.json()) == (422, {"detail": detail})


def test_representation_bad_input(seeded: TestClient) -> None:
    path = f"{V3}/peers/alice/representation"
    for body, loc in (
        ({"max_conclusions": 0}, ["body", "max_conclusions"]),
        ({"search_top_k": 101}, ["body", "search_top_k"]),
        ({"search_max_distance": 2}, ["body", "search_max_distance"]),
        ({"target": "no spaces"}, ["body", "target"]),
    ):
        response = seeded.post(path, json=body)
        assert response.status_code == 422
        assert response.json()["detail"][0]["loc"] == loc
    assert seeded.post(path).status_code == 422  # a body is required, as in Honcho 3
    context = seeded.get(f"{V3}/peers/alice/context", params={"max_conclusions": 0})
    assert context.json()["detail"][0]["loc"] == ["query", "max_conclusions"]


def test_card_and_context(seeded: TestClient) -> None:
    assert seeded.get(f"{V3}/peers/alice/card").json() == {"peer_card": None}
    ghost = seeded.get(f"{V3}/peers/ghost/card")
    assert (ghost.status_code, ghost.json()) == (
        404,
        {"detail": "Peer ghost not found in workspace w"},
    )
    put = seeded.put(f"{V3}/peers/alice/card?target=bob", json={"peer_card": ["Cooks", "a\u0000b"]})
    assert (put.status_code, put.json()) == (200, {"peer_card": ["Cooks", "ab"]})
    assert seeded.get(f"{V3}/peers/alice/card?target=bob").json() == {"peer_card": ["Cooks", "ab"]}
    # the same card through /v2
    assert seeded.get(f"{V2}/peers/alice/card?target=bob").json() == {"peer_card": ["Cooks", "ab"]}
    # setting a card creates the observer (and its workspace), as Honcho 3 does
    fresh = seeded.put("/v3/workspaces/new/peers/carol/card", json={"peer_card": ["x"]})
    assert (fresh.status_code, fresh.json()) == (200, {"peer_card": ["x"]})
    assert seeded.get("/v3/workspaces/new/peers/carol/card").json() == {"peer_card": ["x"]}
    bad = seeded.put(f"{V3}/peers/alice/card", json={"peer_card": "not a list"})
    assert bad.status_code == 422
    assert bad.json()["detail"][0]["loc"] == ["body", "peer_card"]

    [chef] = create(seeded, conclusion("Bob is a chef", observed="bob"))
    context = seeded.get(f"{V3}/peers/alice/context", params={"target": "bob"})
    assert (context.status_code, context.json()) == (
        200,
        {
            "peer_id": "alice",
            "target_id": "bob",
            "representation": explicit((chef["created_at"], "Bob is a chef")),
            "peer_card": ["Cooks", "ab"],
        },
    )
    own = seeded.get(f"{V3}/peers/alice/context").json()
    assert own == {
        "peer_id": "alice",
        "target_id": "alice",
        "representation": "",
        "peer_card": None,
    }
    unknown = seeded.get(f"{V3}/peers/ghost/context")
    assert (unknown.status_code, unknown.json()) == (
        404,
        {"detail": "Peer ghost not found in workspace w"},
    )


@pytest.mark.parametrize("settings_overrides", [{"auth_enabled": True}])
def test_keys_reach_what_they_reach_through_v2(client: TestClient) -> None:
    """Conclusions are workspace-key routes, as /v2's observations; a representation, a card
    and a context are the peer's own (and a session named in the body is checked as one in
    the path); another workspace's key reaches none of it."""

    def h(principal: Principal) -> dict[str, str]:
        return {"Authorization": f"Bearer {create_key(principal, secret=TEST_SECRET)}"}

    w, alice = h(Principal(workspace=W)), h(Principal(workspace=W, peer="alice"))
    other = h(Principal(workspace="other"))
    for peer in ("alice", "bob"):
        assert client.post(f"{V3}/peers", json={"id": peer}, headers=w).status_code == 201
    for session, members in (("s1", {"alice": {}}), ("s2", {"bob": {}})):
        made = client.post(f"{V3}/sessions", json={"id": session, "peers": members}, headers=w)
        assert made.status_code == 201
    body = {"conclusions": [conclusion("Alice has a golden retriever")]}
    [made] = client.post(f"{V3}/conclusions", json=body, headers=w).json()

    me = "a key for peer alice of workspace w"
    nope = {"detail": f"{me} cannot reach this resource"}
    pair = {"observer": "alice", "observed": "alice"}
    for response in (
        client.post(f"{V3}/conclusions", json=body, headers=alice),
        client.post(f"{V3}/conclusions/list", headers=alice),
        client.post(f"{V3}/conclusions/query", json={"query": "x", "filters": pair}, headers=alice),
        client.delete(f"{V3}/conclusions/{made['id']}", headers=alice),
        client.get(f"{V3}/peers/bob/card", headers=alice),
        client.put(f"{V3}/peers/bob/card", json={"peer_card": []}, headers=alice),
        client.get(f"{V3}/peers/bob/context", headers=alice),
        client.post(f"{V3}/peers/bob/representation", json={}, headers=alice),
    ):
        assert (response.status_code, response.json()) == (403, nope)
    for path, detail in (
        ({"session_id": "s2"}, f"{me} cannot reach session s2"),
        ({"filters": {"session_id": ["s1", "s2"]}}, f"{me} cannot reach session s2"),
    ):
        refused = client.post(f"{V3}/peers/alice/representation", json=path, headers=alice)
        assert (refused.status_code, refused.json()) == (403, {"detail": detail})
    mine = client.post(f"{V3}/peers/alice/representation", json={"session_id": "s1"}, headers=alice)
    assert mine.json() == {"representation": explicit((made["created_at"], made["content"]))}
    assert client.put(
        f"{V3}/peers/alice/card", json={"peer_card": ["x"]}, headers=alice
    ).json() == {"peer_card": ["x"]}
    assert client.get(f"{V3}/peers/alice/context", headers=alice).json()["peer_card"] == ["x"]

    theirs = {"detail": "a key for workspace other cannot reach workspace w"}
    for response in (
        client.post(f"{V3}/conclusions/list", headers=other),
        client.delete(f"{V3}/conclusions/{made['id']}", headers=other),
        client.get(f"{V3}/peers/alice/card", headers=other),
        client.post(f"{V3}/peers/alice/representation", json={}, headers=other),
    ):
        assert (response.status_code, response.json()) == (403, theirs)
    # in its own workspace, w's ids reach nothing
    assert (
        client.delete(f"/v3/workspaces/other/conclusions/{made['id']}", headers=other).status_code
        == 404
    )
    assert client.post(f"{V3}/conclusions/list", headers=w).json()["items"] == [made]


def test_migration_0018_makes_the_session_optional_and_back(database_url: str) -> None:
    """Upgrading keeps every row (all had a session); downgrading deletes the sessionless
    ones, which 0017 cannot hold, and keeps the rest."""
    import asyncio

    import numpy as np
    import sqlalchemy as sa
    from alembic import command

    from parley.memory.observation_index import ObservationIndex
    from parley.memory.observations import NewObservation, store_observations
    from parley.memory.peers import ensure_peers
    from parley.memory.sessions import get_or_create_session
    from parley.store import migrate
    from parley.store.engine import create_database

    async def run(step: Any) -> Any:
        database = create_database(database_url)
        try:
            async with database.write() as db:
                return await step(db)
        finally:
            await database.dispose()

    async def seed(db: Any) -> None:
        await ensure_peers(db=db, workspace_id=W, peer_ids=["alice"])
        await get_or_create_session(db=db, workspace_id=W, session_id="s1")
        vectors = np.eye(2, 384, dtype=np.float32)
        rows = [
            NewObservation(content=c, observer_id="alice", observed_id="alice", session_id=s)
            for c, s in (("in a session", "s1"), ("in none", None))
        ]
        index = ObservationIndex(384, in_memory=db.get_bind().dialect.name == "sqlite")
        await store_observations(db, W, rows, vectors, index, merge=False)

    async def stored(db: Any) -> Any:
        found = await db.execute(sa.text("SELECT content, session_id FROM observations"))
        conn = await db.connection()
        columns = await conn.run_sync(lambda sync: sa.inspect(sync).get_columns("observations"))
        nullable = next(c["nullable"] for c in columns if c["name"] == "session_id")
        return sorted(tuple(r) for r in found.all()), nullable

    asyncio.run(run(seed))
    both = [("in a session", "s1"), ("in none", None)]
    assert asyncio.run(run(stored)) == (both, True)
    command.downgrade(migrate.alembic_config(database_url), "0017")
    assert asyncio.run(run(stored)) == ([("in a session", "s1")], False)
    migrate.upgrade(database_url)
    assert asyncio.run(run(stored)) == ([("in a session", "s1")], True)
