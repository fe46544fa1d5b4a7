"""Auth: every route declares a policy, keys are checked strictly (401 vs 403), workspaces are
isolated from each other, narrow keys reach only their own peer or session, and the CLI and
settings refuse unsafe setups. Runs on SQLite and PostgreSQL."""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jwt
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.testclient import TestClient
from pydantic import ValidationError

from conftest import TEST_SECRET, AppClient, sdk_http_client
from helpers import ok
from parley import cli
from parley.api.deps import Scope, auth_scope_of
from parley.app import create_app
from parley.auth import peaka_keys
from parley.auth.keys import ADMIN, Principal, create_key, decode_key
from parley.config import Settings, SettingsError
from parley.errors import Unauthorized


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"auth_enabled": True, "webhook_allow_private_hosts": True}


# --- helpers ------------------------------------------------------------------------------


def key(principal: Principal, **kwargs: Any) -> str:
    return create_key(principal, secret=TEST_SECRET, **kwargs)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


ADMIN_H = bearer(key(ADMIN))


def workspace_h(w: str) -> dict[str, str]:
    return bearer(key(Principal(workspace=w)))


def peer_h(w: str, p: str) -> dict[str, str]:
    return bearer(key(Principal(workspace=w, peer=p)))


def session_h(w: str, s: str) -> dict[str, str]:
    return bearer(key(Principal(workspace=w, session=s)))


def forbidden(response: Any, detail: str) -> None:
    assert response.status_code == 403, (response.status_code, response.text)
    assert response.json() == {"detail": detail}
    assert "www-authenticate" not in response.headers


def unauthorized(response: Any, detail: str) -> None:
    assert response.status_code == 401, (response.status_code, response.text)
    assert response.json() == {"detail": detail}
    assert response.headers["www-authenticate"] == "Bearer"


def api_routes(app: FastAPI) -> Iterator[tuple[APIRoute, Any]]:
    """Every APIRoute with its effective context (FastAPI >= 0.16x keeps included routers as
    lazy `_IncludedRouter` entries in `app.routes`, so a flat `isinstance` walk misses them)."""
    for context in iter_route_contexts(app.routes):
        if isinstance(context.original_route, APIRoute):
            yield context.original_route, context


def declared_scopes(dependant: Any) -> list[Scope]:
    found: list[Scope] = []
    for dependency in dependant.dependencies:
        scope = auth_scope_of(dependency.call)
        if scope is not None:
            found.append(scope)
        found.extend(declared_scopes(dependency))
    return found


def route_scopes(settings: Settings) -> dict[tuple[str, str], Scope]:
    """(method, path) -> the declared scope of every API route."""
    out: dict[tuple[str, str], Scope] = {}
    for _, context in api_routes(create_app(settings)):
        scopes = set(declared_scopes(context.dependant))
        assert len(scopes) == 1, (context.path, scopes)
        (scope,) = scopes
        for method in context.methods:
            out[(method, context.path)] = scope
    return out


def seed(client: TestClient, w: str, peers: list[str], sessions: dict[str, list[str]]) -> None:
    ok(client.post("/v2/workspaces", json={"id": w}, headers=ADMIN_H))
    for p in peers:
        ok(client.post(f"/v2/workspaces/{w}/peers", json={"id": p}, headers=ADMIN_H))
    for s, members in sessions.items():
        body = {"id": s, "peers": {m: {} for m in members}}
        ok(client.post(f"/v2/workspaces/{w}/sessions", json=body, headers=ADMIN_H))


def post_message(
    client: TestClient, w: str, s: str, peer: str, content: str, headers: dict[str, str]
) -> Any:
    return client.post(
        f"/v2/workspaces/{w}/sessions/{s}/messages/",
        json={"messages": [{"peer_id": peer, "content": content}]},
        headers=headers,
    )


# --- 1. every route declares a policy ------------------------------------------------------


def test_every_route_declares_an_auth_policy(settings: Settings) -> None:
    app = create_app(settings)
    routes = list(api_routes(app))
    paths = {context.path for _, context in routes}
    # guard against a walk that silently sees nothing (included routers are lazy)
    assert {"/health", "/v2/keys", "/v2/workspaces/{workspace_id}/peers"} <= paths

    missing = [
        f"{sorted(context.methods)} {context.path}"
        for _, context in routes
        if not declared_scopes(context.dependant)
    ]
    assert missing == [], f"routes without requires(Scope.X): {missing}"

    ambiguous = [
        context.path for _, context in routes if len(set(declared_scopes(context.dependant))) > 1
    ]
    assert ambiguous == []

    public = {
        context.path for _, context in routes if Scope.PUBLIC in declared_scopes(context.dependant)
    }
    assert public == {"/health"}

    # the docs routes are plain Starlette routes, not APIRoutes, and carry no data; /mcp is
    # one too: it authenticates each request itself and each tool checks the ids it is given
    # (mcp_server/http.py, mcp_server/reach.py; tests/test_mcp_auth.py)
    others = {
        context.path
        for context in iter_route_contexts(app.routes)
        if not isinstance(context.original_route, APIRoute)
    }
    # /console: the web console's static files (the APIs it calls check the key as always)
    assert others <= {
        "/openapi.json",
        "/docs",
        "/docs/oauth2-redirect",
        "/redoc",
        "/mcp",
        "/console",
    }


# --- 2. authentication ---------------------------------------------------------------------

MISSING = "missing API key: send 'Authorization: Bearer <key>'"
INVALID = "API key is invalid"
EXP_NOT_A_DATE = "API key is invalid: claim 'exp' is not a date"
NO_SCOPE = "API key is invalid: it names no workspace, peer or session and is not an admin key"


def _now() -> int:
    return int(datetime.now(UTC).timestamp())


