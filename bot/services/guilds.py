"""Per-server settings: where and when the daily roundup goes, in which language.

Stored in SQLite (`guild_settings`); validated here so that chat, console and tests share the
same rules and messages.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection
from dataclasses import asdict, dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.errors import PaperbotError
from bot.services.language import normalize_tag
from bot.store import Database

MAX_ROUNDUP_PAPERS = 25
_TIME = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")


class SettingError(PaperbotError, ValueError):
    """A setting value that cannot be used; the message says what would work."""


@dataclass
class GuildSettings:
    guild_id: str
    channel_id: str | None = None
    post_time: str = "09:00"
    tz: str = "UTC"
    lang: str = "en"
    topic: str | None = None
    max_papers: int = 8
    enabled: bool = False
    note_when_empty: bool = False
    rank_by_group_votes: bool = False  # the roundup puts first what is close to the group's votes

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.tz)

    def local_date(self, now: datetime) -> date:
        return now.astimezone(self.zone).date()

    def scheduled_at(self, day: date) -> datetime:
        """When the roundup of local day `day` is due, as an aware datetime."""
        hour, minute = map(int, self.post_time.split(":"))
        return datetime.combine(day, time(hour, minute), tzinfo=self.zone)

    def next_run(self, now: datetime, ran_today: bool) -> datetime | None:
        """When the next roundup goes out: today's time, tomorrow's once today's has run, or
        now when today's time has passed without a run (catch-up)."""
        if not (self.enabled and self.channel_id):
            return None
        today = self.local_date(now)
        if ran_today:
            return self.scheduled_at(today + timedelta(days=1))
        return max(self.scheduled_at(today), now)

    def to_json(self) -> dict:
        return asdict(self)


def parse_time(value: str) -> str:
    match = _TIME.match(value.strip())
    if not match:
        raise SettingError(f"{value!r} is not a time of day: use HH:MM, e.g. 09:00 or 18:30")
    return f"{int(match.group(1)):02d}:{match.group(2)}"


def parse_zone(value: str) -> str:
    try:
        ZoneInfo(value.strip())
    except (ZoneInfoNotFoundError, ValueError):
        raise SettingError(f"{value!r} is not a time zone: use an IANA name such as Europe/Berlin or Asia/Seoul") from None
    return value.strip()


def parse_max_papers(value: int) -> int:
    if not 1 <= value <= MAX_ROUNDUP_PAPERS:
        raise SettingError(f"the roundup can hold 1 to {MAX_ROUNDUP_PAPERS} papers")
    return value


async def get_settings(db: Database, guild_id: str) -> GuildSettings:
    row = await db.fetchone("SELECT * FROM guild_settings WHERE guild_id = ?", (guild_id,))
    if row is None:
        return GuildSettings(guild_id=guild_id)
    return GuildSettings(
        guild_id=row["guild_id"],
        channel_id=row["channel_id"],
        post_time=row["post_time"],
        tz=row["tz"],
        lang=row["lang"],
        topic=row["topic"],
        max_papers=row["max_papers"],
        enabled=bool(row["enabled"]),
        note_when_empty=bool(row["note_when_empty"]),
        rank_by_group_votes=bool(row["rank_by_group_votes"]),
    )


async def update_settings(db: Database, guild_id: str, **changes) -> GuildSettings:
    """Validate and store changes (`None` values are left as they are; topic "" clears it)."""
    validators = {
        "post_time": parse_time,
        "tz": parse_zone,
        "lang": normalize_tag,
        "max_papers": parse_max_papers,
        "topic": lambda v: v.strip() or None,
        "channel_id": str,
        "enabled": bool,
        "note_when_empty": bool,
        "rank_by_group_votes": bool,
    }
    current = await get_settings(db, guild_id)
    for name, value in changes.items():
        if name not in validators:
            raise SettingError(f"unknown setting {name}")
        if value is not None:
            setattr(current, name, validators[name](value))
    await db.execute(
        "INSERT INTO guild_settings (guild_id, channel_id, post_time, tz, lang, topic, max_papers, enabled, "
        "note_when_empty, rank_by_group_votes, updated_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, strftime('%Y-%m-%dT%H:%M:%fZ', 'now')) "
        "ON CONFLICT (guild_id) DO UPDATE SET channel_id = excluded.channel_id, post_time = excluded.post_time, "
        "tz = excluded.tz, lang = excluded.lang, topic = excluded.topic, max_papers = excluded.max_papers, "
        "enabled = excluded.enabled, note_when_empty = excluded.note_when_empty, "
        "rank_by_group_votes = excluded.rank_by_group_votes, updated_at = excluded.updated_at",
        (
            guild_id, current.channel_id, current.post_time, current.tz, current.lang, current.topic,
            current.max_papers, int(current.enabled), int(current.note_when_empty), int(current.rank_by_group_votes),
        ),
    )
    return current


async def retire_settings(db: Database, guild_id: str) -> None:
    """Forget a server's settings when paperbot leaves it (no roundup for a server it left);
    its run history stays."""
    await db.execute("DELETE FROM guild_settings WHERE guild_id = ?", (guild_id,))


async def retire_departed(db: Database, present: Collection[str], serves: Callable[[str], bool]) -> list[str]:
    """Retire the settings of servers that removed paperbot while it was offline (no leave
    event reached it). `present` is every server the gateway listed for this process's shards;
    `serves` says which stored servers those shards hold, so that a server of another shard
    process is left alone. Returns the retired servers' ids."""
    rows = await db.fetchall("SELECT guild_id FROM guild_settings ORDER BY guild_id")
    departed = [row[0] for row in rows if row[0] not in present and serves(row[0])]
    for guild_id in departed:
        await retire_settings(db, guild_id)
    return departed


async def scheduled_guilds(db: Database) -> list[GuildSettings]:
    rows = await db.fetchall(
        "SELECT guild_id FROM guild_settings WHERE enabled = 1 AND channel_id IS NOT NULL ORDER BY guild_id"
    )
    return [await get_settings(db, row[0]) for row in rows]


async def usage_today(db: Database, guild_id: str) -> list[dict]:
    """This server's LLM calls today (UTC), per feature: calls, tokens and estimated cost."""
    rows = await db.fetchall(
        "SELECT feature, count(*) AS calls, sum(prompt_tokens + completion_tokens) AS tokens, "
        "round(sum(cost_usd), 4) AS cost FROM llm_calls WHERE guild_id = ? "
        "AND day = strftime('%Y-%m-%d', 'now') GROUP BY feature ORDER BY feature",
        (guild_id,),
    )
    return [dict(row) for row in rows]
