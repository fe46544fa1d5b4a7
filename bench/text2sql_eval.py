"""Text-to-SQL accuracy and latency of the data agent, scored by execution match.

Sends every question of bench/text2sql/questions.jsonl to `POST /api/v1/ai-agent/{project}/chat`
(a follow-up chain's turns in one thread, in order), runs the gold SQL and the agent's
`currentGeneratedQuery` on the demo SQLite file, and compares the results (the rule is in
bench/text2sql/match.py). Prints accuracy overall and per category and latency p50/p95, and
writes a JSON report with every question's SQL, verdict, answer and time.

Usage:
    python bench/text2sql_eval.py                       # starts `parley serve --demo` itself
    python bench/text2sql_eval.py --url http://127.0.0.1:8000 [--project demo] [--api-key KEY]
    python bench/text2sql_eval.py --oracle              # the model answers with the gold SQL

Without --url it starts `python -m parley serve --demo` on a temporary data directory and a
free port, passing its own environment on: the model is whatever PARLEY_AGENT_* / PARLEY_LLM_*
say (`--server-env KEY=VALUE` adds more). With --url, the model is the running server's; the
demo file to score on is `--demo-db`, or else a fresh build of the generator (the same seed
gives the same rows). `--oracle` starts bench/text2sql/oracle.py (the repo's fake OpenAI
server, scripted to answer each question with its gold SQL) and points the agent role at it,
with no other model settings passed on: the score must then be 100%.

Exit status: 0 when every request answered 200 (and, with --oracle, every answer matched),
1 otherwise, 2 when setup failed.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from ingest import percentile
from search import free_port, stop_server, wait_healthy
from text2sql.match import score
from text2sql.questions import QUESTIONS, Question, conversations, load_questions

from parley.demo.generate import build_demo_database
from parley.demo.register import CONNECTION_ID, FILE_NAME, PROJECT_ID

ROOT = Path(__file__).resolve().parents[1]
MODEL_ENV = ("PARLEY_LLM_", "PARLEY_AGENT_")  # dropped from the server's environment by --oracle


@dataclass
class Outcome:
    id: str
    category: str
    chain: str | None
    turn: int | None
    question: str
    gold_sql: str
    generated_sql: str | None = None
    query_error: str | None = None
    answer: str | None = None
    thread_id: str | None = None
    status: int | None = None  # HTTP status; None when the request did not complete
    error: str | None = None
    match: bool = False
    verdict: str = ""
    latency_s: float = 0.0
    steps_ms: dict[str, float] | None = None  # the agent's own timing of each step


def ask(
    client: httpx.Client, project: str, question: Question, thread_id: str | None
) -> tuple[Outcome, float]:
    outcome = Outcome(
        question.id,
        question.category,
        question.chain,
        question.turn,
        question.question,
        question.sql,
    )
    body: dict[str, Any] = {"message": question.question}
    if thread_id:
        body["threadId"] = thread_id
    started = time.perf_counter()
    try:
        response = client.post(f"/api/v1/ai-agent/{project}/chat", json=body)
    except httpx.HTTPError as err:
        outcome.error = f"{type(err).__name__}: {err}"
        return outcome, time.perf_counter() - started
    elapsed = time.perf_counter() - started
    outcome.status = response.status_code
    if response.status_code != 200:
        outcome.error = response.text[:500]
        return outcome, elapsed
    try:
        reply = response.json()
        result = reply["result"]
        outcome.thread_id = reply.get("threadId")
        outcome.generated_sql = result.get("currentGeneratedQuery")
        outcome.query_error = result.get("currentQueryError")
        outcome.steps_ms = result.get("timingsMs")
        messages = result.get("messages") or []
        if messages:
            outcome.answer = messages[-1].get("kwargs", {}).get("content")
    except (ValueError, KeyError, TypeError, AttributeError) as err:
        outcome.error = f"unexpected reply ({err}): {response.text[:300]}"
    return outcome, elapsed


def run_questions(
    client: httpx.Client, project: str, questions: list[Question], demo_db: Path
) -> list[Outcome]:
    outcomes = []
    for conversation in conversations(questions):
        thread_id = None
        for question in conversation:
            outcome, elapsed = ask(client, project, question, thread_id)
            outcome.latency_s = round(elapsed, 4)
            thread_id = outcome.thread_id or thread_id
            if outcome.error is None:
                verdict = score(demo_db, question.sql, outcome.generated_sql)
                outcome.match, outcome.verdict = verdict.match, verdict.reason
            else:
                outcome.verdict = "request failed"
            outcomes.append(outcome)
            mark = "ok " if outcome.match else "NO "
            print(f"{mark} {question.id} [{question.category}] {elapsed:6.2f}s {outcome.verdict}")
    return outcomes


def summary(outcomes: list[Outcome]) -> dict[str, Any]:
    def block(items: list[Outcome]) -> dict[str, Any]:
        times = sorted(o.latency_s for o in items)
        return {
            "n": len(items),
            "correct": sum(o.match for o in items),
            "accuracy": round(sum(o.match for o in items) / len(items), 4) if items else 0.0,
            "latency_p50_s": round(percentile(times, 50), 3),
            "latency_p95_s": round(percentile(times, 95), 3),
        }

    by_category: dict[str, list[Outcome]] = defaultdict(list)
    for outcome in outcomes:
        by_category[outcome.category].append(outcome)
    steps: dict[str, list[float]] = defaultdict(list)
    for outcome in outcomes:
        for step, ms in (outcome.steps_ms or {}).items():
            steps[step].append(ms)
    return {
        "overall": block(outcomes),
        "categories": {name: block(items) for name, items in sorted(by_category.items())},
        "failed_requests": sum(o.error is not None for o in outcomes),
        "step_p50_ms": {k: round(percentile(sorted(v), 50), 1) for k, v in steps.items()},
    }


def print_summary(result: dict[str, Any]) -> None:
    rows = [("overall", result["overall"])] + list(result["categories"].items())
    print(f"\n{'category':<14} {'n':>4} {'correct':>8} {'accuracy':>9} {'p50 s':>8} {'p95 s':>8}")
    for name, b in rows:
        print(
            f"{name:<14} {b['n']:>4} {b['correct']:>8} {b['accuracy']:>9.1%} "
            f"{b['latency_p50_s']:>8.2f} {b['latency_p95_s']:>8.2f}"
        )
    if result.get("step_p50_ms"):
        parts = ", ".join(f"{k} {v:g}" for k, v in result["step_p50_ms"].items())
        print(f"\nthe agent's steps, p50 ms: {parts}")
    if result["failed_requests"]:
        print(f"\n{result['failed_requests']} requests failed (see the report's `error` fields)")


def model_env(args: argparse.Namespace) -> dict[str, str]:
    """The model settings the harness saw (with --url, the server's own may differ)."""
    if args.oracle:
        return {"PARLEY_AGENT_MODEL": "oracle"}
    return {
        k: v
        for k, v in sorted(os.environ.items())
        if k.startswith(MODEL_ENV) and k.endswith(("_MODEL", "_PROVIDER", "_BASE_URL"))
    }


def start_oracle(questions: Path) -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "bench" / "text2sql" / "oracle.py"), str(questions)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    return process, process.stdout.readline().strip()


