"""Buttons on a paper's message: "Discuss" and "Read in my language".

They are dynamic items: the paper is in the button's custom id (`pb:discuss:123`), so a button
posted yesterday still works after a restart. Clicks are handled by the reading cog.
"""

from __future__ import annotations

import re

import discord


class PaperButton(discord.ui.DynamicItem[discord.ui.Button], template=r"pb:(?P<action>discuss|read):(?P<paper>\d+)"):
    LABELS = {"discuss": ("Discuss", "💬"), "read": ("Read in my language", "🌐")}

    def __init__(self, action: str, paper_id: int):
        label, emoji = self.LABELS[action]
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
