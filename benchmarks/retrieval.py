"""Retrieval quality on the development sets: lexical, semantic and hybrid, side by side.

    python benchmarks/retrieval.py [--db PATH] [--devset FILE ...] [--corpus DIR ...]

Ingests ../shared/corpus into a fresh database (or reuses --db when it already holds it; with
`--corpus ../shared/corpus ../shared/digests`, a larger library where the same questions have
more neighbours to lose to),
embeds it with the local embedder and the reranker (several minutes on two shared cores; reuse
--db to skip that), then asks every question of each development set in each mode and prints
recall@1, recall@5 and MRR overall, per split of the set when its questions carry one
(`"split"`: `"tune"` is what the search was tuned on, `"holdout"` checks it, `"fresh"` was written
after both had been looked at many times, to check that changes generalize), and per question
language, first as the bot searches (with the reranker), then without the reranker for comparison.

The sets (all three by default):
- `devset.json`: 63 paraphrases that avoid the titles' words, in English, Chinese,
  Traditional Chinese and Korean. Target: hybrid recall@5 >= 0.9.
- `devset_plain.json`: 200 questions in plain words about what a paper does (no title words,
  no dataset or tool names), 25 in each of English, Simplified and Traditional Chinese, Korean,
  Japanese, German, Spanish and French (9 tune, 8 holdout and 8 fresh per language), with
  near neighbours (several segmentation, distillation, quantization and evaluation papers).
  Targets: hybrid recall@1 >= 0.85, recall@5 >= 0.95 overall and >= 0.85 in every language.
- `devset_topics.json`: 26 topics asked as a reading-group member types them into /search ("model
  quantization", "모델 양자화", "Punktwolken"), each in all eight languages: 208 short queries.
  A topic has no one right paper: every paper whose title matches its `relevant` pattern (a
  regular expression, case-insensitive) is right, and the rank reported is the first right
  paper's. Titles are the judge, so a paper on the topic whose title does not say so counts as
  wrong: the figures are a floor. No target; it shows how far each language is from English.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.services.ingest import ingest_paths  # noqa: E402
from bot.retrieval.embedders import LocalE5Embedder, LocalUseEmbedder  # noqa: E402
from bot.retrieval.search import MODES, Retriever  # noqa: E402
from bot.retrieval.sentences import embed_sentences  # noqa: E402
from bot.retrieval.vectors import embed_pending  # noqa: E402
from bot.services.papers import resolve_paper  # noqa: E402
from bot.store import Database  # noqa: E402

DEVSETS = tuple(ROOT / "benchmarks" / name for name in ("devset.json", "devset_plain.json", "devset_topics.json"))
DEPTH = 10


@dataclass
class Answer:
    """Where one question's (first) right paper came, per mode (None: not in the top DEPTH)."""

    item: dict
    rank: dict[str, int | None]


async def right_papers(db: Database, item: dict, titles: dict[int, str]) -> set[int]:
    """The paper a question asks for (`expected`), or every paper on its topic (`relevant`,
    matched against `titles`)."""
    if "expected" in item:
        return {await resolve_paper(db, item["expected"].removeprefix("title:"))}
    pattern = re.compile(item["relevant"], re.IGNORECASE)
    return {paper_id for paper_id, title in titles.items() if pattern.search(title)}


async def ask_all(db: Database, retriever: Retriever, devset: list[dict]) -> tuple[list[Answer], dict[str, float]]:
    """Every question in every mode; also the median latency per mode (query embedding included)."""
    answers = []
    latencies: dict[str, list[float]] = {mode: [] for mode in MODES}
    titles = dict(await db.fetchall("SELECT id, title FROM papers"))
    for item in devset:
        right = await right_papers(db, item, titles)
        ranks = {}
        for mode in MODES:
            started = time.perf_counter()
            hits = await retriever.search(item["q"], limit=DEPTH, mode=mode)
            latencies[mode].append((time.perf_counter() - started) * 1000)
            ranks[mode] = next((n for n, hit in enumerate(hits, start=1) if hit.paper_id in right), None)
        answers.append(Answer(item, ranks))
    return answers, {mode: statistics.median(values) for mode, values in latencies.items()}


def scores(ranks: list[int | None]) -> tuple[float, float, float]:
    """recall@1, recall@5, MRR (a paper past DEPTH counts 0)."""
    n = len(ranks) or 1
    return (
        sum(1 for r in ranks if r == 1) / n,
        sum(1 for r in ranks if r and r <= 5) / n,
        sum(1 / r for r in ranks if r) / n,
    )


def table_row(label: str, answers: list[Answer]) -> str:
    cells = []
    for mode in MODES:
        r1, r5, mrr = scores([a.rank[mode] for a in answers])
        cells.append(f"{r1:>6.3f} {r5:>6.3f} {mrr:>6.3f}")
    return f"{label:<18}{len(answers):>4}  " + "   ".join(cells)


def print_report(name: str, answers: list[Answer], latency: dict[str, float]) -> None:
    header = "   ".join(f"{mode[:3] + ' r@1':>6} {'r@5':>6} {'MRR':>6}" for mode in MODES)
    print(f"\n{name}: {len(answers)} questions")
    print(f"{'':<18}{'n':>4}  {header}")
    print(table_row("all", answers))
    for split in dict.fromkeys(a.item["split"] for a in answers if "split" in a.item):
        print(table_row(f"  {split} split", [a for a in answers if a.item.get("split") == split]))
    for lang in dict.fromkeys(a.item["lang"] for a in answers):
        print(table_row(f"  {lang}", [a for a in answers if a.item["lang"] == lang]))
    print("median latency per question: " + ", ".join(f"{mode} {ms:.1f} ms" for mode, ms in latency.items()))
    misses = [a for a in answers if not a.rank["hybrid"] or a.rank["hybrid"] > 1]
    print(f"hybrid: right paper not first ({len(misses)}):")
    for a in misses:
        print(f"  [{a.item['lang']}] rank {a.rank['hybrid'] or f'>{DEPTH}'}: {a.item['q']}")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", type=Path, help="reuse this database (ingested and embedded)")
    parser.add_argument("--devset", type=Path, nargs="+", default=list(DEVSETS))
    parser.add_argument("--corpus", type=Path, nargs="+", default=[ROOT.parent / "shared" / "corpus"])
    args = parser.parse_args()
    db_path = args.db or Path(tempfile.mkdtemp()) / "retrieval.db"
    embedder, reranker = LocalE5Embedder(), LocalUseEmbedder()
    async with await Database.open(db_path) as db:
        await ingest_paths(db, args.corpus)
        for model, main_only in ((embedder, False), (reranker, True)):
            started = time.perf_counter()
            embedded = await embed_pending(db, model, main_only=main_only)
            if embedded:
                seconds = time.perf_counter() - started
                print(f"{model.name}: embedded {embedded} texts in {seconds:.0f} s ({embedded / seconds:.1f} texts/s)")
        started = time.perf_counter()
        if embedded := await embed_sentences(db, reranker):
            print(f"{reranker.name}: embedded the sentences of {embedded} papers in {time.perf_counter() - started:.0f} s")
        for label, retriever in (
            ("as the bot searches (reranked)", Retriever(db, embedder, reranker)),
            ("without the reranker", Retriever(db, embedder)),
        ):
            for path in args.devset:
                devset = json.loads(path.read_text(encoding="utf-8"))
                answers, latency = await ask_all(db, retriever, devset)
                print_report(f"{path.name}, {label}", answers, latency)


if __name__ == "__main__":
    asyncio.run(main())
