"""Peaka's Query Folders (/api/v1/data/projects/{projectId}/queries/folders...) and
PATCH queries/{queryId}/path, on both backends: folders and subfolders of saved queries, the
tree, rename, move (never under itself), filing queries, delete (refused when not empty unless
force=true, which deletes the queries too), and project isolation with project keys."""

from __future__ import annotations

import itertools
import unicodedata
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from conftest import BACKENDS, AppClient, make_settings, migrated_database
from helpers import PARTNER, new_project, ok, project_key
from parley.app import create_app
from parley.config import Settings
from parley.data import query_folders
from parley.errors import InvalidInput

_ids = itertools.count()


@pytest.fixture(scope="module", params=BACKENDS)
def shared_settings(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Settings]:
    folder = tmp_path_factory.mktemp(f"query-folders-{request.param}")
    with migrated_database(request.param, folder, request) as url:
        yield make_settings(url, folder / "data", auth_enabled=True, key_cache_ttl_s=0)


@pytest.fixture(scope="module")
def client(shared_settings: Settings) -> Iterator[TestClient]:
    with AppClient(create_app(shared_settings), raise_server_exceptions=False) as test_client:
        yield test_client


class Project:
    """A new project and its own key, with short calls for the folder routes."""

    def __init__(self, client: TestClient) -> None:
        self.client = client
        self.id = str(new_project(client, f"folders {next(_ids)}")["id"])
        self.h = project_key(client, self.id)
        self.queries = f"/api/v1/data/projects/{self.id}/queries"
        self.folders = self.queries + "/folders"

    def mkdir(self, name: str, parent: str | None = None) -> dict[str, Any]:
        url = self.folders if parent is None else f"{self.folders}/{parent}"
        response = self.client.post(url, json={"folderName": name}, headers=self.h)
        assert response.status_code == 201, response.text
        made: dict[str, Any] = response.json()
        return made

    def query(self, name: str, path: str | None = None) -> dict[str, Any]:
        body = {"displayName": name, "inputQuery": "SELECT 1 AS one"}
        if path is not None:
            body["path"] = path
        made: dict[str, Any] = ok(
            self.client.post(
                self.queries, params={"checkSchemaExists": "false"}, json=body, headers=self.h
            )
        )
        return made

    def get(self, url: str, **params: Any) -> Any:
        return ok(self.client.get(url, params=params, headers=self.h))

    def folder(self, folder_id: str) -> dict[str, Any]:
        found: dict[str, Any] = self.get(f"{self.folders}/{folder_id}")
        return found

    def paths(self) -> list[str]:
        return [f["path"] for f in self.get(self.folders)["items"]]


def error(response: Any, status: int, code: str, message: str | None = None) -> None:
    assert response.status_code == status, (response.status_code, response.text)
    body = response.json()
    assert body["errorCode"] == code, body
    if message is not None:
        assert body["message"] == message, body


def item(folder: dict[str, Any]) -> dict[str, Any]:
    return {k: folder[k] for k in ("id", "name", "path", "parentId", "createdAt")}


# --- pure functions --------------------------------------------------------------------------


def test_paths_and_names_are_checked() -> None:
    assert query_folders.parse_path("/") == []
    assert query_folders.parse_path("") == []
    assert query_folders.parse_path("/Reports/Monthly") == ["Reports", "Monthly"]
    assert query_folders.parse_path("Reports/Monthly/") == ["Reports", "Monthly"]
    assert query_folders.parse_path(" /a b / c ") == ["a b", "c"]
    assert query_folders.relative_names("/Reports/Monthly") == ["Reports", "Monthly"]
    assert query_folders.folder_name("Cafe\u0301") == "Café"  # NFC: one spelling of a name
    for bad, message in [
        ("/a//b", "a folder path has no empty names: '/a//b'"),
        ("/a/../b", "'..' is not a folder name"),
        ("/" + "x" * 101, "a folder name is at most 100 characters"),
        ("/a/b\x00", "a folder name cannot hold control or format characters"),
        ("/a/b\u200b", "a folder name cannot hold control or format characters"),
        ("/1/2/3/4/5/6/7/8/9/10/11", "the path is 11 folders deep; folders nest 10 deep"),
    ]:
        with pytest.raises(InvalidInput) as raised:
            query_folders.parse_path(bad)
        assert raised.value.detail == message
    for bad, message in [
        ("", "folderName must not be empty"),
        ("/", "folderName must not be empty"),
        ("a//b", "folderName has no empty names: 'a//b'"),
    ]:
        with pytest.raises(InvalidInput) as raised:
            query_folders.relative_names(bad)
        assert raised.value.detail == message


