"""The scheduler's Poster on Discord: send to a channel, read back what paperbot sent."""

from __future__ import annotations

from datetime import datetime

import discord

from bot.services.scheduler import ChannelUnavailable


class DiscordPoster:
    def __init__(self, client: discord.Client):
        self.client = client

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

    async def send(self, channel_id: str, text: str) -> str:
        channel = await self._channel(channel_id)
        try:
            message = await channel.send(text, allowed_mentions=discord.AllowedMentions.none())
        except discord.NotFound:
            raise ChannelUnavailable(f"the roundup channel {channel_id} no longer exists") from None
        except discord.Forbidden:
            raise ChannelUnavailable(f"paperbot may not post in the roundup channel {channel_id}") from None
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
        except discord.HTTPException as exc:
            raise ChannelUnavailable(f"cannot read the roundup channel {channel_id} ({exc.status})") from None
