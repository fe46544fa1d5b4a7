"""Nasty input gets the exact status and Honcho's error body, and nothing stored changes.

The tests share one app per backend (building ~120 apps was most of this file's time); each
gets a workspace of its own, `w`, seeded with session `s` and one message."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from conftest import BACKENDS, AppClient, make_settings, migrated_database
from parley.app import create_app
from parley.config import Settings

_workspaces = itertools.count()


def messages(w: str) -> str:
    return f"/v2/workspaces/{w}/sessions/s/messages"


@pytest.fixture(scope="module", params=BACKENDS)
def shared_settings(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Settings]:
    folder = tmp_path_factory.mktemp(f"bad-input-{request.param}")
    with migrated_database(request.param, folder, request) as url:
        yield make_settings(url, folder / "data")


@pytest.fixture(scope="module")
def shared_client(shared_settings: Settings) -> Iterator[TestClient]:
    with AppClient(create_app(shared_settings), raise_server_exceptions=False) as client:
        yield client


@pytest.fixture
def w() -> str:
    """This test's own workspace id."""
    return f"w{next(_workspaces)}"


@pytest.fixture
def seeded(shared_client: TestClient, w: str) -> TestClient:
    client = shared_client
    assert client.post("/v2/workspaces", json={"id": w, "metadata": {"v": 1}}).status_code == 200
    created = client.post(
        f"{messages(w)}/", json={"messages": [{"content": "keep", "peer_id": "a"}]}
    )
    assert created.status_code == 200
    return client


def all_workspaces(client: TestClient) -> list[Any]:
    """Every page of the workspace list: the shared app holds every test's workspace."""
    pages = []
    page = 1
    while True:
        body = client.post("/v2/workspaces/list", params={"page": page, "size": 100}).json()
        pages.append(body)
        if page >= body["pages"]:
            return pages
        page += 1


def snapshot(client: TestClient, w: str) -> dict[str, Any]:
    """Everything a client can read about workspace w (and the list of all workspaces)."""
    listed = client.post(f"{messages(w)}/list").json()
    return {
        "workspace": all_workspaces(client),
        "peers": client.post(f"/v2/workspaces/{w}/peers/list").json(),
        "sessions": client.post(f"/v2/workspaces/{w}/sessions/list").json(),
        "messages": listed,
    }


def locs(response: Any) -> list[list[Any]]:
    return [error["loc"] for error in response.json()["detail"]]


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ({"messages": []}, ["body", "messages"]),
        ({"messages": [{"content": "x", "peer_id": "a"}] * 101}, ["body", "messages"]),
        ({"messages": [{"content": "x" * 25_001, "peer_id": "a"}]}, ["body", "messages", 0, "content"]),
        ({"messages": [{"content": 5, "peer_id": "a"}]}, ["body", "messages", 0, "content"]),
        ({"messages": [{"content": "x", "peer_id": None}]}, ["body", "messages", 0, "peer_id"]),
        ({"messages": [{"content": "x", "peer_id": "a b"}]}, ["body", "messages", 0, "peer_id"]),
        ({"messages": [{"content": "x", "peer_id": "a" * 101}]}, ["body", "messages", 0, "peer_id"]),
        ({"messages": [{"content": "x", "peer_id": "a", "metadata": "m"}]}, ["body", "messages", 0, "metadata"]),
        ({"messages": [{"content": "x", "peer_id": "a", "created_at": "yesterday"}]}, ["body", "messages", 0, "created_at"]),
        ({"messages": [{"content": "x"}]}, ["body", "messages", 0, "peer_id"]),
        ({"messages": "x"}, ["body", "messages"]),
        ([1, 2], ["body"]),
    ],
)  # fmt: skip
def test_bad_message_batches_are_422_and_store_nothing(
    seeded: TestClient, w: str, body: Any, loc: list[Any]
) -> None:
    before = snapshot(seeded, w)
    response = seeded.post(f"{messages(w)}/", json=body)
    assert response.status_code == 422
    assert locs(response)[0] == loc
    assert snapshot(seeded, w) == before


def test_a_bad_message_in_a_batch_rejects_the_whole_batch(seeded: TestClient, w: str) -> None:
    before = snapshot(seeded, w)
    batch = [{"content": "fine", "peer_id": "a"}, {"content": "x" * 25_001, "peer_id": "a"}]
    assert seeded.post(f"{messages(w)}/", json={"messages": batch}).status_code == 422
    assert snapshot(seeded, w) == before


def test_limits_are_inclusive(seeded: TestClient, w: str) -> None:
    batch = [{"content": "y" * 25_000, "peer_id": "b" * 100}] + [
        {"content": "", "peer_id": "a"}
    ] * 99
    response = seeded.post(f"{messages(w)}/", json={"messages": batch})
    assert response.status_code == 200
    assert len(response.json()) == 100
    assert response.json()[0]["content"] == "y" * 25_000
    assert response.json()[1]["token_count"] == 0