# --- create, list, read ----------------------------------------------------------------------


def test_create_at_the_root_and_under_a_parent(client: TestClient) -> None:
    p = Project(client)
    reports = p.mkdir("Reports")
    assert reports == {
        "id": reports["id"],
        "name": "Reports",
        "path": "/Reports",
        "parentId": None,
        "createdAt": reports["createdAt"],
    }
    assert len(reports["id"]) == 36 and reports["createdAt"].endswith("Z")
    monthly = p.mkdir("Monthly", reports["id"])
    assert (monthly["name"], monthly["path"], monthly["parentId"]) == (
        "Monthly",
        "/Reports/Monthly",
        reports["id"],
    )
    # a nested name creates the missing parents; existing ones are reused
    deep = p.mkdir("Reports/Monthly/2026/Q1")
    assert deep["path"] == "/Reports/Monthly/2026/Q1"
    under = p.mkdir("Drafts/Old", reports["id"])
    assert under["path"] == "/Reports/Drafts/Old"
    assert p.paths() == [
        "/Reports",
        "/Reports/Drafts",
        "/Reports/Drafts/Old",
        "/Reports/Monthly",
        "/Reports/Monthly/2026",
        "/Reports/Monthly/2026/Q1",
    ]
    listed = p.get(p.folders)["items"]
    assert listed[0] == reports and listed[3] == monthly

    # names are unique among siblings (exactly, after NFC); the same name elsewhere is fine
    error(
        client.post(p.folders, json={"folderName": "Reports"}, headers=p.h),
        409,
        "CONFLICT",
        "a folder exists at /Reports",
    )
    error(
        client.post(f"{p.folders}/{reports['id']}", json={"folderName": "Monthly"}, headers=p.h),
        409,
        "CONFLICT",
        "a folder exists at /Reports/Monthly",
    )
    error(
        client.post(p.folders, json={"folderName": "Reports/Monthly/2026"}, headers=p.h),
        409,
        "CONFLICT",
        "a folder exists at /Reports/Monthly/2026",
    )
    assert p.mkdir("reports")["path"] == "/reports"  # case matters, as in a path
    assert p.mkdir("Monthly")["path"] == "/Monthly"
    # unknown parent; bad bodies
    error(
        client.post(f"{p.folders}/no-such-folder", json={"folderName": "x"}, headers=p.h),
        404,
        "NOT_FOUND",
        "Folder no-such-folder not found",
    )
    for body in ({}, {"folderName": None}, {"folderName": 5}, {"folderName": "x" * 2001}):
        error(client.post(p.folders, json=body, headers=p.h), 422, "VALIDATION_ERROR")
    for name, message in [
        ("  ", "folderName must not be empty"),
        ("..", "'..' is not a folder name"),
        ("a\tb", "a folder name cannot hold control or format characters"),
    ]:
        error(
            client.post(p.folders, json={"folderName": name}, headers=p.h),
            422,
            "VALIDATION_ERROR",
            message,
        )
    assert len(p.paths()) == 8  # nothing half made


