"""What a member sees when a command fails: one short line; the log gets the detail."""

from __future__ import annotations

import logging

import discord
from discord import app_commands
from discord.ext import commands

from bot.errors import PaperbotError

log = logging.getLogger(__name__)

REFUSAL = "Sorry, only members with the **Manage Server** permission can do that."


def unwrap(error: BaseException) -> BaseException:
    """The exception a command raised, out of discord.py's wrappers."""
    while isinstance(
        error, (commands.HybridCommandError, commands.CommandInvokeError, app_commands.CommandInvokeError)
    ) and getattr(error, "original", None) is not None:
        error = error.original
    return error


def reply_for(error: BaseException) -> str:
    error = unwrap(error)
    if isinstance(error, (commands.CommandOnCooldown, app_commands.CommandOnCooldown)):
        return f"Slow down a little: try again in {error.retry_after:.0f} s."
    if isinstance(error, (commands.MissingPermissions, app_commands.MissingPermissions)):
        return REFUSAL
    if isinstance(error, commands.NotOwner):
        return "Only the bot's owner can do that."
    if isinstance(error, (commands.NoPrivateMessage, app_commands.NoPrivateMessage)):
        return "This command works in a server, not in direct messages."
    if isinstance(error, commands.UserInputError):
        return str(error)
    if isinstance(error, PaperbotError):
        return str(error)
    log.error("command failed", exc_info=error)
    return "Something went wrong on paperbot's side; the error was logged."


async def retract_placeholder(interaction: discord.Interaction) -> None:
    """Delete a public "paperbot is thinking..." placeholder that nothing has filled yet.

    On Discord the first follow-up after a deferred response becomes that response, with its
    visibility: an ephemeral flag is ignored, so an error would be shown to everyone. Once the
    placeholder is gone, a follow-up is a new message and keeps its own flag."""
    original = await interaction.original_response()
    if original.flags.loading and not original.flags.ephemeral:
        await interaction.delete_original_response()


async def send_error(ctx: commands.Context, error: BaseException) -> None:
    """The error line, privately where Discord allows (interactions; a text command's reply is public)."""
    text = reply_for(error)
    interaction = ctx.interaction
    try:
        if interaction is None:
            await ctx.send(text)
        elif not interaction.response.is_done():
            await interaction.response.send_message(text, ephemeral=True)
        else:
            await retract_placeholder(interaction)
            await interaction.followup.send(text, ephemeral=True)
    except discord.HTTPException:
        log.warning("could not deliver an error reply: %s", text)
