"""Every operation of the contracts in ../shared/specs (Honcho 2.5.1, Honcho 3.0.12, Peaka's
Gateway API) is served, at its path under the prefix the specs README names. Path parameters are
compared by position, not name (`{projectId}` is our `{project_id}`)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from fastapi.routing import iter_route_contexts

from conftest import make_settings
from parley.app import create_app

SPECS = Path(__file__).resolve().parents[2] / "shared" / "specs"
CONTRACTS = [
    ("honcho-v2.5.1-openapi.json", ""),
    ("honcho-v3-openapi.json", ""),
    ("peaka-gateway-openapi.json", "/api/v1"),
]
METHODS = {"get", "post", "put", "patch", "delete"}


def _shape(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "{}", path).rstrip("/")


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> set[tuple[str, str]]:
    data_dir = tmp_path_factory.mktemp("coverage")
    app = create_app(make_settings("sqlite+aiosqlite:///unused.db", data_dir))
    return {
        (method, _shape(route.path))
        for route in iter_route_contexts(app.routes)
        for method in getattr(route, "methods", None) or ()
    }


@pytest.mark.parametrize(("spec", "prefix"), CONTRACTS)
def test_every_operation_of_the_contract_is_served(
    served: set[tuple[str, str]], spec: str, prefix: str
) -> None:
    if not (SPECS / spec).exists():
        pytest.skip(f"{SPECS / spec} is not beside this checkout")
    document = json.loads((SPECS / spec).read_text())
    operations = [
        (method.upper(), _shape(prefix + path))
        for path, item in document["paths"].items()
        for method in item
        if method in METHODS
    ]
    assert len(operations) >= 46
    assert [op for op in operations if op not in served] == []