def server_env(args: argparse.Namespace, data_dir: Path, oracle_url: str | None) -> dict[str, str]:
    env = dict(os.environ)
    if oracle_url is not None:
        env = {k: v for k, v in env.items() if not k.startswith(MODEL_ENV)}
        env |= {
            "PARLEY_AGENT_PROVIDER": "openai",
            "PARLEY_AGENT_BASE_URL": oracle_url,
            "PARLEY_AGENT_MODEL": "oracle",
        }
    src = str(ROOT / "src")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (src, env.get("PYTHONPATH")) if p)
    env |= {
        "PARLEY_DATA_DIR": str(data_dir),
        "PARLEY_DATABASE_URL": f"sqlite+aiosqlite:///{data_dir / 'parley.db'}",
        "PARLEY_LOG_LEVEL": "warning",
    }
    for pair in args.server_env:
        key, _, value = pair.partition("=")
        env[key] = value
    return env


def start_server(env: dict[str, str], port: int, log_path: Path) -> subprocess.Popen[bytes]:
    with log_path.open("wb") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "parley", "serve", "--demo", "--port", str(port)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def pick(questions: list[Question], only: str | None, limit: int | None) -> list[Question]:
    """Questions by id, chain or category (comma-separated); a chain is kept or dropped
    whole."""
    if only:
        wanted = set(only.split(","))
        keep = {q.chain for q in questions if q.chain and wanted & {q.id, q.category, q.chain}}
        questions = [q for q in questions if wanted & {q.id, q.category} or q.chain in keep]
    if limit is not None:
        out: list[Question] = []
        for conversation in conversations(questions):
            if len(out) >= limit:
                break
            out.extend(conversation)
        questions = out
    return questions


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", help="a running Parley server (default: start one with --demo)")
    parser.add_argument("--project", default=PROJECT_ID, help="the project to ask (default demo)")
    parser.add_argument("--api-key", help="bearer key for --url, if its auth is on")
    parser.add_argument("--questions", type=Path, default=QUESTIONS, help="questions JSONL file")
    parser.add_argument("--demo-db", type=Path, help="the demo SQLite file to score on")
    parser.add_argument("--oracle", action="store_true", help="a model that answers gold SQL")
    parser.add_argument("--only", help="question ids, chains or categories, comma-separated")
    parser.add_argument("--limit", type=int, help="ask about this many questions (whole chains)")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds per request")
    parser.add_argument("--out", type=Path, help="write the JSON report here")
    parser.add_argument(
        "--server-env", action="append", default=[], metavar="KEY=VALUE", help="for the server"
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary data directory")
    args = parser.parse_args(argv)
    if args.oracle and args.url:
        parser.error("--oracle starts its own server; it does not take --url")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    questions = pick(load_questions(args.questions), args.only, args.limit)
    if not questions:
        print("no questions selected", file=sys.stderr)
        return 2
    tmp = Path(tempfile.mkdtemp(prefix="parley-text2sql-"))
    server: subprocess.Popen[bytes] | None = None
    oracle: subprocess.Popen[str] | None = None
    headers = {"Authorization": f"Bearer {args.api_key}"} if args.api_key else {}
    try:
        if args.url:
            base_url = args.url.rstrip("/")
            demo_db = args.demo_db
            if demo_db is None:
                demo_db = tmp / FILE_NAME
                build_demo_database(demo_db)
        else:
            oracle_url = None
            if args.oracle:
                oracle, oracle_url = start_oracle(args.questions)
            data_dir = tmp / "data"
            port = free_port()
            server = start_server(server_env(args, data_dir, oracle_url), port, tmp / "server.log")
            base_url = f"http://127.0.0.1:{port}"
            demo_db = data_dir / "uploads" / PROJECT_ID / CONNECTION_ID / FILE_NAME
        client = httpx.Client(base_url=base_url, headers=headers, timeout=args.timeout)
        if server is not None:
            try:
                wait_healthy(client, server, timeout_s=180)
            except RuntimeError as err:
                print(f"setup failed: {err}", file=sys.stderr)
                print((tmp / "server.log").read_text()[-3000:], file=sys.stderr)
                return 2
        if not demo_db.is_file():
            print(f"setup failed: no demo database at {demo_db}", file=sys.stderr)
            return 2
        print(f"{len(questions)} questions against {base_url} (project {args.project})")
        started = datetime.now(UTC)
        outcomes = run_questions(client, args.project, questions, demo_db)
        result = summary(outcomes)
        print_summary(result)
        if args.out:
            report = {
                "started_at": started.isoformat(),
                "server": args.url or "parley serve --demo (started by the harness)",
                "project": args.project,
                "oracle": args.oracle,
                "model_env": model_env(args),
                "questions_file": str(args.questions),
                **result,
                "questions": [asdict(o) for o in outcomes],
            }
            args.out.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
            print(f"report: {args.out}")
        if result["failed_requests"]:
            return 1
        if args.oracle and result["overall"]["correct"] != len(outcomes):
            return 1
        return 0
    finally:
        if server is not None:
            stop_server(server)
            if server.returncode not in (0, -15):
                print((tmp / "server.log").read_text()[-2000:], file=sys.stderr)
        if oracle is not None:
            oracle.terminate()
            oracle.wait()
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
