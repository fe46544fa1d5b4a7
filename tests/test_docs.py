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


DOCS = [ROOT / "README.md", ROOT / "bench" / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
# a command in a fenced shell block (continuations joined, comments cut) or in inline code
_FENCED = re.compile(r"```bash\n(.*?)```", re.S)
_INLINE = re.compile(r"`([^`\n]+)`")
_FLAG = re.compile(r"(?<![\w-])--[a-z][a-z0-9-]*")


def _commands() -> list[tuple[str, str]]:
    found = []
    for path in DOCS:
        text = path.read_text()
        for block in _FENCED.findall(text):
            for line in block.replace("\\\n", " ").splitlines():
                found.append((path.name, line.split(" # ", 1)[0].split("  #", 1)[0].strip()))
        found += [(path.name, span) for span in _INLINE.findall(text)]
    return [(name, command) for name, command in found if command]


def _parley_parser_flags(words: list[str]) -> tuple[list[str], set[str]]:
    """The subcommand path `words` names in `parley`'s parser, and the flags it takes."""
    from parley.cli import build_parser

    parser, path = build_parser(), []
    for word in words:
        subparsers = [a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction"]
        if not subparsers or word not in subparsers[0].choices:  # type: ignore[attr-defined]
            break
        parser = subparsers[0].choices[word]  # type: ignore[attr-defined]
        path.append(word)
    flags = {opt for action in parser._actions for opt in action.option_strings}
    return path, flags


def test_docs_name_no_machine_paths() -> None:
    for path in DOCS:
        worktrees = re.findall(r"/work/(?:wt|main)\b[^\s`]*|\bwt-[a-z]+/[^\s`]*", path.read_text())
        assert worktrees == [], f"{path.name} names one machine's checkouts: {worktrees}"


def test_every_documented_command_exists_with_its_flags() -> None:
    checked = set()
    for doc, command in _commands():
        for script, rest in re.findall(r"(?:python )?(bench/\w+\.py)((?: [^|;&]*)?)", command):
            source = (ROOT / script).read_text()
            missing = [f for f in _FLAG.findall(rest) if f'"{f}"' not in source]
            assert missing == [], f"{doc}: `{command}`: {script} has no {missing}"
            checked.add(script)
        for script in re.findall(r"\./(scripts/\w+)", command):
            assert (ROOT / script).stat().st_mode & 0o111, f"{doc}: {script} is not executable"
            checked.add(script)
        for words, rest in re.findall(r"\bparley ((?:[a-z]+ ?)+)([^|;&]*)", command):
            path, flags = _parley_parser_flags(words.split())
            assert path, f"{doc}: `{command}` names no parley command"
            used = _FLAG.findall(words + rest)
            assert set(used) <= flags, f"{doc}: `{command}`: parley {' '.join(path)} lacks {used}"
            checked.add(f"parley {' '.join(path)}")
    # the check reads what it should: the docs' benches, scripts and commands
    assert {"bench/beam_retrieval.py", "bench/text2sql_eval.py", "scripts/serve"} <= checked
    assert {"parley serve", "parley keys create", "parley keys partner create"} <= checked


def test_the_glossary_names_what_the_code_and_tables_have() -> None:
    import parley.store.agent_models
    import parley.store.data_models
    from parley.store.models import Base

    glossary = (ROOT / "docs" / "glossary.md").read_text()
    spans = set(_INLINE.findall(glossary))
    source = "\n".join(p.read_text() for p in (ROOT / "src" / "parley").rglob("*.py"))
    classes = [s for s in spans if re.fullmatch(r"[A-Z][a-z]+(?:[A-Z][a-z]+)+|Scope|Principal", s)]
    missing = [c for c in classes if not re.search(rf"^(?:class {c}\b|{c} = )", source, re.M)]
    assert missing == []
    assert {"MessageVectorIndex", "ObservationIndex", "SearchScope", "WorkItem"} <= set(classes)
    tables = Base.metadata.tables
    assert parley.store.data_models and parley.store.agent_models  # their tables are registered
    named_tables = [s for s in spans if s in tables]
    assert len(named_tables) >= 10
    columns = [s.split(".") for s in spans if re.fullmatch(r"[a-z_]+\.[a-z_]+", s)]
    for table, column in columns:
        assert column in tables[table].columns, f"{table}.{column}"
    assert len(columns) >= 6
    for keyword in ("observation_index", "vector_index", "work_unit_key", "user_peer_id"):
        assert re.search(rf"\b{keyword}\b", source), keyword
