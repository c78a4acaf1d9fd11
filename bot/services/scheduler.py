"""The daily roundup of every server, at its local time, exactly once a day.

Exactly once, across crashes, restarts and several processes on one database:
- a run is claimed in one SQLite transaction (`BEGIN IMMEDIATE`, which serializes writers across
  processes): the claimant becomes its `owner` until `lease_until`, renewed as each block goes
  out. Another process leaves a live run alone and takes over only a run whose lease expired
  (its owner died), so a run is posted by one process at a time;
- the roundup's blocks (a header, one message per entry with its paper, for the buttons, then
  the watch line) are stored with the run before the first is sent; each message id is added as
  it is sent, with its entry's paper (so a 👍 or 🔖 on it counts for that paper), and the run is
  marked 'done' (or 'empty') after the last. A resumed run posts the remaining stored blocks,
  never a rebuilt roundup; the channel's recent messages tell which of them already went out (a
  crash can fall between a send and its record), and those are recorded as if just sent;
- a run left unfinished is resumed whatever the local date now is (across midnight), up to
  RESUME_DAYS later; a transient error (Discord or the network failing) is retried with backoff
  before the run is final;
- each process posts only for the servers it serves (`Poster.serves`: the shards it holds).

A server's roundup is the latest digest dated on or before its own local today. The chat layer
supplies a `Poster`; this module has no Discord imports, and its clock is a parameter so that
tests can move time.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Protocol

from bot.errors import PaperbotError
from bot.llm.client import Caller
from bot.services.guilds import GuildSettings, scheduled_guilds
from bot.services.library import Library
from bot.services.reading_messages import roundup_watch_line
from bot.services.roundup import RoundupBlock, build_roundup
from bot.services.votes import remember_paper_message
from bot.services.watches import hand_out, roundup_deliveries
from bot.store import Database

log = logging.getLogger(__name__)

FINISHED = ("done", "empty", "failed")
EMPTY_DAY_NOTE = "No new papers today."
LEASE_S = 120  # a live owner renews well within this (each block); a dead one is replaced after it
RESUME_DAYS = 1  # an unfinished run older than this is given up: yesterday's roundup, not last week's


class ChannelUnavailable(Exception):
    """The roundup channel is gone, or paperbot may not post there; the message says which."""


class TransientPostError(Exception):
    """Posting failed for a reason that may pass (Discord or the network); worth retrying."""


class LostRun(Exception):
    """Another process took the run over (this one's lease ran out): it posts the rest."""


class Poster(Protocol):
    def serves(self, guild_id: str) -> bool:
        """Whether this process posts for the server (its shard is one this process holds)."""

    async def check(self, channel_id: str) -> None:
        """Raise ChannelUnavailable unless paperbot can post in the channel."""

    async def send(self, channel_id: str, text: str, paper_id: int | None = None) -> str:
        """Post `text` (an entry's message: with its paper's buttons); returns the message id.
        Raises ChannelUnavailable or TransientPostError."""

    async def sent_since(self, channel_id: str, since: datetime) -> list[tuple[str, str]]:
        """(message id, content) of paperbot's own messages in the channel since `since`."""


def stored_posts(run: dict) -> list[RoundupBlock]:
    """A run's stored blocks with their entries' papers. A run stored by an older paperbot
    (papers not kept, or several entries in one block) posts those blocks without buttons."""
    papers = json.loads(run["block_papers"] or "[]")
    return [
        RoundupBlock(text, [tuple(pair) for pair in papers[number]] if number < len(papers) else [])
        for number, text in enumerate(json.loads(run["blocks"]))
    ]


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


def iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def process_owner() -> str:
    """Who holds a lease: unique per scheduler, readable in the database."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


@dataclass
class RunOutcome:
    guild_id: str
    local_date: str
    status: str
    messages: int = 0
    error: str | None = None


async def last_run(db: Database, guild_id: str) -> dict | None:
    row = await db.fetchone(
        "SELECT * FROM roundup_runs WHERE guild_id = ? ORDER BY local_date DESC LIMIT 1", (guild_id,)
    )
    return dict(row) if row else None


async def ran_on(db: Database, guild_id: str, local_date: str) -> bool:
    status = await db.fetchval(
        "SELECT status FROM roundup_runs WHERE guild_id = ? AND local_date = ?", (guild_id, local_date)
    )
    return status in FINISHED


class RoundupScheduler:
    def __init__(
        self,
        library: Library,
        poster: Poster,
        *,
        clock: Callable[[], datetime] = utc_now,
        before_roundups: Callable[[], Awaitable[object]] | None = None,
        tick_s: float = 30.0,
        max_attempts: int = 5,
        retry_s: float = 30.0,
        owner: str | None = None,
    ):
        self.library = library
        self.db = library.db
        self.poster = poster
        self.clock = clock
        self.before_roundups = before_roundups  # e.g. fetch the digest sources
        self.tick_s = tick_s
        self.max_attempts = max_attempts
        self.retry_s = retry_s  # the first retry's delay; doubled for each one after
        self.owner = owner or process_owner()
        self._stopping = asyncio.Event()

    def is_due(self, guild: GuildSettings, now: datetime) -> bool:
        return now >= guild.scheduled_at(guild.local_date(now))

    async def _pending(self, now: datetime) -> list[tuple[GuildSettings, str]]:
        """(server, local date) of today's due runs not finished, and of earlier unfinished runs."""
        guilds = {g.guild_id: g for g in await scheduled_guilds(self.db) if self.poster.serves(g.guild_id)}
        pending = []
        for guild in guilds.values():
            local_date = guild.local_date(now).isoformat()
            if self.is_due(guild, now) and not await ran_on(self.db, guild.guild_id, local_date):
                pending.append((guild, local_date))
        unfinished = await self.db.fetchall(
            "SELECT guild_id, local_date FROM roundup_runs WHERE status = 'sending' ORDER BY local_date"
        )
        for row in unfinished:
            guild = guilds.get(row["guild_id"])
            if guild is None or (guild, row["local_date"]) in pending:
                continue
            if date.fromisoformat(row["local_date"]) < guild.local_date(now) - timedelta(days=RESUME_DAYS):
                await self._finish(guild.guild_id, row["local_date"], "failed", error="interrupted, and too old to resume")
                continue
            pending.append((guild, row["local_date"]))
        return pending

    async def run_due(self) -> list[RunOutcome]:
        """Post every roundup that is due and not finished; one failing never stops the rest."""
        now = self.clock()
        pending = await self._pending(now)
        if pending and self.before_roundups is not None:
            try:
                await self.before_roundups()
            except Exception:  # stale digests are better than no roundup
                log.exception("fetching digest sources before the roundups failed")
        outcomes = []
        for guild, local_date in pending:
            run = await self._claim(guild, local_date, now)
            if run is None:
                continue  # finished meanwhile, owned by another process, or waiting to be retried
            try:
                outcomes.append(await self.run_guild(guild, run))
            except asyncio.CancelledError:
                await self._release(guild.guild_id, local_date)  # the next start resumes it at once
                raise
            except PaperbotError as exc:  # e.g. no dated digest yet: the admin can fix it
                await self._finish(guild.guild_id, local_date, "failed", error=str(exc))
                outcomes.append(RunOutcome(guild.guild_id, local_date, "failed", error=str(exc)))
            except Exception as exc:  # a bug or a database error: logged, the others go on
                log.exception("roundup for guild %s failed", guild.guild_id)
                await self._finish(guild.guild_id, local_date, "failed", error=f"internal error ({type(exc).__name__})")
                outcomes.append(RunOutcome(guild.guild_id, local_date, "failed", error=str(exc)))
        return outcomes

    async def _claim(self, guild: GuildSettings, local_date: str, now: datetime) -> dict | None:
        """Take the run for this process, atomically; None when it is not ours to post now."""
        key = (guild.guild_id, local_date)
        lease = iso(now + timedelta(seconds=LEASE_S))
        async with self.db.transaction() as conn:
            async with conn.execute("SELECT * FROM roundup_runs WHERE guild_id = ? AND local_date = ?", key) as cursor:
                run = await cursor.fetchone()
            if run is None:
                await conn.execute(
                    "INSERT INTO roundup_runs (guild_id, local_date, status, channel_id, started_at, owner, lease_until) "
                    "VALUES (?, ?, 'sending', ?, ?, ?, ?)",
                    (*key, guild.channel_id, iso(now), self.owner, lease),
                )
            else:
                if run["status"] in FINISHED:
                    return None
                if run["owner"] not in (None, self.owner) and run["lease_until"] > iso(now):
                    return None
                if run["retry_at"] is not None and run["retry_at"] > iso(now):
                    return None
                if run["owner"] not in (None, self.owner):
                    log.warning("taking over the roundup of guild %s for %s from %s", *key, run["owner"])
                await conn.execute(
                    "UPDATE roundup_runs SET owner = ?, lease_until = ? WHERE guild_id = ? AND local_date = ?",
                    (self.owner, lease, *key),
                )
            async with conn.execute("SELECT * FROM roundup_runs WHERE guild_id = ? AND local_date = ?", key) as cursor:
                return dict(await cursor.fetchone())

    async def run_guild(self, guild: GuildSettings, run: dict) -> RunOutcome:
        """Post a claimed run: compose and store its blocks the first time, then send the rest."""
        local_date, channel_id = run["local_date"], run["channel_id"]
        resumed = run["blocks"] is not None
        try:
            await self.poster.check(channel_id)  # before the roundup is built (and paid for)
            if not resumed:
                run |= await self._compose(guild, local_date)
            else:
                log.warning("resuming the unfinished roundup of guild %s for %s", guild.guild_id, local_date)
            posts = stored_posts(run)
            sent = len(json.loads(run["message_ids"]))
            if resumed and sent < len(posts):
                started_at = datetime.fromisoformat(run["started_at"].replace("Z", "+00:00"))
                sent = await self._already_sent(guild.guild_id, local_date, channel_id, started_at, posts, sent)
            for post in posts[sent:]:
                message_id = await self.poster.send(channel_id, post.text, post.paper)
                await self._record_sent(guild.guild_id, local_date, message_id, post.paper)
        except LostRun:
            log.warning("lost the roundup of guild %s for %s to another process", guild.guild_id, local_date)
            return RunOutcome(guild.guild_id, local_date, "sending")
        except ChannelUnavailable as exc:
            log.warning("roundup of guild %s not posted: %s", guild.guild_id, exc)
            await self._finish(guild.guild_id, local_date, "failed", error=str(exc))
            return RunOutcome(guild.guild_id, local_date, "failed", error=str(exc))
        except TransientPostError as exc:
            return await self._retry_later(guild.guild_id, local_date, run["attempts"] + 1, str(exc))
        await self._finish(guild.guild_id, local_date, run["outcome"])
        return RunOutcome(guild.guild_id, local_date, run["outcome"], messages=len(posts))

    async def _compose(self, guild: GuildSettings, local_date: str) -> dict:
        """Build the roundup and store its blocks with the run; returns the stored columns."""
        roundup = await build_roundup(
            self.library,
            lang=guild.lang,
            limit=guild.max_papers,
            topic=guild.topic,
            caller=Caller("roundup", guild_id=guild.guild_id),
            on_or_before=local_date,
            rank_for_guild=guild.guild_id if guild.rank_by_group_votes else None,
            in_server=True,
        )
        previous = await self.db.fetchval(
            "SELECT digest_date FROM roundup_runs WHERE guild_id = ? AND status = 'done' AND local_date < ? "
            "ORDER BY local_date DESC LIMIT 1",
            (guild.guild_id, local_date),
        )
        posts = roundup.posts
        has_news = bool(posts) and roundup.date != previous
        if not has_news:
            posts = [RoundupBlock(EMPTY_DAY_NOTE, [])] if guild.note_when_empty else []
        # the daily line for members whose DMs are closed (their watch matches), on a day
        # without news too: it is the only way those members hear of them
        deliveries = await roundup_deliveries(self.db, guild.guild_id)
        posts += [RoundupBlock(line, []) for line in roundup_watch_line(deliveries)]
        stored = {"blocks": json.dumps([post.text for post in posts], ensure_ascii=False),
                  "block_papers": json.dumps([post.papers for post in posts]),
                  "outcome": "done" if has_news else "empty", "digest_date": roundup.date}
        async with self.db.transaction() as conn:
            cursor = await conn.execute(
                "UPDATE roundup_runs SET blocks = ?, block_papers = ?, outcome = ?, digest_date = ? "
                "WHERE guild_id = ? AND local_date = ? AND owner = ?",
                (stored["blocks"], stored["block_papers"], stored["outcome"], stored["digest_date"],
                 guild.guild_id, local_date, self.owner),
            )
            if cursor.rowcount != 1:
                raise LostRun()
            await hand_out(conn, deliveries)  # with the run that carries them: once, never lost
        return stored

    async def _record_sent(self, guild_id: str, local_date: str, message_id: str, paper_id: int | None) -> None:
        """Add a sent message (an entry's: tied to its paper, for reactions) and renew the lease;
        LostRun if another process owns the run now."""
        async with self.db.transaction() as conn:
            if paper_id is not None:  # the message is real whoever owns the run now
                await remember_paper_message(conn, guild_id, message_id, paper_id)
            cursor = await conn.execute(
                "UPDATE roundup_runs SET message_ids = json_insert(message_ids, '$[#]', ?), lease_until = ? "
                "WHERE guild_id = ? AND local_date = ? AND owner = ?",
                (message_id, iso(self.clock() + timedelta(seconds=LEASE_S)), guild_id, local_date, self.owner),
            )
            owned = cursor.rowcount == 1
        if not owned:  # raised after the commit: the paper's message is kept
            raise LostRun()

    async def _already_sent(
        self, guild_id: str, local_date: str, channel_id: str, since: datetime, posts: list[RoundupBlock], recorded: int
    ) -> int:
        """How many leading blocks of an interrupted run are already in the channel; those found
        there are recorded now, with their messages' ids."""
        posted = {content: message_id for message_id, content in await self.poster.sent_since(channel_id, since)}
        seen = recorded
        while seen < len(posts) and posts[seen].text in posted:
            await self._record_sent(guild_id, local_date, posted[posts[seen].text], posts[seen].paper)
            seen += 1
        return seen

    async def _retry_later(self, guild_id: str, local_date: str, attempts: int, error: str) -> RunOutcome:
        if attempts >= self.max_attempts:
            log.warning("roundup of guild %s failed %d times: %s", guild_id, attempts, error)
            await self._finish(guild_id, local_date, "failed", error=f"{error} (after {attempts} attempts)")
            return RunOutcome(guild_id, local_date, "failed", error=error)
        retry_at = self.clock() + timedelta(seconds=self.retry_s * 2 ** (attempts - 1))
        log.warning("roundup of guild %s: %s; retrying at %s", guild_id, error, iso(retry_at))
        await self.db.execute(
            "UPDATE roundup_runs SET attempts = ?, retry_at = ?, error = ?, owner = NULL, lease_until = NULL "
            "WHERE guild_id = ? AND local_date = ?",
            (attempts, iso(retry_at), error, guild_id, local_date),
        )
        return RunOutcome(guild_id, local_date, "sending", error=error)

    async def _release(self, guild_id: str, local_date: str) -> None:
        await self.db.execute(
            "UPDATE roundup_runs SET owner = NULL, lease_until = NULL WHERE guild_id = ? AND local_date = ? AND owner = ?",
            (guild_id, local_date, self.owner),
        )

    async def _finish(self, guild_id: str, local_date: str, status: str, *, error: str | None = None) -> None:
        await self.db.execute(
            "UPDATE roundup_runs SET status = ?, error = ?, finished_at = ?, lease_until = NULL, "
            "retry_at = NULL WHERE guild_id = ? AND local_date = ?",
            (status, error, iso(self.clock()), guild_id, local_date),
        )

    async def run_forever(self) -> None:
        """Check every `tick_s` seconds until `stop()`; a tick in progress is not cut short here
        (the caller bounds how long it waits for one at shutdown)."""
        while not self._stopping.is_set():
            try:
                await self.run_due()
            except Exception:
                log.exception("the roundup scheduler tick failed")
            try:
                await asyncio.wait_for(self._stopping.wait(), self.tick_s)
            except TimeoutError:
                pass

    def stop(self) -> None:
        self._stopping.set()

    async def stopped(self) -> None:
        await self._stopping.wait()
