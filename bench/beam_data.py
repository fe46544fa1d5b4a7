"""Where the benches find BEAM (mohammadtavakoli78/BEAM, its 100K tier): `beam-100k` in the
data folder `$PARLEY_BENCH_DATA`, or by default in `../shared/data` beside the repository (that
is, resolved from the repository root, not from the working directory). `--data` / `--beam` on
each bench overrides both."""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DATA_ENV = "PARLEY_BENCH_DATA"


def default_beam() -> Path:
    """`$PARLEY_BENCH_DATA/beam-100k`, else `<repo>/../shared/data/beam-100k`."""
    data = os.environ.get(DATA_ENV)
    folder = Path(data) if data else REPO.parent / "shared" / "data"
    return folder / "beam-100k"
