"""The Discord bot: an AutoShardedBot whose cogs call the service layer.

Start-up work (database, LLM client, scheduler) happens once in `setup_hook`; `on_ready` fires
again on every reconnect and does nothing but log. Slash commands are synced only when the
owner asks (the admin cog's `sync`), never blindly at start.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable
from datetime import datetime

import aiohttp
import discord
from discord.ext import commands

from bot.discord.cogs import EXTENSIONS
from bot.discord.replies import send_error
from bot.services.guilds import retire_settings
from bot.services.library import Library
from bot.services.scheduler import utc_now
from bot.settings import Settings

log = logging.getLogger(__name__)

CONNECT_GRACE_S = 3.0  # how long a closed bot's gateway connection may take to end


class PaperBot(commands.AutoShardedBot):
    def __init__(self, settings: Settings, *, clock: Callable[[], datetime] = utc_now):
        intents = discord.Intents.default()
        intents.message_content = settings.message_content_intent
        super().__init__(
            command_prefix=commands.when_mentioned_or(settings.command_prefix),
            intents=intents,
            # discord.py's default lets @everyone through: paper text and LLM output are untrusted
            allowed_mentions=discord.AllowedMentions.none(),
            help_command=commands.DefaultHelpCommand(dm_help=False),
            shard_count=settings.shard_count,
            shard_ids=settings.shard_ids,
        )
        self.settings = settings
        self.clock = clock
        self.library: Library | None = None

    @property
    def lib(self) -> Library:
        assert self.library is not None, "setup_hook opens the library before any command runs"
        return self.library

    async def setup_hook(self) -> None:
        self.library = await Library.open(self.settings)
        await self.library.warm_up()
        for extension in EXTENSIONS:
            await self.load_extension(extension)

    async def on_ready(self) -> None:
        log.info("connected as %s to %d servers", self.user, len(self.guilds))

    async def on_guild_remove(self, guild: discord.Guild) -> None:
        # removed from the server (kicked, or the server deleted): not an outage
        await retire_settings(self.lib.db, str(guild.id))
        log.info("left server %s; its roundup settings are retired", guild.id)

    async def on_command_error(self, ctx: commands.Context, error: commands.CommandError) -> None:
        if isinstance(error, commands.CommandNotFound):
            return
        await send_error(ctx, error)

    async def close(self) -> None:
        # cogs stop their loops on unload: a roundup being posted finishes first
        for extension in list(self.extensions):
            await self.unload_extension(extension)
        await super().close()
        if self.library is not None:
            await self.library.close()
            self.library = None


async def serve(bot: PaperBot, token: str) -> None:
    """Run the bot until SIGINT or SIGTERM, which close it cleanly (see `PaperBot.close`), from
    any state: connected, still connecting, or retrying a gateway that does not answer."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        async with bot:
            running = asyncio.create_task(bot.start(token))
            stopping = asyncio.create_task(stop.wait())
            await asyncio.wait([running, stopping], return_when=asyncio.FIRST_COMPLETED)
            stopping.cancel()
            if running.done():
                await running  # start() ended by itself: its error (a bad token, 4014) is the answer
                return
            await bot.close()
            try:
                # discord.py retries launching a shard without checking whether the client closed
                await asyncio.wait_for(running, CONNECT_GRACE_S)
            except TimeoutError:
                log.warning("the gateway connection was still being retried at shutdown; stopped it")
            except Exception as exc:  # the connection breaking as it closes changes nothing now
                log.debug("after close: %s", exc)
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)


def run_bot(settings: Settings) -> int:
    """Run until stopped; returns the process exit code. A token problem is one line, code 2."""
    if settings.discord_token is None or not settings.discord_token.get_secret_value().strip():
        print("paperbot: no Discord token: set DISCORD_TOKEN in the environment or .env (see .env.example)")
        return 2
    bot = PaperBot(settings)
    try:
        asyncio.run(serve(bot, settings.discord_token.get_secret_value().strip()))
    except discord.LoginFailure:
        print("paperbot: Discord rejected the token: check DISCORD_TOKEN (Developer Portal > Bot > Reset Token)")
        return 2
    except (aiohttp.ClientError, OSError, discord.GatewayNotFound) as exc:
        print(f"paperbot: cannot reach Discord ({type(exc).__name__}: {exc})")
        return 1
    except discord.PrivilegedIntentsRequired:
        print(
            "paperbot: the Message Content intent is not enabled for this bot: enable it in the "
            "Developer Portal or set PAPERBOT_MESSAGE_CONTENT_INTENT=false"
        )
        return 2
    return 0
