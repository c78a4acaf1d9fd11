"""Retrieval quality on the development set: lexical, semantic and hybrid, side by side.

    python benchmarks/retrieval.py [--db PATH] [--devset benchmarks/devset.json]

Ingests ../shared/corpus into a fresh database (or reuses --db when it already holds it),
embeds it with the configured embedder (the local one by default: about two minutes on two
cores), then asks every question of the development set in each mode and prints recall@1,
recall@5, recall@10 and MRR. The questions are paraphrases that avoid the titles' words, in
English, Chinese, Traditional Chinese and Korean, about papers of every digest, including papers
whose text exists only in another language. Targets: hybrid recall@5 >= 0.9, and hybrid better
than both alone. Also prints query latency (embedding the query included).
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

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.corpus.ingest import ingest_paths  # noqa: E402
from bot.retrieval.embedders import LocalE5Embedder  # noqa: E402
from bot.retrieval.search import MODES, Retriever  # noqa: E402
from bot.retrieval.vectors import embed_pending  # noqa: E402
from bot.services.papers import resolve_paper  # noqa: E402
from bot.store import Database  # noqa: E402

CUTOFFS = (1, 5, 10)


async def expected_id(db: Database, expected: str) -> int:
    return await resolve_paper(db, expected.removeprefix("title:"))


async def evaluate(db: Database, retriever: Retriever, devset: list[dict]) -> dict[str, dict]:
    results = {}
    for mode in MODES:
        ranks, latencies = [], []
        for item in devset:
            target = await expected_id(db, item["expected"])
            started = time.perf_counter()
            hits = await retriever.search(item["q"], limit=max(CUTOFFS), mode=mode)
            latencies.append((time.perf_counter() - started) * 1000)
            ids = [h.paper_id for h in hits]
            ranks.append(ids.index(target) + 1 if target in ids else None)
        results[mode] = {
            **{f"recall@{k}": sum(1 for r in ranks if r and r <= k) / len(ranks) for k in CUTOFFS},
            "mrr": sum(1 / r for r in ranks if r) / len(ranks),
            "p50_ms": statistics.median(latencies),
            "misses": [item["q"] for item, r in zip(devset, ranks) if not r or r > 5],
        }
    return results


def by_language(devset: list[dict]) -> dict[str, list[dict]]:
    groups: dict[str, list[dict]] = {}
    for item in devset:
        groups.setdefault(item["lang"], []).append(item)
    return groups


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", type=Path, help="reuse this database (ingested and embedded)")
    parser.add_argument("--devset", type=Path, default=ROOT / "benchmarks" / "devset.json")
    parser.add_argument("--corpus", type=Path, default=ROOT.parent / "shared" / "corpus")
    args = parser.parse_args()
    devset = json.loads(args.devset.read_text(encoding="utf-8"))
    db_path = args.db or Path(tempfile.mkdtemp()) / "retrieval.db"
    embedder = LocalE5Embedder()
    async with await Database.open(db_path) as db:
        await ingest_paths(db, [args.corpus])
        started = time.perf_counter()
        embedded = await embed_pending(db, embedder)
        if embedded:
            seconds = time.perf_counter() - started
            print(f"embedded {embedded} papers in {seconds:.0f} s ({embedded / seconds:.1f} papers/s)")
        retriever = Retriever(db, embedder)
        overall = await evaluate(db, retriever, devset)
        print(f"\n{len(devset)} questions")
        print(f"{'mode':<10}" + "".join(f"{f'recall@{k}':>11}" for k in CUTOFFS) + f"{'MRR':>8}{'p50 ms':>9}")
        for mode, row in overall.items():
            print(
                f"{mode:<10}" + "".join(f"{row[f'recall@{k}']:>11.3f}" for k in CUTOFFS)
                + f"{row['mrr']:>8.3f}{row['p50_ms']:>9.1f}"
            )
        print("\nrecall@5 by question language")
        for lang, items in by_language(devset).items():
            scores = await evaluate(db, retriever, items)
            print(f"  {lang:<8} ({len(items):>2}): " + "  ".join(f"{m} {scores[m]['recall@5']:.2f}" for m in MODES))
        print("\nhybrid misses at 5:")
        for question in overall["hybrid"]["misses"]:
            print(f"  - {question}")


if __name__ == "__main__":
    asyncio.run(main())
