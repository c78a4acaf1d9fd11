"""Search by meaning at 100,000 papers: query latency including embedding the query, the
resident memory of the vector index, and embedding throughput of the local model.

Vectors for the 100,000 papers are synthetic (clustered, with a power-law spectrum like real
embeddings; three facets per paper as the seed corpus averages); queries and the throughput
run use the real model on real text. The two-stage search is compared with an exact scan of
the same vectors, for speed and for how much of the exact top 10 it finds.

Run: python benchmarks/vectors.py [--papers 100000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.retrieval.embedders import LocalE5Embedder  # noqa: E402
from bot.retrieval.vectors import VectorIndex  # noqa: E402

FACETS = ("main", "title", "zh")


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def synthetic_vectors(papers: int, dim: int) -> np.ndarray:
    """Unit vectors shaped like real embeddings rather than pure noise: clustered by topic,
    with a power-law spectrum (a few directions carry most of the variance)."""
    rng = np.random.default_rng(7)
    spectrum = (np.arange(1, dim + 1, dtype=np.float32) ** -0.6)
    centers = rng.standard_normal((2000, dim), dtype=np.float32) * spectrum
    rows = papers * len(FACETS)
    topic = rng.integers(0, len(centers), rows)
    matrix = centers[topic] + 0.6 * rng.standard_normal((rows, dim), dtype=np.float32) * spectrum
    return matrix / np.linalg.norm(matrix, axis=1, keepdims=True)


def build_index(matrix: np.ndarray, papers: int, *, two_stage: bool) -> VectorIndex:
    """Rows facet by facet, as the index reads them from the store."""
    ids = np.tile(np.arange(papers, dtype=np.int64), len(FACETS))
    facets = [facet for facet in FACETS for _ in range(papers)]
    return VectorIndex.from_arrays("synthetic", matrix.shape[1], ids, matrix, facets, two_stage=two_stage)


def agreement_at_10(exact: VectorIndex, fast: VectorIndex, matrix: np.ndarray, queries: int = 200) -> float:
    """Share of the exact top-10 papers the two-stage search also returns, for queries made
    from stored vectors plus heavy noise (cosine to their source about 0.2: a hard case)."""
    rng = np.random.default_rng(11)
    found = 0
    for row in rng.integers(0, len(matrix), queries):
        query = matrix[row] + 0.3 * rng.standard_normal(matrix.shape[1], dtype=np.float32)
        query /= np.linalg.norm(query)
        truth = {pid for pid, _ in exact.search(query, 10)}
        found += len(truth & {pid for pid, _ in fast.search(query, 10)})
    return found / (10 * queries)


async def timed_queries(embedder, index: VectorIndex, queries: list[str]):
    """Per query: ms to embed it, ms to search, ms in all; and the query vectors."""
    embed_ms, search_ms, total_ms, vectors = [], [], [], []
    for query in queries:
        t0 = time.perf_counter()
        vector = await embedder.embed_query(query)
        t1 = time.perf_counter()
        index.search(vector, 50)
        t2 = time.perf_counter()
        embed_ms.append((t1 - t0) * 1000)
        search_ms.append((t2 - t1) * 1000)
        total_ms.append((t2 - t0) * 1000)
        vectors.append(vector)
    return embed_ms, search_ms, total_ms, vectors


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--papers", type=int, default=100_000)
    args = parser.parse_args()
    devset = json.loads((ROOT / "benchmarks" / "devset.json").read_text(encoding="utf-8"))
    queries = [item["q"] for item in devset]
    embedder = LocalE5Embedder()
    await embedder.embed_query("warm up")

    matrix = synthetic_vectors(args.papers, embedder.dim)
    exact = build_index(matrix, args.papers, two_stage=False)
    before = rss_mb()
    index = build_index(matrix, args.papers, two_stage=True)
    after = rss_mb()
    print(f"index: {args.papers:,} papers, {len(index):,} vectors x {index.dim} float32 + a {index.projected.shape[1]}-dim "
          f"projection: {index.nbytes / 2**20:.0f} MiB of arrays (peak RSS grew {after - before:.0f} MiB while building)")
    print(f"two-stage search finds {agreement_at_10(exact, index, matrix):.1%} of the exact top 10")

    def p(values, q):
        return statistics.quantiles(values, n=100)[q - 1]

    embed_ms, search_ms, total_ms, vectors = await timed_queries(embedder, index, queries * 2)
    exact_ms = []  # measured apart: a full scan evicts the model from the CPU caches
    for vector in vectors:
        t0 = time.perf_counter()
        exact.search(vector, 50)
        exact_ms.append((time.perf_counter() - t0) * 1000)
    print(f"query embedding   p50 {p(embed_ms, 50):6.1f} ms  p95 {p(embed_ms, 95):6.1f} ms")
    print(f"exact full scan   p50 {p(exact_ms, 50):6.1f} ms  p95 {p(exact_ms, 95):6.1f} ms  (baseline)")
    print(f"two-stage search  p50 {p(search_ms, 50):6.1f} ms  p95 {p(search_ms, 95):6.1f} ms")
    print(f"search by meaning p50 {p(total_ms, 50):6.1f} ms  p95 {p(total_ms, 95):6.1f} ms  (target p95 < 50 ms)")

    abstracts = []
    for line in (ROOT.parent / "shared" / "corpus").glob("004_*.txt"):
        abstracts += [p_ for p_ in line.read_text(encoding="utf-8").split("\n\n") if len(p_) > 400]
    abstracts = (abstracts * 8)[:64]
    started = time.perf_counter()
    await embedder.embed_passages(abstracts)
    seconds = time.perf_counter() - started
    print(f"embedding throughput: {len(abstracts) / seconds:.1f} passages/s "
          f"({seconds / len(abstracts) * 1000:.0f} ms per abstract-sized passage; a paper has about 3 facets, "
          f"so about {len(abstracts) / seconds / 3:.1f} papers/s)")


if __name__ == "__main__":
    asyncio.run(main())
