"""Matching many standing queries (watches) against a few new papers at once.

Search ranks the whole library for one query; a watch asks the opposite: which of today's few
hundred new papers are about any of a thousand stored queries. Both use the same evidence:
- by meaning: each query's stored vector against the new papers' facet vectors, transformed
  and standardized per facet group exactly as `VectorIndex.search` does, a few matrix products
  for all queries. Search only ranks, but a watch needs a yes or no, and the scores of a
  query's best papers differ by language (a Korean query's score lower than an English
  one's), so each query's scores are standardized again against its scores over the library
  (a sample of it when large): "how far above this query's usual paper", which one threshold
  serves in every language; with a second model (the reranker), its standardized scores are
  averaged with the first's (`averaged_scores`);
- by keywords: every word of the query in the paper's indexed text (titles, abstracts and
  summaries in every language), through the same FTS5 index and query parsing as search,
  restricted to papers above an id so only new papers are read.
"""

from __future__ import annotations

import numpy as np

from bot.retrieval.lexical import match_expression, parse_query
from bot.retrieval.vectors import VectorIndex, facet_soft_maximum
from bot.store import Database

REFERENCE_PAPERS = 500  # enough for a mean and a spread; the cost grows with it


def semantic_scores(index: VectorIndex, queries: np.ndarray, paper_ids: list[int]) -> tuple[list[int], np.ndarray]:
    """(papers found in the index, scores of shape (queries, papers)): each paper's facets'
    similarities to each query, transformed and standardized per facet group and combined by
    the soft maximum `VectorIndex.search` uses, for all queries in a few matrix products."""
    rows = np.flatnonzero(np.isin(index.ids, np.asarray(paper_ids, dtype=index.ids.dtype)))
    if not len(rows) or not len(queries):
        return [], np.zeros((len(queries), 0), np.float32)
    rows = rows[np.argsort(index.ids[rows], kind="stable")]  # a paper's facets side by side
    ids, groups = index.ids[rows], index.groups[rows]
    queries = index.transform(queries)
    offsets = queries @ index.group_means.T
    spreads = np.ones_like(offsets)
    for group in np.unique(groups):  # only the groups these papers have: each costs a d x d product
        spread = ((queries @ index.group_covariances[group]) * queries).sum(axis=1)
        spreads[:, group] = np.sqrt(np.maximum(spread, 1e-12))
    scores = (queries @ index.matrix[rows].T - offsets[:, groups]) / spreads[:, groups]
    starts = np.flatnonzero(np.r_[True, ids[1:] != ids[:-1]])
    return ids[starts].tolist(), facet_soft_maximum(scores, starts)


def standardized_scores(index: VectorIndex, queries: np.ndarray, paper_ids: list[int]) -> tuple[list[int], np.ndarray]:
    """`semantic_scores` as z-scores: each query's mean and spread over REFERENCE_PAPERS of the
    library (all of it when smaller) taken away."""
    ids, scores = semantic_scores(index, queries, paper_ids)
    library = np.unique(index.ids)
    if len(library) > REFERENCE_PAPERS:
        library = np.random.default_rng(0).choice(library, REFERENCE_PAPERS, replace=False)
    _, reference = semantic_scores(index, queries, library.tolist())
    spread = np.maximum(reference.std(axis=1, keepdims=True), 1e-6)
    return ids, (scores - reference.mean(axis=1, keepdims=True)) / spread


def averaged_scores(
    first: tuple[list[int], np.ndarray], second: tuple[list[int], np.ndarray]
) -> tuple[list[int], np.ndarray]:
    """Two models' `standardized_scores` for the same queries, (papers, scores) each, averaged
    over the papers both scored. Models of different kinds err on different papers: a paper
    well above a query's usual one for both is more surely about it than one far above for
    either alone."""
    (first_ids, first_scores), (second_ids, second_scores) = first, second
    column = {paper_id: n for n, paper_id in enumerate(second_ids)}
    both = [n for n, paper_id in enumerate(first_ids) if paper_id in column]
    ids = [first_ids[n] for n in both]
    return ids, (first_scores[:, both] + second_scores[:, [column[pid] for pid in ids]]) / 2


async def keyword_matches(db: Database, query: str, after_paper_id: int) -> list[int]:
    """Papers above `after_paper_id` whose indexed text holds every word of `query`."""
    expression = match_expression(*parse_query(query), all_terms=True)
    if expression is None:
        return []
    rows = await db.fetchall(
        "SELECT rowid FROM papers_fts WHERE papers_fts MATCH ? AND rowid > ?", (expression, after_paper_id)
    )
    return [row[0] for row in rows]