def _encode(claims: dict[str, Any], secret: str | None = TEST_SECRET, alg: str = "HS256") -> str:
    """A token crafted by hand (pyjwt warns about keys too short for HS512; that is the point)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return jwt.encode(claims, secret, algorithm=alg)


@pytest.mark.parametrize(
    "header",
    [None, "", "Basic dXNlcjpwYXNz", "Bearer", "Bearer   ", "Token abc", "bearer"],
    ids=["absent", "empty", "basic", "bearer-only", "bearer-blank", "other-scheme", "lower"],
)
def test_missing_or_malformed_header_is_401(client: TestClient, header: str | None) -> None:
    headers = {} if header is None else {"Authorization": header}
    unauthorized(client.post("/v2/workspaces/list", headers=headers), MISSING)
    unauthorized(
        client.post("/v2/workspaces/w/peers/list", json={}, headers=headers),
        MISSING,
    )


def test_scheme_is_case_insensitive(client: TestClient) -> None:
    ok(client.post("/v2/workspaces/list", headers={"Authorization": f"bearer {key(ADMIN)}"}))


@pytest.mark.parametrize(
    ("token", "detail"),
    [
        ("not-a-jwt", INVALID),
        ("a.b.c", INVALID),
        (jwt.encode({"iat": _now(), "ad": True}, "w" * 40, algorithm="HS256"), INVALID),
        (_encode({"iat": _now(), "ad": True}, alg="HS512"), INVALID),
        (_encode({"iat": _now(), "ad": True}, None, alg="none"), INVALID),
        (
            jwt.encode(
                {"iat": _now() - 7200, "exp": _now() - 3600, "w": "w"},
                TEST_SECRET,
                algorithm="HS256",
            ),
            "API key has expired",
        ),
        (  # Honcho's ISO `exp` is read, and refused once past
            jwt.encode({"t": "", "exp": "2020-01-01T00:00:00Z", "ad": True}, TEST_SECRET),
            "API key has expired",
        ),
        (  # a zone-less ISO `exp` is UTC
            jwt.encode({"exp": "2020-01-01T00:00:00", "w": "w"}, TEST_SECRET),
            "API key has expired",
        ),
        (
            jwt.encode({"iat": _now(), "exp": "soon", "ad": True}, TEST_SECRET, algorithm="HS256"),
            "API key is invalid: claim 'exp' is not a date",
        ),
        (
            jwt.encode({"exp": [2999], "ad": True}, TEST_SECRET, algorithm="HS256"),
            "API key is invalid: claim 'exp' is not a date",
        ),
        (
            jwt.encode({"exp": True, "ad": True}, TEST_SECRET, algorithm="HS256"),
            "API key is invalid: claim 'exp' is not a date",
        ),
        (
            jwt.encode({"t": "", "iat": _now()}, TEST_SECRET, algorithm="HS256"),
            NO_SCOPE,
        ),
        (
            jwt.encode({"iat": _now(), "w": "bad id!"}, TEST_SECRET, algorithm="HS256"),
            "API key is invalid: claim 'w' is not a valid id",
        ),
        (
            jwt.encode({"iat": _now(), "w": 7}, TEST_SECRET, algorithm="HS256"),
            "API key is invalid: claim 'w' is not a valid id",
        ),
        (  # Honcho takes any truthy `ad`; Parley only `true`
            jwt.encode({"iat": _now(), "ad": "true"}, TEST_SECRET, algorithm="HS256"),
            NO_SCOPE,
        ),
    ],
    ids=[
        "garbage",
        "three-parts",
        "wrong-secret",
        "wrong-alg",
        "alg-none",
        "expired",
        "iso-expired",
        "naive-iso-expired",
        "text-exp",
        "list-exp",
        "bool-exp",
        "no-scope",
        "bad-claim",
        "numeric-claim",
        "ad-not-bool",
    ],
)
def test_bad_tokens_are_refused(token: str, detail: str) -> None:
    """Reading a JWT is a pure function (decode_key); the route's answer to its refusal is
    checked over HTTP below. None of these looks like a Peaka key, so the route reads each one
    with decode_key."""
    assert not peaka_keys.looks_like_key(token)
    with pytest.raises(Unauthorized) as refused:
        decode_key(token, secret=TEST_SECRET)
    assert refused.value.detail == detail


@pytest.mark.parametrize(
    ("token", "detail"),
    [
        ("not-a-jwt", INVALID),
        (jwt.encode({"exp": True, "ad": True}, TEST_SECRET, algorithm="HS256"), EXP_NOT_A_DATE),
    ],
    ids=["garbage", "bool-exp"],
)
def test_bad_tokens_are_401(client: TestClient, token: str, detail: str) -> None:
    unauthorized(client.post("/v2/workspaces/list", headers=bearer(token)), detail)
    unauthorized(client.post("/v2/workspaces", json={"id": "w"}, headers=bearer(token)), detail)


def test_auth_comes_before_validation(client: TestClient) -> None:
    unauthorized(client.post("/v2/workspaces", json={"id": "no spaces!"}), MISSING)
    unauthorized(client.post("/v2/workspaces/w/sessions/s/messages/", json={}), MISSING)


def test_valid_key_without_scope_is_403(client: TestClient) -> None:
    forbidden(
        client.post("/v2/workspaces/list", headers=workspace_h("w")),
        "this route needs an admin key; the request used a key for workspace w",
    )
    forbidden(
        client.post("/v2/workspaces/other/peers/list", json={}, headers=workspace_h("w")),
        "a key for workspace w cannot reach workspace other",
    )


def test_health_is_public(client: TestClient) -> None:
    assert ok(client.get("/health"))["status"] == "ok"
    # a bad key on a public route is ignored, not refused
    assert ok(client.get("/health", headers=bearer("garbage")))["status"] == "ok"


def test_future_exp_is_accepted(client: TestClient) -> None:
    token = key(ADMIN, expires_at=datetime.now(UTC) + timedelta(minutes=5))
    ok(client.post("/v2/workspaces/list", headers=bearer(token)))


@pytest.mark.parametrize("settings_overrides", [{}])
def test_auth_off_needs_no_key(client: TestClient) -> None:
    ok(client.post("/v2/workspaces", json={"id": "w"}))
    ok(client.post("/v2/workspaces/list"))
    ok(client.post("/v2/keys", params={"workspace_id": "w"}))


# --- 3. tenant isolation -------------------------------------------------------------------

A, B = "ws-a", "ws-b"
B_SECRET = "B-CONFIDENTIAL-7f3a: the launch code is 0000"
B_PEERS = ["b-peer-one", "b-peer-two"]
B_SESSION = "b-session-x"


def _route_body(method: str, path: str) -> dict[str, Any]:
    """A plausible request for each route shape; keys go in via `headers` later."""
    if path == "/v2/workspaces":
        return {"json": {"id": B}}
    if path == "/v2/keys":
        return {"params": {"workspace_id": B, "peer_id": B_PEERS[0]}}
    if path.endswith("/list"):
        return {"json": {"filters": {}}}
    if path.endswith("/messages/upload"):
        return {
            "files": {"file": ("a.txt", b"hello from A", "text/plain")},
            "data": {"peer_id": "a-peer"},
        }
    if path.endswith("/messages") or path.endswith("/messages/"):
        return {"json": {"messages": [{"peer_id": "a-peer", "content": "from A"}]}}
    if path.endswith("/sessions") and method == "POST" and "{peer_id}" not in path:
        return {"json": {"id": B_SESSION, "peers": {"a-peer": {}}}}
    if path.endswith("/peers") and method == "POST" and "{session_id}" not in path:
        return {"json": {"id": B_PEERS[0], "metadata": {"owned": True}}}
    if path.endswith("/peers") and method in ("POST", "PUT"):
        return {"json": {"a-peer": {}}}
    if path.endswith("/peers") and method == "DELETE":
        return {"json": [B_PEERS[0]]}
    if path.endswith("/config") and method == "POST":
        return {"json": {"observe_me": False}}
    if path.endswith("/webhooks") and method == "POST":
        return {"json": {"url": "http://127.0.0.1:9/from-a"}}
    if path.endswith("/sessions") and method == "POST":  # a peer's sessions (a list)
        return {"json": {}}
    if method == "PUT":
        return {"json": {"metadata": {"owned": True}}}
    return {}


def _fill(path: str, ids: dict[str, str]) -> str:
    # unknown parameters get a B-looking id; auth must refuse before anything looks them up
    return re.sub(r"\{(\w+)(:\w+)?\}", lambda m: ids.get(m.group(1), "b-unknown-id"), path)


@pytest.mark.parametrize("kind", ["workspace", "peer", "session"])
def test_keys_of_one_workspace_cannot_reach_another(
    client: TestClient, settings: Settings, kind: str
) -> None:
    seed(client, A, ["a-peer"], {"a-session": ["a-peer"]})
    seed(client, B, B_PEERS, {B_SESSION: B_PEERS})
    sent = ok(post_message(client, B, B_SESSION, B_PEERS[0], B_SECRET, ADMIN_H))
    message_id = sent[0]["id"]
    hook = ok(
        client.post(
            f"/v2/workspaces/{B}/webhooks", json={"url": "http://127.0.0.1:9/b"}, headers=ADMIN_H
        )
    )
    ids = {
        "workspace_id": B,
        "peer_id": B_PEERS[0],
        "session_id": B_SESSION,
        "message_id": message_id,
        "endpoint_id": hook["id"],
    }
    secrets = [B_SECRET, "launch code", message_id, hook["id"], *B_PEERS, B_SESSION]
    principal = {
        "workspace": Principal(workspace=A),
        "peer": Principal(workspace=A, peer="a-peer"),
        "session": Principal(workspace=A, session="a-session"),
    }[kind]
    headers = bearer(key(principal))

    scopes = route_scopes(settings)
    v2_routes = sorted(r for r in scopes if r[1].startswith("/v2/"))
    assert len(v2_routes) >= 30
    for method, path in v2_routes:
        url = _fill(path, ids)
        response = client.request(method, url, headers=headers, **_route_body(method, path))
        if scopes[(method, path)] is Scope.ADMIN:
            detail = f"this route needs an admin key; the request used {principal.describe()}"
        else:
            detail = f"{principal.describe()} cannot reach workspace {B}"
        assert response.status_code == 403, (method, url, response.status_code, response.text)
        assert response.json() == {"detail": detail}, (method, url)
        for secret in secrets:
            assert secret not in response.text, (method, url, secret)

    # nothing of B changed: same peers, same session and members, same message, same hook
    listed = ok(client.post(f"/v2/workspaces/{B}/peers/list", json={}, headers=ADMIN_H))
    assert sorted(p["id"] for p in listed["items"]) == B_PEERS
    assert all(p["metadata"] == {} for p in listed["items"])
    sessions = ok(client.post(f"/v2/workspaces/{B}/sessions/list", json={}, headers=ADMIN_H))
    assert [s["id"] for s in sessions["items"]] == [B_SESSION]
    assert sessions["items"][0]["metadata"] == {}
    members = ok(client.get(f"/v2/workspaces/{B}/sessions/{B_SESSION}/peers", headers=ADMIN_H))
    assert sorted(p["id"] for p in members["items"]) == B_PEERS
    messages = ok(
        client.post(
            f"/v2/workspaces/{B}/sessions/{B_SESSION}/messages/list", json={}, headers=ADMIN_H
        )
    )
    assert [(m["content"], m["metadata"]) for m in messages["items"]] == [(B_SECRET, {})]
    hooks = ok(client.get(f"/v2/workspaces/{B}/webhooks", headers=ADMIN_H))
    assert [h["id"] for h in hooks["items"]] == [hook["id"]]
    workspaces = ok(client.post("/v2/workspaces/list", headers=ADMIN_H))
    assert sorted(w["id"] for w in workspaces["items"]) == [A, B]

    # control: B's own workspace key does reach B's data on the same read routes
    b_headers = workspace_h(B)
    for method, path in v2_routes:
        readonly = (method == "GET" and not path.endswith(("/clone", "/test"))) or (
            method == "POST" and path.endswith("/list")
        )
        if not readonly or scopes[(method, path)] is Scope.ADMIN:
            continue
        response = client.request(
            method, _fill(path, ids), headers=b_headers, **_route_body(method, path)
        )
        assert response.status_code == 200, (method, path, response.text)
    assert (
        B_SECRET
        in client.post(
            f"/v2/workspaces/{B}/sessions/{B_SESSION}/messages/list", json={}, headers=b_headers
        ).text
    )


# --- 4. narrow keys ------------------------------------------------------------------------

W = "w"


def _seed_three(client: TestClient) -> None:
    """alice+bob share s-ab; bob+carol share s-bc."""
    seed(client, W, ["alice", "bob", "carol"], {"s-ab": ["alice", "bob"], "s-bc": ["bob", "carol"]})
    ok(post_message(client, W, "s-ab", "bob", "hi alice", ADMIN_H))
    ok(post_message(client, W, "s-bc", "carol", "bob, a secret for you", ADMIN_H))


def test_peer_key_reaches_only_its_sessions(client: TestClient) -> None:
    _seed_three(client)
    h = peer_h(W, "alice")
    me = "a key for peer alice of workspace w"
    base = f"/v2/workspaces/{W}"

    # the SDK's start: get the workspace, no changes
    assert ok(client.post("/v2/workspaces", json={"id": W}, headers=h))["id"] == W
    forbidden(
        client.post("/v2/workspaces", json={"id": W, "metadata": {"x": 1}}, headers=h),
        f"{me} cannot change workspace w",
    )
    forbidden(
        client.post("/v2/workspaces", json={"id": "elsewhere"}, headers=h),
        f"{me} cannot reach workspace elsewhere",
    )

    # read and write a session it is a member of
    listed = ok(client.post(f"{base}/sessions/s-ab/messages/list", json={}, headers=h))
    assert [m["content"] for m in listed["items"]] == ["hi alice"]
    mine = ok(post_message(client, W, "s-ab", "alice", "hi bob", h))
    ok(client.get(f"{base}/sessions/s-ab/messages/{mine[0]['id']}", headers=h))
    ok(client.put(f"{base}/sessions/s-ab", json={"metadata": {"t": 1}}, headers=h))
    members = ok(client.get(f"{base}/sessions/s-ab/peers", headers=h))
    assert sorted(p["id"] for p in members["items"]) == ["alice", "bob"]
    ok(client.get(f"{base}/sessions/s-ab/peers/alice/config", headers=h))
    ok(client.post(f"{base}/sessions", json={"id": "s-ab"}, headers=h))

    # not a member of s-bc: every session route refuses
    nope = f"{me} cannot reach this resource"
    forbidden(client.post(f"{base}/sessions/s-bc/messages/list", json={}, headers=h), nope)
    forbidden(client.get(f"{base}/sessions/s-bc/peers", headers=h), nope)
    forbidden(client.put(f"{base}/sessions/s-bc", json={"metadata": {}}, headers=h), nope)
    forbidden(client.delete(f"{base}/sessions/s-bc", headers=h), nope)
    forbidden(client.get(f"{base}/sessions/s-bc/clone", headers=h), nope)
    forbidden(
        client.post(f"{base}/sessions/s-bc/peers", json={"alice": {}}, headers=h),
        "a key for peer alice of workspace w cannot reach session s-bc",
    )
    forbidden(client.put(f"{base}/sessions/s-bc/peers", json={"alice": {}}, headers=h), nope)
    forbidden(
        client.get(f"{base}/sessions/s-bc/peers/bob/config", headers=h),
        nope,
    )
    # ...including joining it through get-or-create or by posting a message
    forbidden(
        client.post(f"{base}/sessions", json={"id": "s-bc", "peers": {"alice": {}}}, headers=h),
        f"{me} cannot reach session s-bc",
    )
    forbidden(
        post_message(client, W, "s-bc", "alice", "let me in", h),
        f"{me} cannot reach session s-bc",
    )
    forbidden(
        client.post(
            f"{base}/sessions/s-bc/messages/upload",
            files={"file": ("a.txt", b"let me in", "text/plain")},
            data={"peer_id": "alice"},
            headers=h,
        ),
        f"{me} cannot reach session s-bc",
    )

    # ...including through a session named in a body (chat, representation), streamed or not
    for body in (
        {"query": "what was said?", "session_id": "s-bc"},
        {"query": "what was said?", "session_id": "s-bc", "stream": True},
    ):
        forbidden(
            client.post(f"{base}/peers/alice/chat", json=body, headers=h),
            f"{me} cannot reach session s-bc",
        )
    forbidden(
        client.post(f"{base}/peers/alice/representation", json={"session_id": "s-bc"}, headers=h),
        f"{me} cannot reach session s-bc",
    )
    answer = ok(
        client.post(
            f"{base}/peers/alice/chat", json={"query": "hi?", "session_id": "s-ab"}, headers=h
        )
    )
    assert "hi alice" in answer["content"]

    # workspace-wide listings and settings are not for peer keys
    forbidden(client.post(f"{base}/peers/list", json={}, headers=h), nope)
    forbidden(client.post(f"{base}/sessions/list", json={}, headers=h), nope)
    forbidden(client.get(f"{base}/webhooks", headers=h), nope)
    forbidden(client.get(f"{base}/deriver/status", headers=h), nope)
    forbidden(client.put(base, json={"metadata": {}}, headers=h), nope)
    forbidden(client.delete(base, headers=h), nope)

    # its own peer, not others
    ok(client.put(f"{base}/peers/alice", json={"metadata": {"me": True}}, headers=h))
    forbidden(client.put(f"{base}/peers/bob", json={"metadata": {}}, headers=h), nope)
    own = ok(client.post(f"{base}/peers/alice/sessions", json={}, headers=h))
    assert [s["id"] for s in own["items"]] == ["s-ab"]
    forbidden(client.post(f"{base}/peers/bob/sessions", json={}, headers=h), nope)
    assert ok(client.post(f"{base}/peers", json={"id": "alice"}, headers=h))["id"] == "alice"
    forbidden(
        client.post(f"{base}/peers", json={"id": "bob"}, headers=h),
        f"{me} cannot create or change peer bob",
    )
    forbidden(
        client.post(f"{base}/peers", json={"id": "mallory"}, headers=h),
        f"{me} cannot create or change peer mallory",
    )

    # a new session only by joining it
    forbidden(
        client.post(f"{base}/sessions", json={"id": "s-new", "peers": {"bob": {}}}, headers=h),
        f"{me} cannot change the membership of peer bob",
    )
    forbidden(
        client.post(f"{base}/sessions", json={"id": "s-new"}, headers=h),
        f"{me} cannot reach session s-new",
    )
    forbidden(
        post_message(client, W, "s-new", "bob", "as bob", h),
        f"{me} cannot send messages as peer bob",
    )
    forbidden(
        client.post(
            f"{base}/sessions", json={"id": "s-new", "peers": {"alice": {}, "bob": {}}}, headers=h
        ),
        f"{me} cannot change the membership of peer bob",
    )
    created = ok(
        client.post(f"{base}/sessions", json={"id": "s-new", "peers": {"alice": {}}}, headers=h)
    )
    assert created["id"] == "s-new"
    ok(client.post(f"{base}/sessions/s-new/peers", json={"bob": {}}, headers=ADMIN_H))

    # in a shared session a peer key speaks and configures only for itself
    forbidden(
        post_message(client, W, "s-ab", "bob", "words in bob's mouth", h),
        f"{me} cannot send messages as peer bob",
    )
    forbidden(
        client.post(
            f"{base}/sessions/s-ab/messages/upload",
            files={"file": ("a.txt", b"as bob", "text/plain")},
            data={"peer_id": "bob"},
            headers=h,
        ),
        f"{me} cannot send messages as peer bob",
    )
    forbidden(
        client.post(f"{base}/sessions/s-ab/peers", json={"mallory": {}}, headers=h),
        f"{me} cannot change the membership of peer mallory",
    )
    forbidden(
        client.request("DELETE", f"{base}/sessions/s-ab/peers", json=["bob"], headers=h),
        f"{me} cannot change the membership of peer bob",
    )
    forbidden(
        client.post(
            f"{base}/sessions/s-ab/peers/bob/config", json={"observe_me": False}, headers=h
        ),
        f"{me} cannot change the membership of peer bob",
    )
    ok(
        client.post(
            f"{base}/sessions/s-ab/peers/alice/config", json={"observe_me": False}, headers=h
        )
    )
    forbidden(
        client.put(f"{base}/sessions/s-ab/peers", json={"alice": {}}, headers=h),
        f"{me} cannot replace the peers of session s-ab",
    )
    forbidden(client.delete(f"{base}/sessions/s-ab", headers=h), f"{me} cannot delete session s-ab")
    members = ok(client.get(f"{base}/sessions/s-ab/peers", headers=h))
    assert sorted(p["id"] for p in members["items"]) == ["alice", "bob"]
    ok(post_message(client, W, "s-solo", "alice", "a new session by posting", h))
    # add_peers get-or-creates a session: allowed when the key's own peer joins it
    forbidden(
        client.post(f"{base}/sessions/s-added/peers", json={"bob": {}}, headers=h),
        f"{me} cannot change the membership of peer bob",
    )
    assert (
        ok(client.post(f"{base}/sessions/s-added/peers", json={"alice": {}}, headers=h))["id"]
        == "s-added"
    )
    own = ok(client.post(f"{base}/peers/alice/sessions", json={}, headers=h))
    assert sorted(s["id"] for s in own["items"]) == ["s-ab", "s-added", "s-new", "s-solo"]

    # access follows membership: once removed, the session is out of reach
    ok(client.request("DELETE", f"{base}/sessions/s-new/peers", json=["alice"], headers=ADMIN_H))
    forbidden(client.post(f"{base}/sessions/s-new/messages/list", json={}, headers=h), nope)
    forbidden(
        post_message(client, W, "s-new", "alice", "back?", h), f"{me} cannot reach session s-new"
    )
    forbidden(client.get(f"{base}/sessions/s-new/peers", headers=h), nope)
    forbidden(
        client.post(f"{base}/sessions/s-new/peers", json={"alice": {}}, headers=h),
        f"{me} cannot reach session s-new",
    )
    # the session it left is still among its sessions (as in Honcho), and rejoining (by a
    # wider key) gives the reach back
    own = ok(client.post(f"{base}/peers/alice/sessions", json={}, headers=h))
    assert sorted(s["id"] for s in own["items"]) == ["s-ab", "s-added", "s-new", "s-solo"]
    ok(client.post(f"{base}/sessions/s-new/peers", json={"alice": {}}, headers=ADMIN_H))
    ok(client.post(f"{base}/sessions/s-new/messages/list", json={}, headers=h))

    # nothing leaked into or out of s-bc
    s_bc = ok(client.post(f"{base}/sessions/s-bc/messages/list", json={}, headers=ADMIN_H))["items"]
    assert [m["content"] for m in s_bc] == ["bob, a secret for you"]


def test_session_key_reaches_only_its_session(client: TestClient) -> None:
    _seed_three(client)
    h = session_h(W, "s-ab")
    me = "a key for session s-ab of workspace w"
    base = f"/v2/workspaces/{W}"

    ok(client.post("/v2/workspaces", json={"id": W}, headers=h))
    listed = ok(client.post(f"{base}/sessions/s-ab/messages/list", json={}, headers=h))
    assert [m["content"] for m in listed["items"]] == ["hi alice"]
    ok(post_message(client, W, "s-ab", "alice", "hello", h))
    ok(client.post(f"{base}/sessions", json={"id": "s-ab"}, headers=h))
    ok(client.get(f"{base}/sessions/s-ab/peers", headers=h))
    ok(client.put(f"{base}/sessions/s-ab", json={"metadata": {"k": "v"}}, headers=h))

    nope = f"{me} cannot reach this resource"
    forbidden(client.post(f"{base}/sessions/s-bc/messages/list", json={}, headers=h), nope)
    forbidden(client.get(f"{base}/sessions/s-bc/peers", headers=h), nope)
    forbidden(post_message(client, W, "s-bc", "bob", "x", h), f"{me} cannot reach session s-bc")
    forbidden(
        client.post(f"{base}/sessions", json={"id": "s-other"}, headers=h),
        f"{me} cannot reach session s-other",
    )
    forbidden(
        post_message(client, W, "s-other", "alice", "x", h), f"{me} cannot reach session s-other"
    )
    forbidden(
        client.post(f"{base}/peers", json={"id": "alice"}, headers=h),
        f"{me} cannot create or change peer alice",
    )
    forbidden(client.put(f"{base}/peers/alice", json={"metadata": {}}, headers=h), nope)
    forbidden(client.post(f"{base}/peers/alice/sessions", json={}, headers=h), nope)
    forbidden(client.post(f"{base}/peers/list", json={}, headers=h), nope)
    forbidden(client.post(f"{base}/sessions/list", json={}, headers=h), nope)
    forbidden(
        client.post("/v2/workspaces", json={"id": W, "metadata": {"x": 1}}, headers=h),
        f"{me} cannot change workspace w",
    )


def test_workspace_key_and_admin_routes(client: TestClient) -> None:
    _seed_three(client)
    h = workspace_h(W)
    base = f"/v2/workspaces/{W}"

    peers = ok(client.post(f"{base}/peers/list", json={}, headers=h))
    assert sorted(p["id"] for p in peers["items"]) == ["alice", "bob", "carol"]
    ok(client.post(f"{base}/sessions/s-bc/messages/list", json={}, headers=h))
    ok(client.post(f"{base}/peers", json={"id": "dave"}, headers=h))
    ok(client.post("/v2/workspaces", json={"id": W, "metadata": {"plan": "x"}}, headers=h))

    needs_admin = "this route needs an admin key; the request used a key for workspace w"
    forbidden(client.post("/v2/workspaces/list", headers=h), needs_admin)
    forbidden(client.post("/v2/keys", params={"workspace_id": W}, headers=h), needs_admin)
    forbidden(
        client.post("/v2/keys", params={"workspace_id": W, "peer_id": "alice"}, headers=h),
        needs_admin,
    )
    forbidden(client.post("/v2/keys", headers=h), needs_admin)
    forbidden(
        client.post("/v2/workspaces", json={"id": "w2"}, headers=h),
        "a key for workspace w cannot reach workspace w2",
    )
    for narrow in (peer_h(W, "alice"), session_h(W, "s-ab")):
        assert (
            client.post("/v2/keys", params={"workspace_id": W}, headers=narrow).status_code == 403
        )
        assert client.post("/v2/workspaces/list", headers=narrow).status_code == 403

    # admin lists workspaces and mints keys
    assert [w["id"] for w in ok(client.post("/v2/workspaces/list", headers=ADMIN_H))["items"]] == [
        W
    ]
    minted = ok(
        client.post("/v2/keys", params={"workspace_id": W, "peer_id": "alice"}, headers=ADMIN_H)
    )
    assert set(minted) == {"key"}
    claims = jwt.decode(minted["key"], TEST_SECRET, algorithms=["HS256"])
    assert claims["w"] == W and claims["p"] == "alice"
    assert "ad" not in claims and "s" not in claims and "exp" not in claims
    assert isinstance(claims["iat"], int)
    alice = bearer(minted["key"])
    ok(client.post(f"{base}/sessions/s-ab/messages/list", json={}, headers=alice))
    forbidden(
        client.post(f"{base}/sessions/s-bc/messages/list", json={}, headers=alice),
        "a key for peer alice of workspace w cannot reach this resource",
    )

    later = datetime.now(UTC) + timedelta(hours=2)
    expiring = ok(
        client.post(
            "/v2/keys",
            params={"workspace_id": W, "session_id": "s-ab", "expires_at": later.isoformat()},
            headers=ADMIN_H,
        )
    )["key"]
    claims = jwt.decode(expiring, TEST_SECRET, algorithms=["HS256"])
    assert claims["s"] == "s-ab" and claims["exp"] == int(later.timestamp())
    ok(client.get(f"{base}/sessions/s-ab/peers", headers=bearer(expiring)))

    # As in Honcho, a key needs at least one id; admin keys come from the CLI only.
    response = client.post("/v2/keys", headers=ADMIN_H)
    assert response.status_code == 422
    assert response.json() == {
        "detail": "At least one of workspace_id, peer_id, or session_id must be provided"
    }

    past = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    response = client.post(
        "/v2/keys", params={"workspace_id": W, "expires_at": past}, headers=ADMIN_H
    )
    assert response.status_code == 422
    assert response.json() == {"detail": "expires_at must be in the future"}
    # Honcho mints this one, but here a key that names no workspace reaches none.
    for params in ({"peer_id": "alice"}, {"session_id": "s-ab", "peer_id": "alice"}):
        response = client.post("/v2/keys", params=params, headers=ADMIN_H)
        assert response.status_code == 422
        assert response.json() == {
            "detail": "a non-admin key needs a workspace: Parley lets a key that names no "
            "workspace reach none"
        }


def test_key_with_peer_and_session_reaches_either(client: TestClient) -> None:
    """Honcho mints a workspace + peer + session key and grants it the peer's routes and the
    session's; here it also acts only as its peer."""
    _seed_three(client)
    base = f"/v2/workspaces/{W}"
    minted = ok(
        client.post(
            "/v2/keys",
            params={"workspace_id": W, "peer_id": "carol", "session_id": "s-ab"},
            headers=ADMIN_H,
        )
    )
    claims = jwt.decode(minted["key"], TEST_SECRET, algorithms=["HS256"])
    assert {k: claims[k] for k in ("w", "p", "s")} == {"w": W, "p": "carol", "s": "s-ab"}
    h = bearer(minted["key"])
    # the session, though carol is not in it
    ok(client.post(f"{base}/sessions/s-ab/messages/list", json={}, headers=h))
    # carol's own session and carol herself
    ok(client.post(f"{base}/sessions/s-bc/messages/list", json={}, headers=h))
    ok(client.post(f"{base}/peers/carol/sessions", json={}, headers=h))
    ok(post_message(client, W, "s-ab", "carol", "hello", h))
    described = "a key for peer carol and session s-ab of workspace w"
    forbidden(
        post_message(client, W, "s-ab", "alice", "as alice", h),
        f"{described} cannot send messages as peer alice",
    )
    forbidden(
        client.post(f"{base}/peers/alice/sessions", json={}, headers=h),
        f"{described} cannot reach this resource",
    )
    forbidden(
        client.post(f"{base}/peers/list", json={}, headers=h),
        f"{described} cannot reach this resource",
    )


