"""Search as readers use it: exact hits first (an arXiv id, an exact title), then ranked results.

`Retriever.search()` fuses keyword and vector evidence when an embedder is configured (see
`fuse`), and falls back to keywords alone while vectors are missing.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field

import numpy as np

from bot.corpus.language import guess_language
from bot.corpus.text import paper_key, parse_arxiv_id_exact, title_hash
from bot.retrieval.cache import LibraryCache
from bot.retrieval.embedders import Embedder
from bot.retrieval.lexical import lexical_search
from bot.retrieval.sentences import question_parts, sentence_coverage
from bot.retrieval.vectors import VectorIndex
from bot.store import Database

MODES = ("hybrid", "lexical", "semantic")


@dataclass
class SearchHit:
    paper_id: int
    score: float
    ranks: dict[str, int | None] = field(default_factory=dict)  # 1-based rank per component
    exact: bool = False


@dataclass
class SearchResult:
    """A hit with what a reader needs to pick it: used by the CLI, the console and the bot."""

    key: str
    arxiv_id: str | None
    title: str
    authors: list[str]
    published: str | None
    topics: list[str]
    score: float
    ranks: dict[str, int | None]
    exact: bool

    def to_json(self) -> dict:
        return {
            "arxiv_id": self.arxiv_id,
            "key": self.key,
            "title": self.title,
            "score": round(self.score, 6),
            "authors": self.authors,
            "published": self.published,
            "topics": self.topics,
            "ranks": self.ranks,
            "exact": self.exact,
        }


async def exact_hits(db: Database, query: str) -> list[int]:
    """Papers the query names exactly: an arXiv id in any written form, or a whole title."""
    parsed = parse_arxiv_id_exact(query)
    if parsed:
        rows = await db.fetchall("SELECT id FROM papers WHERE arxiv_id = ?", (parsed[0],))
    else:
        rows = await db.fetchall(
            "SELECT id FROM papers WHERE title_hash = ? ORDER BY id", (title_hash(query.strip('"')),)
        )
    return [row[0] for row in rows]


CANDIDATES = 50
# Fusion, measured on the development set (benchmarks/retrieval.py; see the README):
# the semantic score (min-max normalized over its candidates) weighs SEMANTIC_WEIGHT, keyword
# evidence the rest. Keyword evidence only counts for papers that the semantic ranking also
# found, or that match strongly (STRONG_LEXICAL of the best BM25), and it is scaled by how much
# of the library has text in the question's language: a Korean question over a library with
# little Korean text gets its keyword matches from a handful of unrelated Korean summaries.
SEMANTIC_WEIGHT = 0.85
STRONG_LEXICAL = 0.8
LANGUAGE_COVERAGE_SATURATION = 5.0
# Reranking, measured the same way: the search model's CANDIDATES are rescored by a second
# model of another kind (`LocalUseEmbedder`) twice: from each paper's "main" text, and by how
# well that text's sentences cover the parts of the question (bot/retrieval/sentences.py). The
# three similarities are standardized over the candidates and averaged (equal weights measured
# best; README).


def standardized(values: np.ndarray) -> np.ndarray:
    return (values - values.mean()) / (values.std() + 1e-9)


def rerank(hits: list[tuple[int, float]], opinions: list[np.ndarray]) -> list[tuple[int, float]]:
    """`hits` (paper_id, score), best first, reordered by their scores averaged with other
    opinions of them, each standardized over the hits: one similarity per hit, NaN where an
    opinion has nothing to say of a paper (it counts as average there). An opinion with nothing
    to say of any hit is left out."""
    opinions = [o for o in opinions if not np.all(np.isnan(o))]
    if len(hits) < 2 or not opinions:
        return hits
    combined = standardized(np.array([score for _, score in hits]))
    for opinion in opinions:
        known = ~np.isnan(opinion)
        values = np.zeros(len(hits))
        values[known] = standardized(opinion[known])
        combined += values
    combined /= 1 + len(opinions)
    return [(hits[i][0], float(combined[i])) for i in np.argsort(-combined, kind="stable")]


def fuse(
    lexical: list[tuple[int, float]], semantic: list[tuple[int, float]], lexical_weight: float = 1.0
) -> list[tuple[int, float, dict[str, int | None]]]:
    """Hybrid ranking of (paper_id, score) lists, best first, with each component's rank."""
    scores: dict[int, float] = {}
    if semantic:
        high, low = semantic[0][1], semantic[-1][1]
        for paper_id, score in semantic:
            scores[paper_id] = SEMANTIC_WEIGHT * (score - low) / (high - low + 1e-9)
    if lexical:
        best = lexical[0][1] or 1.0
        for paper_id, score in lexical:
            evidence = (1 - SEMANTIC_WEIGHT) * lexical_weight * score / best
            if paper_id in scores:
                scores[paper_id] += evidence
            elif score / best >= STRONG_LEXICAL:
                scores[paper_id] = evidence + SEMANTIC_WEIGHT * 0.5
    lexical_rank = {pid: rank for rank, (pid, _) in enumerate(lexical, start=1)}
    semantic_rank = {pid: rank for rank, (pid, _) in enumerate(semantic, start=1)}
    ordered = sorted(scores, key=lambda pid: -scores[pid])
    return [
        (pid, scores[pid], {"lexical": lexical_rank.get(pid), "semantic": semantic_rank.get(pid)})
        for pid in ordered
    ]


