"""Finding papers: /search, and /paper with related papers."""

from __future__ import annotations

from typing import Literal

import discord
from discord import app_commands
from discord.ext import commands

from bot.discord.choices import paper_choices
from bot.discord.render import paper_embed, results_embed
from bot.discord.views import paper_buttons
from bot.services.search import SEARCH_LIMIT, paper_with_related, search_papers
from bot.services.votes import remember_paper_message

class Papers(commands.Cog):
    def __init__(self, bot):
        self.bot = bot

    @commands.hybrid_command(description="Search the library by meaning and keywords, in any language")
    @app_commands.describe(query="What you are looking for, in your own words", mode="How to rank", limit="How many papers (1-20)")
    async def search(
        self,
        ctx: commands.Context,
        *,
        query: str,
        mode: Literal["hybrid", "lexical", "semantic"] = "hybrid",
        limit: commands.Range[int, 1, 20] = SEARCH_LIMIT,
    ) -> None:
        await ctx.defer()
        results = await search_papers(self.bot.lib, query, limit=limit, mode=mode)
        await ctx.send(embed=results_embed(query, results))

    @commands.hybrid_command(description="Everything paperbot knows about one paper, with related papers")
    @app_commands.describe(paper="An arXiv id (any form) or a title")
    async def paper(self, ctx: commands.Context, *, paper: str) -> None:
        await ctx.defer()
        detail, related = await paper_with_related(self.bot.lib, paper)
        message = await ctx.send(embed=paper_embed(detail, related), view=paper_buttons(detail.id))
        if ctx.guild is not None:  # 👍 and 🔖 on the card vote for and save this paper
            await remember_paper_message(self.bot.lib.db, str(ctx.guild.id), str(message.id), detail.id)

    @paper.autocomplete("paper")
    async def paper_autocomplete(self, interaction: discord.Interaction, current: str):
        return await paper_choices(self.bot, current)


async def setup(bot) -> None:
    await bot.add_cog(Papers(bot))
