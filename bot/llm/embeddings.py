"""Embeddings from any OpenAI-compatible `/v1/embeddings` endpoint (OpenAI, Ollama, vLLM, ...).

Calls go through the same retry layer as chat. An endpoint that answers 400 because an input
is too long is not retried as is: the inputs are cut shorter and sent again, and the shorter
limit is kept for later calls (endpoints rarely publish their limit).
"""

from __future__ import annotations

import logging

import numpy as np
import openai

from bot.llm.client import PLACEHOLDER_KEY
from bot.llm.errors import ContextTooLong, EmbeddingsNotConfigured, LLMError
from bot.llm.retry import with_retries
from bot.llm.tokens import count_tokens, truncate_to_tokens
from bot.settings import Settings

log = logging.getLogger(__name__)

DEFAULT_MAX_INPUT_TOKENS = 8000  # OpenAI's embedding models read 8,191
SHRINK_FACTOR = 0.6
MAX_SHRINKS = 5
TOKEN_COUNTING_MODEL = "text-embedding-3-small"  # cl100k: a fair estimate for other models too


class OpenAIEmbedder:
    """Vectors from an OpenAI-compatible endpoint; the dimension is learned from the first reply.

    It implements retrieval's `Embedder` interface without importing it (the two layers stay
    independent); `bot/services/library.py` chooses it when PAPERBOT_EMBEDDINGS=openai."""

    def __init__(self, api: openai.AsyncOpenAI, model: str, *, attempts: int = 4, deadline_s: float = 120.0):
        self.api = api
        self.model = model
        self.name = f"openai:{model}"
        self.dim: int | None = None
        self.max_input_tokens = DEFAULT_MAX_INPUT_TOKENS
        self._attempts = attempts
        self._deadline_s = deadline_s
        self._endpoint = str(api.base_url).rstrip("/")

    @classmethod
    def from_settings(cls, settings: Settings) -> "OpenAIEmbedder":
        base_url = settings.embeddings_base_url or settings.openai_base_url
        key = settings.openai_api_key.get_secret_value() if settings.openai_api_key else None
        if not base_url and not key:
            raise EmbeddingsNotConfigured(
                "PAPERBOT_EMBEDDINGS=openai needs an endpoint: set PAPERBOT_EMBEDDINGS_BASE_URL "
                "(or OPENAI_BASE_URL) and OPENAI_API_KEY, or use PAPERBOT_EMBEDDINGS=local"
            )
        api = openai.AsyncOpenAI(
            api_key=key or PLACEHOLDER_KEY, base_url=base_url, timeout=settings.llm_timeout_s, max_retries=0
        )
        return cls(api, settings.embeddings_model, attempts=settings.llm_max_attempts, deadline_s=settings.llm_deadline_s)

    async def _embed(self, texts: list[str]) -> np.ndarray:
        for _ in range(MAX_SHRINKS):
            inputs = [truncate_to_tokens(t, self.max_input_tokens, TOKEN_COUNTING_MODEL) or " " for t in texts]
            try:
                response = await with_retries(
                    lambda: self.api.embeddings.create(model=self.model, input=inputs),
                    attempts=self._attempts,
                    deadline_s=self._deadline_s,
                    endpoint=self._endpoint,
                )
            except ContextTooLong:
                longest = max(count_tokens(t, TOKEN_COUNTING_MODEL) for t in inputs)
                self.max_input_tokens = int(min(self.max_input_tokens, longest) * SHRINK_FACTOR)
                log.info("embedding input too long for %s; cutting to %d tokens", self.name, self.max_input_tokens)
                continue
            vectors = [item.embedding for item in sorted(response.data, key=lambda item: item.index)]
            if len(vectors) != len(texts):
                raise LLMError(f"the embeddings endpoint {self._endpoint} returned {len(vectors)} vectors for {len(texts)} texts")
            matrix = np.asarray(vectors, dtype=np.float32)
            # unit rows, as every embedder gives: search scores are plain dot products
            matrix /= np.maximum(np.linalg.norm(matrix, axis=-1, keepdims=True), 1e-12)
            self.dim = matrix.shape[1]
            return matrix
        raise LLMError(f"the embeddings endpoint {self._endpoint} refuses even short inputs as too long")

    async def embed_passages(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim or 0), dtype=np.float32)
        return await self._embed(list(texts))

    async def embed_query(self, text: str) -> np.ndarray:
        return (await self._embed([text]))[0]

    async def close(self) -> None:
        await self.api.close()
