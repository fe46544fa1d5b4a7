"""honcho-ai 2.7.0 (Honcho's SDK for /v3) in a subprocess: it cannot share the venv with
honcho-ai 1.6.0 (both are the `honcho` package), so `scripts/test` installs it into its own
directory, and a test runs a script (which prints JSON) with that directory on its path."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

DEFAULT = Path(sys.prefix) / "extra" / "honcho-ai-2.7.0"


def run_honcho_v3(script: str, base_url: str) -> Any:
    """Run `script` with honcho-ai 2.7.0 against `base_url` (its sys.argv[1]); its JSON."""
    sdk = Path(os.environ.get("PARLEY_TEST_HONCHO_V3") or DEFAULT)
    if not (sdk / "honcho").is_dir():
        pytest.fail("run the suite through ./scripts/test, which installs honcho-ai 2.7.0")
    result = subprocess.run(
        [sys.executable, "-c", script, base_url],
        env=os.environ | {"PYTHONPATH": str(sdk)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)