def test_unicode_names_and_the_length_and_depth_limits(client: TestClient) -> None:
    p = Project(client)
    for name in ("Müşteri Raporları", "日本語のレポート", "📊 KPIs", "Ελληνικά"):
        made = p.mkdir(name)
        assert (made["name"], made["path"]) == (name, f"/{name}")
        assert p.folder(made["id"])["name"] == name
    # two spellings of one name (composed, decomposed) are the same name
    cafe = p.mkdir("Café")
    error(
        client.post(p.folders, json={"folderName": "Cafe\u0301"}, headers=p.h),
        409,
        "CONFLICT",
        "a folder exists at /Café",
    )
    assert unicodedata.is_normalized("NFC", cafe["name"])
    longest = "ñ" * 100
    assert p.mkdir(longest)["name"] == longest
    error(
        client.post(p.folders, json={"folderName": longest + "x"}, headers=p.h),
        422,
        "VALIDATION_ERROR",
        "a folder name is at most 100 characters",
    )
    # ten levels deep is allowed, the eleventh is not (by nested name or one at a time)
    ten = p.mkdir("/".join(f"L{i}" for i in range(1, 11)))
    assert ten["path"].count("/") == 10
    error(
        client.post(f"{p.folders}/{ten['id']}", json={"folderName": "L11"}, headers=p.h),
        422,
        "VALIDATION_ERROR",
        "that would nest folders 11 deep; folders nest 10 deep",
    )
    l8 = next(f for f in p.get(p.folders)["items"] if f["name"] == "L8")
    error(
        client.post(f"{p.folders}/{l8['id']}", json={"folderName": "a/b/c"}, headers=p.h),
        422,
        "VALIDATION_ERROR",
        "that would nest folders 11 deep; folders nest 10 deep",
    )
    tree = p.get(p.folders + "/tree")["tree"]
    node, depth = next(n for n in tree if n["name"] == "L1"), 1
    while node["children"]:
        [node], depth = node["children"], depth + 1
    assert (depth, node["path"]) == (10, ten["path"])


def test_read_a_folder_with_its_subfolders_and_queries(client: TestClient) -> None:
    p = Project(client)
    reports = p.mkdir("Reports")
    monthly = p.mkdir("Monthly", reports["id"])
    weekly = p.mkdir("Weekly", reports["id"])
    revenue = p.query("Revenue Report", "/Reports")
    assert revenue == {
        "id": revenue["id"],
        "displayName": "Revenue Report",
        "name": "revenue_report",
        "inputQuery": "SELECT 1 AS one",
        "queryType": "PLAIN",
        "schedule": None,
        "path": "/Reports",
        "folderId": reports["id"],
    }
    p.query("In Monthly", "/Reports/Monthly")
    p.query("At Root")
    assert p.folder(reports["id"]) == item(reports) | {
        "folders": [monthly, weekly],
        "queries": [revenue],
    }
    assert p.folder(weekly["id"]) == item(weekly) | {"folders": [], "queries": []}
    error(client.get(f"{p.folders}/nope", headers=p.h), 404, "NOT_FOUND", "Folder nope not found")
    # "tree" and "folders" are routes, not ids
    assert client.get(f"{p.folders}/tree", headers=p.h).status_code == 200
    assert client.get(p.folders, headers=p.h).json()["items"][0]["name"] == "Reports"


def test_the_tree_with_and_without_queries_and_from_a_root(client: TestClient) -> None:
    p = Project(client)
    assert p.get(p.folders + "/tree") == {"tree": []}
    b = p.mkdir("B")
    a = p.mkdir("A")
    a1 = p.mkdir("A1", a["id"])
    a1x = p.mkdir("X", a1["id"])
    q_a = p.query("qa", "/A")
    q_x = p.query("qx", "/A/A1/X")
    p.query("root query")

    def bare(folder: dict[str, Any], *children: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": folder["id"],
            "name": folder["name"],
            "path": folder["path"],
            "children": list(children),
        }

    assert p.get(p.folders + "/tree") == {
        "tree": [bare(a, bare(a1, bare(a1x))), bare(b)]  # siblings by name
    }
    with_queries = p.get(p.folders + "/tree", includeQueries="true")
    assert with_queries == {
        "tree": [
            bare(a, bare(a1, bare(a1x) | {"queries": [q_x]}) | {"queries": []})
            | {"queries": [q_a]},
            bare(b) | {"queries": []},
        ]
    }
    assert p.get(p.folders + "/tree", rootFolderId=a1["id"]) == {"tree": [bare(a1, bare(a1x))]}
    assert p.get(p.folders + "/tree", rootFolderId=a1x["id"], includeQueries="true") == {
        "tree": [bare(a1x) | {"queries": [q_x]}]
    }
    error(
        client.get(p.folders + "/tree", params={"rootFolderId": "gone"}, headers=p.h),
        404,
        "NOT_FOUND",
        "Folder gone not found",
    )
    error(
        client.get(p.folders + "/tree", params={"includeQueries": "maybe"}, headers=p.h),
        422,
        "VALIDATION_ERROR",
    )


