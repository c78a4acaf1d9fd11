"""Papers as readers see them: find one by any reference, show everything known, count the library.

No Discord imports here: the chat commands, the console and the CLI all call these functions.
"""

from __future__ import annotations

from bot.errors import PaperbotError
import json
from dataclasses import asdict, dataclass, field

from rapidfuzz import fuzz, process, utils

from bot.corpus.text import paper_key, parse_arxiv_id_exact, title_hash
from bot.llm.ledger import usage_report
from bot.retrieval.vectors import count_missing
from bot.services.library import Library
from bot.store import Database

# How alike a title must be (rapidfuzz WRatio, 0-100) to be taken as the paper meant.
FUZZY_TITLE_CUTOFF = 88


class PaperNotFound(PaperbotError, LookupError):
    """No paper matches the reference; the message says what was looked for."""


@dataclass
class SummaryView:
    lang: str
    kind: str
    source: str  # digest name, or "paperbot:<model>" for summaries paperbot wrote
    text: str
    model: str | None = None


@dataclass
class PaperDetail:
    id: int
    key: str
    arxiv_id: str | None
    arxiv_version: str | None
    title: str
    authors: list[str]
    abstract: str | None
    published: str | None
    votes: int | None
    topics: list[str]
    links: list[dict]
    digests: list[dict]
    summaries: list[SummaryView] = field(default_factory=list)

    @property
    def url(self) -> str | None:
        return f"https://arxiv.org/abs/{self.arxiv_id}" if self.arxiv_id else None

    def reference(self) -> dict:
        """How JSON output names a paper: the fields a script needs to find it again."""
        return {"arxiv_id": self.arxiv_id, "key": self.key, "title": self.title, "url": self.url}

    def to_json(self) -> dict:
        data = asdict(self)
        data["url"] = self.url
        return data


async def resolve_paper(db: Database, ref: str) -> int:
    """The paper id for an arXiv id in any written form, a `t-` key, an exact or a fuzzy title."""
    ref = ref.strip()
    if not ref:
        raise PaperNotFound("give an arXiv id or a title")
    parsed = parse_arxiv_id_exact(ref)
    if parsed:
        paper_id = await db.fetchval("SELECT id FROM papers WHERE arxiv_id = ?", (parsed[0],))
        if paper_id is None:
            raise PaperNotFound(f"no paper with arXiv id {parsed[0]} in the library")
        return paper_id
    if ref.startswith("t-") and len(ref) == 14:
        paper_id = await db.fetchval(
            "SELECT id FROM papers WHERE title_hash = ? ORDER BY id LIMIT 1", (ref[2:],)
        )
        if paper_id is not None:
            return paper_id
    paper_id = await db.fetchval(
        "SELECT id FROM papers WHERE title_hash = ? ORDER BY arxiv_id IS NULL, id LIMIT 1",
        (title_hash(ref),),
    )
    if paper_id is not None:
        return paper_id
    titles = {row[0]: row[1] for row in await db.fetchall("SELECT id, title FROM papers")}
    best = process.extractOne(
        ref, titles, scorer=fuzz.WRatio, processor=utils.default_process, score_cutoff=FUZZY_TITLE_CUTOFF
    )
    if best is None:
        raise PaperNotFound(f"no paper matches {ref!r}: try `paperbot search {ref}`")
    return best[2]


async def papers_starting_with(db: Database, typed: str, limit: int) -> list[tuple[str, str]]:
    """(key, "id · title") of papers whose arXiv id starts with, or whose title contains, what
    a reader has typed so far (the newest papers when nothing is typed yet): for autocomplete."""
    typed = typed.strip()
    if not typed:
        rows = await db.fetchall(
            "SELECT arxiv_id, title_hash, title FROM papers ORDER BY published DESC, id DESC LIMIT ?", (limit,)
        )
    else:
        rows = await db.fetchall(
            "SELECT arxiv_id, title_hash, title FROM papers WHERE arxiv_id LIKE ? || '%' "
            "OR title LIKE '%' || ? || '%' ORDER BY arxiv_id LIKE ? || '%' DESC, published DESC LIMIT ?",
            (typed, typed, typed, limit),
        )
    return [(paper_key(row["arxiv_id"], row["title_hash"]), f"{row['arxiv_id'] or 'no id'} · {row['title']}") for row in rows]


async def paper_detail(db: Database, paper_id: int) -> PaperDetail:
    details = await paper_details(db, [paper_id])
    if not details:
        raise PaperNotFound(f"no paper with id {paper_id}")
    return details[0]