def test_malformed_json_is_422(seeded: TestClient, w: str) -> None:
    before = snapshot(seeded, w)
    response = seeded.post(
        f"{messages(w)}/", content=b'{"messages": [', headers={"content-type": "application/json"}
    )
    assert response.status_code == 422
    assert response.json()["detail"][0]["type"] == "json_invalid"
    assert snapshot(seeded, w) == before


@pytest.mark.parametrize(
    "bad_id",
    ["a b", "a.b", "café", "x';DROP TABLE messages;--", "a" * 513, "%00"],
)
def test_bad_ids_in_paths_are_422(seeded: TestClient, w: str, bad_id: str) -> None:
    before = snapshot(seeded, w)
    for method, path in [
        ("PUT", f"/v2/workspaces/{bad_id}"),
        ("PUT", f"/v2/workspaces/{w}/peers/{bad_id}"),
        ("PUT", f"/v2/workspaces/{w}/sessions/{bad_id}"),
        ("POST", f"/v2/workspaces/{w}/sessions/{bad_id}/messages/"),
    ]:
        body = {"messages": [{"content": "x", "peer_id": "a"}]} if "messages" in path else {}
        response = seeded.request(method, path, json=body)
        assert response.status_code == 422, path
        assert response.json()["detail"][0]["loc"][0] == "path"
    assert snapshot(seeded, w) == before


def test_longest_path_id_is_accepted(seeded: TestClient, w: str) -> None:
    name = "p" * 512
    response = seeded.put(f"/v2/workspaces/{w}/peers/{name}", json={"metadata": {"k": 1}})
    assert response.status_code == 200
    assert response.json()["id"] == name


@pytest.mark.parametrize(
    ("path", "body", "loc"),
    [
        ("/v2/workspaces", {"id": ""}, ["body", "id"]),
        ("/v2/workspaces", {"id": "w" * 101}, ["body", "id"]),
        ("/v2/workspaces", {"id": "ok", "metadata": []}, ["body", "metadata"]),
        ("/v2/workspaces/{w}/peers", {"id": "has space"}, ["body", "id"]),
        ("/v2/workspaces/{w}/sessions", {"id": "s", "peers": {"bad id": {}}}, ["body", "peers", "bad id", "[key]"]),
        ("/v2/workspaces/{w}/sessions", {"id": "s", "peers": {"a": {"observe_me": "maybe"}}}, ["body", "peers", "a", "observe_me"]),
        (
            "/v2/workspaces/{w}/sessions",
            {"id": "s", "configuration": {"summary": {"messages_per_short_summary": 30, "messages_per_long_summary": 20}}},
            ["body", "configuration", "summary"],
        ),
        ("/v2/workspaces/{w}/sessions", {"id": "s", "configuration": {"summary": {"messages_per_short_summary": 5}}}, ["body", "configuration", "summary", "messages_per_short_summary"]),
    ],
)  # fmt: skip
def test_bad_create_bodies_are_422(
    seeded: TestClient, w: str, path: str, body: dict[str, Any], loc: list[Any]
) -> None:
    before = snapshot(seeded, w)
    response = seeded.post(path.format(w=w), json=body)
    assert response.status_code == 422
    assert locs(response)[0] == loc
    assert snapshot(seeded, w) == before


@pytest.mark.parametrize("query", ["page=0", "size=0", "size=101", "page=x", "reverse=maybe"])
def test_bad_paging_is_422(seeded: TestClient, w: str, query: str) -> None:
    response = seeded.post(f"{messages(w)}/list?{query}")
    assert response.status_code == 422
    assert locs(response)[0][0] == "query"


def test_page_past_the_end_is_empty(seeded: TestClient, w: str) -> None:
    body = seeded.post(f"{messages(w)}/list?page=9&size=100").json()
    assert body == {"items": [], "total": 1, "page": 9, "size": 100, "pages": 1}


@pytest.mark.parametrize(
    ("method", "path", "detail"),
    [
        ("GET", "/v2/workspaces/{w}/sessions/s/messages/AAAAAAAAAAAAAAAAAAAAA", "Message AAAAAAAAAAAAAAAAAAAAA not found in session s"),
        ("PUT", "/v2/workspaces/{w}/sessions/s/messages/AAAAAAAAAAAAAAAAAAAAA", "Message AAAAAAAAAAAAAAAAAAAAA not found in session s"),
        ("GET", "/v2/workspaces/{w}/sessions/s/peers/zed/config", "Peer zed is not a member of session s"),
        ("DELETE", "/v2/workspaces/nope", "Workspace nope not found"),
        ("DELETE", "/v2/workspaces/{w}/webhooks/nope", "Webhook endpoint nope not found in workspace {w}"),
    ],
)  # fmt: skip
def test_unknown_ids_are_404(
    seeded: TestClient, w: str, method: str, path: str, detail: str
) -> None:
    """Where Honcho answers 404; where it answers an empty 200 (lists, searches, status,
    summaries, contexts), see test_honcho_leniency.py."""
    before = snapshot(seeded, w)
    body = {"metadata": {}} if method == "PUT" else None
    response = seeded.request(method, path.format(w=w), json=body)
    assert (response.status_code, response.json()) == (404, {"detail": detail.format(w=w)})
    assert snapshot(seeded, w) == before


