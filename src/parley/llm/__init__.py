"""Model-backed features. Embeddings run locally from a bundled int8 ONNX model (no downloads)."""

from __future__ import annotations

from parley.llm.embeddings import (
    DEFAULT_MODEL_DIR,
    Embedder,
    LocalEmbedder,
    ModelIntegrityError,
    ModelManifest,
    default_embedder,
)

__all__ = [
    "DEFAULT_MODEL_DIR",
    "Embedder",
    "LocalEmbedder",
    "ModelIntegrityError",
    "ModelManifest",
    "default_embedder",
]
