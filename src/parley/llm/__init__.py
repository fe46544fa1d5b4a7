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


def build_embedder(settings: Settings) -> Embedder:
    """The configured embedder: an OpenAI-compatible endpoint, or the bundled model."""
    if settings.embedding_base_url:
        from parley.llm.openai_embeddings import OpenAIEmbedder

        return OpenAIEmbedder(
            base_url=settings.embedding_base_url,
            model=settings.embedding_model,
            dimensions=settings.embedding_dimensions,
            api_key=settings.embedding_api_key,
            send_dimensions=settings.embedding_send_dimensions,
        )
    return default_embedder()


__all__ = [
    "build_embedder",
    "DEFAULT_MODEL_DIR",
    "Embedder",
    "LocalEmbedder",
    "ModelIntegrityError",
    "ModelManifest",
    "default_embedder",
]
