"""Embeddings from any OpenAI-compatible `/embeddings` endpoint (OpenAI, Ollama, vLLM, LM Studio,
llama.cpp server, ...), through the official `openai` SDK.

The SDK sends the request (auth, timeouts, retries on 429/5xx); its raw response is decoded
here with `json` and numpy. Vectors are asked for as base64 (OpenAI's `encoding_format`,
float32 little-endian): parsing 1,536 decimal floats per vector was the largest CPU cost of
the embedding indexer. A server that ignores the format and sends floats is read as well; one
that refuses it (400/422) is asked for floats from then on. Letting the SDK build its
response models walks every float of every vector through its model construction: about
145 ms of CPU per 50 vectors of 384 floats on a 2-core dev box (against about 10 ms here), the
biggest cost of the reasoning worker's batches.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

import numpy as np
import openai

from parley.llm.embeddings import FloatArray

MAX_INPUTS_PER_CALL = 256


class EmbeddingServiceError(RuntimeError):
    """The endpoint answered with something that is not what was asked for."""


class OpenAIEmbedder:
    def __init__(
        self,
        *,
        base_url: str,
        model: str,
        dimensions: int,
        api_key: str | None,
        send_dimensions: bool,
        timeout_s: float = 30.0,
    ) -> None:
        from openai import AsyncOpenAI

        self._client = AsyncOpenAI(
            base_url=base_url, api_key=api_key or "not-needed", timeout=timeout_s, max_retries=3
        )
        self._model = model
        self._dimensions = dimensions
        self._send_dimensions = send_dimensions
        self._encoding = "base64"  # "float" once the server refused base64

    @property
    def name(self) -> str:
        return f"openai-compatible:{self._model}"

    @property
    def dimensions(self) -> int:
        return self._dimensions

    async def embed(self, texts: list[str]) -> FloatArray:
        out = np.zeros((len(texts), self._dimensions), dtype=np.float32)
        for start in range(0, len(texts), MAX_INPUTS_PER_CALL):
            # Many servers refuse empty input; a space embeds as "nothing said" too.
            chunk = [text or " " for text in texts[start : start + MAX_INPUTS_PER_CALL]]
            extra = {"dimensions": self._dimensions} if self._send_dimensions else {}
            # the SDK's custom-request call: `embeddings.create` would walk every input
            # against its typed parameters first (about 1 ms of CPU per 50 inputs)
            vectors = self._vectors(await self._post({"input": chunk, **extra}))
            if vectors.shape != (len(chunk), self._dimensions):
                raise EmbeddingServiceError(
                    f"{self.name} returned vectors of shape {vectors.shape}, expected "
                    f"({len(chunk)}, {self._dimensions}); check PARLEY_EMBEDDING_DIMENSIONS"
                )
            norms = np.linalg.norm(vectors, axis=1, keepdims=True)
            out[start : start + len(chunk)] = vectors / np.where(norms == 0, 1.0, norms)
        return out

    async def _post(self, body: dict[str, Any]) -> bytes:
        while True:
            try:
                return await self._client.post(
                    "/embeddings",
                    body={"model": self._model, **body, "encoding_format": self._encoding},
                    cast_to=bytes,
                    options={"security": {"bearer_auth": True}},
                )
            except (openai.BadRequestError, openai.UnprocessableEntityError):
                if self._encoding == "float":
                    raise
                self._encoding = "float"  # a server that knows only floats

    def _vectors(self, body: bytes) -> FloatArray:
        """The `data[].embedding` arrays of a response body, in `index` order: each a list of
        floats or base64 of float32 little-endian values."""
        try:
            data: list[dict[str, Any]] = json.loads(body)["data"]
            rows = sorted(data, key=lambda item: int(item.get("index", 0)))
            return np.asarray([_vector(row["embedding"]) for row in rows], dtype=np.float32)
        except (ValueError, KeyError, TypeError, AttributeError, binascii.Error) as exc:
            raise EmbeddingServiceError(
                f"{self.name} returned a response that is not a list of float vectors: {exc}"
            ) from exc

    async def close(self) -> None:
        await self._client.close()


def _vector(embedding: Any) -> Any:
    if isinstance(embedding, str):
        return np.frombuffer(base64.b64decode(embedding, validate=True), dtype="<f4")
    return embedding