# --- rename and move -------------------------------------------------------------------------


def test_rename_updates_the_paths_below(client: TestClient) -> None:
    p = Project(client)
    reports = p.mkdir("Reports")
    monthly = p.mkdir("Monthly", reports["id"])
    p.mkdir("Other")
    query = p.query("q", "/Reports/Monthly")
    renamed = ok(
        client.patch(
            f"{p.folders}/{reports['id']}/name", json={"name": "Archived Reports"}, headers=p.h
        )
    )
    assert renamed == item(reports) | {"name": "Archived Reports", "path": "/Archived Reports"}
    assert p.folder(monthly["id"])["path"] == "/Archived Reports/Monthly"
    assert p.get(f"{p.queries}/{query['id']}")["path"] == "/Archived Reports/Monthly"
    # to a sibling's name: 409; to its own name: nothing changes
    error(
        client.patch(f"{p.folders}/{reports['id']}/name", json={"name": "Other"}, headers=p.h),
        409,
        "CONFLICT",
        "a folder named Other exists at the same level",
    )
    same = client.patch(f"{p.folders}/{monthly['id']}/name", json={"name": "Monthly"}, headers=p.h)
    assert ok(same)["path"] == "/Archived Reports/Monthly"
    for body, message in [
        ({"name": "a/b"}, "a folder name cannot hold '/': 'a/b'"),
        ({"name": ""}, "a folder name must not be empty"),
        ({}, None),
    ]:
        error(
            client.patch(f"{p.folders}/{monthly['id']}/name", json=body, headers=p.h),
            422,
            "VALIDATION_ERROR",
            message,
        )
    error(
        client.patch(f"{p.folders}/gone/name", json={"name": "x"}, headers=p.h),
        404,
        "NOT_FOUND",
        "Folder gone not found",
    )


def test_move_a_folder_with_everything_under_it(client: TestClient) -> None:
    p = Project(client)
    reports = p.mkdir("Reports")
    monthly = p.mkdir("Monthly", reports["id"])
    q1 = p.mkdir("Q1", monthly["id"])
    query = p.query("q", "/Reports/Monthly/Q1")

    def move(folder: dict[str, Any], path: str) -> Any:
        return client.patch(f"{p.folders}/{folder['id']}/path", json={"path": path}, headers=p.h)

    # into a new /Archive (made on the way), keeping its name
    moved = ok(move(reports, "/Archive/Reports"))
    archive = next(f for f in p.get(p.folders)["items"] if f["path"] == "/Archive")
    assert moved == item(reports) | {"path": "/Archive/Reports", "parentId": archive["id"]}
    assert p.paths() == [
        "/Archive",
        "/Archive/Reports",
        "/Archive/Reports/Monthly",
        "/Archive/Reports/Monthly/Q1",
    ]
    assert p.get(f"{p.queries}/{query['id']}")["path"] == "/Archive/Reports/Monthly/Q1"
    # a move can rename too, and go back to the root
    assert ok(move(monthly, "/Months"))["path"] == "/Months"
    assert p.folder(q1["id"])["path"] == "/Months/Q1"
    assert ok(move(monthly, "Months/"))["path"] == "/Months"  # where it is: no change
    # never under itself or its own subfolder; never onto another folder
    error(
        move(monthly, "/Months/Inner"),
        409,
        "CONFLICT",
        "cannot move folder /Months under itself or its own subfolder (/Months)",
    )
    error(
        move(monthly, "/Months/Q1/Deeper/Months"),
        409,
        "CONFLICT",
        "cannot move folder /Months under itself or its own subfolder (/Months)",
    )
    error(move(monthly, "/Archive"), 409, "CONFLICT", "a folder exists at /Archive")
    error(
        move(archive, "/Archive/Reports/x"),
        409,
        "CONFLICT",
        "cannot move folder /Archive under itself or its own subfolder (/Archive)",
    )
    # the depth of the whole moved subtree counts
    error(
        move(monthly, "/1/2/3/4/5/6/7/8/9/Months"),
        422,
        "VALIDATION_ERROR",
        "that would nest folders 11 deep; folders nest 10 deep",
    )
    error(
        move(monthly, "/"),
        422,
        "VALIDATION_ERROR",
        "path names the folder's new place, e.g. /Archive/Reports",
    )
    error(
        move(monthly, "/a//b"), 422, "VALIDATION_ERROR", "a folder path has no empty names: '/a//b'"
    )
    assert p.paths() == [
        "/Archive",
        "/Archive/Reports",
        "/Months",
        "/Months/Q1",
    ]  # no refused move left folders behind
    error(
        client.patch(f"{p.folders}/gone/path", json={"path": "/x"}, headers=p.h),
        404,
        "NOT_FOUND",
        "Folder gone not found",
    )


