"""The served OpenAPI schema is true: it is a valid document, every error it lists has its
family's body, and what each operation answers (status, content type, body) is what it lists.
`scripts/fuzz` checks the same with schemathesis' generated inputs; these are the
deterministic part of it, in the suite."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate

from conftest import AppClient, make_settings
from helpers import PARTNER, ok, project_with_catalog
from parley.api.errors import COMMON_ERRORS
from parley.app import create_app
from parley.config import Settings

PEAKA = "/api/v1"
ERROR_MODELS = {"PeakaError", "DetailError", "DetailValidationError"}


@pytest.fixture(scope="module")
def schema(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The schema as served: built from the routes, no database needed."""
    data_dir = tmp_path_factory.mktemp("openapi")
    app = create_app(make_settings("sqlite+aiosqlite:///unused.db", data_dir))
    return dict(TestClient(app).get("/openapi.json").json())


def _operations(schema: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method, path, op)
        for path, ops in schema["paths"].items()
        for method, op in ops.items()
        if method in {"get", "put", "post", "delete", "patch"}
    ]


def _ref(response: dict[str, Any]) -> str | None:
    ref = response.get("content", {}).get("application/json", {}).get("schema", {}).get("$ref")
    return ref.rsplit("/", 1)[-1] if ref else None


def test_the_served_schema_is_a_valid_openapi_document(schema: dict[str, Any]) -> None:
    validate(schema)
    assert len(_operations(schema)) >= 100
    # FastAPI's default 422 (an array `detail`) would be wrong for Parley's own 422s
    assert "HTTPValidationError" not in schema["components"]["schemas"]


def test_every_error_response_has_its_familys_body(schema: dict[str, Any]) -> None:
    for method, path, op in _operations(schema):
        where = f"{method.upper()} {path}"
        responses = op["responses"]
        errors = {int(s) for s in responses if int(s) >= 400}
        if path.startswith(PEAKA) or path.startswith("/v2/"):
            assert set(COMMON_ERRORS) <= errors, where
        else:  # /health, /metrics: the body limit holds for every request
            assert 413 in errors, where
        for status in errors:
            expected = (
                "PeakaError"
                if path.startswith(PEAKA)
                else "DetailValidationError"
                if status == 422
                else "DetailError"
            )
            assert _ref(responses[str(status)]) == expected, (where, status)
            assert responses[str(status)]["description"], (where, status)
        if 401 in errors:
            assert "WWW-Authenticate" in responses["401"]["headers"], where


def test_peaka_deletes_document_what_they_answer(schema: dict[str, Any]) -> None:
    """Peaka's spec: deleting a project, key, connection, catalog or saved query is a 200
    with no body; golden SQLs and relations answer a JSON object."""
    empty = {
        "/api/v1/projects/{project_id}",
        "/api/v1/projects/{project_id}/apiKeys/{api_key_id}",
        "/api/v1/connections/{project_id}/{connection_id}",
        "/api/v1/data/projects/{project_id}/catalogs/{catalog_id}",
        "/api/v1/data/projects/{project_id}/queries/{query_id}",
        "/api/v1/data/projects/{project_id}/cache/{cache_id}",
        "/api/v1/organizations/{organization_id}/workspaces/{workspace_id}",
        "/api/v1/organizations/{organization_id}/workspaces/{workspace_id}/projects/{project_id}",
        # internal tables: a table, a column
        *(
            f"/api/v1/data/projects/{{project_id}}/{kind}/{{table_name}}{column}"
            for kind in ("table", "bitable")
            for column in ("", "/columns/{column_name}")
        ),
        "/api/v1/data/projects/{project_id}/semantic-catalogs/{catalog_id}/table/{table_id}",
    }
    # Peaka's spec answers these with a 204 (no body): a folder's delete, cancelExport
    no_content = {
        "/api/v1/data/projects/{project_id}/queries/folders/{folder_id}",
        "/api/v1/data/projects/{project_id}/exports/{export_id}",
        "/api/v1/data/projects/{project_id}/catalogs/{catalog_id}/parametricTables",
    }
    deletes = {p: ops["delete"] for p, ops in schema["paths"].items() if "delete" in ops}
    for path in empty:
        assert "content" not in deletes[path]["responses"]["200"], path
    for path in no_content:
        assert "200" not in deletes[path]["responses"], path
        assert "content" not in deletes[path]["responses"]["204"], path
    for path, op in deletes.items():
        if path.startswith(PEAKA) and path not in empty | no_content:
            assert "application/json" in op["responses"]["200"]["content"], path


