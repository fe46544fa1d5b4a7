"""Ingestion benchmark for a Honcho-compatible server, driven through the real Honcho SDK.

Creates peers and sessions in a fresh workspace, ingests messages in batches (round-robin over
sessions, senders alternating among each session's peers), measures throughput and per-batch
latency, then verifies that every session holds exactly the messages that were sent.

Usage:
    python bench/ingest.py BASE_URL [--messages 20000] [--batch 100] [--peers 10]
                                    [--sessions 20] [--workspace NAME] [--concurrency N]

Exit status: 0 when every batch succeeded and every session's count matches, 1 when not,
2 when the workspace, peers or sessions could not be set up.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import random
import statistics
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from honcho import Honcho
from honcho_core.types.workspaces.sessions.message_create_param import MessageCreateParam

SEED = 20250101

# --- deterministic text ------------------------------------------------------------------------

SUBJECTS = (
    "I", "we", "my sister", "our team", "the landlord", "my manager", "the new intern",
    "a friend of mine", "the doctor", "my neighbour", "the kids", "our client", "the coach",
    "my grandmother", "the barista", "everyone at the office", "my partner", "the professor",
)  # fmt: skip
VERBS = (
    "moved", "visited", "booked", "finished", "cancelled", "rescheduled", "recommended",
    "forgot", "discussed", "fixed", "painted", "ordered", "reviewed", "planned", "started",
    "postponed", "enjoyed", "complained about", "signed up for", "looked into",
)  # fmt: skip
ADJECTIVES = (
    "quiet", "expensive", "small", "crowded", "lovely", "annoying", "brand new", "old",
    "surprisingly good", "rainy", "long", "short", "complicated", "cheap", "friendly",
    "noisy", "beautiful", "tiring", "delicious", "last-minute",
)  # fmt: skip
NOUNS = (
    "apartment", "trip to Lisbon", "dentist appointment", "budget review", "birthday dinner",
    "kitchen", "marathon training", "book club", "quarterly report", "garden", "car",
    "piano lesson", "flight", "wedding", "job interview", "hiking trail", "coffee shop",
    "presentation", "vegetable soup", "project deadline", "guitar", "sofa", "weekend",
    "conference talk", "bike", "holiday in Japan", "spreadsheet", "yoga class",
)  # fmt: skip
TIMES = (
    "yesterday", "last spring", "this morning", "on Tuesday", "two weeks ago", "last night",
    "over the weekend", "after lunch", "before the holidays", "earlier today", "in March",
    "a few days ago", "right after work", "next month", "tomorrow evening",
)  # fmt: skip
PLACES = (
    "in Lisbon", "at home", "near the station", "downtown", "at the office", "by the river",
    "in the suburbs", "at my parents' place", "on the coast", "in Berlin", "at the gym",
)  # fmt: skip
CONNECTORS = (
    "and", "but", "because", "although", "so", "while", "since", "even though",
    "and then", "which means",
)  # fmt: skip
OPENERS = (
    "Honestly,", "To be fair,", "Anyway,", "By the way,", "Funny thing:", "As it turns out,",
    "Just so you know,", "Between us,", "Well,", "Also,",
)  # fmt: skip
REMARKS = (
    "it was worth it", "nobody expected that", "I still think about it",
    "we should do it again", "it took longer than planned", "I would not recommend it",
    "it could have gone better", "everyone seemed happy", "the price was fair",
    "I need to call them back", "it made my whole week",
)  # fmt: skip


def _clause(rng: random.Random) -> str:
    parts = [rng.choice(SUBJECTS), rng.choice(VERBS), "the"]
    if rng.random() < 0.6:
        parts.append(rng.choice(ADJECTIVES))
    parts.append(rng.choice(NOUNS))
    if rng.random() < 0.5:
        parts.append(rng.choice(PLACES))
    if rng.random() < 0.6:
        parts.append(rng.choice(TIMES))
    return " ".join(parts)


def _sentence(rng: random.Random) -> str:
    words = [_clause(rng)]
    while rng.random() < 0.45:
        words.append(rng.choice(CONNECTORS))
        words.append(rng.choice(REMARKS) if rng.random() < 0.3 else _clause(rng))
    text = " ".join(words)
    if rng.random() < 0.25:
        text = f"{rng.choice(OPENERS)} {text}"
    text = text[0].upper() + text[1:]
    return text + rng.choice((".", ".", ".", "!", "?"))


def make_text(rng: random.Random, min_words: int = 10, max_words: int = 60) -> str:
    """Return one message of whole sentences, between min_words and max_words words."""
    target = rng.randint(min_words, max_words)
    sentences: list[list[str]] = []
    count = 0
    while count < target:
        sentences.append(_sentence(rng).split())
        count += len(sentences[-1])
    if count > max_words:
        if count - len(sentences[-1]) >= min_words:
            sentences.pop()  # the message is long enough without the last sentence
        else:  # a single run-on sentence: cut it and close it
            words = [w for sent in sentences for w in sent][:max_words]
            words[-1] = words[-1].rstrip(",:;.!?") + "."
            return " ".join(words)
    return " ".join(w for sent in sentences for w in sent)


# --- plan --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Batch:
    index: int
    session_id: str
    # (sender peer id, text) pairs
    messages: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Plan:
    peer_ids: tuple[str, ...]
    session_members: dict[str, tuple[str, ...]]
    batches: tuple[Batch, ...]

    def sent_per_session(self) -> dict[str, int]:
        counts = dict.fromkeys(self.session_members, 0)
        for batch in self.batches:
            counts[batch.session_id] += len(batch.messages)
        return counts


def build_plan(n_messages: int, batch_size: int, n_peers: int, n_sessions: int) -> Plan:
    """Deterministically lay out peers, session membership and every batch's content."""
    rng = random.Random(SEED)
    peer_ids = tuple(f"peer-{i:03d}" for i in range(n_peers))
    session_ids = [f"session-{i:03d}" for i in range(n_sessions)]
    members: dict[str, tuple[str, ...]] = {}
    for i, sid in enumerate(session_ids):
        size = min(n_peers, 2 + i % 3)  # 2-4 peers per session, rotating over all peers
        members[sid] = tuple(peer_ids[(i + k) % n_peers] for k in range(size))

    next_sender = dict.fromkeys(session_ids, 0)
    batches: list[Batch] = []
    remaining = n_messages
    index = 0
    while remaining > 0:
        sid = session_ids[index % n_sessions]
        size = min(batch_size, remaining)
        msgs: list[tuple[str, str]] = []
        for _ in range(size):
            sender = members[sid][next_sender[sid] % len(members[sid])]
            next_sender[sid] += 1
            msgs.append((sender, make_text(rng)))
        batches.append(Batch(index, sid, tuple(msgs)))
        remaining -= size
        index += 1
    return Plan(peer_ids, members, tuple(batches))