# --- filing queries --------------------------------------------------------------------------


def test_query_paths_file_queries_and_make_their_folders(client: TestClient) -> None:
    p = Project(client)
    query = p.query("sample")
    assert (query["path"], query["folderId"]) == (None, None)
    moved = ok(
        client.patch(
            f"{p.queries}/{query['id']}/path", json={"path": "/reports/monthly"}, headers=p.h
        )
    )
    [reports, monthly] = p.get(p.folders)["items"]
    assert monthly["path"] == "/reports/monthly"
    assert moved == query | {"path": "/reports/monthly", "folderId": monthly["id"]}
    assert p.get(f"{p.queries}/{query['id']}") == moved
    assert p.get(p.queries) == [moved]
    # an existing folder is reused; "/" is the root again
    again = ok(
        client.patch(f"{p.queries}/{query['id']}/path", json={"path": "/reports"}, headers=p.h)
    )
    assert again["folderId"] == reports["id"]
    back = ok(client.patch(f"{p.queries}/{query['id']}/path", json={"path": "/"}, headers=p.h))
    assert (back["path"], back["folderId"]) == (None, None)
    assert len(p.paths()) == 2  # folders stay when their queries leave
    # updating a query keeps its folder (PUT moves nothing, as Peaka's spec says)
    ok(client.patch(f"{p.queries}/{query['id']}/path", json={"path": "/reports"}, headers=p.h))
    updated = ok(
        client.put(
            f"{p.queries}/{query['id']}",
            params={"checkSchemaExists": "false"},
            json={"displayName": "renamed", "path": "/elsewhere"},
            headers=p.h,
        )
    )
    assert (updated["name"], updated["path"], updated["folderId"]) == (
        "renamed",
        "/reports",
        reports["id"],
    )
    error(
        client.patch(f"{p.queries}/nope/path", json={"path": "/x"}, headers=p.h),
        404,
        "NOT_FOUND",
        "Query nope not found",
    )
    error(
        client.patch(f"{p.queries}/{query['id']}/path", json={}, headers=p.h),
        422,
        "VALIDATION_ERROR",
    )
    error(
        client.post(
            p.queries,
            params={"checkSchemaExists": "false"},
            json={"displayName": "bad", "inputQuery": "SELECT 1", "path": "/a/../b"},
            headers=p.h,
        ),
        422,
        "VALIDATION_ERROR",
        "'..' is not a folder name",
    )
    assert [q["name"] for q in p.get(p.queries)] == ["renamed"]