def test_unknown_route_and_method(seeded: TestClient) -> None:
    assert seeded.get("/v2/nothing-here").json() == {"detail": "Not Found"}
    response = seeded.get("/v2/workspaces/list")
    assert (response.status_code, response.json()) == (405, {"detail": "Method Not Allowed"})


def test_body_over_the_limit_is_413(seeded: TestClient, w: str, shared_settings: Settings) -> None:
    before = snapshot(seeded, w)
    huge = {"messages": [{"content": "z" * 20_000, "peer_id": "a"}] * 300}
    response = seeded.post(f"{messages(w)}/", json=huge)
    assert response.status_code == 413
    assert response.json() == {
        "detail": f"request body is larger than {shared_settings.max_body_bytes} bytes"
    }
    assert snapshot(seeded, w) == before


def test_unicode_and_injection_text_round_trips_exactly(seeded: TestClient, w: str) -> None:
    texts = [
        "emoji 👩‍👩‍👧‍👦 and flags 🇵🇹🇯🇵",
        "RTL עברית and العربية, CJK 漢字かなカナ",
        "'; DROP TABLE messages; -- \" OR 1=1",
        "nul-free control \t\r\n and \\ backslashes %_ wildcards",
        "\u200b zero-width \ufeff BOM \U0010ffff",
    ]
    response = seeded.post(
        f"{messages(w)}/",
        json={"messages": [{"content": t, "peer_id": "a", "metadata": {"t": t}} for t in texts]},
    )
    assert response.status_code == 200
    listed = seeded.post(f"{messages(w)}/list").json()["items"][1:]
    assert [m["content"] for m in listed] == texts
    assert [m["metadata"] for m in listed] == [{"t": t} for t in texts]


@pytest.mark.parametrize(
    ("message", "loc", "msg"),
    [
        ({"content": "a\u0000b", "peer_id": "a"}, ["body", "messages", 0, "content"], "NUL"),
        ({"content": "ok", "peer_id": "a", "metadata": {"k": "a\u0000"}}, ["body", "messages", 0, "metadata"], "NUL"),
        ({"content": "ok", "peer_id": "a", "metadata": {"a\u0000": 1}}, ["body", "messages", 0, "metadata"], "NUL"),
        ({"content": "ok", "peer_id": "a", "metadata": {"l": [{"x": "\u0000"}]}}, ["body", "messages", 0, "metadata"], "NUL"),
    ],
)  # fmt: skip
def test_text_that_no_database_can_store_is_422(
    seeded: TestClient, w: str, message: dict[str, Any], loc: list[Any], msg: str
) -> None:
    before = snapshot(seeded, w)
    response = seeded.post(f"{messages(w)}/", json={"messages": [message]})
    assert response.status_code == 422
    assert locs(response)[0] == loc
    assert msg in response.json()["detail"][0]["msg"]
    assert snapshot(seeded, w) == before