def test_peaka_answers_declare_their_models(schema: dict[str, Any]) -> None:
    """Each Peaka JSON answer names a model (or a list of one): also the connection detail
    (an open model: its fields are the connector's) and the query result (documented, not
    validated: its body is written as bytes)."""
    unnamed = set()
    for method, path, op in _operations(schema):
        ok = op["responses"].get("200", {})
        body = ok.get("content", {}).get("application/json", {}).get("schema")
        if not path.startswith(PEAKA) or body is None:
            continue
        if "$ref" not in body and "$ref" not in body.get("items", {}):
            unnamed.add((method, path))
    assert unnamed == set()
    execute = schema["paths"]["/api/v1/data/projects/{project_id}/queries/execute"]["post"]
    assert _ref(execute["responses"]["200"]) == "QueryExecuteResult"


@pytest.fixture
def sources_client(settings: Settings, tmp_path: Path) -> Iterator[TestClient]:
    """A client whose projects may connect to the files under tmp_path/sources."""
    (tmp_path / "sources").mkdir()
    roots = {"data_file_roots": {"*": [tmp_path / "sources"]}}
    with AppClient(create_app(settings.model_copy(update=roots))) as test_client:
        yield test_client


@pytest.mark.parametrize("layout", ["CELL_TYPED", "SIMPLE", "COMPACT"])
def test_query_results_are_what_the_schema_documents(
    sources_client: TestClient, schema: dict[str, Any], tmp_path: Path, layout: str
) -> None:
    client = sources_client
    """The execute route writes its body as bytes, unvalidated: each format, whole and cut
    at the cell cap, is checked here against the QueryExecuteResult it documents."""
    path = tmp_path / "sources" / "notes.db"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT, score REAL)")
        db.execute("INSERT INTO notes VALUES (1, 'short', 0.5), (2, ?, NULL)", ["x" * 1_100_000])
    pid = project_with_catalog(client, path, name="oa", connection="notes", catalog="notes").id
    schemas = Schemas(schema)
    op = schema["paths"]["/api/v1/data/projects/{project_id}/queries/execute"]["post"]
    answers = []
    for where in ("WHERE id = 1", ""):
        response = client.post(
            f"/api/v1/data/projects/{pid}/queries/execute",
            params={"format": layout},
            json={"statement": f"SELECT id, body, score FROM notes.main.notes {where}"},
            headers=PARTNER,
        )
        _check(schemas, f"execute {layout} {where}", op, response)
        answers.append(ok(response))
    whole, cut = answers
    assert len(whole["data"]) == 1 and "truncated" not in whole
    assert len(cut["data"]) == 2 and cut["truncated"] is True
    assert cut["truncation"]["cellsCut"] == 1


# --- every operation, called: its answer is one it documents --------------------------------

ID = "oa-1"  # every path id and string: a valid name, the same in both passes