def test_add_and_remove_queries(client: TestClient) -> None:
    p = Project(client)
    folder = p.mkdir("Reports")
    other = p.mkdir("Other")
    a, b, c = p.query("a"), p.query("b"), p.query("c", "/Other")

    def put(body: dict[str, Any]) -> Any:
        return client.put(f"{p.folders}/{folder['id']}", json=body, headers=p.h)

    filed = ok(put({"queryIdsAdded": [a["id"], b["id"], c["id"]], "queryIdsRemoved": []}))
    inside = {"path": "/Reports", "folderId": folder["id"]}
    assert filed == item(folder) | {
        "folders": [],
        "queries": [a | inside, b | inside, c | inside],
    }
    assert p.folder(other["id"])["queries"] == []
    out = ok(put({"queryIdsAdded": [], "queryIdsRemoved": [a["id"]]}))
    assert [q["id"] for q in out["queries"]] == [b["id"], c["id"]]
    assert p.get(f"{p.queries}/{a['id']}")["folderId"] is None
    # a removed query that is not in this folder stays where it is
    ok(client.patch(f"{p.queries}/{a['id']}/path", json={"path": "/Other"}, headers=p.h))
    ok(put({"queryIdsRemoved": [a["id"]]}))  # a missing list is an empty one
    assert p.get(f"{p.queries}/{a['id']}")["folderId"] == other["id"]
    # unknown ids: 404 and nothing moves; one id in both lists: 422
    error(
        put({"queryIdsAdded": [a["id"], "nope"], "queryIdsRemoved": [b["id"]]}),
        404,
        "NOT_FOUND",
        "Query nope not found",
    )
    assert p.get(f"{p.queries}/{a['id']}")["folderId"] == other["id"]
    assert p.get(f"{p.queries}/{b['id']}")["folderId"] == folder["id"]
    error(
        put({"queryIdsAdded": [b["id"]], "queryIdsRemoved": [b["id"]]}),
        422,
        "VALIDATION_ERROR",
        f"a query cannot be added and removed at once: {b['id']}",
    )
    for body in ({"queryIdsAdded": None}, {"queryIdsAdded": "x"}, {"queryIdsAdded": [1]}):
        error(put(body), 422, "VALIDATION_ERROR")
    error(
        client.put(f"{p.folders}/gone", json={"queryIdsAdded": []}, headers=p.h),
        404,
        "NOT_FOUND",
        "Folder gone not found",
    )


# --- delete ----------------------------------------------------------------------------------


def test_delete_refuses_a_folder_that_holds_anything_unless_forced(client: TestClient) -> None:
    p = Project(client)
    empty = p.mkdir("Empty")
    deleted = client.delete(f"{p.folders}/{empty['id']}", headers=p.h)
    assert (deleted.status_code, deleted.content) == (204, b"")
    error(
        client.get(f"{p.folders}/{empty['id']}", headers=p.h),
        404,
        "NOT_FOUND",
        f"Folder {empty['id']} not found",
    )
    error(client.delete(f"{p.folders}/{empty['id']}", headers=p.h), 404, "NOT_FOUND")

    reports = p.mkdir("Reports")
    monthly = p.mkdir("Monthly", reports["id"])
    kept = p.mkdir("Kept")
    in_reports = p.query("in reports", "/Reports")
    in_monthly = p.query("in monthly", "/Reports/Monthly")
    in_kept = p.query("in kept", "/Kept")
    at_root = p.query("at root")
    error(
        client.delete(f"{p.folders}/{reports['id']}", headers=p.h),
        409,
        "CONFLICT",
        "folder /Reports is not empty (1 subfolders, 2 queries): "
        "move them out or delete with force=true",
    )
    error(
        client.delete(f"{p.folders}/{monthly['id']}", params={"force": "false"}, headers=p.h),
        409,
        "CONFLICT",
        "folder /Reports/Monthly is not empty (0 subfolders, 1 queries): "
        "move them out or delete with force=true",
    )
    assert p.paths() == ["/Kept", "/Reports", "/Reports/Monthly"]  # nothing went
    # force=true: the folder, its subfolders and their queries go; nothing else does
    forced = client.delete(f"{p.folders}/{reports['id']}", params={"force": "true"}, headers=p.h)
    assert (forced.status_code, forced.content) == (204, b"")
    assert p.paths() == ["/Kept"]
    for gone in (in_reports, in_monthly):
        error(
            client.get(f"{p.queries}/{gone['id']}", headers=p.h),
            404,
            "NOT_FOUND",
            f"Query {gone['id']} not found",
        )
        error(
            client.post(f"{p.queries}/execute", json={"id": gone["id"]}, headers=p.h),
            404,
            "NOT_FOUND",
        )
    assert [q["id"] for q in p.get(p.queries)] == [in_kept["id"], at_root["id"]]
    assert p.folder(kept["id"])["queries"] == [in_kept]
    # the deleted folders' ids answer 404 everywhere
    for call in (
        client.get(f"{p.folders}/{monthly['id']}", headers=p.h),
        client.put(f"{p.folders}/{monthly['id']}", json={}, headers=p.h),
        client.patch(f"{p.folders}/{monthly['id']}/name", json={"name": "x"}, headers=p.h),
        client.patch(f"{p.folders}/{monthly['id']}/path", json={"path": "/x"}, headers=p.h),
        client.post(f"{p.folders}/{monthly['id']}", json={"folderName": "x"}, headers=p.h),
        client.get(f"{p.folders}/tree", params={"rootFolderId": monthly["id"]}, headers=p.h),
    ):
        error(call, 404, "NOT_FOUND", f"Folder {monthly['id']} not found")
    # the names are free again
    assert p.mkdir("Reports")["path"] == "/Reports"
    assert p.query("in reports")["path"] is None


