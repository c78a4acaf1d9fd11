"""The daily roundup: /roundup on demand, and the schedule that posts it to each server.

The scheduler and the digest-source fetcher start when this cog loads (once, from
`setup_hook`) and stop when it unloads, letting a roundup being posted finish. Fetched papers
are embedded in the background (bot/services/background_embedding.py), cancelled at unload.
"""

from __future__ import annotations

import asyncio
import logging

import discord
from discord import app_commands
from discord.ext import commands

from bot.discord.choices import LANGUAGE_CHOICES
from bot.discord.llm_commands import caller_for
from bot.services.guilds import get_settings, retire_departed
from bot.discord.posting import DiscordPoster
from bot.discord.views import paper_buttons
from bot.services.background_embedding import BackgroundEmbedding
from bot.services.roundup import ROUNDUP_LIMIT, build_roundup
from bot.services.scheduler import RoundupScheduler
from bot.services.sources import fetch_sources
from bot.services.votes import remember_paper_message

log = logging.getLogger(__name__)

SHUTDOWN_GRACE_S = 5.0  # how long a roundup being posted may take to finish at shutdown


def roundup_cooldown(ctx: commands.Context) -> commands.Cooldown:
    """One /roundup per server (in DMs: per member) per PAPERBOT_ROUNDUP_COOLDOWN seconds: each
    may write summaries with the LLM, and it posts several messages."""
    return commands.Cooldown(1, ctx.bot.settings.roundup_cooldown_s)


class Roundup(commands.Cog):
    def __init__(self, bot):
        self.bot = bot
        self.scheduler = RoundupScheduler(
            bot.lib,
            DiscordPoster(bot),
            clock=bot.clock,
            before_roundups=self.fetch_sources,
            tick_s=bot.settings.scheduler_tick_s,
            max_attempts=bot.settings.roundup_attempts,
            retry_s=bot.settings.roundup_retry_s,
        )
        self._tasks: list[asyncio.Task] = []
        self._fetch_lock = asyncio.Lock()
        self.embedding = BackgroundEmbedding(bot.lib)  # fetched papers are embedded after the roundup

    async def cog_load(self) -> None:
        self._tasks = [
            asyncio.create_task(self._after_ready(self.scheduler.run_forever()), name="roundup-scheduler"),
            asyncio.create_task(self._fetch_periodically(), name="digest-sources"),
        ]

    async def cog_unload(self) -> None:
        """Stop within SHUTDOWN_GRACE_S from any state: a roundup being posted may finish its
        blocks in that time; a bot that never became ready has nothing to wait for."""
        self.scheduler.stop()
        self._tasks[1].cancel()
        done, pending = await asyncio.wait(self._tasks, timeout=SHUTDOWN_GRACE_S)
        for task in pending:
            log.warning("stopping %s without waiting for it to finish", task.get_name())
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.embedding.close()

    async def _after_ready(self, job) -> None:
        # channels must be known before posting; stopping before that point ends the wait
        ready = asyncio.ensure_future(self.bot.wait_until_ready())
        stopped = asyncio.ensure_future(self.scheduler.stopped())
        try:
            await asyncio.wait([ready, stopped], return_when=asyncio.FIRST_COMPLETED)
        finally:
            ready.cancel()
            stopped.cancel()
        if ready.done() and not ready.cancelled():
            await self._retire_departed_servers()
            await job
        else:
            job.close()

    async def _retire_departed_servers(self) -> None:
        """Before the first roundup: servers that removed paperbot while it was offline get no
        leave event, so compare the stored settings with the servers the gateway listed."""
        present = {str(guild.id) for guild in self.bot.guilds}  # unavailable ones (an outage) too
        try:
            departed = await retire_departed(self.bot.lib.db, present, self.scheduler.poster.serves)
        except Exception:  # the roundups can still go out; the check runs again at the next start
            log.exception("retiring the settings of servers paperbot has left failed")
            return
        for guild_id in departed:
            log.info("no longer in server %s; its roundup settings are retired", guild_id)

    async def fetch_sources(self) -> None:
        async with self._fetch_lock:
            for result in await fetch_sources(self.bot.lib, embedding=self.embedding):
                log.info("digest source: %s", result)

    async def _fetch_periodically(self) -> None:
        while True:
            try:
                await self.fetch_sources()
            except Exception:
                log.exception("fetching digest sources failed")
            await asyncio.sleep(self.bot.settings.sources_interval_min * 60)

    @commands.hybrid_command(description="The papers of one digest date, each with a short summary")
    @commands.dynamic_cooldown(roundup_cooldown, commands.BucketType.guild)
    @app_commands.choices(language=LANGUAGE_CHOICES)
    @app_commands.describe(
        date="Digest date YYYY-MM-DD (default: the latest)",
        language="Language of the summaries",
        limit="How many papers (1-25)",
        topic="Only papers under a topic containing this text",
    )
    async def roundup(
        self,
        ctx: commands.Context,
        date: str | None = None,
        language: str = "en",
        limit: commands.Range[int, 1, 25] = ROUNDUP_LIMIT,
        topic: str | None = None,
    ) -> None:
        await ctx.defer()
        # the latest digest dated on or before this server's local today (UTC in DMs)
        today = self.bot.clock().date().isoformat()
        if ctx.guild is not None:
            today = (await get_settings(self.bot.lib.db, str(ctx.guild.id))).local_date(self.bot.clock()).isoformat()
        result = await build_roundup(
            self.bot.lib, day=date, lang=language, limit=limit, topic=topic, caller=caller_for(ctx, "roundup"),
            on_or_before=today, in_server=ctx.guild is not None,
        )
        if not result.posts:
            await ctx.send(result.empty_message)
            return
        for post in result.posts:  # as the scheduled roundup: a header, then a message per entry
            if post.paper is None:
                await ctx.send(post.text)
                continue
            message = await ctx.send(post.text, view=paper_buttons(post.paper))
            if ctx.guild is not None:  # 👍 and 🔖 on it count for its paper
                await remember_paper_message(self.bot.lib.db, str(ctx.guild.id), str(message.id), post.paper)


async def setup(bot) -> None:
    await bot.add_cog(Roundup(bot))
