"""Search by meaning at 100,000 papers: query latency including embedding the query, the
resident memory of the vector index, and embedding throughput of the local model.

Vectors for the 100,000 papers are synthetic (random unit vectors, three facets per paper as
the seed corpus averages); queries and the throughput run use the real model on real text.

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


def synthetic_index(papers: int, dim: int) -> VectorIndex:
    rng = np.random.default_rng(7)
    ids = np.repeat(np.arange(papers, dtype=np.int64), len(FACETS))
    matrix = rng.standard_normal((len(ids), dim), dtype=np.float32)
    return VectorIndex.from_arrays("synthetic", dim, ids, matrix, list(FACETS) * papers)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--papers", type=int, default=100_000)
    args = parser.parse_args()
    devset = json.loads((ROOT / "benchmarks" / "devset.json").read_text(encoding="utf-8"))
    queries = [item["q"] for item in devset]
    embedder = LocalE5Embedder()
    await embedder.embed_query("warm up")

    before = rss_mb()
    index = synthetic_index(args.papers, embedder.dim)
    after = rss_mb()
    print(f"index: {args.papers:,} papers, {len(index):,} vectors x {index.dim} float32: "
          f"{index.nbytes / 2**20:.0f} MiB of arrays (peak RSS grew {after - before:.0f} MiB while building)")

    embed_ms, search_ms, total_ms = [], [], []
    for query in queries * 2:
        t0 = time.perf_counter()
        vector = await embedder.embed_query(query)
        t1 = time.perf_counter()
        index.search(vector, 50)
        t2 = time.perf_counter()
        embed_ms.append((t1 - t0) * 1000)
        search_ms.append((t2 - t1) * 1000)
        total_ms.append((t2 - t0) * 1000)

    def p(values, q):
        return statistics.quantiles(values, n=100)[q - 1]

    print(f"query embedding   p50 {p(embed_ms, 50):6.1f} ms  p95 {p(embed_ms, 95):6.1f} ms")
    print(f"index search      p50 {p(search_ms, 50):6.1f} ms  p95 {p(search_ms, 95):6.1f} ms")
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
