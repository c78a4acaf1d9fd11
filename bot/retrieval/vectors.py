"""Paper vectors: what gets embedded, incremental embedding, and the in-memory index.

What is embedded for a paper (facet "main"): its title with its English abstract, or with its
richest summary when no abstract is known (most `002_*` papers have only a Chinese one); that
facet is then named by the summary's language ("main:zh", "main:ko"), because the index
standardizes similarities per facet group and a group must hold texts of one language. The
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
TITLE_FACET = "title"
# Summary kinds in the order they describe a paper best when it has no English abstract.
SUMMARY_PREFERENCE = ("abstract_translation", "structured_summary", "summary", "highlights", "takeaways")
MAX_EMBED_CHARS = 2000


def _best_summary(summaries: list[tuple[str, str, str]]) -> tuple[str, str, str] | None:
    ranked = sorted(
        (s for s in summaries if s[0] in SUMMARY_PREFERENCE),
        key=lambda s: (SUMMARY_PREFERENCE.index(s[0]), -len(s[2])),
    )
    return ranked[0] if ranked else None


def embedding_texts(title: str, abstract: str | None, summaries: list[tuple[str, str, str]]) -> dict[str, str]:
    """The texts embedded for one paper, by facet; `summaries` are (kind, lang, text).

    - "main": the title with the English abstract; without one, the title with the best summary,
      named "main:<its language>" (standardizing "main" with one Korean text among English ones
      let that paper top every Korean question);
    - "title": the title alone (most titles are English even when nothing else is);
    - one facet per other language with a summary ("zh", "ko", ...): the title with that
      language's best summary, because the small model matches best within one language.
    A paper's score is the best of its facets.
    """
    best = _best_summary(summaries)
    main_body = abstract or (best[2] if best else "")
    main_facet = MAIN_FACET if abstract or not best else f"{MAIN_FACET}:{best[1]}"
    texts = {main_facet: f"{title}\n{main_body}".strip()[:MAX_EMBED_CHARS], TITLE_FACET: title}
    by_lang: dict[str, list[tuple[str, str, str]]] = {}
    for summary in summaries:
        by_lang.setdefault(summary[1], []).append(summary)
    for lang, items in by_lang.items():
        chosen = _best_summary(items)
        if chosen and chosen[2] != main_body and lang != "en":
            texts[lang] = f"{title}\n{chosen[2]}"[:MAX_EMBED_CHARS]
    return texts


def is_main_facet(facet: str) -> bool:
    return facet.split(":")[0] == MAIN_FACET


async def facet_texts(db: Database, main_only: bool = False) -> dict[tuple[int, str], tuple[str, str]]:
    """(paper_id, facet) -> (text, text_sha) for every paper's facets (`main_only`: the "main"
    facet alone)."""
    summaries: dict[int, list[tuple[str, str, str]]] = {}
    for paper_id, kind, lang, text in await db.fetchall(
        "SELECT paper_id, kind, lang, text FROM summaries ORDER BY id"
    ):
        summaries.setdefault(paper_id, []).append((kind, lang, text))
    wanted = {}
    for paper_id, title, abstract in await db.fetchall("SELECT id, title, abstract FROM papers ORDER BY id"):
        for facet, text in embedding_texts(title, abstract, summaries.get(paper_id, [])).items():
            if is_main_facet(facet) or not main_only:
                wanted[(paper_id, facet)] = (text, text_sha(text))
    return wanted


async def _wanted_and_stored(db: Database, embedder_name: str, main_only: bool = False) -> tuple[dict, dict]:
    """What should be embedded (as `facet_texts`), and (paper_id, facet) -> text_sha for what
    is stored from this embedder."""
    stored = {
        (row[0], row[1]): row[2]
        for row in await db.fetchall(
            "SELECT paper_id, facet, text_sha FROM paper_vectors WHERE embedder = ?", (embedder_name,)
        )
    }
    return await facet_texts(db, main_only), stored


def _pending(wanted: dict, stored: dict, every: bool = False) -> list[tuple[int, str, str, str]]:
    return [
        (pid, facet, text, sha)
        for (pid, facet), (text, sha) in wanted.items()
        if every or stored.get((pid, facet)) != sha
    ]


async def papers_needing_vectors(
    db: Database, embedder_name: str, *, every: bool = False
) -> list[tuple[int, str, str, str]]:
    """(paper_id, facet, text, text_sha) for facets with no vector from this embedder, or a
    stale one (`every`: all facets, to re-embed them)."""
    return _pending(*await _wanted_and_stored(db, embedder_name), every=every)


async def _drop_and_rename(db: Database, embedder_name: str, wanted: dict, stored: dict) -> dict:
    """Forget vectors of facets a paper no longer has, after giving their vector to a wanted
    facet of the same paper with the same text (a facet renamed, e.g. "main" -> "main:zh",
    is not embedded again). Returns what is stored afterwards."""
    obsolete = [key for key in stored if key not in wanted]
    if not obsolete:
        return stored
    by_text = {(pid, stored[(pid, facet)]): facet for pid, facet in obsolete}
    renamed = [
        (pid, facet, sha, by_text[(pid, sha)])
        for (pid, facet), (_, sha) in wanted.items()
        if stored.get((pid, facet)) != sha and (pid, sha) in by_text
    ]
    async with db.transaction() as conn:
        await conn.executemany(
            "INSERT OR REPLACE INTO paper_vectors (paper_id, embedder, facet, dim, text_sha, vector) "
            "SELECT paper_id, embedder, ?, dim, text_sha, vector FROM paper_vectors "
            "WHERE paper_id = ? AND embedder = ? AND facet = ?",
            [(facet, pid, embedder_name, old) for pid, facet, _, old in renamed],
        )
        await conn.executemany(
            "DELETE FROM paper_vectors WHERE paper_id = ? AND embedder = ? AND facet = ?",
            [(pid, embedder_name, facet) for pid, facet in obsolete],
        )
    kept = {key: sha for key, sha in stored.items() if key in wanted}
    return kept | {(pid, facet): sha for pid, facet, sha, _ in renamed}


async def embed_pending(
    db: Database,
    embedder: Embedder,
    *,
    batch_size: int = 16,
    rebuild: bool = False,
    main_only: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> int:
    """Embed every new or changed facet text of the papers (every text with `rebuild`; the
    "main" facet alone with `main_only`, as the reranker needs), a batch per transaction;
    returns how many texts were embedded (a paper has one to a few).
    Each vector replaces the old one in place, so an interrupted rebuild leaves every paper
    searchable, by its old vectors where the new ones are not written yet. Vectors of facets a
    paper no longer has are dropped first (or renamed, when the text is the same)."""
    wanted, stored = await _wanted_and_stored(db, embedder.name, main_only)
    pending = _pending(wanted, await _drop_and_rename(db, embedder.name, wanted, stored), every=rebuild)
    if progress:
        progress(0, len(pending))
    for start in range(0, len(pending), batch_size):
        batch = pending[start : start + batch_size]
        vectors = await embedder.embed_passages([text for _, _, text, _ in batch])
        async with db.transaction() as conn:
            await conn.executemany(
                "INSERT OR REPLACE INTO paper_vectors (paper_id, embedder, facet, dim, text_sha, vector) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                [
                    (paper_id, embedder.name, facet, len(vector), sha, vector.astype("<f4").tobytes())
                    for (paper_id, facet, _, sha), vector in zip(batch, vectors)
                ],
            )
        if progress:
            progress(min(start + batch_size, len(pending)), len(pending))
    return len(pending)


async def count_missing(db: Database, embedder_name: str) -> int:
    """Papers with at least one facet not embedded (or embedded from older text)."""
    return len({item[0] for item in await papers_needing_vectors(db, embedder_name)})


# Past this many vectors, scanning the full matrix is bound by memory bandwidth (~25 ms for
# 300,000 x 384 float32 here): search first scans a narrow projection, then rescores exactly.
TWO_STAGE_MIN_VECTORS = 50_000
PROJECTED_DIM = 64
RESCORED_ROWS = 4000
PROJECTION_SAMPLE = 20_000
# Every vector of the small multilingual model shares a large common part and a few strong
# directions that say more about a text's language and form than about its subject; they are
# removed from passages and questions alike (measured on the dev sets: 1 or 2 directions are
# best, 4 or more remove meaning too; see the README).
COMMON_DIRECTIONS = 2
# Rows sampled to find those directions and to measure each facet group's spread (a few
# strong directions need no more), and how many rows' worth of the library-wide
# spread each group's own is shrunk toward (a group of 7 Korean summaries says little alone).
SPREAD_SAMPLE = 5000
SPREAD_PRIOR_ROWS = 10
# A paper scores by a soft maximum of its facets' standardized similarities,
# FACET_SOFTNESS * log(sum(exp(z / FACET_SOFTNESS))): its best facet, plus a little for other
# facets nearly as close. A paper whose English abstract and Chinese summary both match beats
# one with a single text that matches a little better, which is more often a paper whose one
# text is vague (plain-words set, recall@1 0.745 -> 0.765, the same at softness 0.4 to 0.6; README).
FACET_SOFTNESS = 0.5
TRANSFORM_BATCH = 50_000


def facet_soft_maximum(scores: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Each paper's score from its facets' standardized similarities: `scores` has its facets'
    columns side by side along the last axis, each paper's run beginning at `starts`; the
    result has one column per paper (`FACET_SOFTNESS`)."""
    best = np.maximum.reduceat(scores, starts, axis=-1)
    weights = scores - np.repeat(best, np.diff(np.r_[starts, scores.shape[-1]]), axis=-1)
    weights /= FACET_SOFTNESS  # in place: watches score thousands of queries at once
    np.exp(weights, out=weights)
    return best + FACET_SOFTNESS * np.log(np.add.reduceat(weights, starts, axis=-1))


