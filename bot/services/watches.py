"""Watches: a member names a topic or an author, and hears about new papers that match.

Matching runs over the papers that arrived since the last run, whatever brought them (a CLI
ingest, a digest source, an upload in Discord): papers above a stored id are new. It needs no
LLM: each watch's query is embedded once when added, by the search model and by the reranker
when one is set, and compared with the new papers' vectors as search compares a question
(cross-lingual: a Korean watch finds an English paper); every word of the query in a paper's
text also matches, and so does an author's name. A match is recorded once per member and
paper; delivery is separate (`deliver_pending`), by the front end's notifier, at most
`watch_daily_cap` papers per member and day, the best first.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Protocol

import aiosqlite
import numpy as np

from bot.errors import PaperbotError
from bot.retrieval.embedders import Embedder
from bot.retrieval.matching import averaged_scores, keyword_matches, standardized_scores
from bot.retrieval.vectors import VectorIndex
from bot.services.library import Library
from bot.services.members import Member
from bot.services.papers import PaperDetail, paper_details
from bot.store import Database

MAX_WATCHES_PER_MEMBER = 20
MAX_QUERY_CHARS = 200
# A paper matches a watch by meaning when it scores this many standard deviations above the
# query's mean over the library, by the search model alone: when the reranker is off, or has no
# vector for the paper yet. On the seed corpus (`benchmarks/watches.py --quality`, README) 3.5
# finds 78% of the papers meant by the 63 dev-set questions and 55% for the 200 plain-words
# ones, with 0.39 and 0.23 other papers per watch and 300 new papers; Korean 50% and 36%.
SEMANTIC_THRESHOLD = 3.5
# With the reranker, the two models' standardized scores are averaged: the average spreads less
# than either (the models agree only in part), hence a lower threshold. 2.7 finds 83% and 68%,
# Korean 75% and 56%, with 0.58 and 0.54 other papers per watch and 300 new papers (e5 alone
# at 3.2 lets through more, 0.71 and 0.47, and finds 83% and 62%, Korean 56% and 36%).
COMBINED_THRESHOLD = 2.7
# The columns of `watches` that hold each model's query vector: (model name, vector).
SEARCH_MODEL_COLUMNS = ("embedder", "vector")
RERANKER_COLUMNS = ("reranker", "reranker_vector")
# A new paper still waiting for its vector is matched by keywords and authors alone after this.
VECTOR_GRACE = timedelta(hours=1)


class WatchError(PaperbotError, ValueError):
    """A watch that cannot be added or found; the message says why."""


@dataclass
class Watch:
    id: int
    query: str
    created_at: str

    def to_json(self) -> dict:
        return {"id": self.id, "query": self.query, "created_at": self.created_at}


@dataclass
class Delivery:
    """What one member is told in one delivery run."""

    member: Member
    papers: list[tuple[PaperDetail, str]]  # (paper, the watch query that found it)
    capped: int  # matches over the daily cap, not sent
    direct: bool  # sent to the member; False: left for the roundup's daily line


class Notifier(Protocol):
    async def send_direct(self, member: Member, delivery: Delivery) -> bool:
        """Tell the member (a DM on Discord); False when they cannot be reached that way."""


class CollectingNotifier:
    """For a member who is answered where they asked (the console and the CLI): deliveries are
    kept, to be shown with the command's output, and always count as direct."""

    def __init__(self) -> None:
        self.deliveries: list[Delivery] = []

    async def send_direct(self, member: Member, delivery: Delivery) -> bool:
        self.deliveries.append(delivery)
        return True


def name_key(name: str) -> tuple[str, ...]:
    """A person's name as comparable words, in any order ("LeCun Yann" is "Yann LeCun"):
    accents, case and punctuation dropped."""
    plain = unicodedata.normalize("NFKD", name)
    plain = "".join(ch for ch in plain if not unicodedata.combining(ch)).casefold()
    return tuple(sorted(re.findall(r"\w+", plain)))


def papers_by_author(authors: dict[int, list[str]]) -> dict[tuple[str, ...], set[int]]:
    """Papers under each author's name key, for matching watches that name a person. A key
    needs two words or more, so that one common word is not taken for a name."""
    found: dict[tuple[str, ...], set[int]] = {}
    for paper_id, names in authors.items():
        for name in names:
            key = name_key(name)
            if len(key) >= 2:
                found.setdefault(key, set()).add(paper_id)
    return found


async def _newest_paper_id(db: Database) -> int:
    return await db.fetchval("SELECT coalesce(max(id), 0) FROM papers", default=0)


