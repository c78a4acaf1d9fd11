"""The scheduler's Poster on Discord: check a channel, send to it, read back what paperbot sent."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import aiohttp
import discord

from bot.discord.views import entry_buttons
from bot.services.scheduler import ChannelUnavailable, TransientPostError

# What may pass if tried again later: Discord's own errors, rate limits, the network
TRANSIENT = (discord.DiscordServerError, discord.RateLimited, aiohttp.ClientError, TimeoutError, OSError)


class DiscordPoster:
    def __init__(self, client: discord.AutoShardedClient):
        self.client = client

    def serves(self, guild_id: str) -> bool:
        """Discord routes a server to shard (id >> 22) % shard_count; this process posts only
        for the shards it runs, so shard processes on one database never post twice."""
        count = self.client.shard_count or 1
        return (int(guild_id) >> 22) % count in (self.client.shard_ids or range(count))

    async def _channel(self, channel_id: str) -> discord.abc.Messageable:
        channel = self.client.get_channel(int(channel_id))
        if channel is not None:
            return channel
        try:
            return await self.client.fetch_channel(int(channel_id))
        except discord.NotFound:
            raise ChannelUnavailable(f"the roundup channel {channel_id} no longer exists") from None
        except discord.Forbidden:
            raise ChannelUnavailable(f"paperbot cannot see the roundup channel {channel_id}") from None
        except TRANSIENT as exc:
            raise TransientPostError(f"cannot reach the roundup channel {channel_id} ({type(exc).__name__})") from exc

    async def check(self, channel_id: str) -> None:
        channel = await self._channel(channel_id)
        guild = getattr(channel, "guild", None)
        if guild is not None and not channel.permissions_for(guild.me).send_messages:
            raise ChannelUnavailable(f"paperbot may not post in the roundup channel {channel_id}")

    async def send(self, channel_id: str, text: str, papers: Sequence[tuple[int, int]] = ()) -> str:
        channel = await self._channel(channel_id)
        try:
            view = entry_buttons(papers)  # Discuss / Read per entry
            message = await channel.send(text, allowed_mentions=discord.AllowedMentions.none(), view=view)
        except discord.NotFound:
            raise ChannelUnavailable(f"the roundup channel {channel_id} no longer exists") from None
        except discord.Forbidden:
            raise ChannelUnavailable(f"paperbot may not post in the roundup channel {channel_id}") from None
        except TRANSIENT as exc:
            raise TransientPostError(f"Discord did not take the roundup ({type(exc).__name__})") from exc
        return str(message.id)

    async def sent_since(self, channel_id: str, since: datetime) -> list[str]:
        channel = await self._channel(channel_id)
        me = self.client.user
        try:
            return [
                message.content
                async for message in channel.history(after=since, limit=100, oldest_first=True)
                if me is not None and message.author.id == me.id
            ]
        except TRANSIENT as exc:
            raise TransientPostError(f"cannot read the roundup channel {channel_id} ({type(exc).__name__})") from exc
        except discord.HTTPException as exc:
            raise ChannelUnavailable(f"cannot read the roundup channel {channel_id} ({exc.status})") from None
