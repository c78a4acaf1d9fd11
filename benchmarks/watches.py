"""The cost of matching watches: 1,000 members' watches against a day's 300 new papers.

    python benchmarks/watches.py [--library 20000] [--members 1000] [--per-member 3] [--new 300] [--rounds 5]
    python benchmarks/watches.py --quality [--db PATH]

`--quality` measures instead what the meaning thresholds catch: the questions of both retrieval
dev sets (devset.json, 63; devset_plain.json, 200 in plain words, 8 languages) as watches over
the seed corpus (../shared/corpus, embedded by the search model and the reranker; `--db` reuses
a database that holds it, minutes saved), each paper they ask for as the one that should match,
every other paper as one that should not, for several thresholds, by the search model alone and
by both models' standardized scores averaged, overall and per question language.

The library is the synthetic corpus of `ingest_search.py` (real ingest, real keyword index) with
the synthetic vectors of `vectors.py` (three facets per paper, 384 dimensions, and one "main"
vector of 512 for the reranker, as the bot keeps by default; `--no-reranker` leaves it out); the
day's new papers arrive as one more digest with their vectors. Each member keeps `--per-member`
watches: topics of one to three words from the corpus's vocabulary, and one in ten an author's
name. Watch vectors are stored as `add_watch` stores them, so matching needs no model: both
models here refuse to embed, which proves it. Rankings mean nothing with synthetic vectors; only
the timings do.

Each round resets the scan and matches everything again (`match_new_papers`): read the new papers,
standardize the watches' scores against the library, find every watch's keywords among the new
papers (one FTS5 query per distinct watch), compare author names, record the matches. Then a
delivery round (`deliver_pending`) sends each member's matches through a notifier that only counts.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.services.ingest import ingest_bytes  # noqa: E402
from bot.corpus.text import text_sha  # noqa: E402
from bot.retrieval.matching import averaged_scores, keyword_matches, standardized_scores  # noqa: E402
from bot.retrieval.search import Retriever  # noqa: E402
from bot.services import watches  # noqa: E402
from bot.services.library import Library  # noqa: E402
from bot.settings import Settings  # noqa: E402
from bot.store import Database  # noqa: E402

from ingest_search import ENGLISH_TERMS, PAPERS_PER_DIGEST, build_corpus, measure_ingest, topic_abstracts_digest  # noqa: E402
from vectors import FACETS  # noqa: E402

DIM, RERANKER_DIM = 384, 512


class StoredVectorsOnly:
    """An embedder whose vectors are all in the store: matching must never ask it for one."""

    def __init__(self, name: str, dim: int, facets: tuple[str, ...]):
        self.name, self.dim, self.facets = name, dim, facets

    async def embed_query(self, text: str):
        raise AssertionError("matching watches called the model")

    async def embed_passages(self, texts: list[str]):
        raise AssertionError("matching watches called the model")


SEARCH_MODEL = StoredVectorsOnly("bench-stored-vectors", DIM, FACETS)
RERANKER = StoredVectorsOnly("bench-stored-reranker-vectors", RERANKER_DIM, ("main",))


def clustered_vectors(rows: int, seed: int, dim: int = DIM) -> np.ndarray:
    """Unit vectors clustered by topic with a power-law spectrum, as in vectors.py."""
    rng = np.random.default_rng(seed)
    spectrum = np.arange(1, dim + 1, dtype=np.float32) ** -0.6
    centers = np.random.default_rng(7).standard_normal((2000, dim), dtype=np.float32) * spectrum
    matrix = centers[rng.integers(0, len(centers), rows)] + 0.6 * rng.standard_normal((rows, dim), dtype=np.float32) * spectrum
    return (matrix / np.linalg.norm(matrix, axis=1, keepdims=True)).astype("<f4")


async def store_vectors(db: Database, paper_ids: list[int], seed: int, model: StoredVectorsOnly) -> None:
    matrix = clustered_vectors(len(paper_ids) * len(model.facets), seed, model.dim)
    keys = [(pid, facet) for pid in paper_ids for facet in model.facets]
    async with db.transaction() as conn:
        await conn.executemany(
            "INSERT INTO paper_vectors (paper_id, embedder, facet, dim, text_sha, vector) VALUES (?, ?, ?, ?, ?, ?)",
            [(pid, model.name, facet, model.dim, text_sha(f"{pid}/{facet}"), v.tobytes()) for (pid, facet), v in zip(keys, matrix)],
        )


async def add_watches(db: Database, members: int, per_member: int, authors: list[str]) -> int:
    rng = random.Random(16)
    vectors = clustered_vectors(members * per_member, 99)
    reranker_vectors = clustered_vectors(members * per_member, 98, RERANKER_DIM)
    after = await db.fetchval("SELECT max(id) FROM papers")
    rows = []
    for member in range(members):
        for _ in range(per_member):
            if rng.random() < 0.1:
                query = rng.choice(authors)
            else:
                query = " ".join(rng.sample(ENGLISH_TERMS, rng.randint(1, 3)))
            n = len(rows)
            rows.append(("bench-guild", f"member{member}", query, SEARCH_MODEL.name, vectors[n].tobytes(),
                         RERANKER.name, reranker_vectors[n].tobytes(), after))
    async with db.transaction() as conn:
        await conn.executemany(
            "INSERT OR IGNORE INTO watches (guild_id, user_id, query, embedder, vector, reranker, reranker_vector, "
            "after_paper_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
    return await db.fetchval("SELECT count(*) FROM watches")


class CountingNotifier:
    def __init__(self) -> None:
        self.messages = 0

    async def send_direct(self, member, delivery) -> bool:
        self.messages += 1
        return True


async def run(args) -> None:
    folder = Path(tempfile.mkdtemp())
    db_path = folder / "watches.db"
    if args.library % PAPERS_PER_DIGEST:
        raise SystemExit(f"--library must be a multiple of {PAPERS_PER_DIGEST}")
    digests, papers = build_corpus(args.library + args.new)
    seconds, _ = await measure_ingest(digests[: args.library // PAPERS_PER_DIGEST], db_path)
    print(f"library: {args.library:,} papers ingested in {seconds:.1f} s")
    db = await Database.open(db_path)
    models = [SEARCH_MODEL] + ([RERANKER] if args.reranker else [])
    library = Library(Settings(PAPERBOT_DB=db_path, PAPERBOT_EMBEDDINGS="off"), db, Retriever(db, *models))
    for model in models:
        await store_vectors(db, [r[0] for r in await db.fetchall("SELECT id FROM papers ORDER BY id")], 1, model)
    new = papers[args.library :]
    count = await add_watches(db, args.members, args.per_member, [a for p in new[:50] for a in p["authors"][:1]])
    print(f"watches: {count:,} of {args.members:,} members (one in ten an author's name)")
    report = await ingest_bytes(db, topic_abstracts_digest(new).encode(), "today.txt")
    new_ids = [r[0] for r in await db.fetchall("SELECT id FROM papers WHERE id > (SELECT min(after_paper_id) FROM watches) ORDER BY id")]
    for model in models:
        await store_vectors(db, new_ids, 2, model)
    print(f"new papers: {report.new} ({len(new_ids) * sum(len(m.facets) for m in models)} vectors, "
          f"{'with' if args.reranker else 'without'} the reranker's)")
    await library.retriever.warm_up()  # indexes loaded once, as in the running bot

    totals, semantic, keywords, deliveries = [], [], [], []
    found = sent = 0
    for _ in range(args.rounds):
        await db.execute("DELETE FROM watch_matches")
        await db.execute("UPDATE watch_scan SET last_paper_id = (SELECT min(after_paper_id) FROM watches)")
        start = time.perf_counter()
        found = await watches.match_new_papers(library)
        totals.append(time.perf_counter() - start)

        rows = await db.fetchall("SELECT query, vector, reranker_vector FROM watches ORDER BY id")
        queries = np.stack([np.frombuffer(r[1], dtype="<f4") for r in rows])
        start = time.perf_counter()
        scores = standardized_scores(await library.retriever.index(), queries, new_ids)
        if args.reranker:
            second_queries = np.stack([np.frombuffer(r[2], dtype="<f4") for r in rows])
            second_index = await library.retriever.reranker_index()
            averaged_scores(scores, standardized_scores(second_index, second_queries, new_ids))
        semantic.append(time.perf_counter() - start)
        start = time.perf_counter()
        for query in {r[0] for r in rows}:
            await keyword_matches(db, query, new_ids[0] - 1)
        keywords.append(time.perf_counter() - start)

        notifier = CountingNotifier()
        start = time.perf_counter()
        await watches.deliver_pending(library, notifier, ["bench-guild"], daily_cap=10**6)
        deliveries.append(time.perf_counter() - start)
        sent = notifier.messages
    distinct = len({r[0] for r in rows})
    print(f"matches recorded per round: {found:,}; members told: {sent:,}")
    print(f"match_new_papers (everything):   median {statistics.median(totals):.2f} s, best {min(totals):.2f} s, worst {max(totals):.2f} s")
    print(f"  by meaning, all watches:        median {statistics.median(semantic) * 1000:.0f} ms"
          f" ({'both models' if args.reranker else 'search model alone'})")
    print(f"  keywords, {distinct:,} distinct queries: median {statistics.median(keywords):.2f} s")
    print(f"deliver_pending ({sent:,} members):     median {statistics.median(deliveries):.2f} s")
    await db.close()


THRESHOLDS = (2.5, 2.7, 3.0, 3.2, 3.5, 4.0)


async def quality(db_path: Path | None) -> None:
    from bot.services.ingest import ingest_paths
    from bot.retrieval.embedders import LocalE5Embedder, LocalUseEmbedder
    from bot.retrieval.vectors import embed_pending

    db_path = db_path or Path(tempfile.mkdtemp()) / "quality.db"
    embedder, reranker = LocalE5Embedder(), LocalUseEmbedder()
    async with await Database.open(db_path) as db:
        await ingest_paths(db, [ROOT.parent / "shared" / "corpus"])
        await embed_pending(db, embedder)
        await embed_pending(db, reranker, main_only=True)  # as `embed_new` does
        retriever = Retriever(db, embedder, reranker)
        index, second_index = await retriever.index(), await retriever.reranker_index()
        library = sorted(set(index.ids.tolist()) & set(second_index.ids.tolist()))
        print(f"{len(library)} papers with both models' vectors")
        for name in ("devset.json", "devset_plain.json"):
            devset = json.loads((ROOT / "benchmarks" / name).read_text(encoding="utf-8"))
            wanted = await meant_papers(db, devset, library)
            first = standardized_scores(index, await query_vectors(embedder, devset), library)
            second = standardized_scores(second_index, await query_vectors(reranker, devset), library)
            _, both = averaged_scores(first, second)
            print(f"\n{name}: {len(devset)} questions as watches, the paper each asks for as the one that should match")
            for label, scores, used in (
                ("search model (e5) alone", first[1], watches.SEMANTIC_THRESHOLD),
                ("both models, standardized scores averaged", both, watches.COMBINED_THRESHOLD),
            ):
                report_threshold_quality(label, scores, wanted, [item["lang"] for item in devset], used)
                report_splits(scores >= used, wanted, [item.get("split") for item in devset])


async def meant_papers(db: Database, devset: list[dict], library: list[int]) -> np.ndarray:
    """(questions, papers) booleans: True for the paper each question asks for."""
    from bot.services.papers import resolve_paper

    column = {pid: n for n, pid in enumerate(library)}
    wanted = np.zeros((len(devset), len(library)), dtype=bool)
    for row, item in enumerate(devset):
        wanted[row, column[await resolve_paper(db, item["expected"].removeprefix("title:"))]] = True
    return wanted


async def query_vectors(model, devset: list[dict]) -> np.ndarray:
    return np.stack([await model.embed_query(item["q"]) for item in devset])


def report_threshold_quality(label: str, scores: np.ndarray, wanted: np.ndarray, langs: list[str], used: float) -> None:
    """Per threshold: the share of papers meant that match, and how many other papers match per
    watch and 300 new papers; at each threshold, the share caught per question language."""
    languages = sorted(set(langs))
    print(f"  {label} (used at {used})")
    print("  threshold | meant that match | others per watch and 300 papers | " + " ".join(f"{lang:>7}" for lang in languages))
    meant = scores[wanted]  # one per question, in question order
    for threshold in THRESHOLDS:
        hit = scores >= threshold
        by_lang = [(meant[[n for n, lang in enumerate(langs) if lang == wanted_lang]] >= threshold).mean() for wanted_lang in languages]
        mark = "*" if threshold == used else " "
        print(f"  {threshold:8.1f}{mark} | {hit[wanted].mean():16.2f} | {hit[~wanted].mean() * 300:31.2f} | "
              + " ".join(f"{share:7.2f}" for share in by_lang))
    counts = {lang: langs.count(lang) for lang in languages}
    print("  questions per language: " + ", ".join(f"{lang} {count}" for lang, count in counts.items()))


def report_splits(hit: np.ndarray, wanted: np.ndarray, splits: list[str | None]) -> None:
    """At the threshold used, the same two figures per part of a split set (a "fresh" part
    nobody tuned on tells whether the threshold holds)."""
    for split in dict.fromkeys(s for s in splits if s):
        rows = [n for n, name in enumerate(splits) if name == split]
        print(f"    {split} ({len(rows)}): meant that match {hit[rows][wanted[rows]].mean():.2f}, "
              f"others per watch and 300 papers {hit[rows][~wanted[rows]].mean() * 300:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quality", action="store_true", help="what the meaning threshold catches (seed corpus)")
    parser.add_argument("--db", type=Path, help="with --quality: reuse this database")
    parser.add_argument("--library", type=int, default=20_000)
    parser.add_argument("--members", type=int, default=1000)
    parser.add_argument("--per-member", type=int, default=3)
    parser.add_argument("--new", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--no-reranker", dest="reranker", action="store_false", help="the search model's vectors alone")
    args = parser.parse_args()
    asyncio.run(quality(args.db) if args.quality else run(args))


if __name__ == "__main__":
    main()