async def list_watches(db: Database, member: Member) -> list[Watch]:
    rows = await db.fetchall(
        "SELECT id, query, created_at FROM watches WHERE guild_id = ? AND user_id = ? ORDER BY id",
        (member.guild_id, member.user_id),
    )
    return [Watch(*row) for row in rows]


async def add_watch(library: Library, member: Member, query: str) -> Watch:
    """Watch a topic or an author from now on (papers already in the library do not match)."""
    query = " ".join(query.split())
    if not query:
        raise WatchError('name a topic or an author to watch, e.g. /watch add "diffusion models"')
    if len(query) > MAX_QUERY_CHARS:
        raise WatchError(f"a watch is at most {MAX_QUERY_CHARS} characters")
    existing = await list_watches(library.db, member)
    if any(watch.query.casefold() == query.casefold() for watch in existing):
        raise WatchError(f"you already watch “{query}”")
    if len(existing) >= MAX_WATCHES_PER_MEMBER:
        raise WatchError(f"you have {MAX_WATCHES_PER_MEMBER} watches, the most one member can keep; remove one first")
    models = (library.retriever.embedder, library.retriever.reranker)
    vectors = [await _stored_query_vector(model, query) for model in models]
    async with library.db.transaction() as conn:
        cursor = await conn.execute(
            "INSERT INTO watches (guild_id, user_id, query, embedder, vector, reranker, reranker_vector, "
            "after_paper_id) VALUES (?, ?, ?, ?, ?, ?, ?, (SELECT coalesce(max(id), 0) FROM papers)) "
            "RETURNING id, query, created_at",
            (member.guild_id, member.user_id, query, *(value for pair in vectors for value in pair)),
        )
        row = await cursor.fetchone()
    return Watch(*row)


async def remove_watch(db: Database, member: Member, which: str) -> Watch:
    """Remove a watch named by its number in `/watch list` or by its text."""
    watches = await list_watches(db, member)
    which = " ".join(which.split())
    chosen = None
    if which.isdigit() and 1 <= int(which) <= len(watches):
        chosen = watches[int(which) - 1]
    else:
        chosen = next((w for w in watches if w.query.casefold() == which.casefold()), None)
    if chosen is None:
        raise WatchError(f"you have no watch {which!r}: /watch list shows them with their numbers")
    await db.execute("DELETE FROM watches WHERE id = ?", (chosen.id,))
    return chosen


async def _stored_query_vector(model: Embedder | None, query: str) -> tuple[str | None, bytes | None]:
    """(model name, query vector) as a watch stores them; (None, None) without the model."""
    if model is None:
        return None, None
    return model.name, (await model.embed_query(query)).astype("<f4").tobytes()


async def _watch_vectors(db: Database, model: Embedder | None, rows: list, columns: tuple[str, str]) -> np.ndarray | None:
    """The watches' query vectors from `model`, kept in `columns` (SEARCH_MODEL_COLUMNS or
    RERANKER_COLUMNS), embedding those stored by another model or not at all."""
    if model is None:
        return None
    name_column, vector_column = columns
    stale = [row for row in rows if row[name_column] != model.name or row[vector_column] is None]
    if stale:
        fresh = [await model.embed_query(row["query"]) for row in stale]
        await db.executemany(
            f"UPDATE watches SET {name_column} = ?, {vector_column} = ? WHERE id = ?",
            [(model.name, v.astype("<f4").tobytes(), row["id"]) for row, v in zip(stale, fresh)],
        )
        restored = {row["id"]: v for row, v in zip(stale, fresh)}
    else:
        restored = {}
    return np.stack([
        restored[row["id"]] if row["id"] in restored else np.frombuffer(row[vector_column], dtype="<f4")
        for row in rows
    ]).astype(np.float32)