# --- 4b. keys made by a Honcho deployment --------------------------------------------------


def _honcho_key(**claims: Any) -> str:
    """A key as Honcho 2.5.1 writes it: `t` as text, no `iat`, `exp` as ISO text."""
    return jwt.encode(claims, TEST_SECRET, algorithm="HS256")


def test_honcho_minted_keys_are_accepted(client: TestClient) -> None:
    _seed_three(client)
    base = f"/v2/workspaces/{W}"
    admin = bearer(_honcho_key(t="", ad=True))  # Honcho's create_admin_jwt
    assert [w["id"] for w in ok(client.post("/v2/workspaces/list", headers=admin))["items"]] == [W]

    later = (datetime.now(UTC) + timedelta(days=1)).replace(microsecond=0)
    workspace = bearer(
        _honcho_key(t="2025-01-01T00:00:00Z", exp=later.isoformat().replace("+00:00", "Z"), w=W)
    )
    ok(client.post(f"{base}/peers/list", json={}, headers=workspace))

    peer = bearer(_honcho_key(t="2025-01-01T00:00:00Z", w=W, p="alice"))
    ok(client.post(f"{base}/sessions/s-ab/messages/list", json={}, headers=peer))
    forbidden(
        client.post(f"{base}/sessions/s-bc/messages/list", json={}, headers=peer),
        "a key for peer alice of workspace w cannot reach this resource",
    )

    expired = bearer(_honcho_key(t="", exp="2024-06-01T00:00:00Z", w=W))
    unauthorized(client.post(f"{base}/peers/list", json={}, headers=expired), "API key has expired")
    just_gone = (datetime.now(UTC) - timedelta(seconds=2)).isoformat()
    unauthorized(
        client.post(f"{base}/peers/list", json={}, headers=bearer(_honcho_key(exp=just_gone, w=W))),
        "API key has expired",
    )


