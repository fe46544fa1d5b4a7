"""CPU an idle server uses: start `python -m parley serve` on a copy of a SQLite database,
wait until it answers, then count its CPU time over a quiet interval (no requests).

Background loops (the embedding indexer's poll, webhook delivery, refresh jobs) should cost
next to nothing on an idle server, whatever the database's size.

Usage:
    python bench/idle_cpu.py --database path/to/parley.db [--seconds 20] [--source .]

`--source`: the checkout whose `src/` runs (to compare versions on one database; the database
must be at or below that version's migration head). The copy is deleted afterwards.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def session_cpu_s(session_id: int) -> float:
    """User + system CPU of every process in the server's session (uvicorn's included)."""
    pids = subprocess.run(
        ["pgrep", "-s", str(session_id)], capture_output=True, text=True, check=False
    ).stdout.split()
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / os.sysconf("SC_CLK_TCK")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", type=Path, required=True)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--settle", type=float, default=5.0, help="seconds after start-up")
    parser.add_argument("--source", type=Path, default=Path(__file__).resolve().parents[1])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / "parley.db"
        shutil.copy(args.database, copy)
        port = free_port()
        env = dict(
            os.environ,
            PARLEY_DATABASE_URL=f"sqlite+aiosqlite:///{copy}",
            PARLEY_DATA_DIR=str(Path(tmp) / "data"),
            PARLEY_WORKER_EMBEDDED="false",
            PYTHONPATH=str(args.source / "src"),
        )
        server = subprocess.Popen(
            [sys.executable, "-m", "parley", "serve", "--port", str(port)],
            cwd=args.source,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            deadline = time.monotonic() + 180
            while True:
                try:
                    urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2)
                    break
                except OSError:
                    if server.poll() is not None or time.monotonic() > deadline:
                        print("the server did not start", file=sys.stderr)
                        return 2
                    time.sleep(0.5)
            time.sleep(args.settle)
            before = session_cpu_s(server.pid)
            time.sleep(args.seconds)
            spent = session_cpu_s(server.pid) - before
        finally:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=30)
    print(
        f"{args.source}: idle server CPU {1000 * spent / args.seconds:.0f} ms per second "
        f"over {args.seconds:.0f} s ({args.database})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