async def _scores_by_meaning(
    library: Library, watches: list, paper_ids: list[int]
) -> tuple[list[int], np.ndarray, np.ndarray] | None:
    """(papers scored, scores of shape (watches, papers), the threshold of each paper's column):
    both models' scores averaged for papers the reranker has a vector for, the search model's
    alone for the others (and for all when the reranker is off); None without search by meaning."""
    retriever = library.retriever
    index = await retriever.index()
    queries = await _watch_vectors(library.db, retriever.embedder, watches, SEARCH_MODEL_COLUMNS)
    if index is None or queries is None:
        return None
    ids, scores = standardized_scores(index, queries, paper_ids)
    thresholds = np.full(len(ids), SEMANTIC_THRESHOLD)
    second_index = await retriever.reranker_index()
    if second_index is not None and ids and _covers_the_library(second_index, index):
        second_queries = await _watch_vectors(library.db, retriever.reranker, watches, RERANKER_COLUMNS)
        both_ids, both = averaged_scores((ids, scores), standardized_scores(second_index, second_queries, ids))
        column = {paper_id: n for n, paper_id in enumerate(ids)}
        both_columns = [column[paper_id] for paper_id in both_ids]
        scores[:, both_columns] = both
        thresholds[both_columns] = COMBINED_THRESHOLD
    return ids, scores, thresholds


def _covers_the_library(second: VectorIndex, first: VectorIndex) -> bool:
    """Whether the reranker has vectors for at least half the papers the search model has. Its
    scores are standardized over the papers it has: while it embeds a library it was just turned
    on for, too few for a mean and a spread that mean anything."""
    return 2 * len(np.unique(second.ids)) >= len(np.unique(first.ids))


async def _new_papers(library: Library, after: int, now: datetime) -> tuple[list, int]:
    """New papers ready to match (their vectors are in, or waited long enough), and the id up
    to which everything has been matched once these are."""
    embedder = library.retriever.embedder
    rows = await library.db.fetchall(
        "SELECT p.id, p.authors, p.created_at, "
        "EXISTS (SELECT 1 FROM paper_vectors v WHERE v.paper_id = p.id AND v.embedder = ?) AS embedded "
        "FROM papers p WHERE p.id > ? ORDER BY p.id",
        (embedder.name if embedder else "", after),
    )
    cutoff = (now - VECTOR_GRACE).strftime("%Y-%m-%dT%H:%M:%SZ")
    ready = [row for row in rows if embedder is None or row["embedded"] or row["created_at"] <= cutoff]
    waiting = [row["id"] for row in rows if row not in ready]
    done_up_to = min(waiting) - 1 if waiting else (rows[-1]["id"] if rows else after)
    return ready, done_up_to


async def match_new_papers(library: Library, *, now: datetime | None = None) -> int:
    """Match every watch against the papers that arrived since the last run; returns how many
    new (member, paper) matches were recorded. Safe to run any time, from any process."""
    db = library.db
    now = now or datetime.now(timezone.utc)
    after = await db.fetchval("SELECT last_paper_id FROM watch_scan WHERE id = 1", default=0)
    papers, done_up_to = await _new_papers(library, after, now)
    watches = await db.fetchall(
        "SELECT id, guild_id, user_id, query, embedder, vector, reranker, reranker_vector, after_paper_id "
        "FROM watches ORDER BY id"
    )
    found: list[tuple] = []
    if papers and watches:
        paper_ids = [row["id"] for row in papers]
        ready = set(paper_ids)
        by_author = papers_by_author({row["id"]: json.loads(row["authors"]) for row in papers})
        by_meaning: dict[int, set[int]] = {}
        columns: dict[int, int] = {}  # a paper's column in `scores`
        meaning = await _scores_by_meaning(library, watches, paper_ids)
        if meaning is not None:
            scored_ids, scores, thresholds = meaning
            columns = {paper_id: column for column, paper_id in enumerate(scored_ids)}
            for row_number, column in zip(*np.nonzero(scores >= thresholds)):
                by_meaning.setdefault(int(row_number), set()).add(scored_ids[column])
        keywords = {query: set(await keyword_matches(db, query, after)) for query in {w["query"] for w in watches}}
        for number, watch in enumerate(watches):
            authored = by_author.get(name_key(watch["query"]), set())
            topical = by_meaning.get(number, set()) | keywords[watch["query"]]
            for paper_id in sorted((authored | topical) & ready):
                if paper_id > watch["after_paper_id"]:
                    reason = "author" if paper_id in authored else "topic"
                    score = float(scores[number, columns[paper_id]]) if paper_id in columns else None
                    found.append((watch["guild_id"], watch["user_id"], paper_id, watch["id"], reason, score))
    if not found and done_up_to == after:
        return 0  # nothing new: no write (the bot looks every few minutes)
    async with db.transaction() as conn:
        before = conn.total_changes
        await conn.executemany(
            "INSERT OR IGNORE INTO watch_matches (guild_id, user_id, paper_id, watch_id, reason, score) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            found,
        )
        recorded = conn.total_changes - before
        await conn.execute("UPDATE watch_scan SET last_paper_id = max(last_paper_id, ?) WHERE id = 1", (done_up_to,))
    return recorded