async def _nothing() -> list:
    return []


class Retriever:
    """Search over one library: keywords always, vectors when an embedder is configured, and
    the best vector candidates rescored when a reranker is configured too.

    Vector indexes are loaded on first use and reloaded when an embedder's vectors change
    (added, replaced or deleted, by this process or another: a trigger counts each change),
    so papers embedded by `paperbot embed` are found without a restart.
    """

    def __init__(self, db: Database, embedder: Embedder | None = None, reranker: Embedder | None = None):
        self.db = db
        self.embedder = embedder
        self.reranker = reranker
        self.cache = LibraryCache(db)
        self._indexes: dict[str, tuple[int | None, VectorIndex | None]] = {}  # name -> (generation, index)
        self._index_lock = asyncio.Lock()

    async def index(self) -> VectorIndex | None:
        """The search model's vector index (None without an embedder or vectors)."""
        return await self._index_of(self.embedder, two_stage=None)

    async def reranker_index(self) -> VectorIndex | None:
        """The reranker's index of whole-text vectors (None without a reranker or its vectors);
        never scanned, only looked up by paper, so it keeps every row exact."""
        return await self._index_of(self.reranker, two_stage=False)

    async def _index_of(self, embedder: Embedder | None, two_stage: bool | None) -> VectorIndex | None:
        if embedder is None:
            return None
        async with self._index_lock:
            generation = await self.db.fetchval(
                "SELECT generation FROM vector_generations WHERE embedder = ?", (embedder.name,)
            )
            loaded = self._indexes.get(embedder.name)
            if loaded is None or loaded[0] != generation:
                # an endpoint's dimension is known once it has answered; the store knows it too
                dim = embedder.dim or await self.db.fetchval(
                    "SELECT dim FROM paper_vectors WHERE embedder = ? LIMIT 1", (embedder.name,)
                )
                index = None if dim is None else await VectorIndex.load(self.db, embedder.name, dim, two_stage)
                loaded = self._indexes[embedder.name] = (generation, index)
            return loaded[1]

    async def warm_up(self) -> None:
        """Load the vector indexes and the local models now, not during the first search."""
        await self.index()
        await self.reranker_index()
        for model in (self.embedder, self.reranker):
            load = getattr(model, "load", None)  # only local models load
            if load is not None:
                await load()

    async def lexical_weight(self, query: str) -> float:
        """How much keyword matches count for this question: the share of papers with text in
        its language, saturating (English counts fully: every paper has an English title)."""
        lang = guess_language(query).split("-")[0]
        if lang == "en":
            return 1.0
        await self.cache.refresh()
        coverage = await self.cache.get("language coverage", self._language_coverage)
        return min(1.0, LANGUAGE_COVERAGE_SATURATION * coverage.get(lang, 0.0))

    async def _language_coverage(self) -> dict[str, float]:
        """Share of papers with some text in each base language (`zh-Hant` counts as `zh`)."""
        papers = await self.db.fetchval("SELECT count(*) FROM papers", default=0)
        rows = await self.db.fetchall(
            "SELECT CASE WHEN instr(lang, '-') THEN substr(lang, 1, instr(lang, '-') - 1) ELSE lang END AS base, "
            "count(DISTINCT paper_id) FROM summaries GROUP BY base"
        )
        return {base: count / max(papers, 1) for base, count in rows}

    async def semantic(self, query: str, limit: int) -> list[tuple[int, float]]:
        """The `limit` papers nearest to the query by meaning, reranked when a reranker is set."""
        index = await self.index()
        if index is None or not len(index) or not query.strip():
            return []
        rerank_index = await self.reranker_index()
        vector = await self.embedder.embed_query(query)
        # The vector scan (~10 ms at 100,000 papers, one BLAS thread) runs off the event loop,
        # which the bot needs for its heartbeats, beside the reranker's embedding of the
        # question (~7 ms, one thread): on two cores, overlapping it with the search model's
        # embedding instead (two threads) slowed both.
        # The reranker (whose model encodes questions and passages alike) embeds the question
        # and its parts in one call.
        parts = question_parts(query)
        texts = [query] if parts == [query] else [query, *parts]
        hits, second_vectors = await asyncio.gather(
            asyncio.to_thread(index.search, vector, limit),
            self.reranker.embed_passages(texts) if rerank_index is not None and len(rerank_index) else _nothing(),
        )
        if not len(second_vectors):
            return hits
        candidates = [pid for pid, _ in hits]
        part_vectors = second_vectors[1:] if len(texts) > 1 else second_vectors
        return rerank(hits, [
            rerank_index.similarities(candidates, second_vectors[0]),
            await sentence_coverage(self.db, self.reranker.name, candidates, part_vectors),
        ])

    async def search(self, query: str, *, limit: int = 10, mode: str = "hybrid") -> list[SearchHit]:
        """Exact hits first (an arXiv id, a whole title), then ranked hits by `mode`.

        Hybrid falls back to keywords alone while no vectors are stored.
        """
        if mode not in MODES:
            raise ValueError(f"unknown search mode {mode!r}; choose one of {', '.join(MODES)}")
        wanted = max(limit, CANDIDATES)
        # The question is embedded in a worker thread while SQLite answers the keyword part.
        exact, lexical, semantic = await asyncio.gather(
            exact_hits(self.db, query) if query.strip() else _nothing(),
            self._lexical(query, wanted) if mode in ("hybrid", "lexical") else _nothing(),
            self.semantic(query, wanted) if mode in ("hybrid", "semantic") else _nothing(),
        )
        if mode == "hybrid" and semantic:
            fused = fuse(lexical, semantic, await self.lexical_weight(query))
            names: tuple[str, ...] = ("lexical", "semantic")
        else:  # one component (hybrid while no vectors are stored: keywords alone)
            name, ranking = ("semantic", semantic) if mode == "semantic" else ("lexical", lexical)
            fused = [(pid, score, {name: rank}) for rank, (pid, score) in enumerate(ranking, start=1)]
            names = (name,)
        by_id = {pid: (score, ranks) for pid, score, ranks in fused}
        unranked = (1.0, dict.fromkeys(names))
        hits = [SearchHit(pid, *by_id.get(pid, unranked), exact=True) for pid in exact]
        hits += [SearchHit(pid, score, ranks) for pid, score, ranks in fused if pid not in exact]
        return hits[:limit]

    async def _lexical(self, query: str, limit: int) -> list[tuple[int, float]]:
        await self.cache.refresh()
        return [(hit.paper_id, hit.score) for hit in await lexical_search(self.db, query, limit, self.cache)]

    async def similar(self, paper_id: int, limit: int = 5) -> list[SearchHit]:
        """Papers nearest to one paper by meaning (keywords of its title when no vectors)."""
        index = await self.index()
        if index is not None and index.vector_of(paper_id) is not None:
            return [
                SearchHit(pid, score, {"semantic": rank})
                for rank, (pid, score) in enumerate(index.similar(paper_id, limit), start=1)
            ]
        title = await self.db.fetchval("SELECT title FROM papers WHERE id = ?", (paper_id,))
        hits = [(pid, score) for pid, score in await self._lexical(title or "", limit + 1) if pid != paper_id]
        return [SearchHit(pid, score, {"lexical": rank}) for rank, (pid, score) in enumerate(hits[:limit], start=1)]