# --- run ---------------------------------------------------------------------------------------


@dataclass
class Results:
    latencies_ms: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, latency_ms: float | None, error: str | None = None) -> None:
        with self.lock:
            if latency_ms is not None:
                self.latencies_ms.append(latency_ms)
            if error is not None:
                self.errors.append(error)


def make_client(base_url: str, workspace: str) -> Honcho:
    # No retries: a failed batch must show up as a failure, not as a slow batch.
    return Honcho(base_url=base_url, workspace_id=workspace, max_retries=0, timeout=60.0)


def setup(honcho: Honcho, plan: Plan) -> None:
    """Create peers and sessions and add each session's members."""
    for pid in plan.peer_ids:
        honcho.peer(pid, metadata={"bench": "ingest"})  # metadata => created immediately
    for sid, member_ids in plan.session_members.items():
        session = honcho.session(sid, metadata={"bench": "ingest"})
        session.add_peers([honcho.peer(pid) for pid in member_ids])


def prepare_payloads(honcho: Honcho, batches: Sequence[Batch]) -> list[list[MessageCreateParam]]:
    """Build the SDK message params up front so the timed loop measures only ingestion."""
    peers = {pid: honcho.peer(pid) for batch in batches for pid, _ in batch.messages}
    return [[peers[pid].message(text) for pid, text in batch.messages] for batch in batches]


def worker(
    base_url: str,
    workspace: str,
    batches: Sequence[Batch],
    results: Results,
    start_line: threading.Barrier,
) -> None:
    try:
        honcho = make_client(base_url, workspace)
        sessions = {b.session_id: honcho.session(b.session_id) for b in batches}
        payloads = prepare_payloads(honcho, batches)
    except Exception as exc:  # a worker that cannot start fails the run, not hangs it
        results.record(None, f"worker setup: {type(exc).__name__}: {exc}")
        start_line.abort()
        return
    try:
        start_line.wait()
    except threading.BrokenBarrierError:
        return
    for batch, payload in zip(batches, payloads, strict=True):
        start = time.perf_counter()
        try:
            created = sessions[batch.session_id].add_messages(payload)
        except Exception as exc:  # any failure is a benchmark failure
            results.record(None, f"batch {batch.index}: {type(exc).__name__}: {exc}")
            continue
        elapsed_ms = (time.perf_counter() - start) * 1000.0
        if len(created) != len(payload):
            results.record(
                elapsed_ms, f"batch {batch.index}: {len(created)} created of {len(payload)}"
            )
        else:
            results.record(elapsed_ms)


