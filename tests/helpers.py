"""Small helpers shared by test modules (fixtures stay in conftest.py)."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from conftest import TEST_SECRET
from fake_openai import FakeOpenAI, bag_of_words
from parley.auth.keys import ADMIN, create_key

# An admin JWT: on /api/v1 it is the partner key that creates and lists projects.
PARTNER = {"Authorization": f"Bearer {create_key(ADMIN, secret=TEST_SECRET)}"}


def ok(response: Any) -> Any:
    """The JSON body of a response that must be a 200 (the status and body in the message
    otherwise)."""
    assert response.status_code == 200, (response.status_code, response.text)
    return response.json()


def embeddings_only(model: FakeOpenAI) -> dict[str, Any]:
    """Settings overrides that embed with the fake model server's bag of words (256 dims)."""
    return {
        "embedding_base_url": model.base_url,
        "embedding_model": "bow",
        "embedding_dimensions": 256,
    }


def chat_model_settings(model: FakeOpenAI) -> dict[str, Any]:
    """Settings overrides for the fake model server as the chat model (and the embedder):
    `fake-model`, no retries."""
    return embeddings_only(model) | {
        "llm_base_url": model.base_url,
        "llm_model": "fake-model",
        "llm_max_retries": 0,
    }


class EmbeddingsGate:
    """The fake model server's /embeddings (set `reply` as its `embeddings_reply`), holding
    every request until `open` is set (30 s at most); it remembers each request's inputs."""

    def __init__(self, dims: int) -> None:
        self.dims = dims
        self.open = threading.Event()
        self._batches: list[list[str]] = []
        self._lock = threading.Lock()

    def reply(self, body: dict[str, Any]) -> tuple[int, Any]:
        inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
        with self._lock:
            self._batches.append(list(inputs))
        self.open.wait(timeout=30)
        data = [
            {"object": "embedding", "index": i, "embedding": bag_of_words(text, self.dims)}
            for i, text in enumerate(inputs)
        ]
        return 200, {"object": "list", "model": body["model"], "data": data}

    def batches(self) -> list[list[str]]:
        """The inputs of each request so far, in the order they came."""
        with self._lock:
            return [list(batch) for batch in self._batches]

    def inputs(self) -> list[str]:
        """Every text asked for so far, in order."""
        return [text for batch in self.batches() for text in batch]

    def forget(self) -> None:
        with self._lock:
            self._batches.clear()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def new_project(
    client: TestClient,
    name: str = "Shop",
    *,
    project_id: str | None = None,
    headers: dict[str, str] = PARTNER,
) -> dict[str, Any]:
    """A new /api/v1 project named `name` (with the id `project_id` if given), as answered."""
    body = {"name": name} | ({} if project_id is None else {"id": project_id})
    made: dict[str, Any] = ok(client.post("/api/v1/projects", json=body, headers=headers))
    return made


def project_key(client: TestClient, pid: str, name: str = "k") -> dict[str, str]:
    """The headers of a new API key of project `pid` (made with the partner key)."""
    created = ok(
        client.post(f"/api/v1/projects/{pid}/apiKeys", json={"name": name}, headers=PARTNER)
    )
    return bearer(created["apiKey"])


@dataclass(frozen=True)
class Catalog:
    """A connection and the catalog over it, as the API answered them."""

    connection: dict[str, Any]
    catalog: dict[str, Any]

    @property
    def connection_id(self) -> str:
        return str(self.connection["id"])

    @property
    def id(self) -> str:
        return str(self.catalog["id"])


def add_catalog(
    client: TestClient,
    pid: str,
    credential: dict[str, Any],
    *,
    kind: str = "SQLITE",
    connection: str = "shopdb",
    catalog: str | None = None,
    headers: dict[str, str] = PARTNER,
) -> Catalog:
    """Connect a source to project `pid` (`kind` and `credential` as the API takes them) and
    make a catalog over it; the catalog is named `catalog`, or as the connection."""
    conn = ok(
        client.post(
            f"/api/v1/connections/{pid}",
            json={"name": connection, "type": kind, "credential": credential},
            headers=headers,
        )
    )
    made = ok(
        client.post(
            f"/api/v1/data/projects/{pid}/catalogs",
            json={"name": connection if catalog is None else catalog, "connectionId": conn["id"]},
            headers=headers,
        )
    )
    return Catalog(conn, made)


@dataclass(frozen=True)
class DataProject:
    """A project made by `project_with_catalog`: its id, the headers that act on it (its own
    API key's, or the ones it was made with) and its one catalog."""

    id: str
    headers: dict[str, str]
    source: Catalog

    @property
    def catalog_id(self) -> str:
        return self.source.id

    @property
    def connection_id(self) -> str:
        return self.source.connection_id


def project_with_catalog(
    client: TestClient,
    source: Path,
    *,
    name: str = "Shop",
    project_id: str | None = None,
    connection: str = "shopdb",
    catalog: str = "shop",
    kind: str = "SQLITE",
    key: str | None = None,
    headers: dict[str, str] = PARTNER,
) -> DataProject:
    """A new project with one catalog over the SQLite file `source` (whose tables and rows the
    test made). The project is made with `headers` (the partner key; `{}` where auth is off),
    named `name`, with the id `project_id` if given. With `key`, the project gets an API key
    of that name, which makes the connection and catalog and is the returned headers."""
    pid = str(new_project(client, name, project_id=project_id, headers=headers)["id"])
    acting = headers if key is None else project_key(client, pid, key)
    made = add_catalog(
        client,
        pid,
        {"path": str(source)},
        kind=kind,
        connection=connection,
        catalog=catalog,
        headers=acting,
    )
    return DataProject(pid, acting, made)