async def search(db: Database, query: str, *, limit: int = 10, mode: str = "lexical") -> list[SearchHit]:
    """Keyword search with exact hits first, for callers that have no embedder."""
    return await Retriever(db).search(query, limit=limit, mode="lexical" if mode == "hybrid" else mode)


async def describe_hits(db: Database, hits: list[SearchHit]) -> list[SearchResult]:
    """Titles, authors and topics for hits, in the hits' order."""
    if not hits:
        return []
    ids_json = json.dumps([h.paper_id for h in hits])
    rows = {
        row["id"]: row
        for row in await db.fetchall(
            "SELECT id, arxiv_id, title_hash, title, authors, published FROM papers "
            "WHERE id IN (SELECT value FROM json_each(?))",
            (ids_json,),
        )
    }
    topics: dict[int, list[str]] = {}
    for paper_id, topic in await db.fetchall(
        "SELECT paper_id, topic FROM paper_topics WHERE paper_id IN (SELECT value FROM json_each(?)) "
        "ORDER BY topic",
        (ids_json,),
    ):
        topics.setdefault(paper_id, []).append(topic)
    results = []
    for hit in hits:
        row = rows.get(hit.paper_id)
        if row is None:
            continue
        results.append(
            SearchResult(
                key=paper_key(row["arxiv_id"], row["title_hash"]),
                arxiv_id=row["arxiv_id"],
                title=row["title"],
                authors=json.loads(row["authors"]),
                published=row["published"],
                topics=topics.get(hit.paper_id, []),
                score=hit.score,
                ranks=hit.ranks,
                exact=hit.exact,
            )
        )
    return results
