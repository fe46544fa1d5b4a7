"""Model-backed features. Embeddings run locally from a bundled int8 ONNX model (no downloads)."""

from __future__ import annotations

from parley.config import Settings
from parley.llm.embeddings import (
    DEFAULT_MODEL_DIR,
    Embedder,
    LocalEmbedder,
    ModelIntegrityError,
    ModelManifest,
    default_embedder,
)
from parley.llm.providers import embedder_factory, embedding_provider_name


def build_embedder(settings: Settings) -> Embedder:
    """The configured embedder: `embedding_provider` by name from the provider registry."""
    return embedder_factory(embedding_provider_name(settings))(settings)


__all__ = [
    "build_embedder",
    "DEFAULT_MODEL_DIR",
    "Embedder",
    "LocalEmbedder",
    "ModelIntegrityError",
    "ModelManifest",
    "default_embedder",
]
