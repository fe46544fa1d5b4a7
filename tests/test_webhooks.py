"""Webhook endpoints (/v2/workspaces/{w}/webhooks) and signed delivery by the work queue's
worker, against a real HTTP receiver on 127.0.0.1, on both backends; address rules (SSRF) with
private targets refused. Crashes, restarts and deletes: tests/test_durable_delivery.py."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from conftest import TEST_SECRET, AppClient, make_settings, wait_for_queue
from parley.app import create_app
from parley.errors import InvalidInput
from parley.llm.chat import UsageMeter
from parley.memory.webhook_delivery import (
    EVENT_ID_HEADER,
    SIGNATURE_HEADER,
    WEBHOOK,
    encode_event,
    sign,
)
from parley.memory.webhooks import check_target
from parley.outbound import Courier, DeliveryTask
from parley.store.models import WorkItem
from parley.store.queue import Claim, ClaimedItem, Retry, TaskFailed

# Deliveries are made by the work queue's worker: an embedded one that looks often.
WORKER = {"worker_embedded": True, "worker_poll_s": 0.05, "worker_concurrency": 1}
PRIVATE = {"webhook_allow_private_hosts": True} | WORKER


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    """The receiver listens on 127.0.0.1, so delivery tests allow private targets."""
    return dict(PRIVATE)


# --- a real HTTP receiver ------------------------------------------------------------------


@dataclass(frozen=True)
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    at: float


class Receiver:
    """An HTTP server on 127.0.0.1 that records every request and answers with scripted
    statuses (one per request, in order; 200 once the script is used up), after scripted
    delays (`delays`, one per request, then `delay_s`; cut short by `stop()`)."""

    def __init__(self, statuses: list[int] | None = None, *, listen: bool = True) -> None:
        self.statuses = list(statuses or [])
        self.delay_s = 0.0
        self.delays: list[float] = []
        self.requests: list[Received] = []
        self._lock = threading.Lock()
        self._arrived = threading.Condition(self._lock)
        self._stopped = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                status, delay = receiver._record(self, body)
                receiver._stopped.wait(delay)
                payload = b'{"ok":true}'
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except OSError:
                    pass  # the sender gave up waiting (timeout tests)

            do_GET = do_PUT = do_DELETE = do_POST

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler, bind_and_activate=False)
        self.server.server_bind()  # the port is ours, but refuses connections until listen()
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/hooks/honcho"
        self._thread: threading.Thread | None = None
        if listen:
            self.listen()

    def _record(self, handler: BaseHTTPRequestHandler, body: bytes) -> tuple[int, float]:
        with self._arrived:
            self.requests.append(
                Received(
                    method=handler.command,
                    path=handler.path,
                    headers={k.lower(): v for k, v in handler.headers.items()},
                    body=body,
                    at=time.monotonic(),
                )
            )
            status = self.statuses.pop(0) if self.statuses else 200
            delay = self.delays.pop(0) if self.delays else self.delay_s
            self._arrived.notify_all()
            return status, delay

    def listen(self) -> None:
        self.server.server_activate()
        self._thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Received]:
        with self._arrived:
            self._arrived.wait_for(lambda: len(self.requests) >= count, timeout=timeout)
            return list(self.requests)

    def stop(self) -> None:
        self._stopped.set()
        if self._thread is not None:
            self.server.shutdown()
            self._thread.join(timeout=5)
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.stop()


@pytest.fixture
def make_receiver() -> Iterator[Any]:
    made: list[Receiver] = []

    def make(statuses: list[int] | None = None, *, listen: bool = True) -> Receiver:
        made.append(Receiver(statuses, listen=listen))
        return made[-1]

    yield make
    for r in made:
        r.stop()


# --- helpers -------------------------------------------------------------------------------


def workspace(client: TestClient, workspace_id: str = "ws") -> str:
    assert client.post("/v2/workspaces", json={"id": workspace_id}).status_code == 200
    return workspace_id


def hooks(workspace_id: str) -> str:
    return f"/v2/workspaces/{workspace_id}/webhooks"


def register(client: TestClient, workspace_id: str, url: str) -> dict[str, Any]:
    r = client.post(hooks(workspace_id), json={"url": url})
    assert r.status_code == 200, r.text
    return r.json()


def listed(client: TestClient, workspace_id: str, **params: Any) -> dict[str, Any]:
    r = client.get(hooks(workspace_id), params=params)
    assert r.status_code == 200, r.text
    return r.json()


def drain(client: TestClient) -> None:
    """Wait until every delivery queued is finished (retries included)."""
    wait_for_queue(client, WEBHOOK, timeout_s=15.0)


def emit_test(client: TestClient, workspace_id: str) -> dict[str, Any]:
    r = client.get(f"{hooks(workspace_id)}/test")
    assert r.status_code == 200, r.text
    return r.json()


def expected_signature(body: bytes) -> str:
    return hmac.new(TEST_SECRET.encode(), body, hashlib.sha256).hexdigest()


# --- endpoints: create, list, delete, limit ------------------------------------------------


def test_get_or_create_returns_the_same_endpoint_for_the_same_url(client: TestClient) -> None:
    ws = workspace(client)
    first = register(client, ws, "http://127.0.0.1:9/a")
    again = register(client, ws, "http://127.0.0.1:9/a")
    other = register(client, ws, "http://127.0.0.1:9/b")

    assert set(first) == {"id", "workspace_id", "url", "created_at"}
    assert first["workspace_id"] == ws and first["url"] == "http://127.0.0.1:9/a"
    datetime.fromisoformat(first["created_at"])
    assert again == first
    assert other["id"] != first["id"]
    assert listed(client, ws)["total"] == 2


def test_same_url_in_two_workspaces_is_two_endpoints(client: TestClient) -> None:
    a, b = workspace(client, "wa"), workspace(client, "wb")
    in_a = register(client, a, "http://127.0.0.1:9/same")
    in_b = register(client, b, "http://127.0.0.1:9/same")
    assert in_a["id"] != in_b["id"]
    assert [e["id"] for e in listed(client, a)["items"]] == [in_a["id"]]
    assert [e["id"] for e in listed(client, b)["items"]] == [in_b["id"]]


def test_list_is_a_page_envelope_in_creation_order(client: TestClient) -> None:
    ws = workspace(client)
    assert listed(client, ws) == {"items": [], "total": 0, "page": 1, "size": 50, "pages": 0}
    made = [register(client, ws, f"http://127.0.0.1:9/{i}") for i in range(3)]

    everything = listed(client, ws)
    assert {k: v for k, v in everything.items() if k != "items"} == {
        "total": 3,
        "page": 1,
        "size": 50,
        "pages": 1,
    }
    assert everything["items"] == made

    first = listed(client, ws, page=1, size=2)
    second = listed(client, ws, page=2, size=2)
    assert (first["total"], first["pages"], first["size"]) == (3, 2, 2)
    assert [e["id"] for e in first["items"] + second["items"]] == [e["id"] for e in made]
    assert listed(client, ws, page=3, size=2)["items"] == []
    assert client.get(hooks(ws), params={"size": 0}).status_code == 422


def test_delete_then_404(client: TestClient) -> None:
    ws = workspace(client)
    keep = register(client, ws, "http://127.0.0.1:9/keep")
    gone = register(client, ws, "http://127.0.0.1:9/gone")

    r = client.delete(f"{hooks(ws)}/{gone['id']}")
    assert r.status_code == 200, r.text
    assert [e["id"] for e in listed(client, ws)["items"]] == [keep["id"]]

    again = client.delete(f"{hooks(ws)}/{gone['id']}")
    assert again.status_code == 404
    assert set(again.json()) == {"detail"} and gone["id"] in again.json()["detail"]

    # An endpoint of another workspace cannot be deleted through this one.
    other = workspace(client, "other")
    r = client.delete(f"{hooks(other)}/{keep['id']}")
    assert r.status_code == 404 and "detail" in r.json()
    assert [e["id"] for e in listed(client, ws)["items"]] == [keep["id"]]

    # After deleting, registering the URL again makes a new endpoint.
    back = register(client, ws, "http://127.0.0.1:9/gone")
    assert back["id"] != gone["id"]


def test_unknown_workspace(client: TestClient) -> None:
    """As in Honcho: registering needs the workspace (404); listing and the test emit of an
    unknown workspace find no endpoints."""
    created = client.post(hooks("nope"), json={"url": "http://127.0.0.1:9/x"})
    assert (created.status_code, created.json()) == (404, {"detail": "Workspace nope not found"})
    listed = client.get(hooks("nope"))
    assert (listed.status_code, listed.json()) == (
        200,
        {"items": [], "total": 0, "page": 1, "size": 50, "pages": 0},
    )
    tested = client.get(f"{hooks('nope')}/test")
    assert (tested.status_code, tested.json()["endpoints"]) == (200, 0)


@pytest.mark.parametrize("settings_overrides", [PRIVATE | {"max_webhooks_per_workspace": 2}])
def test_endpoint_limit_per_workspace_is_409(client: TestClient) -> None:
    ws = workspace(client)
    a = register(client, ws, "http://127.0.0.1:9/a")
    register(client, ws, "http://127.0.0.1:9/b")

    r = client.post(hooks(ws), json={"url": "http://127.0.0.1:9/c"})
    assert r.status_code == 409
    assert set(r.json()) == {"detail"} and "limit is 2" in r.json()["detail"]
    assert listed(client, ws)["total"] == 2

    # Fetching an existing URL is not creating one: still allowed at the limit.
    assert register(client, ws, "http://127.0.0.1:9/a") == a
    # The limit is per workspace.
    register(client, workspace(client, "other"), "http://127.0.0.1:9/c")
    # Deleting one makes room.
    assert client.delete(f"{hooks(ws)}/{a['id']}").status_code == 200
    register(client, ws, "http://127.0.0.1:9/c")


@pytest.mark.parametrize(
    "body", [{}, {"url": ""}, {"url": None}, {"url": 5}, {"uri": "http://127.0.0.1/"}]
)
def test_malformed_create_body_is_422(client: TestClient, body: dict[str, Any]) -> None:
    ws = workspace(client)
    r = client.post(hooks(ws), json=body)
    assert r.status_code == 422 and "detail" in r.json()
    assert listed(client, ws)["total"] == 0


# --- delivery ------------------------------------------------------------------------------


def test_test_event_is_delivered_signed(client: TestClient, receiver: Receiver) -> None:
    ws = workspace(client)
    register(client, ws, receiver.url)

    answer = emit_test(client, ws)
    drain(client)

    assert answer["endpoints"] == 1
    [req] = receiver.requests
    assert req.method == "POST"
    assert req.path == "/hooks/honcho"
    assert req.headers["content-type"] == "application/json"
    event = json.loads(req.body)
    assert set(event) == {"type", "data", "timestamp"}
    assert event["type"] == "test.event"
    assert isinstance(event["data"], dict)
    assert event["data"].get("workspace_id") == ws
    stamp = datetime.fromisoformat(event["timestamp"])
    assert stamp.tzinfo is not None
    # The signature is over the exact bytes received.
    assert req.headers[SIGNATURE_HEADER.lower()] == expected_signature(req.body)
    assert req.headers[SIGNATURE_HEADER.lower()] != expected_signature(req.body + b" ")


def test_test_event_goes_to_every_endpoint_and_not_to_deleted_ones(
    client: TestClient, make_receiver: Any
) -> None:
    ws = workspace(client)
    a, b, c = make_receiver(), make_receiver(), make_receiver()
    register(client, ws, a.url)
    register(client, ws, b.url)
    gone = register(client, ws, c.url)
    other = make_receiver()
    register(client, workspace(client, "other"), other.url)
    assert client.delete(f"{hooks(ws)}/{gone['id']}").status_code == 200

    assert emit_test(client, ws)["endpoints"] == 2
    drain(client)

    assert len(a.requests) == len(b.requests) == 1
    assert c.requests == [] and other.requests == []
    # One event: the same bytes and signature went to each endpoint.
    assert a.requests[0].body == b.requests[0].body
    assert a.requests[0].headers[SIGNATURE_HEADER.lower()] == expected_signature(b.requests[0].body)
    event_ids = {r.headers[EVENT_ID_HEADER.lower()] for r in (a.requests[0], b.requests[0])}
    assert len(event_ids) == 1
    # a second event has an id of its own
    assert emit_test(client, ws)["endpoints"] == 2
    drain(client)
    assert a.requests[1].headers[EVENT_ID_HEADER.lower()] not in event_ids


def test_test_event_without_endpoints_sends_nothing(client: TestClient) -> None:
    ws = workspace(client)
    assert emit_test(client, ws)["endpoints"] == 0
    drain(client)


def test_retries_after_500_with_the_same_signed_body(
    client: TestClient, receiver: Receiver
) -> None:
    receiver.statuses = [500]
    ws = workspace(client)
    register(client, ws, receiver.url)

    emit_test(client, ws)
    drain(client)

    first, second = receiver.requests
    assert first.body == second.body
    assert first.headers[SIGNATURE_HEADER.lower()] == second.headers[SIGNATURE_HEADER.lower()]
    assert second.headers[SIGNATURE_HEADER.lower()] == expected_signature(second.body)
    assert second.at - first.at >= 0.045  # webhook_backoff_s is 0.05 in tests


@pytest.mark.parametrize("status", [429, 502, 503])
def test_retries_after_429_and_other_5xx(
    client: TestClient, receiver: Receiver, status: int
) -> None:
    receiver.statuses = [status, status]
    ws = workspace(client)
    register(client, ws, receiver.url)
    emit_test(client, ws)
    drain(client)
    assert len(receiver.requests) == 3
    assert len({r.body for r in receiver.requests}) == 1


@pytest.mark.parametrize("status", [400, 401, 404, 410, 422])
def test_no_retry_on_4xx(client: TestClient, receiver: Receiver, status: int) -> None:
    receiver.statuses = [status]
    ws = workspace(client)
    register(client, ws, receiver.url)
    emit_test(client, ws)
    drain(client)
    time.sleep(0.2)  # longer than the first backoff: a retry would have arrived
    assert len(receiver.requests) == 1


def test_redirect_is_not_followed(client: TestClient, receiver: Receiver) -> None:
    receiver.statuses = [302]
    ws = workspace(client)
    register(client, ws, receiver.url)
    emit_test(client, ws)
    drain(client)
    assert len(receiver.requests) == 1


@pytest.mark.parametrize("settings_overrides", [PRIVATE | {"webhook_max_attempts": 3}])
def test_gives_up_after_max_attempts_with_growing_backoff(
    client: TestClient, receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="parley.webhooks")
    receiver.statuses = [500] * 10
    ws = workspace(client)
    register(client, ws, receiver.url)

    emit_test(client, ws)
    drain(client)
    time.sleep(0.5)

    times = [r.at for r in receiver.requests]
    assert len(times) == 3
    assert times[1] - times[0] >= 0.045
    assert times[2] - times[1] >= 0.095  # doubled
    assert any("failed after 3 attempt(s)" in m for m in caplog.messages)


@pytest.mark.parametrize(
    "settings_overrides", [PRIVATE | {"webhook_backoff_s": 1.0, "webhook_max_attempts": 4}]
)
def test_retries_after_connection_refused(
    client: TestClient, make_receiver: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="parley.webhooks")
    closed = make_receiver(listen=False)  # port reserved, connections refused
    ws = workspace(client)
    register(client, ws, closed.url)

    emit_test(client, ws)
    deadline = time.monotonic() + 10
    while not any("attempt 1 failed" in m for m in caplog.messages):
        assert time.monotonic() < deadline, "the first attempt never failed"
        time.sleep(0.01)
    assert any("ConnectError" in m for m in caplog.messages)
    closed.listen()
    drain(client)

    [req] = closed.requests
    assert req.headers[SIGNATURE_HEADER.lower()] == expected_signature(req.body)
    assert json.loads(req.body)["type"] == "test.event"


@pytest.mark.parametrize("settings_overrides", [PRIVATE | {"webhook_max_attempts": 3}])
def test_gives_up_on_a_port_that_never_listens(
    client: TestClient, make_receiver: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="parley.webhooks")
    closed = make_receiver(listen=False)
    ws = workspace(client)
    register(client, ws, closed.url)
    emit_test(client, ws)
    drain(client)
    failures = [m for m in caplog.messages if closed.url in m]
    assert sum("retrying" in m for m in failures) == 2
    assert any("failed after 3 attempt(s)" in m for m in failures)


def test_a_slow_endpoint_does_not_hold_up_the_request(
    client: TestClient, receiver: Receiver
) -> None:
    ws = workspace(client)
    register(client, ws, receiver.url)
    started = time.monotonic()
    emit_test(client, ws)
    # The route only queues the delivery; delivery happens in the background.
    assert time.monotonic() - started < 2.0
    drain(client)
    assert len(receiver.requests) == 1


# --- address rules (default: private targets refused) --------------------------------------

REFUSED = [
    "http://127.0.0.1:8080/hook",
    "http://127.0.0.1/hook",
    "http://localhost:8000/hook",
    "http://LOCALHOST/hook",
    "http://10.0.0.5/hook",
    "http://192.168.1.20/hook",
    "http://172.16.0.1/hook",
    "http://169.254.169.254/latest/meta-data/",
    "http://[::1]:8080/hook",
    "http://[::ffff:127.0.0.1]/hook",
    "http://[fc00::1]/hook",
    "http://0.0.0.0/hook",
    "http://100.64.0.1/hook",
    "http://2130706433/hook",  # 127.0.0.1 written as one number
    "http://127.1/hook",
    "https://user:pass@127.0.0.1/hook",
    "http://0x7f.1/hook",
    "http://[fe80::1%25eth0]/hook",
    "http://[64:ff9b::7f00:1]/hook",  # NAT64 form of 127.0.0.1
    "http://[2002:7f00:1::1]/hook",  # 6to4 form of 127.0.0.1
    "http://[2002:a00:5::1]/hook",  # 6to4 form of 10.0.0.5
]
MALFORMED = [
    "ftp://example.com/hook",
    "file:///etc/passwd",
    "javascript:alert(1)",
    "gopher://127.0.0.1:25/",
    "example.com/hook",
    "//example.com/hook",
    "http:///hook",
    "http://",
    "not a url",
    "http://example.com:99999/hook",
    "http://example.com:port/hook",
    "http://example.com:0/hook",
    "http://[::1/hook",
    "http://[not-an-ip]/hook",
    "https://example.com/" + "a" * 2100,
]


# The address rules are a pure function of the URL (check_target); it is checked over every
# case here, and the route over one case of each kind below, to prove that the route calls it
# and answers its refusal in Honcho's shape without storing the endpoint.


async def refusal(url: str, *, allow_private_hosts: bool) -> str:
    """The reason check_target gives for refusing `url` (it must refuse it)."""
    with pytest.raises(InvalidInput) as refused:
        await check_target(url, allow_private_hosts=allow_private_hosts)
    assert refused.value.detail
    return refused.value.detail


@pytest.mark.parametrize("url", REFUSED + MALFORMED)
async def test_check_target_refuses_private_and_malformed_urls(url: str) -> None:
    await refusal(url, allow_private_hosts=False)


@pytest.mark.parametrize("settings_overrides", [{}])
@pytest.mark.parametrize("url", [REFUSED[0], MALFORMED[0]])
def test_refused_targets_are_422_and_not_stored(client: TestClient, url: str) -> None:
    ws = workspace(client)
    r = client.post(hooks(ws), json={"url": url})
    assert_url_refused(r, url)
    assert listed(client, ws)["total"] == 0


def assert_url_refused(r: Any, url: str) -> str:
    """Honcho's shape for a webhook URL its validator refuses: a 422 whose detail is a list of
    one pydantic value error on body.url. Returns the reason."""
    assert r.status_code == 422, r.text
    [error] = r.json()["detail"]
    assert set(r.json()) == {"detail"}
    assert error == {
        "type": "value_error",
        "loc": ["body", "url"],
        "msg": error["msg"],
        "input": url,
        "ctx": {"error": {}},
    }
    assert error["msg"].startswith("Value error, ") and len(error["msg"]) > len("Value error, ")
    return error["msg"].removeprefix("Value error, ")


@pytest.mark.parametrize("settings_overrides", [{}])
def test_refused_url_body_is_exactly_honchos_shape(client: TestClient) -> None:
    ws = workspace(client)
    r = client.post(hooks(ws), json={"url": "ftp://example.com/hook"})
    assert r.status_code == 422
    assert r.json() == {
        "detail": [
            {
                "type": "value_error",
                "loc": ["body", "url"],
                "msg": "Value error, webhook URL must be an absolute http:// or https:// URL",
                "input": "ftp://example.com/hook",
                "ctx": {"error": {}},
            }
        ]
    }
    # the same list shape as the body validation's own errors
    r = client.post(hooks(ws), json={"url": 5})
    assert r.status_code == 422
    assert r.json() == {
        "detail": [
            {
                "type": "string_type",
                "loc": ["body", "url"],
                "msg": "Input should be a valid string",
                "input": 5,
            }
        ]
    }


@pytest.mark.parametrize("settings_overrides", [{}])
def test_refusal_messages_say_why(client: TestClient) -> None:
    ws = workspace(client)

    def reason(url: str) -> str:
        return assert_url_refused(client.post(hooks(ws), json={"url": url}), url)

    private = reason("http://10.0.0.5/hook")
    assert "non-public" in private and "PARLEY_WEBHOOK_ALLOW_PRIVATE_HOSTS" in private
    scheme = reason("ftp://example.com/")
    assert "http://" in scheme and "https://" in scheme
    assert "2048" in reason("https://e.com/" + "a" * 3000)


@pytest.mark.parametrize("settings_overrides", [{}])
def test_public_addresses_are_accepted(client: TestClient) -> None:
    ws = workspace(client)
    for url in ("https://93.184.215.14/hook", "http://[2606:4700::1111]:8443/x"):
        assert register(client, ws, url)["url"] == url
    assert listed(client, ws)["total"] == 2


@pytest.mark.parametrize("settings_overrides", [{}])
def test_unresolvable_host_is_422(client: TestClient) -> None:
    ws = workspace(client)
    url = "https://no-such-host.invalid/hook"
    assert "resolved" in assert_url_refused(client.post(hooks(ws), json={"url": url}), url)
    assert listed(client, ws)["total"] == 0


@pytest.mark.parametrize("url", MALFORMED)
async def test_check_target_refuses_malformed_urls_even_when_private_targets_are_allowed(
    url: str,
) -> None:
    await refusal(url, allow_private_hosts=True)


def test_malformed_urls_are_refused_even_when_private_targets_are_allowed(
    client: TestClient,
) -> None:
    ws = workspace(client)
    url = MALFORMED[0]
    assert_url_refused(client.post(hooks(ws), json={"url": url}), url)
    assert listed(client, ws)["total"] == 0


# --- the dispatcher on its own ---------------------------------------------------------------


def test_encode_and_sign() -> None:
    body = encode_event("test.event", {"workspace_id": "w", "text": "ünï"})
    event = json.loads(body)
    assert event["type"] == "test.event" and event["data"] == {"workspace_id": "w", "text": "ünï"}
    assert b" " not in body  # compact
    assert sign(body, TEST_SECRET) == expected_signature(body)


def test_the_target_is_checked_again_before_delivering(
    database_url: str, tmp_path: Any, receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    """A URL stored while private targets were allowed (or a name that later resolves to a
    private address) is refused at delivery time when they are not, and not retried."""
    data_dir = tmp_path / "data"
    allowed = make_settings(database_url, data_dir, webhook_allow_private_hosts=True)
    with AppClient(create_app(allowed)) as client:
        register(client, workspace(client), receiver.url)
    refused = make_settings(database_url, data_dir, **WORKER)
    with AppClient(create_app(refused)) as client:
        assert emit_test(client, "ws")["endpoints"] == 1
        drain(client)
        [item] = queue_items(client)
    assert receiver.requests == []
    assert (item.status, item.attempts) == ("failed", 1)
    assert item.last_error is not None
    assert item.last_error.startswith("refused: webhook URL http://127.0.0.1:")
    assert any("refused" in m and receiver.url in m for m in caplog.messages)


@pytest.mark.parametrize(
    "settings_overrides", [PRIVATE | {"webhook_timeout_s": 0.3, "webhook_max_attempts": 2}]
)
def test_each_attempt_is_bounded_by_the_timeout(client: TestClient, receiver: Receiver) -> None:
    receiver.delay_s = 5.0
    register(client, workspace(client), receiver.url)
    started = time.monotonic()
    emit_test(client, "ws")
    drain(client)
    # Unbounded, two attempts would take 2 x 5 s: timed out, retried, timed out, gave up.
    assert time.monotonic() - started < 3.0
    assert len(receiver.wait_for(2, timeout=3.0)) == 2
    [item] = queue_items(client)
    assert (item.status, item.attempts) == ("failed", 2)
    assert item.last_error == "failed: TimeoutError"


async def test_an_unexpected_error_is_logged_and_not_retried(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def broken_check(_: str) -> None:
        raise RuntimeError("boom")

    courier = Courier(timeout_s=1.0)
    outcomes: list[str] = []
    task = DeliveryTask(
        what="webhook",
        log=logging.getLogger("parley.webhooks"),
        courier=courier,
        check_target=broken_check,
        retry=Retry(max_attempts=3, backoff_s=0.01),
        headers=lambda _item, _body: {},
        on_outcome=outcomes.append,
    )
    item = ClaimedItem(
        id=1,
        workspace_id="w",
        task_type=WEBHOOK,
        session_id=None,
        sender_id=None,
        observer_id=None,
        message_seq=None,
        payload={"url": "http://127.0.0.1:9/x", "body": "{}"},
        attempts=1,
    )
    with pytest.raises(TaskFailed) as failed:
        await task(Claim(work_unit_key="k", holder="h", items=[item]), UsageMeter())
    await courier.close()
    assert (str(failed.value), failed.value.retry) == ("error: RuntimeError: boom", False)
    assert outcomes == ["error"]
    assert any("failed unexpectedly" in r.getMessage() for r in caplog.records)


def queue_items(client: TestClient) -> list[WorkItem]:
    async def read() -> list[WorkItem]:
        async with client.app.state.parley.database.read() as db:
            rows = await db.scalars(
                select(WorkItem).where(WorkItem.task_type == WEBHOOK).order_by(WorkItem.id)
            )
            return list(rows)

    return client.portal.call(read)


# --- through the Honcho SDK ----------------------------------------------------------------


def test_sdk_webhooks(honcho: Any, client: TestClient, receiver: Receiver) -> None:
    hooks_api = honcho.core.workspaces.webhooks
    made = hooks_api.get_or_create(workspace_id="sdk-ws", url=receiver.url)
    again = hooks_api.get_or_create(workspace_id="sdk-ws", url=receiver.url)
    assert made.id == again.id and made.url == receiver.url and made.workspace_id == "sdk-ws"

    page = hooks_api.list(workspace_id="sdk-ws")
    assert [e.id for e in page.items] == [made.id]

    hooks_api.test_emit(workspace_id="sdk-ws")
    drain(client)
    [req] = receiver.requests
    assert json.loads(req.body)["type"] == "test.event"
    assert req.headers[SIGNATURE_HEADER.lower()] == expected_signature(req.body)

    hooks_api.delete(made.id, workspace_id="sdk-ws")
    assert list(hooks_api.list(workspace_id="sdk-ws")) == []

    from honcho_core import NotFoundError

    with pytest.raises(NotFoundError):
        hooks_api.delete(made.id, workspace_id="sdk-ws")


@pytest.mark.parametrize("settings_overrides", [{}])
def test_sdk_private_target_is_refused(honcho: Any) -> None:
    from honcho_core import UnprocessableEntityError

    with pytest.raises(UnprocessableEntityError) as err:
        honcho.core.workspaces.webhooks.get_or_create(
            workspace_id="sdk-ws", url="http://127.0.0.1:9/hook"
        )
    [error] = err.value.body["detail"]
    assert error["loc"] == ["body", "url"] and error["input"] == "http://127.0.0.1:9/hook"
    assert error["type"] == "value_error" and "non-public" in error["msg"]
    assert list(honcho.core.workspaces.webhooks.list(workspace_id="sdk-ws")) == []
