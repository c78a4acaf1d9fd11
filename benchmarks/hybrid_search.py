"""The bot's whole search path at 100,000 papers: hybrid search as `/ask`, `/search` and
`paperbot search` run it, including embedding the question with the local model.

    python benchmarks/hybrid_search.py [--papers 100000] [--rounds 3] [--no-reranker]

`vectors.py` times the vector part alone; this script times what a reader waits for: exact
lookups, keyword search (SQLite) and the question's embedding by both local models (the search
model and the reranker) running concurrently, then the vector search, the reranking of its best
candidates (which reads their sentence vectors from SQLite) and the fusion, through one
long-lived Retriever as the bot keeps it.

The library is the synthetic corpus of `ingest_search.py` (real ingest, real keyword index) with
the synthetic vectors of `vectors.py` stored for every paper (three facets each; for the reranker
its main text and eight sentences), so rankings mean nothing here, only timings do. Questions are
the 263 of the two retrieval dev sets (63 paraphrases in four languages, 200 plain-words
questions in eight), asked once per round; the
p95 of each round is printed, since a round on this shared machine can be slowed by a neighbour.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.corpus.text import text_sha  # noqa: E402
from bot.retrieval.embedders import Embedder, LocalE5Embedder, LocalUseEmbedder  # noqa: E402
from bot.retrieval.search import Retriever  # noqa: E402
from bot.store import Database  # noqa: E402

from ingest_search import build_corpus, measure_ingest  # noqa: E402
from vectors import FACETS, synthetic_vectors  # noqa: E402

# The seed corpus has 8.2 sentences per paper's main text (3,039 for 371 papers).
SENTENCES_PER_PAPER = 8


async def store_synthetic_vectors(db: Database, embedder: Embedder, facets: tuple[str, ...] = FACETS) -> int:
    """Synthetic vectors for each facet of every stored paper, under the model's name."""
    paper_ids = [row[0] for row in await db.fetchall("SELECT id FROM papers ORDER BY id")]
    matrix = synthetic_vectors(len(paper_ids), embedder.dim)[: len(paper_ids) * len(facets)]
    rows = (
        (paper_id, embedder.name, facet, embedder.dim, text_sha(f"{paper_id}/{facet}"), vector.astype("<f4").tobytes())
        for (paper_id, facet), vector in zip(((p, f) for p in paper_ids for f in facets), matrix)
    )
    async with db.transaction() as conn:
        await conn.executemany(
            "INSERT INTO paper_vectors (paper_id, embedder, facet, dim, text_sha, vector) VALUES (?, ?, ?, ?, ?, ?)",
            rows,
        )
    return len(matrix)


async def store_synthetic_sentences(db: Database, embedder: Embedder, per_paper: int = SENTENCES_PER_PAPER) -> int:
    """`per_paper` synthetic sentence vectors for every stored paper (float16, as stored)."""
    paper_ids = [row[0] for row in await db.fetchall("SELECT id FROM papers ORDER BY id")]
    chunk = 10_000
    for start in range(0, len(paper_ids), chunk):
        part = paper_ids[start : start + chunk]
        matrix = synthetic_vectors(-(-len(part) * per_paper // len(FACETS)), embedder.dim).astype("<f2")
        rows = (
            (paper_id, embedder.name, embedder.dim, text_sha(str(paper_id)),
             matrix[i * per_paper : (i + 1) * per_paper].tobytes())
            for i, paper_id in enumerate(part)
        )
        async with db.transaction() as conn:
            await conn.executemany(
                "INSERT INTO sentence_vectors (paper_id, embedder, dim, text_sha, vectors) VALUES (?, ?, ?, ?, ?)", rows
            )
    return len(paper_ids) * per_paper


async def measure(db_path: Path, questions: list[str], rounds: int, rerank: bool) -> dict[str, list[list[float]]]:
    """Per mode, per round: milliseconds for each question."""
    embedder, reranker = LocalE5Embedder(), LocalUseEmbedder() if rerank else None
    async with await Database.open(db_path) as db:
        started = time.perf_counter()
        vectors = await store_synthetic_vectors(db, embedder)
        if reranker is not None:
            vectors += await store_synthetic_vectors(db, reranker, facets=("main",))
            vectors += await store_synthetic_sentences(db, reranker)
        print(f"stored {vectors:,} synthetic vectors in {time.perf_counter() - started:.0f} s", flush=True)
        retriever = Retriever(db, embedder, reranker)
        started = time.perf_counter()
        await retriever.warm_up()
        print(f"loaded the vector indexes and the models in {time.perf_counter() - started:.1f} s", flush=True)
        for question in questions:  # warm: page cache, keyword counts, model
            await retriever.search(question, limit=10, mode="hybrid")
        timings: dict[str, list[list[float]]] = {"lexical": [], "semantic": [], "hybrid": []}
        for _ in range(rounds):
            for mode, samples in timings.items():
                samples.append([])
                for question in questions:
                    started = time.perf_counter()
                    await retriever.search(question, limit=10, mode=mode)
                    samples[-1].append((time.perf_counter() - started) * 1000)
    return timings


def p(samples: list[float], percent: int) -> float:
    return statistics.quantiles(samples, n=100)[percent - 1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--papers", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--no-reranker", action="store_true", help="the search model alone, for comparison")
    args = parser.parse_args()
    questions = [
        item["q"]
        for name in ("devset.json", "devset_plain.json")
        for item in json.loads((ROOT / "benchmarks" / name).read_text(encoding="utf-8"))
    ]

    print(f"generating and ingesting {args.papers:,} synthetic papers ...", flush=True)
    digests, _ = build_corpus(args.papers)
    with tempfile.TemporaryDirectory() as tmp:
        db_path = Path(tmp) / "paperbot.db"
        _, stored = asyncio.run(measure_ingest(digests, db_path))
        print(f"{stored:,} papers stored", flush=True)
        timings = asyncio.run(measure(db_path, questions, args.rounds, not args.no_reranker))

    reranked = "without the reranker" if args.no_reranker else "with the reranker"
    print(f"\n{len(questions)} questions x {args.rounds} rounds, long-lived Retriever, limit 10, {reranked}")
    for mode, rounds in timings.items():
        every = [ms for samples in rounds for ms in samples]
        per_round = ", ".join(f"{p(samples, 95):.1f}" for samples in rounds)
        print(f"{mode:8s} p50 {statistics.median(every):6.1f} ms  p95 {p(every, 95):6.1f} ms  "
              f"(p95 per round: {per_round} ms)")
    hybrid = [ms for samples in timings["hybrid"] for ms in samples]
    print(f"hybrid search incl. query embedding: p95 {p(hybrid, 95):.1f} ms (target < 50 ms); "
          f"{np.mean(np.array(hybrid) < 50):.1%} of questions answered in under 50 ms")


if __name__ == "__main__":
    main()
