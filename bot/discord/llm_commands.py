"""What every command that may call the LLM shares: who is asking (for the usage ledger and
the per-guild budget) and the per-user cooldown."""

from __future__ import annotations

from discord.ext import commands

from bot.llm.client import Caller


def caller_in(feature: str, guild_id: int | None, user_id: int) -> Caller:
    """Whose daily budget a request spends: the server's, or in direct messages the member's
    own (each DM conversation is budgeted like a server, so DMs are no way around it)."""
    if guild_id is None:
        return Caller(feature, f"dm:{user_id}", str(user_id), "your daily LLM token budget for direct messages")
    return Caller(feature, str(guild_id), str(user_id))


def caller_for(ctx: commands.Context, feature: str) -> Caller:
    return caller_in(feature, ctx.guild.id if ctx.guild else None, ctx.author.id)


def llm_cooldown():
    """One use per user per `PAPERBOT_LLM_COOLDOWN` seconds."""
    return commands.dynamic_cooldown(
        lambda ctx: commands.Cooldown(1, ctx.bot.settings.llm_cooldown_s), commands.BucketType.user
    )
