"""The daily roundup of every server, at its local time, exactly once a day.

Exactly once, across crashes and restarts: a run is recorded as 'sending' before the first
message goes out, each message id is added as it is sent, and the run is marked 'done' after
the last. A run found 'sending' at start-up was interrupted: the channel's recent messages tell
which blocks already went out (a crash can fall between a send and its record), and only the
rest is sent. A day whose time has passed with no run is caught up the same day, never twice.

The chat layer supplies a `Poster`; this module has no Discord imports, and its clock is a
parameter so that tests can move time.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Protocol

from bot.llm.client import Caller
from bot.services.guilds import GuildSettings, scheduled_guilds
from bot.services.library import Library
from bot.services.roundup import build_roundup
from bot.store import Database

log = logging.getLogger(__name__)

FINISHED = ("done", "empty", "failed")
EMPTY_DAY_NOTE = "No new papers today."


class ChannelUnavailable(Exception):
    """The roundup channel is gone, or paperbot may not post there; the message says which."""


class Poster(Protocol):
    async def send(self, channel_id: str, text: str) -> str:
        """Post `text`; returns the message id. Raises ChannelUnavailable."""

    async def sent_since(self, channel_id: str, since: datetime) -> list[str]:
        """The contents of paperbot's own messages in the channel since `since`."""


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


def iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


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
    ):
        self.library = library
        self.db = library.db
        self.poster = poster
        self.clock = clock
        self.before_roundups = before_roundups  # e.g. fetch the digest sources
        self.tick_s = tick_s
        self._stopping = asyncio.Event()

    def is_due(self, guild: GuildSettings, now: datetime) -> bool:
        return now >= guild.scheduled_at(guild.local_date(now))

    async def run_due(self) -> list[RunOutcome]:
        """Post every roundup that is due and has not run today; one failing never stops the rest."""
        now = self.clock()
        due = []
        for guild in await scheduled_guilds(self.db):
            local_date = guild.local_date(now).isoformat()
            if self.is_due(guild, now) and not await ran_on(self.db, guild.guild_id, local_date):
                due.append((guild, local_date))
        if due and self.before_roundups is not None:
            try:
                await self.before_roundups()
            except Exception:  # stale digests are better than no roundup
                log.exception("fetching digest sources before the roundups failed")
        outcomes = []
        for guild, local_date in due:
            try:
                outcomes.append(await self.run_guild(guild, local_date, now))
            except Exception as exc:  # a bug or a database error: logged, the others go on
                log.exception("roundup for guild %s failed", guild.guild_id)
                await self._finish(guild.guild_id, local_date, "failed", error=f"internal error ({type(exc).__name__})")
                outcomes.append(RunOutcome(guild.guild_id, local_date, "failed", error=str(exc)))
        return outcomes

    async def run_guild(self, guild: GuildSettings, local_date: str, now: datetime) -> RunOutcome:
        run = await self.db.fetchone(
            "SELECT * FROM roundup_runs WHERE guild_id = ? AND local_date = ?", (guild.guild_id, local_date)
        )
        if run is not None and run["status"] in FINISHED:
            return RunOutcome(guild.guild_id, local_date, run["status"])
        if run is None:
            await self.db.execute(
                "INSERT INTO roundup_runs (guild_id, local_date, status, channel_id, started_at) "
                "VALUES (?, ?, 'sending', ?, ?)",
                (guild.guild_id, local_date, guild.channel_id, iso(now)),
            )
            started_at, channel_id = now, guild.channel_id
        else:
            log.warning("resuming the interrupted roundup of guild %s for %s", guild.guild_id, local_date)
            started_at = datetime.fromisoformat(run["started_at"].replace("Z", "+00:00"))
            channel_id = run["channel_id"]

        roundup = await build_roundup(
            self.library,
            lang=guild.lang,
            limit=guild.max_papers,
            topic=guild.topic,
            caller=Caller("roundup", guild_id=guild.guild_id),
        )
        previous = await self.db.fetchval(
            "SELECT digest_date FROM roundup_runs WHERE guild_id = ? AND status = 'done' AND local_date < ? "
            "ORDER BY local_date DESC LIMIT 1",
            (guild.guild_id, local_date),
        )
        has_news = bool(roundup.blocks) and roundup.date != previous
        if has_news:
            blocks = roundup.blocks
        else:
            blocks = [EMPTY_DAY_NOTE] if guild.note_when_empty else []
        status = "done" if has_news else "empty"
        try:
            sent = 0
            if blocks and run is not None:
                sent = await self._already_sent(channel_id, started_at, blocks, run)
            for block in blocks[sent:]:
                message_id = await self.poster.send(channel_id, block)
                await self.db.execute(
                    "UPDATE roundup_runs SET message_ids = json_insert(message_ids, '$[#]', ?) "
                    "WHERE guild_id = ? AND local_date = ?",
                    (message_id, guild.guild_id, local_date),
                )
        except ChannelUnavailable as exc:
            log.warning("roundup of guild %s not posted: %s", guild.guild_id, exc)
            await self._finish(guild.guild_id, local_date, "failed", error=str(exc))
            return RunOutcome(guild.guild_id, local_date, "failed", error=str(exc))
        await self._finish(guild.guild_id, local_date, status, digest_date=roundup.date)
        return RunOutcome(guild.guild_id, local_date, status, messages=len(blocks))

    async def _already_sent(self, channel_id: str, since: datetime, blocks: list[str], run) -> int:
        """How many leading blocks of an interrupted run are already in the channel."""
        recorded = len(json.loads(run["message_ids"]))
        posted = set(await self.poster.sent_since(channel_id, since))
        seen = 0
        while seen < len(blocks) and blocks[seen] in posted:
            seen += 1
        return max(recorded, seen)

    async def _finish(self, guild_id: str, local_date: str, status: str, *, error: str | None = None, digest_date: str | None = None) -> None:
        await self.db.execute(
            "UPDATE roundup_runs SET status = ?, error = ?, digest_date = coalesce(?, digest_date), "
            "finished_at = ? WHERE guild_id = ? AND local_date = ?",
            (status, error, digest_date, iso(self.clock()), guild_id, local_date),
        )

    async def run_forever(self) -> None:
        """Check every `tick_s` seconds until `stop()`; a tick in progress is never cut short,
        so a roundup being posted at shutdown is finished."""
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