async def deliver_pending(
    library: Library,
    notifier: Notifier,
    guild_ids: Iterable[str],
    *,
    daily_cap: int | None = None,
    now: datetime | None = None,
) -> list[Delivery]:
    """Match new papers, then tell each member of these servers what their watches found:
    one message per member, at most the daily cap of papers per member and day, the best
    matches first (the rest are dropped, and counted in the message)."""
    db = library.db
    now = now or datetime.now(timezone.utc)
    today = now.date().isoformat()
    cap = library.settings.watch_daily_cap if daily_cap is None else daily_cap
    await match_new_papers(library, now=now)
    guilds = json.dumps(list(guild_ids))
    rows = await db.fetchall(
        "SELECT m.guild_id, m.user_id, m.paper_id, w.query FROM watch_matches m "
        "JOIN watches w ON w.id = m.watch_id "
        "WHERE m.status = 'pending' AND m.guild_id IN (SELECT value FROM json_each(?)) "
        # best first, so the daily cap keeps the best: a named author is asked for exactly; topic
        # matches by how far above the watch's usual paper they score (keyword-only ones without
        # a vector last), then in the order they arrived
        "ORDER BY m.guild_id, m.user_id, m.reason = 'author' DESC, m.score DESC NULLS LAST, m.found_at, m.paper_id",
        (guilds,),
    )
    pending: dict[Member, list[tuple[int, str]]] = {}
    for row in rows:
        pending.setdefault(Member(row[0], row[1]), []).append((row[2], row[3]))
    sent_today = {
        Member(row[0], row[1]): row[2]
        for row in await db.fetchall(
            "SELECT guild_id, user_id, count(*) FROM watch_matches WHERE status IN ('sent', 'roundup') "
            "AND delivered_on = ? AND guild_id IN (SELECT value FROM json_each(?)) GROUP BY guild_id, user_id",
            (today, guilds),
        )
    }
    plans = {}
    for member, matches in pending.items():
        room = max(cap - sent_today.get(member, 0), 0)
        plans[member] = (matches[:room], matches[room:])
    details = {p.id: p for p in await paper_details(db, sorted({pid for sending, _ in plans.values() for pid, _ in sending}))}
    deliveries = []
    for member, (sending, dropped) in plans.items():
        delivery = Delivery(member, [(details[pid], query) for pid, query in sending if pid in details], len(dropped), True)
        if delivery.papers:
            delivery.direct = await notifier.send_direct(member, delivery)
        status = "sent" if delivery.direct else "roundup"
        await db.executemany(
            "UPDATE watch_matches SET status = ?, delivered_on = ? WHERE guild_id = ? AND user_id = ? AND paper_id = ?",
            [(status, today, member.guild_id, member.user_id, pid) for pid, _ in sending]
            + [("capped", today, member.guild_id, member.user_id, pid) for pid, _ in dropped],
        )
        deliveries.append(delivery)
    return deliveries


async def roundup_deliveries(db: Database, guild_id: str) -> list[Delivery]:
    """Matches waiting for the roundup's daily line (members whose DMs are closed), by member.
    They wait until `hand_out` marks them sent with the roundup that carries them."""
    rows = await db.fetchall(
        "SELECT m.user_id, m.paper_id, w.query FROM watch_matches m JOIN watches w ON w.id = m.watch_id "
        "WHERE m.status = 'roundup' AND m.guild_id = ? ORDER BY m.user_id, m.paper_id",
        (guild_id,),
    )
    details = {p.id: p for p in await paper_details(db, [row[1] for row in rows])}
    deliveries: dict[str, Delivery] = {}
    for user_id, paper_id, query in rows:
        delivery = deliveries.setdefault(user_id, Delivery(Member(guild_id, user_id), [], 0, False))
        if paper_id in details:
            delivery.papers.append((details[paper_id], query))
    return list(deliveries.values())


async def hand_out(conn: aiosqlite.Connection, deliveries: list[Delivery]) -> None:
    """Mark the roundup's line as delivered, inside the transaction that stores the roundup
    carrying it: each match goes out once, and none is lost to a crash in between."""
    await conn.executemany(
        "UPDATE watch_matches SET status = 'sent' WHERE status = 'roundup' AND guild_id = ? AND user_id = ? "
        "AND paper_id = ?",
        [(d.member.guild_id, d.member.user_id, paper.id) for d in deliveries for paper, _ in d.papers],
    )
