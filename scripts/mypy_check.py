"""Type-check src/parley with mypy and compare the errors with a recorded baseline (a ratchet).

The baseline (scripts/mypy-baseline.txt) lists today's accepted errors, one a line, without line
numbers so that unrelated edits do not move them. This fails when mypy reports an error that the
baseline does not list (a new one), and also when the baseline lists one that no longer occurs
(fixed: remove it, so the baseline only shrinks). `--update` rewrites the baseline from the current
errors; use it only to drop fixed ones.

Usage: python scripts/mypy_check.py [--update]
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BASELINE = REPO / "scripts" / "mypy-baseline.txt"
# "src/parley/x.py:12: error: message  [code]" (with or without a column number)
ERROR_LINE = re.compile(r"^(?P<path>[^:]+):\d+(?::\d+)?: error: (?P<rest>.*)$")


def current_errors() -> tuple[Counter[str], str]:
    """Run mypy (config in pyproject.toml); return its errors, normalized, and its raw output."""
    proc = subprocess.run(
        [sys.executable, "-m", "mypy", "--no-pretty", "--no-error-summary"],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    if proc.returncode not in (0, 1):  # 2: mypy itself failed (bad config, crash)
        sys.stderr.write(proc.stdout + proc.stderr)
        raise SystemExit(f"mypy failed to run (exit {proc.returncode})")
    errors: Counter[str] = Counter()
    for line in proc.stdout.splitlines():
        match = ERROR_LINE.match(line)
        if match:
            errors[f"{match['path']}: {' '.join(match['rest'].split())}"] += 1
    return errors, proc.stdout


def read_baseline() -> Counter[str]:
    if not BASELINE.exists():
        return Counter()
    lines = BASELINE.read_text().splitlines()
    return Counter(line for line in lines if line and not line.startswith("#"))


def write_baseline(errors: Counter[str]) -> None:
    header = "# mypy errors accepted today (scripts/mypy_check.py); this list only shrinks.\n"
    body = "".join(f"{line}\n" for line in sorted(errors.elements()))
    BASELINE.write_text(header + body)


def main(argv: list[str]) -> int:
    errors, raw = current_errors()
    if "--update" in argv:
        write_baseline(errors)
        print(f"mypy: baseline rewritten with {sum(errors.values())} errors")
        return 0
    baseline = read_baseline()
    new = errors - baseline
    gone = baseline - errors
    if new:
        print(f"mypy: {sum(new.values())} error(s) not in {BASELINE.relative_to(REPO)}:")
        wanted = set(new)
        for line in raw.splitlines():
            match = ERROR_LINE.match(line)
            if match and f"{match['path']}: {' '.join(match['rest'].split())}" in wanted:
                print(f"  {line}")
    if gone:
        print(
            f"mypy: {sum(gone.values())} baseline error(s) no longer occur; shrink the baseline "
            "(python scripts/mypy_check.py --update) so they cannot come back:"
        )
        for line in sorted(gone.elements()):
            print(f"  {line}")
    if new or gone:
        return 1
    print(f"mypy: ok ({sum(errors.values())} baseline errors left)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
