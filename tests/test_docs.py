"""The README must not drift from the code: settings table, commands, CI."""

from __future__ import annotations

import re
from pathlib import Path

from parley.config import Settings

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def test_settings_table_lists_exactly_the_settings_fields() -> None:
    section = README.split("## Settings", 1)[1].split("\n## ", 1)[0]
    documented = re.findall(r"^\| `PARLEY_([A-Z0-9_]+)` \|", section, flags=re.M)
    assert sorted(documented) == sorted(name.upper() for name in Settings.model_fields)
    assert len(documented) == len(set(documented))


def test_readme_commands_exist_and_ci_runs_the_test_command() -> None:
    assert "```bash\n./scripts/serve\n```" in README
    assert "```bash\n./scripts/test\n```" in README
    assert "```bash\n./scripts/fuzz\n```" in README
    for script in ("scripts/serve", "scripts/test", "scripts/fuzz", ".ci/run"):
        assert (ROOT / script).stat().st_mode & 0o111, f"{script} is not executable"
    assert "./scripts/test" in (ROOT / ".ci/run").read_text()
