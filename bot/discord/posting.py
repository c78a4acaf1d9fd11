"""The scheduler's Poster on Discord: check a channel, send to it, read back what paperbot sent."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

import aiohttp
import discord

from bot.discord.views import paper_buttons
from bot.services.scheduler import ChannelUnavailable, TransientPostError

# What may pass if tried again later: Discord's own errors, rate limits, the network
TRANSIENT = (discord.DiscordServerError, discord.RateLimited, aiohttp.ClientError, TimeoutError, OSError)
# An interrupted roundup is found in the channel's history since it started: its own messages
# (a header and one per entry) among whatever members wrote meanwhile.
HISTORY_LIMIT = 500


@contextmanager
def posting_errors(channel_id: str, doing: str) -> Iterator[None]:
    """Discord's answers as the scheduler's errors: a channel that is gone or closed to paperbot
    is final (ChannelUnavailable), what may pass is worth retrying (TransientPostError)."""
    try:
        yield
    except discord.NotFound:
        raise ChannelUnavailable(f"the roundup channel {channel_id} no longer exists") from None
    except discord.Forbidden:
        raise ChannelUnavailable(f"paperbot may not {doing} the roundup channel {channel_id}") from None
    except TRANSIENT as exc:
        raise TransientPostError(f"cannot {doing} the roundup channel {channel_id} ({type(exc).__name__})") from exc
    except discord.HTTPException as exc:  # any other refusal will not change by trying again
        raise ChannelUnavailable(f"cannot {doing} the roundup channel {channel_id} ({exc.status})") from None


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
        with posting_errors(channel_id, "see"):
            return await self.client.fetch_channel(int(channel_id))

    async def check(self, channel_id: str) -> None:
        channel = await self._channel(channel_id)
        guild = getattr(channel, "guild", None)
        if guild is not None and not channel.permissions_for(guild.me).send_messages:
            raise ChannelUnavailable(f"paperbot may not post in the roundup channel {channel_id}")

    async def send(self, channel_id: str, text: str, paper_id: int | None = None) -> str:
        channel = await self._channel(channel_id)
        with posting_errors(channel_id, "post in"):
            view = paper_buttons(paper_id) if paper_id is not None else None
            message = await channel.send(text, allowed_mentions=discord.AllowedMentions.none(), view=view)
        return str(message.id)

    async def sent_since(self, channel_id: str, since: datetime) -> list[tuple[str, str]]:
        channel = await self._channel(channel_id)
        me = self.client.user
        with posting_errors(channel_id, "read"):
            return [
                (str(message.id), message.content)
                async for message in channel.history(after=since, limit=HISTORY_LIMIT, oldest_first=True)
                if me is not None and message.author.id == me.id
            ]
