"""Server administration: /config (Manage Server only), /ingest, /usage, and the owner's sync."""

from __future__ import annotations

import logging

import discord
from discord import app_commands
from discord.ext import commands

from bot.discord.choices import LANGUAGE_CHOICES, timezone_choices
from bot.llm.ledger import tokens_spent_today
from bot.services.guilds import get_settings, update_settings, usage_today
from bot.services.ingest import FileReport, ingest_upload
from bot.services.language import language_name
from bot.services.scheduler import last_run, ran_on

log = logging.getLogger(__name__)


def describe_run(run: dict | None) -> str:
    if run is None:
        return "never"
    outcome = {"done": "posted", "empty": "no new papers", "failed": "FAILED", "sending": "not finished (resumed or retried)"}[run["status"]]
    text = f"{run['local_date']}: {outcome}"
    return text + (f" ({run['error']})" if run.get("error") else "")


def ingest_reply(filename: str, report: FileReport) -> str:
    if report.error:
        return f"{filename}: {report.error}"
    if report.already_ingested:
        return f"{filename} was already ingested; nothing changed."
    warnings = f" · {len(report.problems)} entries skipped (line {report.problems[0].line}: {report.problems[0].message})" if report.problems else ""
    return (
        f"{filename} ({report.format}, {report.digest_date or 'undated'}): {report.new} new papers, "
        f"{report.updated} updated, {report.summaries_added} summaries added{warnings}."
    )


class Admin(commands.Cog):
    def __init__(self, bot):
        self.bot = bot

    @commands.hybrid_group(name="config", description="paperbot's settings for this server", fallback="show")
    @commands.guild_only()
    @commands.has_guild_permissions(manage_guild=True)
    @app_commands.default_permissions(manage_guild=True)
    async def config(self, ctx: commands.Context) -> None:
        db = self.bot.lib.db
        settings = await get_settings(db, str(ctx.guild.id))
        now = self.bot.clock()
        ran = await ran_on(db, settings.guild_id, settings.local_date(now).isoformat())
        next_run = settings.next_run(now, ran)
        channel = f"<#{settings.channel_id}>" if settings.channel_id else "not set"
        lines = [
            "**paperbot settings**",
            f"Roundup: {'on' if settings.enabled else 'off'} · channel {channel}",
            f"Time: {settings.post_time} ({settings.tz})",
            f"Language: {language_name(settings.lang)} ({settings.lang})",
            f"Topic filter: {settings.topic or 'none'} · up to {settings.max_papers} papers",
            f"Note on days without new papers: {'yes' if settings.note_when_empty else 'no'}",
            f"Rank by the group's votes on related papers: {'yes' if settings.rank_by_group_votes else 'no'}",
            "Next run: " + (discord.utils.format_dt(next_run, "F") if next_run else "not scheduled"),
            "Last run: " + describe_run(await last_run(db, settings.guild_id)),
        ]
        await ctx.send("\n".join(lines), ephemeral=True)

    @config.command(name="set", description="Change where, when and how the daily roundup is posted")
    @commands.guild_only()
    @commands.has_guild_permissions(manage_guild=True)
    @app_commands.choices(language=LANGUAGE_CHOICES)
    @app_commands.describe(
        channel="Where the roundup goes",
        time="Local time of day, HH:MM",
        timezone="IANA time zone, e.g. Europe/Berlin",
        language="Language of the summaries",
        topic="Only papers under this topic (empty to clear)",
        max_papers="Papers per roundup (1-25)",
        enabled="Post the roundup every day",
        note_when_empty="Post a one-line note on days without new papers",
        rank_by_votes="Put first the papers closest to those members voted for (👍) before",
    )
    async def config_set(
        self,
        ctx: commands.Context,
        channel: discord.TextChannel | None = None,
        time: str | None = None,
        timezone: str | None = None,
        language: str | None = None,
        topic: str | None = None,
        max_papers: int | None = None,
        enabled: bool | None = None,
        note_when_empty: bool | None = None,
        rank_by_votes: bool | None = None,
    ) -> None:
        await update_settings(
            self.bot.lib.db,
            str(ctx.guild.id),
            channel_id=str(channel.id) if channel else None,
            post_time=time,
            tz=timezone,
            lang=language,
            topic=topic,
            max_papers=max_papers,
            enabled=enabled,
            note_when_empty=note_when_empty,
            rank_by_group_votes=rank_by_votes,
        )
        await self.config.callback(self, ctx)  # show the result

    @config_set.autocomplete("timezone")
    async def config_timezone(self, interaction: discord.Interaction, current: str):
        return timezone_choices(current)


    @commands.hybrid_command(description="Add a digest file to the library")
    @commands.guild_only()
    @commands.has_guild_permissions(manage_guild=True)
    @app_commands.default_permissions(manage_guild=True)
    @app_commands.describe(digest="A digest file (Markdown or text)")
    async def ingest(self, ctx: commands.Context, digest: discord.Attachment) -> None:
        limit = self.bot.settings.max_attachment_bytes
        if digest.size > limit:
            await ctx.send(f"{digest.filename} is {digest.size:,} bytes; the limit is {limit:,}.", ephemeral=True)
            return
        await ctx.defer()

        async def reply(report: FileReport) -> None:  # sent once stored; embedding goes on after
            await ctx.send(ingest_reply(digest.filename, report))

        await ingest_upload(self.bot.lib, await digest.read(), digest.filename, on_stored=reply)

    @commands.hybrid_command(description="LLM tokens this server used today, and its budget")
    @commands.guild_only()
    @commands.has_guild_permissions(manage_guild=True)
    @app_commands.default_permissions(manage_guild=True)
    async def usage(self, ctx: commands.Context) -> None:
        db = self.bot.lib.db
        guild_id = str(ctx.guild.id)
        spent = await tokens_spent_today(db, guild_id)
        budget = self.bot.settings.guild_daily_token_budget
        rows = await usage_today(db, guild_id)
        lines = [f"**LLM usage today (UTC)**: {spent:,} tokens" + (f" of {budget:,}" if budget else " (no budget set)")]
        lines += [f"{row['feature']}: {row['calls']} calls, {row['tokens']:,} tokens, ~${row['cost']}" for row in rows]
        await ctx.send("\n".join(lines), ephemeral=True)

    @commands.command(hidden=True)
    @commands.is_owner()
    async def sync(self, ctx: commands.Context, scope: str = "guild") -> None:
        """Sync slash commands to this server (instant) or `global` (all servers, slower)."""
        tree = self.bot.tree
        if scope == "global":
            synced = await tree.sync()
        elif ctx.guild is not None:
            tree.copy_global_to(guild=ctx.guild)
            synced = await tree.sync(guild=ctx.guild)
        else:
            raise commands.BadArgument("use `sync global` outside a server")
        await ctx.send(f"Synced {len(synced)} slash commands ({scope}).")


async def setup(bot) -> None:
    await bot.add_cog(Admin(bot))
