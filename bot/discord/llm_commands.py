"""What every command that may call the LLM shares: who is asking (for the usage ledger and
the per-guild budget) and the per-user cooldown."""

from __future__ import annotations

from discord.ext import commands

from bot.llm.client import Caller


def budget_key(ctx: commands.Context) -> str:
    """Whose daily budget a request spends: the server's, or in direct messages the member's
    own (each DM conversation is budgeted like a server, so DMs are no way around it)."""
    return str(ctx.guild.id) if ctx.guild else f"dm:{ctx.author.id}"


def caller_for(ctx: commands.Context, feature: str) -> Caller:
    return Caller(feature, budget_key(ctx), str(ctx.author.id))


def llm_cooldown():
    """One use per user per `PAPERBOT_LLM_COOLDOWN` seconds."""
    return commands.dynamic_cooldown(
        lambda ctx: commands.Cooldown(1, ctx.bot.settings.llm_cooldown_s), commands.BucketType.user
    )
