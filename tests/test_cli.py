"""`parley serve` and `parley migrate` as a user runs them: real processes, real HTTP."""

from __future__ import annotations

import subprocess
from pathlib import Path

from conftest import PARLEY
from conftest import parley_env as _env
from parley.store import migrate


def test_serve_on_the_embedded_default_with_the_sdk(served: str, tmp_path: Path) -> None:
    from honcho import Honcho

    honcho = Honcho(base_url=served, workspace_id="e2e", max_retries=0)
    alice = honcho.peer("alice")
    session = honcho.session("first-chat")
    session.add_messages([alice.message("I moved to Lisbon last spring.")])
    assert [m.content for m in session.get_messages()] == ["I moved to Lisbon last spring."]
    assert (tmp_path / "data" / "parley.db").exists()
    assert (tmp_path / "data" / "server-secret").stat().st_mode & 0o777 == 0o600


def test_serve_refuses_an_open_address_without_auth(tmp_path: Path) -> None:
    result = subprocess.run(
        [*PARLEY, "serve"],
        env=_env(tmp_path, PARLEY_HOST="0.0.0.0"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert "refusing to serve without authentication on 0.0.0.0" in result.stderr
    assert "PARLEY_AUTH_ENABLED=true" in result.stderr


def test_serve_refuses_a_placeholder_secret(tmp_path: Path) -> None:
    result = subprocess.run(
        [*PARLEY, "serve"],
        env=_env(tmp_path, PARLEY_JWT_SECRET="changeme"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert "PARLEY_JWT_SECRET" in result.stderr
    assert "at least 32 characters" in result.stderr


def test_migrate_reports_the_head_revision(tmp_path: Path) -> None:
    result = subprocess.run(
        [*PARLEY, "migrate"], env=_env(tmp_path), capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"database at revision {migrate.head_revision()}"