def test_peer_or_session_key_without_a_workspace_reaches_no_workspace(client: TestClient) -> None:
    """Honcho lets such a key get-or-create its peer or session, and manage webhooks, in every
    workspace; here it is a valid key (not a 401) that no workspace route lets in."""
    _seed_three(client)
    base = f"/v2/workspaces/{W}"
    alice = bearer(_honcho_key(t="", p="alice"))
    who = "a key for peer alice that names no workspace (mint it with workspace_id)"
    forbidden(
        client.post(f"{base}/peers", json={"id": "alice"}, headers=alice),
        f"{who} cannot reach workspace w",
    )
    forbidden(
        client.post(f"{base}/peers/alice/sessions", json={}, headers=alice),
        f"{who} cannot reach workspace w",
    )
    forbidden(
        client.post("/v2/workspaces", json={"id": W}, headers=alice),
        f"{who} cannot reach workspace w",
    )
    forbidden(
        client.post(f"{base}/webhooks", json={"url": "https://example.com/h"}, headers=alice),
        f"{who} cannot reach workspace w",
    )
    session = bearer(_honcho_key(t="", s="s-ab"))
    forbidden(
        client.post(f"{base}/sessions/s-ab/messages/list", json={}, headers=session),
        "a key for session s-ab that names no workspace (mint it with workspace_id) "
        "cannot reach workspace w",
    )


