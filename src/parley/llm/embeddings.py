"""Sentence embeddings.

`LocalEmbedder` runs the bundled all-MiniLM-L6-v2 model (384 dimensions, int8 ONNX, built by
scripts/build_embedding_model.py) with onnxruntime on the CPU and the model's own HF `tokenizers`
tokenizer. No torch, no transformers and no network at run time. The model file's sha256 is
checked against manifest.json when it is loaded.

Vectors are float32, L2-normalised (so a dot product is the cosine similarity), and a text's
vector does not depend on the other texts in its call (the model quantises weights only).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from parley.foreground import FOREGROUND, Foreground

if TYPE_CHECKING:
    import onnxruntime
    import tokenizers

DEFAULT_MODEL_DIR = Path(__file__).resolve().parent / "models" / "all-minilm-l6-v2"
DEFAULT_BATCH_SIZE = 64
# A call of at most this many texts is a question (a search, a chat): it runs at once, beside a
# batch of the indexer or the worker, instead of waiting up to a whole batch (~0.5 s) for it.
FOREGROUND_TEXTS = 2
# A batch runs in parts of at most this many tokens (padding counted), about 0.35 s on one core
# of the 2-core dev box: how soon it gives a core back when a request comes.
PART_TOKENS = 512

FloatArray = npt.NDArray[np.float32]


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into L2-normalised float32 vectors of a fixed size."""

    @property
    def name(self) -> str:
        """Identifies the model; vectors from different names must not be compared."""
        ...

    @property
    def dimensions(self) -> int: ...

    async def embed(self, texts: list[str]) -> FloatArray:
        """Array of shape (len(texts), dimensions), float32, each row of unit length."""
        ...

    async def close(self) -> None:
        """Release connections; the app calls it on shutdown."""
        ...


class ModelIntegrityError(RuntimeError):
    """The bundled model files are missing, or differ from what manifest.json says."""


@dataclass(frozen=True)
class ModelManifest:
    id: str
    model: str
    dimensions: int
    max_tokens: int
    pooling: str
    inputs: tuple[str, ...]
    output: str
    model_sha256: str
    tokenizer_sha256: str
    session_config: dict[str, str]
    raw: dict[str, Any]

    @classmethod
    def load(cls, model_dir: Path) -> ModelManifest:
        path = model_dir / "manifest.json"
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
            files = raw["files"]
            return cls(
                id=str(raw["id"]),
                model=str(raw["model"]),
                dimensions=int(raw["dimensions"]),
                max_tokens=int(raw["max_tokens"]),
                pooling=str(raw["pooling"]),
                inputs=tuple(str(name) for name in raw["inputs"]),
                output=str(raw["output"]),
                model_sha256=str(files["model.onnx"]["sha256"]),
                tokenizer_sha256=str(files["tokenizer.json"]["sha256"]),
                session_config={
                    str(k): str(v) for k, v in raw.get("onnx", {}).get("session_config", {}).items()
                },
                raw=raw,
            )
        except FileNotFoundError as exc:
            raise ModelIntegrityError(f"embedding model manifest not found: {path}") from exc
        except (ValueError, KeyError, TypeError) as exc:
            raise ModelIntegrityError(f"embedding model manifest {path} is invalid: {exc}") from exc


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _verify(path: Path, expected: str) -> None:
    if not path.is_file():
        raise ModelIntegrityError(f"embedding model file not found: {path}")
    actual = _sha256(path)
    if actual != expected:
        raise ModelIntegrityError(
            f"embedding model file {path} has sha256 {actual}, but manifest.json expects "
            f"{expected}; the file is corrupt or was replaced (a Git LFS pointer?). Rebuild it "
            "with scripts/build_embedding_model.py or reinstall Parley."
        )


