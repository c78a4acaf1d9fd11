"""Discord embeds for papers and search results, kept within Discord's limits.

Limits: title 256, description 4,096, 25 fields of name 256 and value 1,024, footer 2,048,
author 256, and 6,000 characters in all; at most 10 embeds per message.
"""

from __future__ import annotations

import discord

from bot.retrieval.search import SearchResult
from bot.services.chunks import escape_markdown, fit
from bot.services.messages import search_lines
from bot.services.papers import PaperDetail

EMBED_TOTAL = 6000
DESCRIPTION_LIMIT = 4096
FIELD_LIMIT = 1024
MAX_FIELDS = 25
COLOUR = discord.Colour.from_rgb(179, 27, 27)  # arXiv red


def add_field(embed: discord.Embed, name: str, value: str, *, inline: bool = False) -> None:
    """Add a field if there is room for it under every limit; cut its value to fit."""
    if not value or len(embed.fields) >= MAX_FIELDS:
        return
    room = EMBED_TOTAL - len(embed) - len(name[:256])
    if room < 20:
        return
    embed.add_field(name=name[:256], value=fit(value, min(FIELD_LIMIT, room)), inline=inline)


def paper_embed(detail: PaperDetail, related: list[SearchResult]) -> discord.Embed:
    embed = discord.Embed(
        title=fit(detail.title, 256),
        url=detail.url,
        description=fit(detail.abstract or "", DESCRIPTION_LIMIT) or None,
        colour=COLOUR,
    )
    if detail.authors:
        add_field(embed, "Authors", escape_markdown(", ".join(detail.authors)))
    if detail.published:
        add_field(embed, "Published", detail.published, inline=True)
    if detail.votes:
        add_field(embed, "Votes", str(detail.votes), inline=True)
    if detail.topics:
        add_field(embed, "Topics", escape_markdown(", ".join(detail.topics)), inline=True)
    code = [item["url"] for item in detail.links if item["kind"] == "code"]
    if code:
        add_field(embed, "Code", "\n".join(code[:3]))
    languages = sorted({s.lang for s in detail.summaries})
    if languages:
        add_field(embed, "Summaries", ", ".join(languages) + " · `/summarize` writes one in your language", inline=False)
    if related:
        add_field(embed, "Related papers", "\n".join(search_lines(related)))
    embed.set_footer(text=f"id {detail.key}" + (detail.arxiv_version or ""))
    return embed


def results_embed(query: str, results: list[SearchResult]) -> discord.Embed:
    lines = search_lines(results)
    description = ""
    for line in lines:
        if len(description) + len(line) + 1 > DESCRIPTION_LIMIT:
            break
        description += line + "\n"
    return discord.Embed(
        title=fit(f"Papers for “{query}”", 256),
        description=description or "No papers match.",
        colour=COLOUR,
    )