class Schemas:
    def __init__(self, schema: dict[str, Any]) -> None:
        self.components = schema["components"]

    def resolve(self, node: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in node:
            node = self.components["schemas"][node["$ref"].rsplit("/", 1)[-1]]
        return node

    def example(self, node: dict[str, Any], depth: int = 0) -> Any:
        """A small value the schema accepts, or close to one: every property filled."""
        node = self.resolve(node)
        if "default" in node and node["default"] is not None:
            return node["default"]
        if "const" in node:
            return node["const"]
        if "enum" in node:
            return node["enum"][0]
        for key in ("anyOf", "oneOf", "allOf"):
            if key in node:
                options = [o for o in node[key] if self.resolve(o).get("type") != "null"]
                return self.example(options[0], depth) if options else None
        kind = node.get("type")
        if kind == "object" or "properties" in node:
            if depth > 3:
                return {}
            props = node.get("properties", {})
            return {name: self.example(sub, depth + 1) for name, sub in props.items()}
        if kind == "array":
            return [self.example(node.get("items", {}), depth + 1)] * node.get("minItems", 0)
        if kind == "integer":
            return max(int(node.get("minimum", 1)), 1)
        if kind == "number":
            return max(float(node.get("minimum", 1.0)), node.get("exclusiveMinimum", 0) + 1.0)
        if kind == "boolean":
            return False
        if node.get("format") == "date-time":
            return "2024-05-01T12:00:00Z"
        return ID * max(1, -(-int(node.get("minLength", 1)) // len(ID)))

    def validator(self, node: dict[str, Any]) -> Draft202012Validator:
        return Draft202012Validator({**node, "components": self.components})


def _request(schemas: Schemas, path: str, op: dict[str, Any]) -> dict[str, Any]:
    url = re.sub(r"\{[^}]+\}", ID, path)
    params = {
        p["name"]: schemas.example(p["schema"])
        for p in op.get("parameters", [])
        if p["in"] == "query" and p.get("required")
    }
    request: dict[str, Any] = {"url": url, "params": params}
    content = op.get("requestBody", {}).get("content", {})
    if "application/json" in content:
        request["json"] = schemas.example(content["application/json"]["schema"])
    elif "multipart/form-data" in content:
        form = schemas.resolve(content["multipart/form-data"]["schema"])
        files, data = {}, {}
        for name, prop in form["properties"].items():
            resolved = schemas.resolve(prop)
            if "contentMediaType" in resolved or resolved.get("format") == "binary":
                files[name] = ("notes.txt", b"I moved to Lisbon.", "text/plain")
            else:
                data[name] = str(schemas.example(prop))
        request |= {"files": files, "data": data}
    return request


def _check(schemas: Schemas, where: str, op: dict[str, Any], response: Any) -> None:
    documented = op["responses"]
    status = str(response.status_code)
    assert status in documented, (where, response.status_code, response.text[:300])
    content = documented[status].get("content")
    if not content:
        assert response.content == b"", (where, status, response.text[:300])
        return
    media = response.headers["content-type"].split(";")[0]
    assert media in content, (where, status, media, list(content))
    if media == "application/json":
        errors = sorted(
            schemas.validator(content[media].get("schema", {})).iter_errors(response.json()),
            key=str,
        )
        assert not errors, (where, status, response.text[:300], str(errors[0])[:500])


def test_every_operation_answers_what_it_documents(
    client: TestClient, schema: dict[str, Any]
) -> None:
    """Two passes over every operation with the same inputs: the first (no deletes) mostly
    meets nothing (404s, empty reads, 422s) and creates what it can; the second meets what
    the first made (200s, 409s for what exists), and deletes it last."""
    schemas = Schemas(schema)
    operations = _operations(schema)
    first = [o for o in operations if o[0] != "delete"]
    second = first + [o for o in operations if o[0] == "delete"]
    seen: dict[int, int] = {}
    for method, path, op in first + second:
        response = client.request(method, **_request(schemas, path, op))
        _check(schemas, f"{method.upper()} {path}", op, response)
        seen[response.status_code] = seen.get(response.status_code, 0) + 1
    assert {200, 404, 409, 422} <= set(seen), seen


@pytest.fixture
def auth_client(settings: Settings) -> Iterator[TestClient]:
    app = create_app(settings.model_copy(update={"auth_enabled": True}))
    with AppClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


def test_without_a_key_every_operation_answers_its_documented_401(
    auth_client: TestClient, schema: dict[str, Any]
) -> None:
    schemas = Schemas(schema)
    for method, path, op in _operations(schema):
        response = auth_client.request(method, **_request(schemas, path, op))
        where = f"{method.upper()} {path}"
        if path == "/health":
            assert response.status_code == 200, where
            continue
        assert response.status_code == 401, (where, response.text)
        assert response.headers["www-authenticate"] == "Bearer", where
        _check(schemas, where, op, response)