def test_deleting_a_project_takes_its_folders(client: TestClient) -> None:
    p = Project(client)
    p.mkdir("A/B/C")
    p.query("q", "/A/B")
    assert client.delete(f"/api/v1/projects/{p.id}", headers=PARTNER).status_code == 200
    error(client.get(p.folders, headers=PARTNER), 404, "NOT_FOUND", f"Project {p.id} not found")


def test_two_writers_of_one_name_get_one_folder_and_a_409(client: TestClient) -> None:
    """The second of two transactions creating the same name (at the root: the partial unique
    index; under a parent: the unique constraint) is a Conflict, never a database error, even
    when it checked before the first committed (PostgreSQL; SQLite serialises the writes)."""
    import asyncio

    from parley.errors import Conflict

    p = Project(client)
    parent = p.mkdir("Parent")["id"]
    database = client.app.state.parley.database

    async def race(parent_id: str | None) -> None:
        async def second() -> None:
            async with database.write() as db:
                await query_folders.create_folder(
                    db=db, project_id=p.id, parent_id=parent_id, folder_name="Race"
                )

        async with database.write() as db:
            await query_folders.create_folder(
                db=db, project_id=p.id, parent_id=parent_id, folder_name="Race"
            )
            late = asyncio.create_task(second())
            await asyncio.sleep(0.2)  # the second one checks, then waits on the index
        with pytest.raises(Conflict):
            await late

    for parent_id in (None, parent):
        client.portal.call(race, parent_id)
    assert p.paths() == ["/Parent", "/Parent/Race", "/Race"]


# --- isolation -------------------------------------------------------------------------------


