"""Buttons on a paper's message (a /paper card, a roundup entry): "Discuss" and "Read in my
language"; under an answer, a numbered "Read" per source.

They are dynamic items: the paper is in the button's custom id (`pb:discuss:123`), so a button
posted yesterday still works after a restart. Clicks are handled by the reading cog.
"""

from __future__ import annotations

import re

import discord

ENTRIES_PER_ROW = 5  # Discord: 5 buttons a row, 5 rows a message
MAX_ROWS = 5


class PaperButton(discord.ui.DynamicItem[discord.ui.Button], template=r"pb:(?P<action>discuss|read):(?P<paper>\d+)"):
    LABELS = {"discuss": ("Discuss", "💬"), "read": ("Read in my language", "🌐")}

    def __init__(self, action: str, paper_id: int, number: int | None = None):
        label, emoji = self.LABELS[action]
        if number is not None:  # one of several papers in a message: its entry's number
            label = f"{label.split()[0]} {number}"
        super().__init__(
            discord.ui.Button(
                label=label, emoji=emoji, style=discord.ButtonStyle.secondary, custom_id=f"pb:{action}:{paper_id}"
            )
        )
        self.action, self.paper_id = action, paper_id

    @classmethod
    async def from_custom_id(cls, interaction: discord.Interaction, item: discord.ui.Button, match: re.Match[str]):
        return cls(match["action"], int(match["paper"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        reading = interaction.client.get_cog("Reading")
        await reading.button_clicked(interaction, self.action, self.paper_id)


def paper_buttons(paper_id: int) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    view.add_item(PaperButton("discuss", paper_id))
    view.add_item(PaperButton("read", paper_id))
    return view


def read_buttons(paper_ids: list[int]) -> discord.ui.View | None:
    """"Read in my language" for each of several papers (an answer's sources), numbered in order."""
    if not paper_ids:
        return None
    view = discord.ui.View(timeout=None)
    for number, paper_id in enumerate(paper_ids[: ENTRIES_PER_ROW * MAX_ROWS], start=1):
        view.add_item(PaperButton("read", paper_id, number))
    return view
