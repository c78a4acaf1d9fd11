"""Questions about papers: /ask, answered from the library with citations, streamed."""

from __future__ import annotations

import time

import discord
from discord import app_commands
from discord.ext import commands

from bot.discord.choices import LANGUAGE_CHOICES, paper_choices
from bot.discord.llm_commands import caller_for, llm_cooldown
from bot.services import qa
from bot.services.chunks import CHAT_LIMIT, fit
from bot.services.messages import answer_messages

EDIT_INTERVAL_S = 1.0  # Discord rate-limits edits; about one a second reads as live


class StreamedReply:
    """One message that shows an answer as it arrives, edited at most once a second."""

    def __init__(self, ctx: commands.Context):
        self.ctx = ctx
        self.message: discord.Message | None = None
        self._last_edit = 0.0

    async def _show(self, text: str) -> None:
        if self.message is None:
            self.message = await self.ctx.send(text)
        else:
            await self.message.edit(content=text)
        self._last_edit = time.monotonic()

    async def update(self, text: str) -> None:
        if time.monotonic() - self._last_edit >= EDIT_INTERVAL_S:
            await self._show(fit(text, CHAT_LIMIT - 2) + " ▌")

    async def finish(self, messages: list[str]) -> None:
        await self._show(messages[0])
        for message in messages[1:]:
            await self.ctx.send(message)


class Questions(commands.Cog):
    def __init__(self, bot):
        self.bot = bot

    @commands.hybrid_command(description="Ask about the papers in the library; the answer cites them")
    @app_commands.choices(language=LANGUAGE_CHOICES)
    @app_commands.describe(
        question="Your question, in any language",
        paper="Answer from this paper's full text (id or title)",
        language="Answer in this language (default: your question's)",
    )
    @commands.guild_only()
    @llm_cooldown()
    async def ask(self, ctx: commands.Context, question: str, paper: str | None = None, language: str | None = None) -> None:
        await ctx.defer()
        caller = caller_for(ctx, "ask")
        gathered = await qa.gather(self.bot.lib, question, paper_ref=paper, lang=language, caller=caller)
        reply = StreamedReply(ctx)
        answer = await qa.answer(self.bot.lib, gathered, caller=caller, on_text=reply.update)
        await reply.finish(answer_messages(answer))

    @ask.autocomplete("paper")
    async def ask_paper(self, interaction: discord.Interaction, current: str):
        return await paper_choices(self.bot, current)



async def setup(bot) -> None:
    await bot.add_cog(Questions(bot))
