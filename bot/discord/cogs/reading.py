"""The group's reading room on Discord: votes by reaction, reading lists, top papers, each
member's language, watches delivered by DM, and a discussion thread per paper.

- 👍 and 🔖 on a paper's message (a /paper card, a roundup entry, a discussion's first message)
  vote and save.
- "Discuss" opens (or points to) the paper's thread in that channel; messages in the thread
  that the bot can read (mentions, or all with the message-content intent) are answered about
  the paper, with the thread's recent messages as context, under the /ask cooldown and budgets.
- "Read in my language" answers privately in the member's language (/me language, else their
  Discord client's), from the store when possible.
- New papers are matched against watches every PAPERBOT_WATCH_INTERVAL seconds, whatever
  brought them; matches go by DM, or to the roundup's daily line when a member's DMs are closed.
"""

from __future__ import annotations

import asyncio
import logging
import re

import discord
from discord import app_commands
from discord.ext import commands

from bot.discord.choices import LANGUAGE_CHOICES, paper_choices
from bot.discord.llm_commands import caller_in
from bot.discord.replies import reply_for
from bot.discord.views import PaperButton, paper_buttons
from bot.services import reading_messages as render
from bot.services import votes, watches
from bot.services.chunks import fit
from bot.services.discussion import RECENT_TURNS, Turn, discuss, paper_of_thread, remember_thread, thread_for
from bot.services.members import Member, forget_member, language_line, member_language, reading_language, set_member_language
from bot.services.messages import answer_messages
from bot.services.papers import paper_detail
from bot.services.translations import read_in_language

log = logging.getLogger(__name__)
THREAD_ARCHIVE_MINUTES = 10080  # a week without messages


def member_of(ctx: commands.Context) -> Member:
    return Member(str(ctx.guild.id), str(ctx.author.id))


class DirectMessages:
    """Watch matches by DM; False when the member does not accept DMs from the bot."""

    def __init__(self, bot: commands.Bot):
        self.bot = bot

    async def send_direct(self, member: Member, delivery: watches.Delivery) -> bool:
        guild = self.bot.get_guild(int(member.guild_id))
        try:
            channel = await self.bot.create_dm(discord.Object(int(member.user_id)))
            for message in render.delivery_messages(delivery, guild.name if guild else None):
                await channel.send(message)
        except discord.Forbidden:
            return False
        return True