def test_sdk_with_honcho_minted_keys(client: TestClient) -> None:
    from honcho import Honcho
    from honcho_core import AuthenticationError

    _seed_three(client)

    def sdk(token: str) -> Any:
        return Honcho(
            base_url=str(client.base_url),
            workspace_id=W,
            api_key=token,
            http_client=sdk_http_client(client),
            max_retries=0,
        )

    later = (datetime.now(UTC) + timedelta(hours=1)).isoformat().replace("+00:00", "Z")
    honcho = sdk(_honcho_key(t="2025-01-01T00:00:00Z", exp=later, w=W))
    assert sorted(p.id for p in honcho.get_peers()) == ["alice", "bob", "carol"]
    session = sdk(_honcho_key(t="", w=W, p="alice", s="s-ab")).session("s-ab")
    sent = session.add_messages([honcho.peer("alice").message("from a Honcho key")])
    assert [m.content for m in sent] == ["from a Honcho key"]
    assert [m.content for m in session.get_messages()] == ["hi alice", "from a Honcho key"]
    with pytest.raises(AuthenticationError):
        sdk(_honcho_key(t="", exp="2024-06-01T00:00:00Z", w=W)).get_peers()


# --- 5. the real SDK with a peer key -------------------------------------------------------


def test_sdk_with_a_peer_key(client: TestClient) -> None:
    from honcho import Honcho
    from honcho_core import PermissionDeniedError

    _seed_three(client)
    honcho = Honcho(
        base_url=str(client.base_url),
        workspace_id=W,
        api_key=key(Principal(workspace=W, peer="alice")),
        http_client=sdk_http_client(client),
        max_retries=0,
    )
    alice = honcho.peer("alice", metadata={"role": "user"})
    assert alice.get_metadata() == {"role": "user"}

    shared = honcho.session("s-ab")
    sent = shared.add_messages([alice.message("hello from the SDK")])
    assert [m.content for m in sent] == ["hello from the SDK"]
    assert [m.content for m in shared.get_messages()] == ["hi alice", "hello from the SDK"]
    assert sorted(p.id for p in shared.get_peers()) == ["alice", "bob"]

    fresh = honcho.session("s-sdk")
    fresh.add_messages([alice.message("a session of my own")])
    assert sorted(s.id for s in alice.get_sessions()) == ["s-ab", "s-sdk"]

    with pytest.raises(PermissionDeniedError):
        list(honcho.session("s-bc").get_messages())
    with pytest.raises(PermissionDeniedError):
        honcho.session("s-bc").add_messages([alice.message("let me in")])
    with pytest.raises(PermissionDeniedError):
        list(honcho.get_peers())
    with pytest.raises(PermissionDeniedError):
        honcho.peer("bob", metadata={"x": 1})


