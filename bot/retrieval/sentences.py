"""The reranker's sentence vectors: each sentence of a paper's main text, embedded on its own,
and how well a paper's sentences cover the parts of a question.

A question in plain words usually asks about one thing a paper does ("shrinking a huge network
through an intermediate helper network"), which one sentence of the abstract says; the vector
of the whole text, title and abstract in one, is a blur of everything the paper does. Search
reranks its best candidates by how well each one's sentences cover the parts of the question
(bot/retrieval/search.py). Measured on the plain-words development set (README): recall@5 0.84
-> 0.89 with the best sentence, 0.91 with the question's parts; the search model's own sentence
vectors did not help (0.86, at twenty times the embedding time), the reranker's did.

Sentences are stored as one float16 matrix per paper (half the bytes to read, and the
similarities differ from float32 ones in the fourth decimal) and read by paper for a search's
candidates only (~1.5 ms for 50 at 100,000 papers): nothing is held in memory, so a large
library costs disk (~820 MB at 100,000 papers), not RAM.
"""

from __future__ import annotations

import re

import numpy as np

from bot.retrieval.embedders import Embedder
from bot.retrieval.vectors import facet_texts
from bot.store import Database

# A sentence ends at . ! ? before a space and something that is not a lowercase letter ("e.g. a"
# goes on), or at a CJK full stop, exclamation or question mark or semicolon (Chinese
# summaries chain long clauses with "；"). Not the roundup's splitter (services/roundup.py):
# that one shows readers whole sentences, this one gives the reranker one statement each.
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?![a-z])|(?<=[。！？；])")
# Shorter pieces are list markers and numbers, not statements.
MIN_SENTENCE_CHARS = 8
# Main texts are cut at 2,000 characters (vectors.MAX_EMBED_CHARS); this bounds a pathological one.
MAX_SENTENCES = 40
# Papers per embedding call: a few hundred sentences, one transaction.
PAPERS_PER_BATCH = 16
# A question in plain words often asks for several things at once ("shrinking a huge network
# into a tiny one, through a helper network picked automatically, because the gap is too large
# for one jump"): each part is matched to the paper's sentence nearest to it, and a paper scores
# by how well its sentences cover all the parts. Parts end at punctuation, and before the words
# that join one part of a request to the next in the languages that put spaces between words;
# Chinese and Japanese questions are cut at their commas (Korean ones, cut at clause endings
# too, did worse: README).
_PART_BREAK = re.compile(
    r"[,，、;；:：?？]\s*|\s+(?:and|while|because|by|with|via|und|wobei|um|et|grâce|avec|y|para|con|sin)\s+"
)
MIN_PART_CHARS = 6


def sentences(main_text: str) -> list[str]:
    """The sentences of a main text (its first line, the title, left out: the "title" facet
    has it), or the whole text when its body has none."""
    _, _, body = main_text.partition("\n")
    found = [s.strip() for s in _SENTENCE_END.split(body) if len(s.strip()) >= MIN_SENTENCE_CHARS]
    return found[:MAX_SENTENCES] or [main_text]


async def embed_sentences(db: Database, embedder: Embedder, *, rebuild: bool = False) -> int:
    """Embed the sentences of every paper whose main text is new or changed since its sentences
    were embedded (every paper with `rebuild`); returns how many papers were embedded. A paper's
    old sentences stay searchable until its new ones replace them."""
    stored = dict(
        await db.fetchall("SELECT paper_id, text_sha FROM sentence_vectors WHERE embedder = ?", (embedder.name,))
    )
    pending = [
        (paper_id, text, sha)
        for (paper_id, _), (text, sha) in (await facet_texts(db, main_only=True)).items()
        if rebuild or stored.get(paper_id) != sha
    ]
    for start in range(0, len(pending), PAPERS_PER_BATCH):
        batch = pending[start : start + PAPERS_PER_BATCH]
        pieces = [sentences(text) for _, text, _ in batch]
        vectors = await embedder.embed_passages([s for paper in pieces for s in paper])
        bounds = np.cumsum([0] + [len(paper) for paper in pieces])
        async with db.transaction() as conn:
            await conn.executemany(
                "INSERT OR REPLACE INTO sentence_vectors (paper_id, embedder, dim, text_sha, vectors) "
                "VALUES (?, ?, ?, ?, ?)",
                [
                    (paper_id, embedder.name, vectors.shape[1], sha, vectors[low:high].astype("<f2").tobytes())
                    for (paper_id, _, sha), low, high in zip(batch, bounds, bounds[1:])
                ],
            )
    return len(pending)


def question_parts(question: str) -> list[str]:
    """The parts of a question (see _PART_BREAK); the question itself when it has one part."""
    parts = [part.strip() for part in _PART_BREAK.split(question) if len(part.strip()) >= MIN_PART_CHARS]
    return parts if len(parts) > 1 else [question]


async def sentence_coverage(db: Database, embedder_name: str, paper_ids: list[int], parts: np.ndarray) -> np.ndarray:
    """Per paper, how well its sentences cover the question: for each part of the question
    (a row of `parts`, normalized vectors) the similarity of the paper's sentence nearest to
    it, averaged over the parts. NaN for a paper whose sentences are not embedded (yet)."""
    coverage = np.full(len(paper_ids), np.nan)
    if not paper_ids:
        return coverage
    position = {paper_id: i for i, paper_id in enumerate(paper_ids)}
    marks = ",".join("?" * len(paper_ids))
    rows = await db.fetchall(
        f"SELECT paper_id, dim, vectors FROM sentence_vectors WHERE embedder = ? AND paper_id IN ({marks})",
        (embedder_name, *paper_ids),
    )
    dim = parts.shape[1]
    # one product for all candidates' sentences: 50 small ones cost ~0.7 ms more at 100,000 papers
    rows = [(paper_id, blob) for paper_id, stored_dim, blob in rows if stored_dim == dim and blob]
    if rows:
        counts = [len(blob) // (2 * dim) for _, blob in rows]
        stacked = np.frombuffer(b"".join(blob for _, blob in rows), dtype="<f2").reshape(-1, dim)
        starts = np.cumsum([0, *counts[:-1]])
        nearest = np.maximum.reduceat(stacked.astype(np.float32) @ parts.T, starts, axis=0)  # (papers, parts)
        coverage[[position[paper_id] for paper_id, _ in rows]] = nearest.mean(axis=1)
    return coverage
