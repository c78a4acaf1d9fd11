"""Paper vectors: what gets embedded, incremental embedding, and the in-memory index.

What is embedded for a paper (facet "main"): its title with its English abstract, or with its
richest summary when no abstract is known (most `002_*` papers have only a Chinese one). The
multilingual model puts a Korean question near the Chinese or English text of the same paper.

Vectors are stored in SQLite as float32 blobs (this Python's sqlite3 cannot load vector
extensions) and scored in memory: one contiguous normalized matrix, a dot product and an
argpartition, a few milliseconds at 100,000 papers.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from bot.corpus.text import text_sha
from bot.retrieval.embedders import Embedder, normalize_rows
from bot.store import Database

MAIN_FACET = "main"
# Summary kinds in the order they describe a paper best when it has no English abstract.
SUMMARY_PREFERENCE = ("abstract_translation", "structured_summary", "summary", "highlights", "takeaways")
MAX_EMBED_CHARS = 2000


def embedding_text(title: str, abstract: str | None, summaries: list[tuple[str, str]]) -> str:
    """Title plus the English abstract, or plus the best summary (kind, text) when there is none."""
    body = abstract
    if not body:
        ranked = sorted(
            (s for s in summaries if s[0] in SUMMARY_PREFERENCE),
            key=lambda s: (SUMMARY_PREFERENCE.index(s[0]), -len(s[1])),
        )
        body = ranked[0][1] if ranked else ""
    return f"{title}\n{body}".strip()[:MAX_EMBED_CHARS]


async def papers_needing_vectors(db: Database, embedder_name: str) -> list[tuple[int, str, str]]:
    """(paper_id, text, text_sha) of papers with no vector from this embedder, or a stale one."""
    stored = {
        row[0]: row[1]
        for row in await db.fetchall(
            "SELECT paper_id, text_sha FROM paper_vectors WHERE embedder = ? AND facet = ?",
            (embedder_name, MAIN_FACET),
        )
    }
    summaries: dict[int, list[tuple[str, str]]] = {}
    for paper_id, kind, text in await db.fetchall(
        "SELECT paper_id, kind, text FROM summaries WHERE paper_id IN "
        "(SELECT id FROM papers WHERE abstract IS NULL) ORDER BY id"
    ):
        summaries.setdefault(paper_id, []).append((kind, text))
    pending = []
    for paper_id, title, abstract in await db.fetchall("SELECT id, title, abstract FROM papers ORDER BY id"):
        text = embedding_text(title, abstract, summaries.get(paper_id, []))
        sha = text_sha(text)
        if stored.get(paper_id) != sha:
            pending.append((paper_id, text, sha))
    return pending


async def embed_pending(
    db: Database,
    embedder: Embedder,
    *,
    batch_size: int = 16,
    progress: Callable[[int, int], None] | None = None,
) -> int:
    """Embed every new or changed paper, a batch per transaction; returns how many."""
    pending = await papers_needing_vectors(db, embedder.name)
    if progress:
        progress(0, len(pending))
    for start in range(0, len(pending), batch_size):
        batch = pending[start : start + batch_size]
        vectors = await embedder.embed_passages([text for _, text, _ in batch])
        async with db.transaction() as conn:
            await conn.executemany(
                "INSERT OR REPLACE INTO paper_vectors (paper_id, embedder, facet, dim, text_sha, vector) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                [
                    (paper_id, embedder.name, MAIN_FACET, embedder.dim, sha, vector.astype("<f4").tobytes())
                    for (paper_id, _, sha), vector in zip(batch, vectors)
                ],
            )
        if progress:
            progress(min(start + batch_size, len(pending)), len(pending))
    return len(pending)


async def count_missing(db: Database, embedder_name: str) -> int:
    return len(await papers_needing_vectors(db, embedder_name))


class VectorIndex:
    """All vectors of one embedder as one normalized matrix, searched by dot product."""

    def __init__(self, embedder_name: str, dim: int, ids: np.ndarray, matrix: np.ndarray):
        self.embedder_name = embedder_name
        self.dim = dim
        self.ids = ids
        self.matrix = matrix
        self._row_of = {int(pid): row for row, pid in enumerate(ids)}

    @classmethod
    async def load(cls, db: Database, embedder_name: str, dim: int) -> "VectorIndex":
        rows = await db.fetchall(
            "SELECT paper_id, dim, vector FROM paper_vectors WHERE embedder = ? AND facet = ? "
            "ORDER BY paper_id",
            (embedder_name, MAIN_FACET),
        )
        wrong = [r[0] for r in rows if r[1] != dim]
        if wrong:
            raise ValueError(
                f"{len(wrong)} stored vectors of {embedder_name} have a dimension other than {dim}; "
                "run `paperbot embed --rebuild`"
            )
        return cls.from_arrays(
            embedder_name,
            dim,
            np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows)),
            np.frombuffer(b"".join(r[2] for r in rows), dtype="<f4").reshape(len(rows), dim),
        )

    @classmethod
    def from_arrays(cls, embedder_name: str, dim: int, ids: np.ndarray, matrix: np.ndarray) -> "VectorIndex":
        matrix = normalize_rows(matrix.reshape(len(ids), dim)) if len(ids) else np.zeros((0, dim), np.float32)
        return cls(embedder_name, dim, ids, np.ascontiguousarray(matrix, dtype=np.float32))

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def nbytes(self) -> int:
        return self.matrix.nbytes + self.ids.nbytes

    def search(self, query: np.ndarray, k: int, exclude: set[int] = frozenset()) -> list[tuple[int, float]]:
        if not len(self.ids):
            return []
        if query.shape != (self.dim,):
            raise ValueError(f"query has dimension {query.shape}, the index {self.dim}")
        scores = self.matrix @ query.astype(np.float32)
        want = min(len(scores), k + len(exclude))
        top = np.argpartition(-scores, want - 1)[:want]
        top = top[np.argsort(-scores[top])]
        hits = [(int(self.ids[i]), float(scores[i])) for i in top if int(self.ids[i]) not in exclude]
        return hits[:k]

    def vector_of(self, paper_id: int) -> np.ndarray | None:
        row = self._row_of.get(paper_id)
        return None if row is None else self.matrix[row]

    def similar(self, paper_id: int, k: int) -> list[tuple[int, float]]:
        vector = self.vector_of(paper_id)
        return [] if vector is None else self.search(vector, k, exclude={paper_id})