# --- 6. CLI and settings -------------------------------------------------------------------


@pytest.fixture
def cli_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    import os

    for name in list(os.environ):
        if name.startswith("PARLEY_"):
            monkeypatch.delenv(name)
    data_dir = tmp_path / "cli-data"
    monkeypatch.setenv("PARLEY_DATA_DIR", str(data_dir))
    return data_dir


def test_cli_creates_a_peer_key(cli_env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = int(datetime.now(UTC).timestamp())
    cli.main(["keys", "create", "--workspace", "w", "--peer", "p", "--expires", "1h"])
    token = capsys.readouterr().out.strip()
    secret = Settings(data_dir=cli_env).signing_key
    assert (cli_env / "server-secret").exists()
    claims = jwt.decode(token, secret, algorithms=["HS256"])
    assert claims["w"] == "w" and claims["p"] == "p"
    assert "ad" not in claims and "s" not in claims
    assert isinstance(claims["exp"], int)
    assert before + 3600 - 5 <= claims["exp"] <= before + 3600 + 5
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(token, TEST_SECRET, algorithms=["HS256"])


def test_cli_key_works_against_the_server(
    cli_env: Path, capsys: pytest.CaptureFixture[str], database_url: str
) -> None:
    cli.main(["keys", "create", "--workspace", "w"])
    token = capsys.readouterr().out.strip()
    settings = Settings(data_dir=cli_env, database_url=database_url, auth_enabled=True)
    with AppClient(create_app(settings), raise_server_exceptions=False) as client:
        ok(client.post("/v2/workspaces", json={"id": "w"}, headers=bearer(token)))
        ok(client.post("/v2/workspaces/w/peers/list", json={}, headers=bearer(token)))


def test_cli_admin_and_iso_expiry(cli_env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cli.main(["keys", "create", "--admin", "--expires", "2999-01-01T00:00:00"])
    claims = jwt.decode(
        capsys.readouterr().out.strip(),
        Settings(data_dir=cli_env).signing_key,
        algorithms=["HS256"],
    )
    assert claims["ad"] is True
    assert claims["exp"] == int(datetime(2999, 1, 1, tzinfo=UTC).timestamp())


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["--admin", "--workspace", "w"],
            "parley keys create: --admin takes no --workspace, --peer or --session",
        ),
        ([], "parley keys create: give --admin or --workspace W"),
        (["--peer", "p"], "parley keys create: give --admin or --workspace W"),
        (
            ["--workspace", "w", "--peer", "bad id"],
            "parley keys create: 'bad id' is not a valid peer id",
        ),
        (["--workspace", "w/x"], "parley keys create: 'w/x' is not a valid workspace id"),
        (
            ["--workspace", "w", "--expires", "2000-01-01"],
            "parley keys create: expires_at must be in the future",
        ),
    ],
)
def test_cli_refuses_bad_keys(
    cli_env: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    with pytest.raises(SystemExit) as exc:
        cli.main(["keys", "create", *argv])
    assert exc.value.code == message
    assert capsys.readouterr().out == ""


@pytest.mark.parametrize(
    "argv",
    [
        ["--workspace", "w", "--peer", "p", "--session", "s"],
        ["--workspace", "w", "--expires", "soon"],
    ],
)
def test_cli_argument_errors(
    cli_env: Path, capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    with pytest.raises(SystemExit) as exc:
        cli.main(["keys", "create", *argv])
    assert exc.value.code not in (0, None)
    assert capsys.readouterr().out == ""


def test_cli_refuses_placeholder_secret(
    cli_env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PARLEY_JWT_SECRET", "changeme")
    with pytest.raises(SystemExit) as exc:
        cli.main(["keys", "create", "--workspace", "w"])
    assert str(exc.value.code).startswith("parley: invalid settings: PARLEY_JWT_SECRET")
    assert capsys.readouterr().out == ""


def test_serve_safety(cli_env: Path) -> None:
    with pytest.raises(SettingsError, match="refusing to serve without authentication"):
        Settings(host="0.0.0.0", auth_enabled=False).check_serve_safety()
    with pytest.raises(SettingsError):
        Settings(host="192.168.1.10").check_serve_safety()
    Settings(host="0.0.0.0", allow_unauthenticated=True).check_serve_safety()
    Settings(host="0.0.0.0", auth_enabled=True).check_serve_safety()
    for loopback in ("127.0.0.1", "localhost", "::1", "127.0.0.2"):
        Settings(host=loopback).check_serve_safety()


def test_cli_serve_refuses_unsafe_settings(cli_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import uvicorn

    def never(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("uvicorn must not start")

    monkeypatch.setattr(uvicorn, "run", never)
    with pytest.raises(SystemExit) as exc:
        cli.main(["serve", "--host", "0.0.0.0"])
    assert str(exc.value.code).startswith("parley: refusing to serve without authentication")


@pytest.mark.parametrize(
    "value", ["changeme", "CHANGEME", "secret", "test", "short-but-random-9f", "x" * 31]
)
@pytest.mark.parametrize("name", ["PARLEY_JWT_SECRET", "PARLEY_WEBHOOK_SECRET"])
def test_placeholder_secrets_are_refused(
    cli_env: Path, monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError, match="at least 32 characters"):
        Settings()
    field = name.removeprefix("PARLEY_").lower()
    with pytest.raises(ValidationError):
        Settings(**{field: value})


def test_a_random_secret_is_accepted(cli_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PARLEY_JWT_SECRET", "9f" * 16)
    assert Settings().signing_key == "9f" * 16


def test_narrow_keys_see_only_this_sessions_observations_in_its_context(
    client: TestClient,
) -> None:
    """Session context with a perspective: a session or peer key gets what was concluded in
    this session only; bob's conclusions about carol from s-bc stay out of s-ab's context."""
    _seed_three(client)
    facts = [
        {"content": f"Carol {what}.", "observer_id": "bob", "observed_id": "carol", "session_id": s}
        for what, s in (
            ("likes tea (said in s-ab)", "s-ab"),
            ("has a secret (said in s-bc)", "s-bc"),
        )
    ]
    ok(
        client.post(
            f"/v2/workspaces/{W}/observations", json={"observations": facts}, headers=ADMIN_H
        )
    )
    path = f"/v2/workspaces/{W}/sessions/s-ab/context"
    params = {"peer_target": "carol", "peer_perspective": "bob"}

    def seen(headers: dict[str, str]) -> list[str]:
        context = ok(client.get(path, params=params, headers=headers))
        return [o["content"] for o in context["peer_representation"]["explicit"]]

    here = ["Carol likes tea (said in s-ab)."]
    assert seen(session_h(W, "s-ab")) == here
    assert seen(peer_h(W, "alice")) == here
    everywhere = sorted(["Carol likes tea (said in s-ab).", "Carol has a secret (said in s-bc)."])
    assert sorted(seen(workspace_h(W))) == everywhere
    assert sorted(seen(ADMIN_H)) == everywhere
