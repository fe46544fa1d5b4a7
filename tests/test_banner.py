"""What `parley serve` prints on start, line by line."""

from __future__ import annotations

from pathlib import Path

import httpx

from parley.banner import banner
from parley.config import Settings

NO_MODEL = "none (retrieval-only; set PARLEY_LLM_MODEL, and PARLEY_LLM_BASE_URL, to reason)"


def test_the_embedded_default(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    assert banner(settings).splitlines() == [
        "Parley 0.1.0",
        f"  data dir:   {tmp_path}/data",
        f"  database:   sqlite+aiosqlite:///{tmp_path}/data/parley.db",
        "  embedder:   all-minilm-l6-v2-int8 (bundled, 384 dimensions, runs in process)",
        f"  chat model: {NO_MODEL}",
        "  URL:        http://127.0.0.1:8000",
        "  API docs:   http://127.0.0.1:8000/docs",
    ]


def test_postgres_without_its_password_and_a_configured_model(tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path,
        database_url="postgresql+asyncpg://parley:s3cret@db.internal:5432/parley?password=s3cret&ssl=require",
        embedding_base_url="http://localhost:11434/v1",
        embedding_model="nomic-embed-text",
        embedding_dimensions=768,
        llm_base_url="http://localhost:11434/v1",
        llm_model="qwen2.5:7b",
        host="::1",
        port=9000,
    )
    text = banner(settings)
    assert "s3cret" not in text
    assert text.splitlines()[2:] == [
        "  database:   postgresql+asyncpg://parley@db.internal:5432/parley?ssl=require",
        "  embedder:   nomic-embed-text at http://localhost:11434/v1 (768 dimensions)",
        "  chat model: openai qwen2.5:7b at http://localhost:11434/v1",
        "  URL:        http://[::1]:9000",
        "  API docs:   http://[::1]:9000/docs",
    ]


def test_roles_with_different_models_get_a_line_each(tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path,
        llm_model="claude-sonnet-4-5",
        llm_api_key="k",
        agent_provider="none",
        summary_model="claude-haiku-4-5",
    )
    assert banner(settings).splitlines()[4:8] == [
        "  deriver model: anthropic claude-sonnet-4-5",
        "  summary model: anthropic claude-haiku-4-5",
        "  dialectic model: anthropic claude-sonnet-4-5",
        f"  agent model: {NO_MODEL}",
    ]


def test_an_old_variable_gets_a_note(tmp_path: Path) -> None:
    environ = {"PARLEY_WORK_MAX_ATTEMPTS": "3", "PATH": "/bin"}
    assert banner(Settings(data_dir=tmp_path), environ).splitlines()[7:] == [
        "  note: PARLEY_WORK_MAX_ATTEMPTS: use PARLEY_WORKER_MAX_ATTEMPTS "
        "(the old name still works, and is deprecated)"
    ]


def test_parley_serve_prints_it_and_serves_the_docs_it_names(served: str, tmp_path: Path) -> None:
    port = served.rsplit(":", 1)[1]
    assert httpx.get(f"{served}/docs").status_code == 200
    printed = (tmp_path / "serve.log").read_text().splitlines()
    assert printed[:7] == [
        "Parley 0.1.0",
        f"  data dir:   {tmp_path}/data",
        f"  database:   sqlite+aiosqlite:///{tmp_path}/data/parley.db",
        "  embedder:   all-minilm-l6-v2-int8 (bundled, 384 dimensions, runs in process)",
        f"  chat model: {NO_MODEL}",
        f"  URL:        http://127.0.0.1:{port}",
        f"  API docs:   http://127.0.0.1:{port}/docs",
    ]
