"""Questions about papers: /ask, answered from the library with citations, streamed."""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import timedelta

import discord
from discord import app_commands
from discord.ext import commands

from bot.discord.choices import LANGUAGE_CHOICES, paper_choices
from bot.discord.llm_commands import caller_for, llm_cooldown
from bot.discord.views import read_buttons
from bot.services import qa
from bot.services.chunks import CHAT_LIMIT, fit
from bot.services.messages import answer_messages

log = logging.getLogger(__name__)

# Discord allows 5 edits of a message per 5 s; 4 leave room for the final text
EDIT_INTERVAL_S = 1.25
TOKEN_LIFETIME = timedelta(minutes=15)  # an interaction's token: no edits or follow-ups after it
PREVIEW_MARGIN = timedelta(minutes=1)  # live previews stop this long before the token ends
DELIVERY_MARGIN = timedelta(seconds=10)  # past this, the answer goes to the channel instead


class StreamedReply:
    """One message that shows an answer as it arrives.

    The LLM's callback only records the text; a separate edit task shows it, at most one edit
    per EDIT_INTERVAL_S, so a slow or failing Discord edit never holds up the LLM stream (nor
    counts against its deadline). Previews stop before the interaction token expires."""

    def __init__(self, ctx: commands.Context):
        self.ctx = ctx
        self.message: discord.Message | None = None
        self._text = ""
        self._changed = asyncio.Event()
        self._finished = False
        self._editor: asyncio.Task | None = None
        self._last_edit = float("-inf")

    def _token_left(self) -> timedelta:
        interaction = self.ctx.interaction
        if interaction is None:
            return TOKEN_LIFETIME  # a text command's messages belong to the bot: no token
        return interaction.created_at + TOKEN_LIFETIME - discord.utils.utcnow()

    async def update(self, text: str) -> None:
        self._text = text
        self._changed.set()
        if self._editor is None:
            self._editor = asyncio.create_task(self._edit_while_streaming())

    async def _pace(self) -> None:
        wait = self._last_edit + EDIT_INTERVAL_S - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)

    async def _edit_while_streaming(self) -> None:
        while True:
            await self._changed.wait()
            self._changed.clear()
            await self._pace()
            if self._finished or self._token_left() < PREVIEW_MARGIN:
                return
            try:
                await self._show(fit(self._text, CHAT_LIMIT - 2) + " ▌")
            except discord.HTTPException as exc:  # the final text is still sent
                log.warning("a live preview edit failed: %s", exc)

    async def _show(self, text: str, view: discord.ui.View | None = None) -> None:
        extra = {} if view is None else {"view": view}
        if self.message is None:
            self.message = await self.ctx.send(text, **extra)
        else:
            await self.message.edit(content=text, **extra)
        self._last_edit = time.monotonic()  # after the edit: pacing counts from when it landed

    async def stop(self) -> None:
        """End the previews; an edit in flight lands first."""
        self._finished = True
        self._changed.set()
        if self._editor is not None:
            await asyncio.gather(self._editor, return_exceptions=True)

    async def finish(self, messages: list[str], view: discord.ui.View | None = None) -> None:
        """The answer's messages, `view` (buttons) on the last."""
        await self.stop()
        await self._pace()
        views = [None] * (len(messages) - 1) + [view]
        if self._token_left() < DELIVERY_MARGIN:
            for message, buttons in zip(messages, views):  # the token is (nearly) gone: the channel still takes it
                await self.ctx.channel.send(message, **({} if buttons is None else {"view": buttons}))
            return
        await self._show(messages[0], views[0])
        for message, buttons in zip(messages[1:], views[1:]):
            await self.ctx.send(message, **({} if buttons is None else {"view": buttons}))


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
    async def ask(
        self, ctx: commands.Context, *, question: str, paper: str | None = None, language: str | None = None
    ) -> None:
        # keyword-only: the text form takes the rest of the line as the question
        await ctx.defer()
        caller = caller_for(ctx, "ask")
        gathered = await qa.gather(self.bot.lib, question, paper_ref=paper, lang=language, caller=caller)
        reply = StreamedReply(ctx)
        try:
            answer = await qa.answer(self.bot.lib, gathered, caller=caller, on_text=reply.update)
        finally:
            await reply.stop()
        # the last message offers each source privately in the reader's language
        await reply.finish(answer_messages(answer), view=read_buttons([paper.id for paper in answer.citations]))

    @ask.autocomplete("paper")
    async def ask_paper(self, interaction: discord.Interaction, current: str):
        return await paper_choices(self.bot, current)



async def setup(bot) -> None:
    await bot.add_cog(Questions(bot))