def run_ingest(
    base_url: str, workspace: str, plan: Plan, concurrency: int
) -> tuple[float, Results]:
    """Send every batch, spread over `concurrency` threads; return (wall seconds, results)."""
    results = Results()
    shards = [plan.batches[t::concurrency] for t in range(concurrency)]
    shards = [s for s in shards if s]
    # Workers build their clients and payloads first; the clock starts when all are ready.
    start_line = threading.Barrier(len(shards) + 1)
    threads = [
        threading.Thread(
            target=worker, args=(base_url, workspace, shard, results, start_line), daemon=True
        )
        for shard in shards
    ]
    for t in threads:
        t.start()
    with contextlib.suppress(threading.BrokenBarrierError):
        start_line.wait()
    start = time.perf_counter()
    for t in threads:
        t.join()
    return time.perf_counter() - start, results


def count_messages(honcho: Honcho, session_id: str) -> tuple[int | None, int]:
    """Return (the list endpoint's total, the count found by paging through every message)."""
    page = honcho.session(session_id).get_messages()
    counted = sum(1 for _ in page)
    return page.total, counted


# --- report ------------------------------------------------------------------------------------


def percentile(sorted_values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile of already sorted values."""
    if not sorted_values:
        return float("nan")
    rank = max(1, math.ceil(len(sorted_values) * pct / 100))
    return sorted_values[rank - 1]


def print_table(rows: Sequence[tuple[str, str]]) -> None:
    width = max(len(k) for k, _ in rows)
    vwidth = max(len(v) for _, v in rows)
    line = f"+-{'-' * width}-+-{'-' * vwidth}-+"
    print(line)
    for key, value in rows:
        print(f"| {key.ljust(width)} | {value.rjust(vwidth)} |")
    print(line)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Ingestion benchmark through the Honcho SDK.")
    parser.add_argument("base_url", metavar="BASE_URL", help="e.g. http://127.0.0.1:8765")
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=100, help="messages per request (max 100)")
    parser.add_argument("--peers", type=int, default=10)
    parser.add_argument("--sessions", type=int, default=20)
    parser.add_argument("--workspace", default=None, help="default: a fresh timestamped name")
    parser.add_argument("--concurrency", type=int, default=1, help="threads, one client each")
    args = parser.parse_args(argv)
    for name in ("messages", "batch", "peers", "sessions", "concurrency"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be at least 1")
    if args.peers < 2:
        parser.error("--peers must be at least 2")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    workspace = args.workspace or f"bench-ingest-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}"

    t0 = time.perf_counter()
    plan = build_plan(args.messages, args.batch, args.peers, args.sessions)
    gen_s = time.perf_counter() - t0

    t0 = time.perf_counter()
    try:
        honcho = make_client(args.base_url, workspace)
        setup(honcho, plan)
    except Exception as exc:  # report the cause without a traceback
        print(f"error: setup against {args.base_url} failed: {type(exc).__name__}: {exc}")
        return 2
    setup_s = time.perf_counter() - t0

    wall_s, results = run_ingest(args.base_url, workspace, plan, args.concurrency)

    t0 = time.perf_counter()
    expected = plan.sent_per_session()
    mismatches: list[str] = []
    for sid, want in expected.items():
        total, counted = count_messages(honcho, sid)
        if total != want or counted != want:
            mismatches.append(f"{sid}: sent {want}, total={total}, paged={counted}")
    verify_s = time.perf_counter() - t0

    lat = sorted(results.latencies_ms)
    sent = sum(expected.values())
    ok = not results.errors and not mismatches
    print_table(
        [
            ("base url", args.base_url),
            ("workspace", workspace),
            ("peers / sessions", f"{len(plan.peer_ids)} / {len(plan.session_members)}"),
            ("batch size / batches", f"{args.batch} / {len(plan.batches)}"),
            ("concurrency", str(args.concurrency)),
            ("messages sent", f"{sent:,}"),
            ("wall time (s)", f"{wall_s:.2f}"),
            ("messages/s", f"{sent / wall_s:,.0f}" if wall_s > 0 else "n/a"),
            ("batch p50 (ms)", f"{percentile(lat, 50):.1f}"),
            ("batch p95 (ms)", f"{percentile(lat, 95):.1f}"),
            ("batch p99 (ms)", f"{percentile(lat, 99):.1f}"),
            ("batch max (ms)", f"{lat[-1]:.1f}" if lat else "n/a"),
            ("batch mean (ms)", f"{statistics.fmean(lat):.1f}" if lat else "n/a"),
            ("failed batches", str(len(results.errors))),
            ("text generation (s)", f"{gen_s:.2f}"),
            ("setup (s)", f"{setup_s:.2f}"),
            ("verification (s)", f"{verify_s:.2f}"),
            ("verification", "OK" if not mismatches else f"FAILED ({len(mismatches)} sessions)"),
        ]
    )
    for line in results.errors[:10] + mismatches[:10]:
        print(f"  ! {line}", file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
