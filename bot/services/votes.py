"""What the group finds worth reading: votes (👍), reading lists (🔖 or /save), top papers.

A member counts once per paper: a vote or a save is one row per member, paper and server,
added and removed as reactions come and go.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import aiosqlite
import numpy as np

from bot.errors import PaperbotError
from bot.services.library import Library
from bot.services.members import Member
from bot.services.papers import PaperDetail, paper_details, resolve_paper
from bot.store import Database

MAX_TOP_DAYS = 366
TOP_LIMIT = 10
TOP_DAYS = 7  # the period of /top when none is given, on every front end


class ReadingError(PaperbotError, ValueError):
    """A reading-room request that cannot be served (a period out of range, ...)."""


@dataclass
class TopPaper:
    paper: PaperDetail
    votes: int  # members of the server who voted for it in the period
    saves: int

    def to_json(self) -> dict:
        return {**self.paper.reference(), "votes": self.votes, "saves": self.saves, "digest_votes": self.paper.votes}


@dataclass
class SavedPaper:
    paper: PaperDetail
    saved_at: str

    def to_json(self) -> dict:
        return {**self.paper.reference(), "saved_at": self.saved_at}


async def _set_row(db: Database, table: str, member: Member, paper_id: int, present: bool) -> bool:
    """Add or remove a member's row for a paper; True when something changed."""
    if present:
        sql = f"INSERT OR IGNORE INTO {table} (guild_id, user_id, paper_id) VALUES (?, ?, ?)"  # noqa: S608
    else:
        sql = f"DELETE FROM {table} WHERE guild_id = ? AND user_id = ? AND paper_id = ?"  # noqa: S608
    async with db.transaction() as conn:
        cursor = await conn.execute(sql, (member.guild_id, member.user_id, paper_id))
        return cursor.rowcount > 0


async def set_vote(db: Database, member: Member, paper_id: int, voted: bool) -> bool:
    """Record (or withdraw) a member's 👍 for a paper; True when it changed anything."""
    return await _set_row(db, "paper_votes", member, paper_id, voted)


async def set_saved(db: Database, member: Member, paper_id: int, saved: bool) -> bool:
    """Put a paper on (or take it off) the member's reading list; True when it changed anything."""
    return await _set_row(db, "reading_list", member, paper_id, saved)


async def save(db: Database, member: Member, ref: str) -> tuple[PaperDetail, bool]:
    """/save: the paper named by `ref`, and whether it was new on the list."""
    paper_id = await resolve_paper(db, ref)
    changed = await set_saved(db, member, paper_id, True)
    return (await paper_details(db, [paper_id]))[0], changed


async def unsave(db: Database, member: Member, ref: str) -> tuple[PaperDetail, bool]:
    """/unsave: the paper named by `ref`, and whether it was on the list."""
    paper_id = await resolve_paper(db, ref)
    changed = await set_saved(db, member, paper_id, False)
    return (await paper_details(db, [paper_id]))[0], changed


async def reading_list(db: Database, member: Member) -> list[SavedPaper]:
    """A member's saved papers in this server, newest first."""
    rows = await db.fetchall(
        "SELECT paper_id, saved_at FROM reading_list WHERE guild_id = ? AND user_id = ? "
        "ORDER BY saved_at DESC, paper_id DESC",
        (member.guild_id, member.user_id),
    )
    details = {paper.id: paper for paper in await paper_details(db, [row[0] for row in rows])}
    return [SavedPaper(details[row[0]], row[1]) for row in rows if row[0] in details]


def _since(days: int, now: datetime | None) -> str:
    if not 1 <= days <= MAX_TOP_DAYS:
        raise ReadingError(f"the period is 1 to {MAX_TOP_DAYS} days")
    start = (now or datetime.now(timezone.utc)) - timedelta(days=days)
    return start.strftime("%Y-%m-%dT%H:%M:%S")