class Reading(commands.Cog):
    def __init__(self, bot):
        self.bot = bot
        self.cooldowns = commands.CooldownMapping.from_cooldown(1, bot.settings.llm_cooldown_s, commands.BucketType.user)
        self._watching: asyncio.Task | None = None

    async def cog_load(self) -> None:
        self.bot.add_dynamic_items(PaperButton)
        self._watching = asyncio.create_task(self._deliver_watches(), name="watches")

    async def cog_unload(self) -> None:
        if self._watching:
            self._watching.cancel()
            await asyncio.gather(self._watching, return_exceptions=True)

    async def _deliver_watches(self) -> None:
        await self.bot.wait_until_ready()
        while True:
            await asyncio.sleep(self.bot.settings.watch_interval_s)
            try:
                guilds = [str(guild.id) for guild in self.bot.guilds]
                await watches.deliver_pending(self.bot.lib, DirectMessages(self.bot), guilds)
            except Exception:
                log.exception("delivering watch matches failed")

    # --- reactions ----------------------------------------------------------------------------

    @commands.Cog.listener()
    async def on_raw_reaction_add(self, payload: discord.RawReactionActionEvent) -> None:
        await self._reaction(payload, True)

    @commands.Cog.listener()
    async def on_raw_reaction_remove(self, payload: discord.RawReactionActionEvent) -> None:
        await self._reaction(payload, False)

    async def _reaction(self, payload: discord.RawReactionActionEvent, added: bool) -> None:
        if payload.guild_id is None or (self.bot.user and payload.user_id == self.bot.user.id):
            return
        member = Member(str(payload.guild_id), str(payload.user_id))
        await votes.record_reaction(self.bot.lib.db, member, str(payload.message_id), str(payload.emoji), added)

    # --- buttons ------------------------------------------------------------------------------

    async def button_clicked(self, interaction: discord.Interaction, action: str, paper_id: int) -> None:
        try:
            if action == "discuss":
                await self.open_discussion(interaction, paper_id)
            else:
                await self.read_in_my_language(interaction, paper_id)
        except Exception as error:  # one line for the member; reply_for logs what is a bug
            text = reply_for(error)
            if interaction.response.is_done():
                await interaction.followup.send(text, ephemeral=True)
            else:
                await interaction.response.send_message(text, ephemeral=True)

    async def read_in_my_language(self, interaction: discord.Interaction, paper_id: int) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        lang = await reading_language(self.bot.lib.db, str(interaction.user.id), str(interaction.locale))
        caller = caller_in("read_in_language", interaction.guild_id, interaction.user.id)
        result = await read_in_language(self.bot.lib, paper_id, lang, caller=caller)
        for message in render.in_language_messages(result):
            await interaction.followup.send(message, ephemeral=True)

    async def open_discussion(self, interaction: discord.Interaction, paper_id: int) -> None:
        channel = interaction.channel
        if interaction.guild is None or not isinstance(channel, (discord.TextChannel, discord.Thread)):
            await interaction.response.send_message("Discussions open in a server's text channel.", ephemeral=True)
            return
        parent = channel.parent if isinstance(channel, discord.Thread) else channel
        db = self.bot.lib.db
        paper = await paper_detail(db, paper_id)
        existing = await thread_for(db, str(parent.id), paper_id)
        if existing and await self._thread_exists(int(existing)):
            await interaction.response.send_message(f"The discussion of this paper: <#{existing}>", ephemeral=True)
            return
        await interaction.response.defer(ephemeral=True, thinking=True)
        try:
            thread = await parent.create_thread(
                name=fit(paper.title, 100), type=discord.ChannelType.public_thread, auto_archive_duration=THREAD_ARCHIVE_MINUTES
            )
        except discord.Forbidden:
            await interaction.followup.send(
                "paperbot may not open threads here: it needs the Create Public Threads permission.", ephemeral=True
            )
            return
        await remember_thread(db, str(interaction.guild.id), str(parent.id), paper_id, str(thread.id))
        opening = await thread.send(
            f"💬 Discussion of {render.paper_line(paper)}\nAsk about the paper here (mention me if I do not answer). "
            "👍 = worth reading, 🔖 = save.",
            view=paper_buttons(paper_id),
        )
        await votes.remember_paper_message(db, str(interaction.guild.id), str(opening.id), paper_id)
        await interaction.followup.send(f"Opened <#{thread.id}> for this paper.", ephemeral=True)

    async def _thread_exists(self, thread_id: int) -> bool:
        if self.bot.get_channel(thread_id) is not None:
            return True
        try:
            await self.bot.fetch_channel(thread_id)
        except (discord.NotFound, discord.Forbidden):
            return False
        return True

    # --- questions in a discussion thread -----------------------------------------------------

    @commands.Cog.listener()
    async def on_message(self, message: discord.Message) -> None:
        if message.author.bot or message.guild is None or not message.content:
            return
        paper_id = await paper_of_thread(self.bot.lib.db, str(message.channel.id))
        if paper_id is None or (await self.bot.get_context(message)).valid:
            return  # not a discussion, or a command (answered by the command)
        question = re.sub(rf"<@!?{self.bot.user.id}>", "", message.content).strip()
        if not question:
            return
        retry_after = self.cooldowns.get_bucket(message).update_rate_limit()
        if retry_after:
            await message.reply(f"Slow down a little: try again in {retry_after:.0f} s.")
            return
        try:
            async with message.channel.typing():
                await self._answer_in_thread(message, paper_id, question)
        except Exception as error:
            await message.channel.send(reply_for(error))

    async def _answer_in_thread(self, message: discord.Message, paper_id: int, question: str) -> None:
        lib = self.bot.lib
        earlier = [m async for m in message.channel.history(limit=RECENT_TURNS, before=message)]
        exchange = [
            Turn("paperbot" if m.author.id == self.bot.user.id else m.author.display_name, m.content)
            for m in reversed(earlier)
            if m.content
        ]
        paper = await paper_detail(lib.db, paper_id)
        lang = await member_language(lib.db, str(message.author.id))
        caller = caller_in("discuss", message.guild.id, message.author.id)
        answer = await discuss(lib, paper, question, exchange, lang=lang, caller=caller)
        for text in answer_messages(answer):
            await message.channel.send(text)

    # --- commands -----------------------------------------------------------------------------

    @commands.hybrid_command(description="Save a paper to your reading list in this server")
    @app_commands.describe(paper="An arXiv id (any form) or a title")
    @commands.guild_only()
    async def save(self, ctx: commands.Context, *, paper: str) -> None:
        detail, changed = await votes.save(self.bot.lib.db, member_of(ctx), paper)
        await ctx.send(render.saved_message(detail, True, changed), ephemeral=True)

    @commands.hybrid_command(description="Take a paper off your reading list")
    @app_commands.describe(paper="An arXiv id (any form) or a title")
    @commands.guild_only()
    async def unsave(self, ctx: commands.Context, *, paper: str) -> None:
        detail, changed = await votes.unsave(self.bot.lib.db, member_of(ctx), paper)
        await ctx.send(render.saved_message(detail, False, changed), ephemeral=True)

    @save.autocomplete("paper")
    @unsave.autocomplete("paper")
    async def paper_autocomplete(self, interaction: discord.Interaction, current: str):
        return await paper_choices(self.bot, current)

    @commands.hybrid_command(description="Saved papers: yours, or another member's")
    @app_commands.describe(member="Whose reading list (default: yours)")
    @commands.guild_only()
    async def readinglist(self, ctx: commands.Context, member: discord.Member | None = None) -> None:
        whose = member or ctx.author
        saved = await votes.reading_list(self.bot.lib.db, Member(str(ctx.guild.id), str(whose.id)))
        label = "Your" if whose == ctx.author else f"{whose.display_name}'s"
        for message in render.reading_list_messages(saved, label):
            await ctx.send(message, ephemeral=True)

    @commands.hybrid_command(description="The papers this server voted for (👍) in the last days")
    @app_commands.describe(days="The period, in days (1-366)", topic="Only papers whose topic or title has this")
    @commands.guild_only()
    async def top(self, ctx: commands.Context, days: commands.Range[int, 1, 366] = votes.TOP_DAYS, *, topic: str | None = None) -> None:
        papers = await votes.top(self.bot.lib.db, str(ctx.guild.id), days=days, topic=topic)
        for message in render.top_messages(papers, days, topic):
            await ctx.send(message)

    @commands.hybrid_group(fallback="show", description="Your language, or forget everything about you")
    @commands.guild_only()
    async def me(self, ctx: commands.Context) -> None:
        await ctx.send(language_line(await member_language(self.bot.lib.db, str(ctx.author.id))), ephemeral=True)

    @me.command(name="language", description="The language you read paperbot in")
    @app_commands.choices(language=LANGUAGE_CHOICES)
    @app_commands.describe(language="Your language")
    async def me_language(self, ctx: commands.Context, language: str) -> None:
        lang = await set_member_language(self.bot.lib.db, str(ctx.author.id), language)
        await ctx.send(language_line(lang), ephemeral=True)

    @me.command(name="forget", description="Delete everything paperbot keeps about you, in every server")
    async def me_forget(self, ctx: commands.Context) -> None:
        removed = await forget_member(self.bot.lib.db, str(ctx.author.id))
        await ctx.send(f"Forgotten: {removed} records about you (votes, reading lists, watches, language) deleted.", ephemeral=True)

    @commands.hybrid_group(fallback="list", description="Topics and authors you hear about when new papers arrive")
    @commands.guild_only()
    async def watch(self, ctx: commands.Context) -> None:
        for message in render.watch_list_messages(await watches.list_watches(self.bot.lib.db, member_of(ctx))):
            await ctx.send(message, ephemeral=True)

    @watch.command(name="add", description="Hear about new papers on a topic or by an author (any language)")
    @app_commands.describe(topic="A topic or an author's name")
    async def watch_add(self, ctx: commands.Context, *, topic: str) -> None:
        await ctx.defer(ephemeral=True)  # the topic is embedded now, which may take a moment
        added = await watches.add_watch(self.bot.lib, member_of(ctx), topic)
        await ctx.send(f"🔔 Watching “{added.query}”: new papers that match come to you by DM.", ephemeral=True)

    @watch.command(name="remove", description="Stop a watch")
    @app_commands.describe(which="Its number in /watch list, or its text")
    async def watch_remove(self, ctx: commands.Context, *, which: str) -> None:
        removed = await watches.remove_watch(self.bot.lib.db, member_of(ctx), which)
        await ctx.send(f"No longer watching “{removed.query}”.", ephemeral=True)


async def setup(bot) -> None:
    await bot.add_cog(Reading(bot))
