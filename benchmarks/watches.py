"""The cost of matching watches: 1,000 members' watches against a day's 300 new papers.

    python benchmarks/watches.py [--library 20000] [--members 1000] [--per-member 3] [--new 300] [--rounds 5]
    python benchmarks/watches.py --quality [--db PATH]

`--quality` measures instead what the meaning threshold catches: the 63 questions of the
retrieval dev set as watches over the seed corpus (../shared/corpus, embedded by the local
model; `--db` reuses a database that holds it), each paper they ask for as the one that should
match, every other paper as one that should not, for several thresholds.

The library is the synthetic corpus of `ingest_search.py` (real ingest, real keyword index) with
the synthetic vectors of `vectors.py` (three facets per paper); the day's new papers arrive as one
more digest with their vectors. Each member keeps `--per-member` watches: topics of one to three
words from the corpus's vocabulary, and one in ten an author's name. Watch vectors are stored as
`add_watch` stores them, so matching needs no model: the embedder here refuses to embed, which
proves it. Rankings mean nothing with synthetic vectors; only the timings do.

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
from bot.retrieval.matching import keyword_matches, standardized_scores  # noqa: E402
from bot.retrieval.search import Retriever  # noqa: E402
from bot.services import watches  # noqa: E402
from bot.services.library import Library  # noqa: E402
from bot.settings import Settings  # noqa: E402
from bot.store import Database  # noqa: E402

from ingest_search import ENGLISH_TERMS, PAPERS_PER_DIGEST, build_corpus, measure_ingest, topic_abstracts_digest  # noqa: E402
from vectors import FACETS  # noqa: E402

DIM = 384


class StoredVectorsOnly:
    """An embedder whose vectors are all in the store: matching must never ask it for one."""

    name = "bench-stored-vectors"
    dim = DIM

    async def embed_query(self, text: str):
        raise AssertionError("matching watches called the model")

    async def embed_passages(self, texts: list[str]):
        raise AssertionError("matching watches called the model")


def clustered_vectors(rows: int, seed: int) -> np.ndarray:
    """Unit vectors clustered by topic with a power-law spectrum, as in vectors.py."""
    rng = np.random.default_rng(seed)
    spectrum = np.arange(1, DIM + 1, dtype=np.float32) ** -0.6
    centers = np.random.default_rng(7).standard_normal((2000, DIM), dtype=np.float32) * spectrum
    matrix = centers[rng.integers(0, len(centers), rows)] + 0.6 * rng.standard_normal((rows, DIM), dtype=np.float32) * spectrum
    return (matrix / np.linalg.norm(matrix, axis=1, keepdims=True)).astype("<f4")


async def store_vectors(db: Database, paper_ids: list[int], seed: int) -> None:
    matrix = clustered_vectors(len(paper_ids) * len(FACETS), seed)
    keys = [(pid, facet) for pid in paper_ids for facet in FACETS]
    async with db.transaction() as conn:
        await conn.executemany(
            "INSERT INTO paper_vectors (paper_id, embedder, facet, dim, text_sha, vector) VALUES (?, ?, ?, ?, ?, ?)",
            [(pid, StoredVectorsOnly.name, facet, DIM, text_sha(f"{pid}/{facet}"), v.tobytes()) for (pid, facet), v in zip(keys, matrix)],
        )


async def add_watches(db: Database, members: int, per_member: int, authors: list[str]) -> int:
    rng = random.Random(16)
    vectors = clustered_vectors(members * per_member, 99)
    after = await db.fetchval("SELECT max(id) FROM papers")
    rows = []
    for member in range(members):
        for _ in range(per_member):
            if rng.random() < 0.1:
                query = rng.choice(authors)
            else:
                query = " ".join(rng.sample(ENGLISH_TERMS, rng.randint(1, 3)))
            rows.append(("bench-guild", f"member{member}", query, StoredVectorsOnly.name, vectors[len(rows)].tobytes(), after))
    async with db.transaction() as conn:
        await conn.executemany(
            "INSERT OR IGNORE INTO watches (guild_id, user_id, query, embedder, vector, after_paper_id) VALUES (?, ?, ?, ?, ?, ?)",
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
    library = Library(Settings(PAPERBOT_DB=db_path, PAPERBOT_EMBEDDINGS="off"), db, Retriever(db, StoredVectorsOnly()))
    await store_vectors(db, [r[0] for r in await db.fetchall("SELECT id FROM papers ORDER BY id")], 1)
    new = papers[args.library :]
    count = await add_watches(db, args.members, args.per_member, [a for p in new[:50] for a in p["authors"][:1]])
    print(f"watches: {count:,} of {args.members:,} members (one in ten an author's name)")
    report = await ingest_bytes(db, topic_abstracts_digest(new).encode(), "today.txt")
    new_ids = [r[0] for r in await db.fetchall("SELECT id FROM papers WHERE id > (SELECT min(after_paper_id) FROM watches) ORDER BY id")]
    await store_vectors(db, new_ids, 2)
    print(f"new papers: {report.new} ({len(new_ids) * len(FACETS)} vectors)")
    await library.retriever.index()  # loaded once, as in the running bot

    totals, semantic, keywords, deliveries = [], [], [], []
    found = sent = 0
    for _ in range(args.rounds):
        await db.execute("DELETE FROM watch_matches")
        await db.execute("UPDATE watch_scan SET last_paper_id = (SELECT min(after_paper_id) FROM watches)")
        start = time.perf_counter()
        found = await watches.match_new_papers(library)
        totals.append(time.perf_counter() - start)

        rows = await db.fetchall("SELECT query, vector FROM watches ORDER BY id")
        queries = np.stack([np.frombuffer(r[1], dtype="<f4") for r in rows])
        start = time.perf_counter()
        standardized_scores(await library.retriever.index(), queries, new_ids)
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
    print(f"  by meaning, all watches:        median {statistics.median(semantic) * 1000:.0f} ms")
    print(f"  keywords, {distinct:,} distinct queries: median {statistics.median(keywords):.2f} s")
    print(f"deliver_pending ({sent:,} members):     median {statistics.median(deliveries):.2f} s")
    await db.close()


async def quality(db_path: Path | None) -> None:
    from bot.services.ingest import ingest_paths
    from bot.retrieval.embedders import LocalE5Embedder
    from bot.retrieval.vectors import embed_pending
    from bot.services.papers import resolve_paper

    db_path = db_path or Path(tempfile.mkdtemp()) / "quality.db"
    embedder = LocalE5Embedder()
    async with await Database.open(db_path) as db:
        await ingest_paths(db, [ROOT.parent / "shared" / "corpus"])
        await embed_pending(db, embedder)
        index = await Retriever(db, embedder).index()
        devset = json.loads((ROOT / "benchmarks" / "devset.json").read_text(encoding="utf-8"))
        targets = [await resolve_paper(db, item["expected"].removeprefix("title:")) for item in devset]
        queries = np.stack([await embedder.embed_query(item["q"]) for item in devset])
    paper_ids, scores = standardized_scores(index, queries, sorted(set(index.ids.tolist())))
    column = {pid: n for n, pid in enumerate(paper_ids)}
    wanted = np.zeros_like(scores, dtype=bool)
    wanted[np.arange(len(targets)), [column[t] for t in targets]] = True
    print(f"{len(devset)} questions as watches over {len(paper_ids)} papers")
    print("threshold | papers meant that match | other papers matching, per watch and 300 papers")
    for threshold in (2.5, 3.0, 3.5, 4.0):
        hit = scores >= threshold
        print(f"{threshold:9.1f} | {hit[wanted].mean():23.2f} | {hit[~wanted].mean() * 300:.2f}")
    langs = [item["lang"] for item in devset]
    for lang in sorted(set(langs)):
        rows = [n for n, item_lang in enumerate(langs) if item_lang == lang]
        meant = scores[wanted][rows]
        print(f"{lang}: {len(rows)} questions, median z of the paper meant {np.median(meant):.1f}, "
              f"matched at {watches.SEMANTIC_THRESHOLD}: {(meant >= watches.SEMANTIC_THRESHOLD).mean():.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quality", action="store_true", help="what the meaning threshold catches (seed corpus)")
    parser.add_argument("--db", type=Path, help="with --quality: reuse this database")
    parser.add_argument("--library", type=int, default=20_000)
    parser.add_argument("--members", type=int, default=1000)
    parser.add_argument("--per-member", type=int, default=3)
    parser.add_argument("--new", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    asyncio.run(quality(args.db) if args.quality else run(args))


if __name__ == "__main__":
    main()
