"""What `parley serve` prints as it starts: where its data is, what it runs, where to reach it.

Built from the settings alone (the same choices the app makes when it builds its embedder and
models), so it is printed before the slow parts of the start and is tested as a function."""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy.engine import make_url

from parley import __version__
from parley.config import Settings, deprecated_environment
from parley.llm.embeddings import DEFAULT_MODEL_DIR, ModelManifest
from parley.llm.roles import ROLES, resolve_provider

NO_MODEL = "none (retrieval-only; set PARLEY_LLM_MODEL, and PARLEY_LLM_BASE_URL, to reason)"


def banner(settings: Settings, environ: Mapping[str, str] | None = None) -> str:
    """The lines printed on start; `environ` (the process's) adds a note per old variable."""
    url = base_url(settings)
    lines = [
        f"Parley {__version__}",
        f"  data dir:   {settings.data_dir.resolve()}",
        f"  database:   {database_without_password(settings.resolved_database_url)}",
        f"  embedder:   {embedder_line(settings)}",
        *(f"  {label + ':':<11} {text}" for label, text in chat_model_lines(settings)),
        f"  URL:        {url}",
        f"  API docs:   {url}/docs",
    ]
    for note in deprecated_environment(environ or {}):
        lines.append(f"  note: {note} (the old name still works, and is deprecated)")
    return "\n".join(lines)


def base_url(settings: Settings) -> str:
    host = f"[{settings.host}]" if ":" in settings.host else settings.host
    return f"http://{host}:{settings.port}"


def database_without_password(url: str) -> str:
    """The database URL with its password left out (in the authority or as a query option)."""
    parsed = make_url(url)
    parsed = parsed.difference_update_query([k for k in parsed.query if k.lower() == "password"])
    # URL is a NamedTuple; its set() reads password=None as "unchanged"
    return parsed._replace(password=None).render_as_string(hide_password=False)


def embedder_line(settings: Settings) -> str:
    if settings.embedding_base_url:
        return (
            f"{settings.embedding_model} at {settings.embedding_base_url} "
            f"({settings.embedding_dimensions} dimensions)"
        )
    manifest = ModelManifest.load(DEFAULT_MODEL_DIR)
    return f"{manifest.id} (bundled, {manifest.dimensions} dimensions, runs in process)"


def chat_model_lines(settings: Settings) -> list[tuple[str, str]]:
    """One line when every role runs the same model, else one line per role."""
    described = {role: _role_model(settings, role) for role in ROLES}
    if len(set(described.values())) == 1:
        return [("chat model", described[ROLES[0]])]
    return [(f"{role} model", text) for role, text in described.items()]


def _role_model(settings: Settings, role: str) -> str:
    provider = resolve_provider(settings, role)
    if provider == "none":
        return NO_MODEL
    if provider == "llama_cpp":
        return f"llama_cpp {settings.llm_gguf_path} (in process)"
    model = getattr(settings, f"{role}_model") or settings.llm_model or ""
    endpoint = getattr(settings, f"{role}_base_url") or settings.llm_base_url
    return f"{provider} {model}" + (f" at {endpoint}" if endpoint else "")
