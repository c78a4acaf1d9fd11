"""Search as readers use it: exact hits first (an arXiv id, an exact title), then ranked results.

`search()` fuses the keyword ranks with the vector ranks (reciprocal rank fusion) when a vector
index is available, and falls back to keywords alone while vectors are missing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from bot.corpus.text import paper_key, parse_arxiv_id_exact, title_hash
from bot.retrieval.lexical import lexical_search
from bot.store import Database

MODES = ("hybrid", "lexical", "semantic")


@dataclass
class SearchHit:
    paper_id: int
    score: float
    ranks: dict[str, int | None] = field(default_factory=dict)  # 1-based rank per component
    exact: bool = False


@dataclass
class SearchResult:
    """A hit with what a reader needs to pick it: used by the CLI, the console and the bot."""

    key: str
    arxiv_id: str | None
    title: str
    authors: list[str]
    published: str | None
    topics: list[str]
    score: float
    ranks: dict[str, int | None]
    exact: bool

    def to_json(self) -> dict:
        return {
            "arxiv_id": self.arxiv_id,
            "key": self.key,
            "title": self.title,
            "score": round(self.score, 6),
            "authors": self.authors,
            "published": self.published,
            "topics": self.topics,
            "ranks": self.ranks,
            "exact": self.exact,
        }


async def exact_hits(db: Database, query: str) -> list[int]:
    """Papers the query names exactly: an arXiv id in any written form, or a whole title."""
    parsed = parse_arxiv_id_exact(query)
    if parsed:
        rows = await db.fetchall("SELECT id FROM papers WHERE arxiv_id = ?", (parsed[0],))
    else:
        rows = await db.fetchall(
            "SELECT id FROM papers WHERE title_hash = ? ORDER BY id", (title_hash(query.strip('"')),)
        )
    return [row[0] for row in rows]


async def search(db: Database, query: str, *, limit: int = 10, mode: str = "lexical") -> list[SearchHit]:
    """Exact hits first, then keyword-ranked hits (the hybrid modes arrive with the vector index)."""
    if mode not in MODES:
        raise ValueError(f"unknown search mode {mode!r}; choose one of {', '.join(MODES)}")
    exact = await exact_hits(db, query) if query.strip() else []
    lexical = await lexical_search(db, query, limit=max(limit, 50))
    ranked = {hit.paper_id: rank for rank, hit in enumerate(lexical, start=1)}
    hits = [SearchHit(pid, 1.0, {"lexical": ranked.get(pid)}, exact=True) for pid in exact]
    hits += [
        SearchHit(hit.paper_id, hit.score, {"lexical": ranked[hit.paper_id]})
        for hit in lexical
        if hit.paper_id not in exact
    ]
    return hits[:limit]


async def describe_hits(db: Database, hits: list[SearchHit]) -> list[SearchResult]:
    """Titles, authors and topics for hits, in the hits' order."""
    if not hits:
        return []
    ids_json = json.dumps([h.paper_id for h in hits])
    rows = {
        row["id"]: row
        for row in await db.fetchall(
            "SELECT id, arxiv_id, title_hash, title, authors, published FROM papers "
            "WHERE id IN (SELECT value FROM json_each(?))",
            (ids_json,),
        )
    }
    topics: dict[int, list[str]] = {}
    for paper_id, topic in await db.fetchall(
        "SELECT paper_id, topic FROM paper_topics WHERE paper_id IN (SELECT value FROM json_each(?)) "
        "ORDER BY topic",
        (ids_json,),
    ):
        topics.setdefault(paper_id, []).append(topic)
    results = []
    for hit in hits:
        row = rows.get(hit.paper_id)
        if row is None:
            continue
        results.append(
            SearchResult(
                key=paper_key(row["arxiv_id"], row["title_hash"]),
                arxiv_id=row["arxiv_id"],
                title=row["title"],
                authors=json.loads(row["authors"]),
                published=row["published"],
                topics=topics.get(hit.paper_id, []),
                score=hit.score,
                ranks=hit.ranks,
                exact=hit.exact,
            )
        )
    return results