def test_another_projects_folders_and_queries_are_out_of_reach(client: TestClient) -> None:
    mine, theirs = Project(client), Project(client)
    their_folder = theirs.mkdir("Secret")
    their_sub = theirs.mkdir("Deeper", their_folder["id"])
    their_query = theirs.query("secret query", "/Secret")
    my_folder = mine.mkdir("Mine")
    my_query = mine.query("my query")
    before = theirs.get(theirs.folders + "/tree", includeQueries="true")

    # my key on their project's routes: 403, whatever the ids
    for method, url, body in [
        ("GET", theirs.folders, None),
        ("POST", theirs.folders, {"folderName": "x"}),
        ("GET", theirs.folders + "/tree", None),
        ("GET", f"{theirs.folders}/{their_folder['id']}", None),
        ("PUT", f"{theirs.folders}/{their_folder['id']}", {"queryIdsAdded": []}),
        ("DELETE", f"{theirs.folders}/{their_folder['id']}?force=true", None),
        ("PATCH", f"{theirs.folders}/{their_folder['id']}/name", {"name": "x"}),
        ("PATCH", f"{theirs.folders}/{their_folder['id']}/path", {"path": "/x"}),
        ("POST", f"{theirs.folders}/{their_folder['id']}", {"folderName": "x"}),
        ("PATCH", f"{theirs.queries}/{their_query['id']}/path", {"path": "/x"}),
    ]:
        response = client.request(method, url, json=body, headers=mine.h)
        error(response, 403, "FORBIDDEN")
        assert "Secret" not in response.text

    # their ids under my project: 404, as if they did not exist
    fid, sub = their_folder["id"], their_sub["id"]
    missing = f"Folder {fid} not found"
    for method, url, body in [
        ("GET", f"{mine.folders}/{fid}", None),
        ("PUT", f"{mine.folders}/{fid}", {"queryIdsAdded": [my_query["id"]]}),
        ("DELETE", f"{mine.folders}/{fid}?force=true", None),
        ("PATCH", f"{mine.folders}/{fid}/name", {"name": "x"}),
        ("PATCH", f"{mine.folders}/{fid}/path", {"path": "/Mine/x"}),
        ("POST", f"{mine.folders}/{fid}", {"folderName": "x"}),
        ("GET", f"{mine.folders}/tree?rootFolderId={fid}", None),
    ]:
        error(client.request(method, url, json=body, headers=mine.h), 404, "NOT_FOUND", missing)
    error(
        client.delete(f"{mine.folders}/{sub}", headers=mine.h),
        404,
        "NOT_FOUND",
        f"Folder {sub} not found",
    )
    # their query ids in my bodies and paths
    error(
        client.put(
            f"{mine.folders}/{my_folder['id']}",
            json={"queryIdsAdded": [their_query["id"]]},
            headers=mine.h,
        ),
        404,
        "NOT_FOUND",
        f"Query {their_query['id']} not found",
    )
    error(
        client.put(
            f"{mine.folders}/{my_folder['id']}",
            json={"queryIdsRemoved": [their_query["id"]]},
            headers=mine.h,
        ),
        404,
        "NOT_FOUND",
    )
    error(
        client.patch(
            f"{mine.queries}/{their_query['id']}/path", json={"path": "/"}, headers=mine.h
        ),
        404,
        "NOT_FOUND",
        f"Query {their_query['id']} not found",
    )
    # the same path in my project is my folder, not theirs
    mine_secret = ok(
        client.patch(
            f"{mine.queries}/{my_query['id']}/path", json={"path": "/Secret"}, headers=mine.h
        )
    )
    assert mine_secret["folderId"] not in (fid, sub)
    assert mine.paths() == ["/Mine", "/Secret"]
    # nothing of theirs changed
    assert theirs.get(theirs.folders + "/tree", includeQueries="true") == before
    assert theirs.get(f"{theirs.queries}/{their_query['id']}")["folderId"] == fid
    # the partner key reaches both
    assert [f["path"] for f in ok(client.get(theirs.folders, headers=PARTNER))["items"]] == [
        "/Secret",
        "/Secret/Deeper",
    ]


# --- the migration ---------------------------------------------------------------------------


def test_the_migration_keeps_saved_queries_at_the_root_both_ways(tmp_path: Any) -> None:
    """0025 on a database with saved queries: they stay, at the root; the downgrade drops the
    folders and where queries were filed, never the queries (SQLite rebuilds the table both
    ways)."""
    import asyncio

    from alembic import command
    from sqlalchemy import text

    from parley.store import migrate
    from parley.store.engine import create_database

    url = f"sqlite+aiosqlite:///{tmp_path / 'old.db'}"
    migrate.upgrade(url, "0023")

    async def run(*statements: str) -> list[Any]:
        database = create_database(url)
        try:
            async with database.write() as db:
                found: list[Any] = []
                for statement in statements:
                    result = await db.execute(text(statement))
                    found = list(result.all()) if result.returns_rows else found
                return found
        finally:
            await database.dispose()

    asyncio.run(
        run(
            "INSERT INTO workspaces (id, metadata, configuration, created_at) "
            "VALUES ('p', '{}', '{}', CURRENT_TIMESTAMP)",
            "INSERT INTO saved_queries (id, project_id, name, display_name, input_query, "
            "query_type, created_at, updated_at) VALUES ('q1', 'p', 'one', 'One', 'SELECT 1', "
            "'PLAIN', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)",
        )
    )
    migrate.upgrade(url, "0025")
    assert asyncio.run(run("SELECT id, name, folder_id FROM saved_queries")) == [
        ("q1", "one", None)
    ]
    asyncio.run(
        run(
            "INSERT INTO query_folders (id, project_id, parent_id, name, created_at) "
            "VALUES ('f1', 'p', NULL, 'Reports', CURRENT_TIMESTAMP)",
            "UPDATE saved_queries SET folder_id = 'f1'",
        )
    )
    command.downgrade(migrate.alembic_config(url), "0023")
    assert asyncio.run(run("SELECT id, name, input_query FROM saved_queries")) == [
        ("q1", "one", "SELECT 1")
    ]
