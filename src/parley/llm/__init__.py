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
from parley.llm.providers import embedder_factory


def build_embedder(settings: Settings) -> Embedder:
    """The configured embedder: `embedding_provider` by name from the provider registry;
    "auto" is an OpenAI-compatible endpoint when `embedding_base_url` is set, else the bundled
    model."""
    name = settings.embedding_provider
    if name == "auto":
        name = "openai" if settings.embedding_base_url else "local"
    return embedder_factory(name)(settings)


__all__ = [
    "build_embedder",
    "DEFAULT_MODEL_DIR",
    "Embedder",
    "LocalEmbedder",
    "ModelIntegrityError",
    "ModelManifest",
    "default_embedder",
]
