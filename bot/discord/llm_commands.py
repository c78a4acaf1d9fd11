"""What every command that may call the LLM shares: who is asking (for the usage ledger and
the per-guild budget) and the per-user cooldown."""

from __future__ import annotations

from discord.ext import commands

from bot.llm.client import Caller


def caller_for(ctx: commands.Context, feature: str) -> Caller:
    return Caller(feature, str(ctx.guild.id) if ctx.guild else None, str(ctx.author.id))


def llm_cooldown():
    """One use per user per `PAPERBOT_LLM_COOLDOWN` seconds."""
    return commands.dynamic_cooldown(
        lambda ctx: commands.Cooldown(1, ctx.bot.settings.llm_cooldown_s), commands.BucketType.user
    )
