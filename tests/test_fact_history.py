"""Derived observations against what is stored, with the bundled embedding model, on both
backends: a repeat merges, a changed fact supersedes the old one (kept as history, not counted,
no longer current anywhere), a negation or another numbered fact never merges, and merging
never crosses a session (conclusions excepted) or a level."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from parley.store.models import Observation
from test_observations import BASE, W, derive, listed, obs, query, seeded

__all__ = ["seeded"]  # the fixture, shared with test_observations

MARCH_3 = "Alice has a dentist appointment on March 3"
MARCH_9 = "Alice has a dentist appointment on March 9"


def stored(client: TestClient) -> list[tuple[str, str, str, int, str | None]]:
    """Every row, oldest first: content, session, level, times_derived, and the content of
    the row that superseded it (None while current)."""

    async def read() -> list[tuple[str, str, str, int, str | None]]:
        async with client.app.state.parley.database.read() as db:
            rows = (await db.scalars(select(Observation).order_by(Observation.created_at))).all()
        content = {r.id: r.content for r in rows}
        return [
            (
                r.content,
                r.session_id,
                r.level,
                r.times_derived,
                None if r.superseded_by is None else content[r.superseded_by],
            )
            for r in rows
        ]

    return client.portal.call(read)


def post(client: TestClient, path: str, body: dict[str, Any]) -> Any:
    response = client.post(f"/v2/workspaces/{W}{path}", json=body)
    assert response.status_code == 200, response.text
    return response.json()


def test_a_changed_fact_supersedes_the_old_one(seeded: TestClient) -> None:
    [old] = derive(seeded, obs(MARCH_3))
    [new] = derive(seeded, obs(MARCH_9))
    assert new["id"] != old["id"] and new["times_derived"] == 1
    assert stored(seeded) == [
        (MARCH_3, "s1", "explicit", 1, MARCH_9),  # history, not counted
        (MARCH_9, "s1", "explicit", 1, None),
    ]
    # current everywhere: the list, the query, the representation, the context, the chat
    assert listed(seeded) == [MARCH_9]
    assert query(seeded, "dentist appointment") == [MARCH_9]
    representation = post(seeded, "/peers/alice/representation", {})["representation"]
    assert [o["content"] for o in representation["explicit"]] == [MARCH_9]
    searched = post(seeded, "/peers/alice/representation", {"search_query": "dentist"})
    assert [o["content"] for o in searched["representation"]["explicit"]] == [MARCH_9]
    context = seeded.get(
        f"/v2/workspaces/{W}/peers/alice/context", params={"search_query": "dentist"}
    ).json()
    assert [o["content"] for o in context["representation"]["explicit"]] == [MARCH_9]
    answer = post(seeded, "/peers/alice/chat", {"query": "When is the dentist?"})["content"]
    assert "March 9" in answer and "March 3" not in answer
    # the history, on asking for it
    [history] = seeded.post(f"{BASE}/list", json={"filters": {"superseded": True}}).json()["items"]
    assert (history["content"], history["superseded_by"]) == (MARCH_3, new["id"])
    assert listed(seeded, {"superseded_by": new["id"]}) == [MARCH_3]
    assert listed(seeded, {"superseded": False}) == [MARCH_9]
    assert query(seeded, "dentist appointment", filters={"superseded": True}) == [MARCH_3]

    # a repeat confirms the new one; the old one stays history, uncounted
    [again] = derive(seeded, obs(MARCH_9))
    assert again == {"id": new["id"], "times_derived": 2}
    assert stored(seeded)[0] == (MARCH_3, "s1", "explicit", 1, MARCH_9)

    # deleting the new one makes the old one current again
    assert seeded.delete(f"{BASE}/{new['id']}").status_code == 200
    assert stored(seeded) == [(MARCH_3, "s1", "explicit", 1, None)]
    assert listed(seeded) == [MARCH_3]


def test_a_chain_of_changes_keeps_each_step(seeded: TestClient) -> None:
    """Within one batch too; deleting a step in the middle hands its history on."""
    thirty, thirty_one, thirty_two = (f"Alice is {n} years old" for n in (30, 31, 32))
    first = derive(seeded, obs(thirty), obs(thirty_one))
    [last] = derive(seeded, obs(thirty_two))
    assert len({first[0]["id"], first[1]["id"], last["id"]}) == 3
    assert stored(seeded) == [
        (thirty, "s1", "explicit", 1, thirty_one),
        (thirty_one, "s1", "explicit", 1, thirty_two),
        (thirty_two, "s1", "explicit", 1, None),
    ]
    assert seeded.delete(f"{BASE}/{first[1]['id']}").status_code == 200
    assert stored(seeded) == [
        (thirty, "s1", "explicit", 1, thirty_two),
        (thirty_two, "s1", "explicit", 1, None),
    ]
    assert listed(seeded) == [thirty_two]


def test_negations_and_numbered_short_facts_never_merge(seeded: TestClient) -> None:
    [allergic] = derive(seeded, obs("I am allergic to peanuts"))
    [not_allergic] = derive(seeded, obs("I am not allergic to peanuts"))
    assert not_allergic["id"] != allergic["id"]
    numbered = derive(seeded, obs("Observation 1"), obs("Observation 2"))
    [third] = derive(seeded, obs("Observation 3"))
    assert len({numbered[0]["id"], numbered[1]["id"], third["id"]}) == 3
    assert stored(seeded) == [
        ("I am allergic to peanuts", "s1", "explicit", 1, "I am not allergic to peanuts"),
        ("I am not allergic to peanuts", "s1", "explicit", 1, None),
        ("Observation 1", "s1", "explicit", 1, None),
        ("Observation 2", "s1", "explicit", 1, None),
        ("Observation 3", "s1", "explicit", 1, None),
    ]
    # and the same with the retrieval-only deriver's dated form
    dated = derive(
        seeded,
        obs("alice said on 2024-05-02: Observation 1"),
        obs("alice said on 2024-05-02: Observation 2"),
    )
    assert dated[0]["id"] != dated[1]["id"]
    assert [row[4] for row in stored(seeded)[-2:]] == [None, None]


def test_merging_never_crosses_a_session_but_conclusions_do(seeded: TestClient) -> None:
    retriever = "Alice has a golden retriever"
    [in_s1] = derive(seeded, obs(retriever))
    [in_s2] = derive(seeded, obs(retriever, session="s2"))
    assert in_s2["id"] != in_s1["id"]
    [again_s1] = derive(seeded, obs(retriever))
    assert again_s1 == {"id": in_s1["id"], "times_derived": 2}
    # nor does a change: each session's fact stays current
    derive(seeded, obs(MARCH_3))
    derive(seeded, obs(MARCH_9, session="s2"))
    # one batch: the same fact in two sessions is two rows
    batch = derive(seeded, obs("Bob plays chess"), obs("Bob plays chess", session="s2"))
    assert batch[0]["id"] != batch[1]["id"]
    # a conclusion is drawn from all the observer knows: it merges across sessions
    conclusion = "Alice loves animals"
    [deduced] = derive(seeded, obs(conclusion) | {"level": "deductive"})
    [deduced_again] = derive(seeded, obs(conclusion, session="s2") | {"level": "deductive"})
    assert deduced_again == {"id": deduced["id"], "times_derived": 2}
    # levels never mix: the same words as an explicit fact are another observation
    [explicit] = derive(seeded, obs(conclusion))
    assert explicit["id"] != deduced["id"]
    assert stored(seeded) == [
        (retriever, "s1", "explicit", 2, None),
        (retriever, "s2", "explicit", 1, None),
        (MARCH_3, "s1", "explicit", 1, None),
        (MARCH_9, "s2", "explicit", 1, None),
        ("Bob plays chess", "s1", "explicit", 1, None),
        ("Bob plays chess", "s2", "explicit", 1, None),
        (conclusion, "s1", "deductive", 2, None),
        (conclusion, "s1", "explicit", 1, None),
    ]


def test_a_manual_create_supersedes_nothing(seeded: TestClient) -> None:
    """Honcho's create stores what it is given: both dates stay current."""
    created = seeded.post(BASE, json={"observations": [obs(MARCH_3), obs(MARCH_9)]})
    assert created.status_code == 200
    assert [row[4] for row in stored(seeded)] == [None, None]
    assert sorted(listed(seeded)) == [MARCH_3, MARCH_9]