def principal_projection(
    matrix: np.ndarray, dims: int, center: np.ndarray | None = None, sample_rows: int = PROJECTION_SAMPLE
) -> np.ndarray:
    """The `dims` directions that carry most of the matrix's energy (SVD of a fixed sample,
    less `center` when given): dot products in that subspace rank candidates nearly as the
    full vectors do."""
    rng = np.random.default_rng(0)
    sample = matrix[rng.choice(len(matrix), min(len(matrix), sample_rows), replace=False)]
    if center is not None:
        sample = sample - center
    _, _, vt = np.linalg.svd(sample, full_matrices=False)
    return np.ascontiguousarray(vt[:dims].T, dtype=np.float32)


class VectorIndex:
    """All vectors of one embedder as one normalized matrix, searched by dot product.

    The small model's vectors share a common part and a few strong directions that carry a
    text's language more than its subject; both are removed from every row and every query
    (`transform`), so a question is not pulled toward whatever shares its language.

    Rows belong to facet groups ("main", "title", "zh", ...). Each group's similarities to a
    query are standardized: its mean similarity is subtracted and the rest divided by its
    spread. Without the first, a Korean question lands on the few papers with Korean text,
    whatever they are about; without the second, a group whose similarities spread wider
    (texts in the question's language) still wins at the top. Both come from small products:
    the mean similarity is the query's dot product with the group's mean vector, the spread
    the square root of the query's quadratic form with the group's covariance.
    """

    def __init__(self, embedder_name: str, dim: int, ids: np.ndarray, matrix: np.ndarray, facets: list[str]):
        """Rows are stored group by group, so standardizing subtracts and divides one number
        per contiguous slice instead of gathering them for every row. `matrix` (normalized
        rows) is transformed in place."""
        names = sorted(set(facets))
        code_of = {name: code for code, name in enumerate(names)}
        codes = np.fromiter((code_of[f] for f in facets), dtype=np.int32, count=len(facets))
        if not np.all(codes[1:] >= codes[:-1]):  # `load` reads them in order: no copy then
            order = np.argsort(codes, kind="stable")
            ids, matrix, codes = ids[order], matrix[order], codes[order]
        self.ids, self.groups = ids, codes
        self.matrix = np.ascontiguousarray(matrix, dtype=np.float32)
        self.embedder_name = embedder_name
        self.dim = dim
        self.common_mean = self.matrix.mean(axis=0) if len(ids) else np.zeros(dim, np.float32)
        self.common_directions = (
            principal_projection(self.matrix, min(COMMON_DIRECTIONS, dim), self.common_mean, SPREAD_SAMPLE)
            if len(ids) > COMMON_DIRECTIONS
            else np.zeros((dim, 0), np.float32)
        )
        for start in range(0, len(ids), TRANSFORM_BATCH):  # in slices: no second full-size matrix
            part = self.matrix[start : start + TRANSFORM_BATCH]
            part[:] = self.transform(part)
        bounds = np.searchsorted(self.groups, np.arange(len(names) + 1)).tolist()
        self.group_slices = [slice(start, end) for start, end in zip(bounds, bounds[1:])]
        means = [self.matrix[part].mean(axis=0) for part in self.group_slices]
        self.group_means = np.array(means, np.float32).reshape(len(names), dim)
        self.group_covariances = self._group_covariances()
        self.projection: np.ndarray | None = None
        self.projected: np.ndarray | None = None
        self._row_of: dict[int, int] = {}
        main_first = sorted(range(len(names)), key=lambda code: not is_main_facet(names[code]))
        for code in main_first:
            part = self.group_slices[code]
            for row, pid in enumerate(self.ids[part].tolist(), start=part.start):
                self._row_of.setdefault(pid, row)

    def _group_covariances(self) -> np.ndarray:
        """Each group's covariance (from up to SPREAD_SAMPLE rows), shrunk toward the pooled one."""
        rng = np.random.default_rng(0)
        own, sizes = [], []
        for part, mean in zip(self.group_slices, self.group_means):
            rows = np.arange(part.start, part.stop)
            if len(rows) > SPREAD_SAMPLE:
                rows = rng.choice(rows, SPREAD_SAMPLE, replace=False)
            centered = self.matrix[rows] - mean
            own.append(centered.T @ centered / max(len(rows), 1))
            sizes.append(len(rows))
        if not own:
            return np.zeros((0, self.dim, self.dim), np.float32)
        weights = np.array(sizes, np.float32)[:, None, None]
        own_stack = np.array(own, np.float32)
        pooled = (own_stack * weights).sum(axis=0) / weights.sum()
        return ((own_stack * weights + SPREAD_PRIOR_ROWS * pooled) / (weights + SPREAD_PRIOR_ROWS)).astype(np.float32)

    def transform(self, vectors: np.ndarray) -> np.ndarray:
        """Vectors (one or a matrix of rows) without the common part and directions, normalized."""
        shifted = np.asarray(vectors, dtype=np.float32) - self.common_mean
        shifted -= (shifted @ self.common_directions) @ self.common_directions.T
        return normalize_rows(shifted)

    @classmethod
    async def load(cls, db: Database, embedder_name: str, dim: int, two_stage: bool | None = None) -> "VectorIndex":
        """All stored vectors of one embedder; `two_stage` as in `from_arrays`."""
        rows = await db.fetchall(
            "SELECT paper_id, dim, vector, facet FROM paper_vectors WHERE embedder = ? "
            "ORDER BY facet, paper_id",
            (embedder_name,),
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
            [r[3] for r in rows],
            two_stage=two_stage,
        )

    @classmethod
    def from_arrays(
        cls,
        embedder_name: str,
        dim: int,
        ids: np.ndarray,
        matrix: np.ndarray,
        facets: list[str] | None = None,
        *,
        two_stage: bool | None = None,
    ) -> "VectorIndex":
        """`two_stage`: None decides by size (TWO_STAGE_MIN_VECTORS)."""
        matrix = normalize_rows(matrix.reshape(len(ids), dim)) if len(ids) else np.zeros((0, dim), np.float32)
        index = cls(embedder_name, dim, np.asarray(ids), matrix, facets if facets is not None else [MAIN_FACET] * len(ids))
        if two_stage if two_stage is not None else len(ids) >= TWO_STAGE_MIN_VECTORS:
            index.projection = principal_projection(index.matrix, min(PROJECTED_DIM, dim))
            index.projected = np.ascontiguousarray(index.matrix @ index.projection)
        return index

    def __len__(self) -> int:
        """Number of vectors (a paper has one per facet)."""
        return len(self.ids)

    @property
    def nbytes(self) -> int:
        extra = self.projected.nbytes if self.projected is not None else 0
        return self.matrix.nbytes + self.ids.nbytes + self.groups.nbytes + self.group_covariances.nbytes + extra

    def _standardized(self, scores: np.ndarray, offsets: np.ndarray, spreads: np.ndarray) -> np.ndarray:
        """Scores of all rows, each group's standardized for this query (in place)."""
        for part, offset, spread in zip(self.group_slices, offsets, spreads):
            scores[part] -= offset
            scores[part] /= spread
        return scores

    def _scored_rows(self, query: np.ndarray, want: int) -> tuple[np.ndarray, np.ndarray]:
        """(rows, standardized scores) holding at least the `want` best rows."""
        offsets = self.group_means @ query
        spreads = np.sqrt(np.maximum((self.group_covariances @ query) @ query, 1e-12))
        if self.projected is None or len(self.ids) <= RESCORED_ROWS:
            return np.arange(len(self.ids)), self._standardized(self.matrix @ query, offsets, spreads)
        approximate = self._standardized(self.projected @ (query @ self.projection), offsets, spreads)
        keep = max(RESCORED_ROWS, want)
        rows = np.argpartition(approximate, len(approximate) - keep)[-keep:]
        groups = self.groups[rows]
        return rows, (self.matrix[rows] @ query - offsets[groups]) / spreads[groups]

    def search(self, query: np.ndarray, k: int, exclude: set[int] = frozenset()) -> list[tuple[int, float]]:
        """The k papers whose facets are nearest to the query (an embedder's vector):
        (paper_id, score), the score a soft maximum of the paper's standardized similarities
        (`FACET_SOFTNESS`)."""
        if query.shape != (self.dim,):
            raise ValueError(f"query has dimension {query.shape}, the index {self.dim}")
        return self._search(self.transform(query), k, exclude)

    def _search(self, query: np.ndarray, k: int, exclude: set[int]) -> list[tuple[int, float]]:
        """`search` for a query already transformed like the rows."""
        if not len(self.ids):
            return []
        want = min(len(self.ids), (k + len(exclude)) * 4)  # a paper has up to a few facets
        rows, scores = self._scored_rows(query, want)
        top = np.argpartition(scores, len(scores) - want)[-want:]
        # Only facets near a paper's best one add to it, and those are among the best rows.
        by_paper = top[np.argsort(self.ids[rows[top]], kind="stable")]
        ids = self.ids[rows[by_paper]]
        starts = np.flatnonzero(np.r_[True, ids[1:] != ids[:-1]])
        papers, soft = ids[starts], facet_soft_maximum(scores[by_paper], starts)
        hits = ((int(papers[i]), float(soft[i])) for i in np.argsort(-soft, kind="stable"))
        return [hit for hit in hits if hit[0] not in exclude][:k]

    def vector_of(self, paper_id: int) -> np.ndarray | None:
        """The paper's "main" facet (in whatever language), or its first other one, as
        transformed in the index."""
        row = self._row_of.get(paper_id)
        return None if row is None else self.matrix[row]

    def similarities(self, paper_ids: list[int], query: np.ndarray) -> np.ndarray:
        """The query's similarity to each paper's `vector_of` (NaN for a paper with none)."""
        query = self.transform(query)
        rows = [self._row_of.get(pid) for pid in paper_ids]
        found = [i for i, row in enumerate(rows) if row is not None]
        result = np.full(len(paper_ids), np.nan)
        result[found] = self.matrix[[rows[i] for i in found]] @ query
        return result

    def similar(self, paper_id: int, k: int) -> list[tuple[int, float]]:
        vector = self.vector_of(paper_id)
        return [] if vector is None else self._search(vector, k, exclude={paper_id})
