"""CPU an idle server uses: start `python -m parley serve` on a copy of a SQLite database,
wait until it answers, then count its CPU time over a quiet interval (no requests).

Background loops (the embedding indexer's poll, webhook delivery, refresh jobs) should cost
next to nothing on an idle server, whatever the database's size.

Usage:
    python bench/idle_cpu.py --database path/to/parley.db [--seconds 20] [--source .] [--worker]

`--source`: the checkout whose `src/` runs (to compare versions on one database; the database
must be at or below that version's migration head). The copy is deleted afterwards.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import httpx
from search import cpu_seconds, free_port, start_server, stop_server, wait_healthy


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", type=Path, required=True)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--settle", type=float, default=5.0, help="seconds after start-up")
    parser.add_argument("--source", type=Path, default=Path(__file__).resolve().parents[1])
    parser.add_argument(
        "--worker", action="store_true", help="with the embedded worker (as `serve` runs)"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        shutil.copy(args.database, root / "parley.db")
        os.environ.update(
            PARLEY_WORKER_EMBEDDED="true" if args.worker else "false",
            PYTHONPATH=str(args.source.resolve() / "src"),
        )
        port = free_port()
        server = start_server(
            f"sqlite+aiosqlite:///{root / 'parley.db'}", root / "data", port, root / "server.log"
        )
        try:
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
                wait_healthy(client, server, timeout_s=180)
            time.sleep(args.settle)
            before = cpu_seconds(server.pid)
            time.sleep(args.seconds)
            spent = cpu_seconds(server.pid) - before
        finally:
            stop_server(server)
    print(
        f"{args.source}: idle server CPU {1000 * spent / args.seconds:.0f} ms per second "
        f"over {args.seconds:.0f} s ({args.database}, worker {'on' if args.worker else 'off'})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