def default_threads() -> int:
    """CPU cores this process may use, at most 4 (more barely helps a model this small)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return max(1, min(4, cores))


class LocalEmbedder:
    """The bundled ONNX model, run in a worker thread so the event loop never blocks.

    The onnxruntime session is created once, here, with one thread per run: parallelism
    comes from running parts of a batch at once (onnxruntime's `run` is thread-safe), so it
    can change between parts. Batches are serialised (the indexer's, the worker's); each runs
    in parts of at most `PART_TOKENS`, `threads` parts at a time while no request is being
    answered, half as many (one on two cores) while one is (`Foreground.busy`): then cores
    stay free for the server, whose reads took 3-5 times their idle time beside a batch on
    every core. A short call (a question) does not queue behind a batch: it runs at once, on
    its own thread.
    """

    def __init__(
        self,
        model_dir: Path | str | None = None,
        *,
        threads: int | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
        verify: bool = True,
        foreground: Foreground = FOREGROUND,
    ) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        self.model_dir = Path(model_dir) if model_dir is not None else DEFAULT_MODEL_DIR
        self.manifest = ModelManifest.load(self.model_dir)
        self.batch_size = batch_size
        self.threads = threads if threads is not None else default_threads()
        self.foreground = foreground
        model_path = self.model_dir / "model.onnx"
        tokenizer_path = self.model_dir / "tokenizer.json"
        if verify:
            _verify(model_path, self.manifest.model_sha256)
            _verify(tokenizer_path, self.manifest.tokenizer_sha256)

        tokenizer = Tokenizer.from_file(str(tokenizer_path))
        # The upstream file pads to a fixed 128 and truncates at 128; the model was trained with
        # 256 (sentence-transformers' max_seq_length). Padding is done per batch, below.
        tokenizer.no_padding()
        tokenizer.enable_truncation(max_length=self.manifest.max_tokens)
        self._tokenizer: tokenizers.Tokenizer = tokenizer

        options = ort.SessionOptions()
        options.intra_op_num_threads = 1  # a run on its caller's thread; parts run side by side
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3
        # What the model was built to run with, e.g. keep its int8 weights as float32 MatMuls.
        for key, value in self.manifest.session_config.items():
            options.add_session_config_entry(key, value)
        self._session: onnxruntime.InferenceSession = ort.InferenceSession(
            str(model_path), options, providers=["CPUExecutionProvider"]
        )
        self._lock = threading.Lock()  # batches
        self._foreground = threading.Lock()  # questions, one at a time beside a batch
        self._helpers: ThreadPoolExecutor | None = None  # runs a batch's other parts

    @property
    def name(self) -> str:
        return self.manifest.id

    @property
    def dimensions(self) -> int:
        return self.manifest.dimensions

    @property
    def max_tokens(self) -> int:
        return self.manifest.max_tokens

    async def embed(self, texts: list[str]) -> FloatArray:
        if not texts:
            return np.zeros((0, self.dimensions), dtype=np.float32)
        return await asyncio.to_thread(self.embed_sync, texts)

    async def close(self) -> None:
        """Nothing to release: the session is shared by the process (`default_embedder`)."""

    def embed_sync(self, texts: Sequence[str]) -> FloatArray:
        """Blocking version of `embed`, for scripts and worker threads."""
        if isinstance(texts, str):
            raise TypeError("embed() takes a list of texts, not a single string")
        texts = list(texts)
        for text in texts:
            if not isinstance(text, str):
                raise TypeError(f"texts must be strings, got {type(text).__name__}")
        out = np.zeros((len(texts), self.dimensions), dtype=np.float32)
        if not texts:
            return out
        if len(texts) <= FOREGROUND_TEXTS:
            with self._foreground:
                out[:] = self._run(self._tokenizer.encode_batch(texts, add_special_tokens=True))
            return out
        with self._lock:
            encodings = self._tokenizer.encode_batch(texts, add_special_tokens=True)
            # Parts of similar length waste little on padding; results don't depend on parts.
            order = sorted(range(len(texts)), key=lambda i: len(encodings[i].ids))
            parts = _parts(order, [len(e.ids) for e in encodings], self.batch_size)
            done = 0
            while done < len(parts):
                busy = self.foreground.busy()
                side_by_side = max(1, self.threads // 2) if busy else self.threads
                group = parts[done : done + side_by_side]
                done += len(group)
                others = [
                    (part, self._pool().submit(self._run, [encodings[i] for i in part]))
                    for part in group[1:]
                ]
                out[group[0]] = self._run([encodings[i] for i in group[0]])
                for part, running in others:
                    out[part] = running.result()
        return out

    def _pool(self) -> ThreadPoolExecutor:
        if self._helpers is None:
            self._helpers = ThreadPoolExecutor(
                max_workers=max(1, self.threads - 1), thread_name_prefix="parley-embed"
            )
        return self._helpers

    def _run(self, encodings: list[Any]) -> FloatArray:
        width = max(len(e.ids) for e in encodings)
        ids = np.zeros((len(encodings), width), dtype=np.int64)
        mask = np.zeros((len(encodings), width), dtype=np.int64)
        types = np.zeros((len(encodings), width), dtype=np.int64)
        for row, enc in enumerate(encodings):
            n = len(enc.ids)
            ids[row, :n] = enc.ids
            mask[row, :n] = enc.attention_mask
            types[row, :n] = enc.type_ids
        feeds = dict(zip(self.manifest.inputs, (ids, mask, types), strict=True))
        (vectors,) = self._session.run([self.manifest.output], feeds)
        return np.asarray(vectors, dtype=np.float32)


def _parts(order: list[int], lengths: list[int], most: int) -> list[list[int]]:
    """`order` (indexes sorted by token count) cut into runs of at most `most` texts and
    `PART_TOKENS` tokens with padding (always at least one text)."""
    parts: list[list[int]] = []
    part: list[int] = []
    for i in order:
        if part and (len(part) >= most or lengths[i] * (len(part) + 1) > PART_TOKENS):
            parts.append(part)
            part = []
        part.append(i)
    if part:
        parts.append(part)
    return parts


@lru_cache(maxsize=1)
def default_embedder() -> LocalEmbedder:
    """The process-wide bundled embedder, loaded on first use (about 0.3 s)."""
    return LocalEmbedder()