async def top(
    db: Database,
    guild_id: str,
    *,
    days: int = TOP_DAYS,
    topic: str | None = None,
    limit: int = TOP_LIMIT,
    now: datetime | None = None,
) -> list[TopPaper]:
    """Papers the server's members voted for in the last `days`, most voters first; saves,
    then the digests' own votes break ties. `topic` keeps papers whose topic or title has it."""
    pattern = "%" + re.sub(r"([%_\\])", r"\\\1", topic.strip()) + "%" if topic and topic.strip() else None
    rows = await db.fetchall(
        """
        WITH recent AS (
            SELECT paper_id, count(*) AS votes FROM paper_votes
            WHERE guild_id = :guild AND voted_at >= :since GROUP BY paper_id
        )
        SELECT r.paper_id, r.votes,
               (SELECT count(*) FROM reading_list s WHERE s.guild_id = :guild AND s.paper_id = r.paper_id) AS saves
        FROM recent r JOIN papers p ON p.id = r.paper_id
        WHERE :pattern IS NULL OR p.title LIKE :pattern ESCAPE '\\' OR EXISTS (
            SELECT 1 FROM paper_topics t WHERE t.paper_id = p.id AND t.topic LIKE :pattern ESCAPE '\\')
        ORDER BY r.votes DESC, saves DESC, coalesce(p.votes, -1) DESC, p.id
        LIMIT :limit
        """,
        {"guild": guild_id, "since": _since(days, now), "pattern": pattern, "limit": limit},
    )
    details = {paper.id: paper for paper in await paper_details(db, [row[0] for row in rows])}
    return [TopPaper(details[row[0]], row[1], row[2]) for row in rows]


# Reactions that mean something on a paper's message: 👍 worth reading, 🔖 save.
VOTE_EMOJI, SAVE_EMOJI = "👍", "🔖"


async def remember_paper_message(
    db: Database | aiosqlite.Connection, guild_id: str, message_id: str, paper_id: int
) -> None:
    """Tie a message paperbot posted about one paper to it, for reactions (on a connection:
    inside that transaction)."""
    await db.execute(
        "INSERT OR REPLACE INTO paper_messages (message_id, paper_id, guild_id) VALUES (?, ?, ?)",
        (message_id, paper_id, guild_id),
    )


async def record_reaction(db: Database, member: Member, message_id: str, emoji: str, added: bool) -> bool:
    """A reaction added or removed on a paper's message: a vote (👍) or a save (🔖); other
    emoji and other messages mean nothing. True when it changed a vote or the reading list."""
    if emoji not in (VOTE_EMOJI, SAVE_EMOJI):
        return False
    paper_id = await db.fetchval(
        "SELECT paper_id FROM paper_messages WHERE message_id = ? AND guild_id = ?", (message_id, member.guild_id)
    )
    if paper_id is None:
        return False
    change = set_vote if emoji == VOTE_EMOJI else set_saved
    return await change(db, member, paper_id, added)


async def group_interest(library: Library, guild_id: str, paper_ids: list[int], before: str) -> dict[int, float]:
    """How close each paper is to what the server's members voted for (👍) before `before`
    (YYYY-MM-DD): its best similarity by meaning to a voted paper; without vectors, the share
    of its topics that voted papers have. Papers near nothing voted are left out (0)."""
    db = library.db
    voted = [
        row[0]
        for row in await db.fetchall(
            "SELECT DISTINCT paper_id FROM paper_votes WHERE guild_id = ? AND voted_at < ?", (guild_id, before)
        )
        if row[0] not in paper_ids
    ]
    if not voted:
        return {}
    index = await library.retriever.index()
    voted_vectors = [v for v in (index.vector_of(pid) for pid in voted) if v is not None] if index else []
    if voted_vectors:
        matrix = np.stack(voted_vectors)
        return {
            pid: float((matrix @ vector).max())
            for pid in paper_ids
            if (vector := index.vector_of(pid)) is not None
        }
    details = await paper_details(db, list(paper_ids) + voted)
    voted_topics = {topic for paper in details if paper.id in voted for topic in paper.topics}
    return {
        paper.id: len(set(paper.topics) & voted_topics) / len(paper.topics)
        for paper in details
        if paper.id in paper_ids and paper.topics
    }