async def paper_details(db: Database, paper_ids: list[int]) -> list[PaperDetail]:
    """Papers with everything known about them, in the order asked (unknown ids skipped).
    Five queries for any number of papers: Q&A and the roundup load many at once."""
    ids_json = json.dumps(paper_ids)
    in_ids = "IN (SELECT value FROM json_each(?))"
    topics: dict[int, list[str]] = {}
    for paper_id, topic in await db.fetchall(
        f"SELECT paper_id, topic FROM paper_topics WHERE paper_id {in_ids} ORDER BY topic", (ids_json,)
    ):
        topics.setdefault(paper_id, []).append(topic)
    links: dict[int, list[dict]] = {}
    for paper_id, kind, url in await db.fetchall(
        f"SELECT paper_id, kind, url FROM paper_links WHERE paper_id {in_ids} ORDER BY kind, url", (ids_json,)
    ):
        links.setdefault(paper_id, []).append({"kind": kind, "url": url})
    digests: dict[int, list[dict]] = {}
    for paper_id, name, day, fmt in await db.fetchall(
        "SELECT pd.paper_id, d.name, d.digest_date, d.format FROM paper_digests pd "
        f"JOIN digests d ON d.id = pd.digest_id WHERE pd.paper_id {in_ids} ORDER BY d.digest_date, d.id",
        (ids_json,),
    ):
        digests.setdefault(paper_id, []).append({"name": name, "date": day, "format": fmt})
    summaries: dict[int, list[SummaryView]] = {}
    for r in await db.fetchall(
        "SELECT s.paper_id, s.lang, s.kind, s.text, s.model, d.name AS digest_name FROM summaries s "
        f"LEFT JOIN digests d ON d.id = s.digest_id WHERE s.paper_id {in_ids} ORDER BY s.id",
        (ids_json,),
    ):
        summaries.setdefault(r["paper_id"], []).append(
            SummaryView(
                lang=r["lang"], kind=r["kind"], source=r["digest_name"] or f"paperbot:{r['model']}",
                text=r["text"], model=r["model"],
            )
        )
    rows = {row["id"]: row for row in await db.fetchall(f"SELECT * FROM papers WHERE id {in_ids}", (ids_json,))}
    return [
        PaperDetail(
            id=row["id"],
            key=paper_key(row["arxiv_id"], row["title_hash"]),
            arxiv_id=row["arxiv_id"],
            arxiv_version=row["arxiv_version"],
            title=row["title"],
            authors=json.loads(row["authors"]),
            abstract=row["abstract"],
            published=row["published"],
            votes=row["votes"],
            topics=topics.get(row["id"], []),
            links=links.get(row["id"], []),
            digests=digests.get(row["id"], []),
            summaries=summaries.get(row["id"], []),
        )
        for row in (rows.get(pid) for pid in paper_ids)
        if row is not None
    ]


async def library_overview(library: Library) -> dict:
    """`paperbot stats`: the library's counts, the vectors missing and the LLM's usage."""
    stats = await library_stats(library.db)
    embedder = library.retriever.embedder
    stats["embedder"] = embedder.name if embedder else None
    stats["papers_without_vectors"] = await count_missing(library.db, embedder.name) if embedder else None
    stats["llm_usage"] = await usage_report(library.db)
    return stats


async def library_stats(db: Database) -> dict:
    """Counts for `paperbot stats`: what is in the library."""
    count = lambda sql: db.fetchval(sql, default=0)  # noqa: E731 - a local shorthand
    by_lang = {
        r[0]: r[1]
        for r in await db.fetchall("SELECT lang, count(*) FROM summaries GROUP BY lang ORDER BY 2 DESC")
    }
    by_kind = {
        r[0]: r[1]
        for r in await db.fetchall("SELECT kind, count(*) FROM summaries GROUP BY kind ORDER BY 2 DESC")
    }
    # per digest, how many of its papers came with a summary from it: a digest whose summaries
    # were all lost shows 0 here
    digests = [
        {"name": r[0], "format": r[1], "date": r[2], "papers": r[3], "papers_with_summary": r[4], "ingested_at": r[5]}
        for r in await db.fetchall(
            "SELECT name, format, digest_date, paper_count, "
            "(SELECT count(DISTINCT paper_id) FROM summaries WHERE summaries.digest_id = digests.id), "
            "ingested_at FROM digests ORDER BY id"
        )
    ]
    return {
        "papers": await count("SELECT count(*) FROM papers"),
        "papers_with_arxiv_id": await count("SELECT count(*) FROM papers WHERE arxiv_id IS NOT NULL"),
        "papers_with_abstract": await count("SELECT count(*) FROM papers WHERE abstract IS NOT NULL"),
        "summaries": await count("SELECT count(*) FROM summaries"),
        "summaries_by_lang": by_lang,
        "summaries_by_kind": by_kind,
        "topics": await count("SELECT count(DISTINCT topic) FROM paper_topics"),
        "digests": len(digests),
        "digest_files": digests,
    }
