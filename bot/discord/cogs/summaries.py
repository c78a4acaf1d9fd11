"""Fresh summaries in the reader's language: /summarize."""

from __future__ import annotations

from typing import Literal

import discord
from discord import app_commands
from discord.ext import commands

from bot.corpus.text import parse_arxiv_id_exact
from bot.discord.choices import LANGUAGE_CHOICES, paper_choices
from bot.discord.llm_commands import caller_for, llm_cooldown
from bot.services.messages import summary_messages
from bot.services.summaries import summarize


STYLES = ("brief", "structured")


def split_paper_line(line: str) -> tuple[str, list[str]]:
    """A paper named by id (or `t-` key) is one word and the words after it are options; a
    paper named by title takes the whole line (`summarize attention is all you need`)."""
    first, _, rest = line.strip().partition(" ")
    if parse_arxiv_id_exact(first) or first.startswith("t-"):
        return first, rest.split()
    return line.strip(), []


class Summaries(commands.Cog):
    def __init__(self, bot):
        self.bot = bot

    @commands.hybrid_command(description="A summary of one paper in your language, written once and kept")
    @app_commands.choices(language=LANGUAGE_CHOICES)
    @app_commands.describe(
        paper="An arXiv id (any form) or a title",
        language="Language tag: en, zh, zh-Hant, ko, ja, de ...",
        style="brief: 3-5 sentences; structured: problem, method, findings, significance, figures",
        fresh="Write a new one even if one is stored",
    )
    @commands.guild_only()
    @llm_cooldown()
    async def summarize(
        self,
        ctx: commands.Context,
        *,
        paper: str,
        language: str = "en",
        style: Literal["brief", "structured"] = "brief",
        fresh: bool = False,
    ) -> None:
        if ctx.interaction is None:  # the text form: one line, `PAPER [LANGUAGE] [STYLE] [fresh]`
            paper, words = split_paper_line(paper)
            for word in words:
                if word in STYLES:
                    style = word
                elif word == "fresh":
                    fresh = True
                else:
                    language = word
        await ctx.defer()
        result = await summarize(
            self.bot.lib, paper, lang=language, style=style, fresh=fresh, caller=caller_for(ctx, "summarize")
        )
        for message in summary_messages(result):
            await ctx.send(message)

    @summarize.autocomplete("paper")
    async def summarize_paper(self, interaction: discord.Interaction, current: str):
        return await paper_choices(self.bot, current)



async def setup(bot) -> None:
    await bot.add_cog(Summaries(bot))