def test_lone_surrogates_are_422(seeded: TestClient, w: str) -> None:
    before = snapshot(seeded, w)
    for body, msg in (
        (
            b'{"messages": [{"content": "a\\ud800b", "peer_id": "a"}]}',
            "Input should be a valid string, unable to parse raw data as a unicode string",
        ),
        (
            b'{"messages": [{"content": "x", "peer_id": "a", "metadata": {"k": "\\udfff"}}]}',
            "Value error, text must be valid Unicode (it has an unpaired surrogate)",
        ),
    ):
        response = seeded.post(
            f"{messages(w)}/", content=body, headers={"content-type": "application/json"}
        )
        assert response.status_code == 422
        assert response.json()["detail"][0]["msg"] == msg
    response = seeded.post(
        f"/v2/workspaces/{w}/sessions",
        content=b'{"id": "s", "configuration": {"x": "\\ud800"}}',
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 422
    assert snapshot(seeded, w) == before


def test_created_at_without_a_zone_is_utc(seeded: TestClient, w: str) -> None:
    batch = [{"content": "old", "peer_id": "a", "created_at": "2024-03-01T12:30:00"}]
    stored = seeded.post(f"{messages(w)}/", json={"messages": batch}).json()[0]
    assert stored["created_at"] == "2024-03-01T12:30:00Z"
    listed = seeded.post(
        f"{messages(w)}/list", json={"filters": {"created_at": "2024-03-01T12:30:00"}}
    ).json()
    assert listed["items"][0]["created_at"] == "2024-03-01T12:30:00Z"


def _nested(levels: int) -> dict[str, Any]:
    value: dict[str, Any] = {}
    for _ in range(levels):
        value = {"a": value}
    return value


@pytest.mark.parametrize(
    ("body", "loc", "msg"),
    [
        ({"messages": [{"content": "x", "peer_id": "a", "created_at": "9999-12-31T23:59:59-14:00"}]}, ["body", "messages", 0, "created_at"], "Value error, datetime is out of range once converted to UTC"),
        ({"messages": [{"content": "x", "peer_id": "a", "metadata": _nested(65)}]}, ["body", "messages", 0, "metadata"], "Value error, JSON is nested deeper than 64 levels"),
        ({"messages": [{"content": "x", "peer_id": "a", "metadata": {"n": float("inf")}}]}, ["body", "messages", 0, "metadata"], "Value error, numbers must be finite (not Infinity, NaN or out of range)"),
    ],
)  # fmt: skip
def test_values_no_column_can_hold_are_422(
    seeded: TestClient, w: str, body: Any, loc: list[Any], msg: str
) -> None:
    """Each of these was a 500 (or, for Infinity, a silent null)."""
    before = snapshot(seeded, w)
    response = seeded.post(
        f"{messages(w)}/", content=json.dumps(body), headers={"content-type": "application/json"}
    )
    assert response.status_code == 422
    assert [(e["loc"], e["msg"]) for e in response.json()["detail"]] == [(loc, msg)]
    assert snapshot(seeded, w) == before
    # 64 levels are fine, and come back exactly
    deep = _nested(64)
    stored = seeded.post(
        f"{messages(w)}/",
        json={"messages": [{"content": "deep", "peer_id": "a", "metadata": deep}]},
    )
    assert stored.json()[0]["metadata"] == deep


@pytest.mark.parametrize(
    "raw",
    ['{"n": Infinity}', '{"n": -Infinity}', '{"n": NaN}', '{"n": 1e400}'],
)
def test_non_standard_json_numbers_are_422(seeded: TestClient, w: str, raw: str) -> None:
    before = snapshot(seeded, w)
    body = '{"messages": [{"content": "x", "peer_id": "a", "metadata": ' + raw + "}]}"
    response = seeded.post(
        f"{messages(w)}/", content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code == 422
    assert snapshot(seeded, w) == before


def test_filters_are_bounded_and_checked(seeded: TestClient, w: str) -> None:
    """5,000 OR branches once froze the server for 20 s; a lone surrogate in a filter value
    was a 500."""
    branches = {"filters": {"OR": [{"peer_id": f"p{i}"} for i in range(5000)]}}
    response = seeded.post(f"{messages(w)}/list", json=branches)
    assert (response.status_code, response.json()) == (
        422,
        {"detail": "filters have more than 200 conditions"},
    )
    fine = {"filters": {"OR": [{"peer_id": f"p{i}"} for i in range(150)] + [{"peer_id": "a"}]}}
    assert seeded.post(f"{messages(w)}/list", json=fine).json()["total"] == 1
    surrogate = seeded.post(
        f"{messages(w)}/list",
        content='{"filters": {"peer_id": "\\ud800"}}',
        headers={"content-type": "application/json"},
    )
    assert (surrogate.status_code, surrogate.json()) == (
        422,
        {"detail": "filters must be valid Unicode (a string has an unpaired surrogate)"},
    )
    key = '{"filters": {"metadata": {"\\udc00": 1}}}'
    response = seeded.post(
        f"{messages(w)}/list", content=key, headers={"content-type": "application/json"}
    )
    assert response.status_code == 422


@pytest.mark.parametrize("page", ["1000000001", "9223372036854775807", "99999999999999999999"])
def test_huge_pages_are_422(seeded: TestClient, w: str, page: str) -> None:
    for method, path in (
        ("POST", f"{messages(w)}/list"),
        ("POST", f"/v2/workspaces/{w}/peers/list"),
        ("POST", f"/v2/workspaces/{w}/sessions/list"),
        ("POST", "/v2/workspaces/list"),
        ("GET", f"/v2/workspaces/{w}/sessions/s/peers"),
        ("POST", f"/v2/workspaces/{w}/peers/a/sessions"),
        ("POST", f"/v2/workspaces/{w}/observations/list"),
        ("GET", f"/v2/workspaces/{w}/webhooks"),
    ):
        response = seeded.request(method, path, params={"page": page})
        assert response.status_code == 422, path
        assert locs(response) == [["query", "page"]]
    last = seeded.post(f"{messages(w)}/list", params={"page": 1_000_000_000}).json()
    assert (last["items"], last["page"]) == ([], 1_000_000_000)
