"""Throughput of the bundled embedding model (parley.llm.LocalEmbedder), in sentences per second.

Typical input: 15-word English sentences generated deterministically (fixed seed), embedded in
calls of `--batch` texts on `--threads` onnxruntime threads. Prints wall-clock throughput and,
because a shared machine may give this process less than `--threads` cores, also the CPU time
the process used (throughput per fully used core x threads = what an idle machine would give).

Usage:
    python bench/embed_throughput.py [--threads 2] [--batch 64] [--sentences 2048] [--words 15]
"""

from __future__ import annotations

import argparse
import random
import resource
import statistics
import time

from parley.llm import LocalEmbedder

_WORD_LIST = (
    "the a an of to in for on with at by from about into over after before under between "
    "agent memory user session message peer server store search query result answer question "
    "remember forget summary context note preference meeting project deadline budget report "
    "team customer email calendar travel flight hotel dinner weekend morning evening today "
    "tomorrow yesterday week month year important quickly slowly carefully new old large small "
    "good bad first last next other same different open close send read write find keep "
    "update delete create share schedule plan cook walk talk ask tell show give take make know "
    "think want need like love hate prefer use try help work play start finish city country "
    "house car phone computer book music movie game friend family doctor teacher student"
)
WORDS = _WORD_LIST.split()


def sentences(n: int, words: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        body = " ".join(rng.choice(WORDS) for _ in range(words))
        out.append(body[0].upper() + body[1:] + ".")
    return out


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--sentences", type=int, default=2048)
    parser.add_argument("--words", type=int, default=15)
    parser.add_argument("--repeat", type=int, default=3, help="timed passes; the best is kept")
    parser.add_argument("--questions", type=int, default=200, help="one-sentence calls timed")
    args = parser.parse_args()

    t0 = time.perf_counter()
    embedder = LocalEmbedder(threads=args.threads, batch_size=args.batch)
    load_s = time.perf_counter() - t0
    texts = sentences(args.sentences, args.words)
    tokens = [len(e.ids) for e in embedder._tokenizer.encode_batch(texts[:256])]
    embedder.embed_sync(texts[: args.batch])  # warm-up

    rates, cpu_rates = [], []
    for _ in range(args.repeat):
        wall0, cpu0 = time.perf_counter(), cpu_seconds()
        for start in range(0, len(texts), args.batch):  # one call per batch, as a server would
            embedder.embed_sync(texts[start : start + args.batch])
        wall, cpu = time.perf_counter() - wall0, cpu_seconds() - cpu0
        rates.append(len(texts) / wall)
        cpu_rates.append(len(texts) / cpu * args.threads)

    print(
        f"model {embedder.name} ({embedder.dimensions}-d), loaded in {load_s:.2f} s; "
        f"{args.sentences} sentences of {args.words} words "
        f"(~{statistics.mean(tokens):.1f} tokens incl. [CLS]/[SEP]), batches of {args.batch}, "
        f"{args.threads} threads"
    )
    print(
        f"wall:  {max(rates):,.0f} sentences/s (best of {args.repeat}; "
        f"median {statistics.median(rates):,.0f})"
    )
    print(
        f"cpu:   {max(cpu_rates):,.0f} sentences/s if {args.threads} cores were fully ours "
        f"(sentences / CPU-seconds x {args.threads})"
    )
    # a search's question: one sentence a call, as the foreground path runs it
    waits, cpu0 = [], cpu_seconds()
    for text in texts[: args.questions]:
        began = time.perf_counter()
        embedder.embed_sync([text])
        waits.append((time.perf_counter() - began) * 1000)
    cpu_ms = (cpu_seconds() - cpu0) * 1000 / max(1, args.questions)
    waits.sort()
    p50, p95 = waits[len(waits) // 2], waits[int(len(waits) * 0.95)]
    print(
        f"one sentence: p50 {p50:.1f} ms, p95 {p95:.1f} ms, {cpu_ms:.1f} ms CPU a call "
        f"({args.questions} calls)"
    )


if __name__ == "__main__":
    main()
