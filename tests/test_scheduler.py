"""The daily roundup scheduler with a controllable clock: on time in two time zones, exactly
once across a crash between send and mark, catch-up after downtime, a deleted channel."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from bot.services.guilds import SettingError, get_settings, update_settings
from bot.services.library import Library
from bot.services.scheduler import EMPTY_DAY_NOTE, ChannelUnavailable, RoundupScheduler, last_run
from bot.settings import Settings


class Clock:
    def __init__(self, start: datetime):
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta) -> None:
        self.now += timedelta(**delta)


class RecordingPoster:
    """A channel stand-in for the scheduler alone (the Discord tests post through discord.py).

    `crash_after` makes the n-th send succeed on the "server" and then fail before paperbot
    can record it, as a process killed between send and mark would."""

    def __init__(self):
        self.messages: dict[str, list[tuple[datetime, str]]] = {}
        self.deleted: set[str] = set()
        self.crash_after: int | None = None
        self.clock: Clock | None = None

    async def send(self, channel_id: str, text: str) -> str:
        if channel_id in self.deleted:
            raise ChannelUnavailable(f"channel {channel_id} was deleted")
        self.messages.setdefault(channel_id, []).append((self.clock(), text))
        if self.crash_after is not None and sum(map(len, self.messages.values())) >= self.crash_after:
            self.crash_after = None
            raise KeyboardInterrupt  # the process dies: nothing after this line runs
        return str(sum(map(len, self.messages.values())))

    async def sent_since(self, channel_id: str, since: datetime) -> list[str]:
        return [text for at, text in self.messages.get(channel_id, []) if at >= since]

    def texts(self, channel_id: str) -> list[str]:
        return [text for _, text in self.messages.get(channel_id, [])]


@pytest.fixture
async def library(corpus_db):
    lib = await Library.open(Settings(PAPERBOT_DB=corpus_db, PAPERBOT_EMBEDDINGS="off"))
    yield lib
    await lib.close()


@pytest.fixture
def clock():
    return Clock(datetime(2024, 12, 14, 0, 0, tzinfo=timezone.utc))


@pytest.fixture
def poster(clock):
    recorder = RecordingPoster()
    recorder.clock = clock
    return recorder


async def configure(library, guild_id, channel_id, post_time, tz, **more):
    return await update_settings(
        library.db, guild_id, channel_id=channel_id, post_time=post_time, tz=tz, enabled=True, **more
    )


async def test_each_guild_posts_at_its_local_time(library, clock, poster):
    await configure(library, "seoul", "c-seoul", "09:00", "Asia/Seoul", max_papers=3)  # 00:00 UTC
    await configure(library, "berlin", "c-berlin", "09:00", "Europe/Berlin", max_papers=3)  # 08:00 UTC
    scheduler = RoundupScheduler(library, poster, clock=clock)
    clock.now = datetime(2024, 12, 13, 23, 59, tzinfo=timezone.utc)
    assert await scheduler.run_due() == []
    clock.advance(minutes=1)  # 09:00 in Seoul
    outcomes = await scheduler.run_due()
    assert [(o.guild_id, o.status) for o in outcomes] == [("seoul", "done")]
    assert poster.texts("c-seoul")[0].startswith("📰 **Paper roundup · 2024-12-13**")
    clock.advance(hours=7, minutes=59)  # 07:59 UTC = 08:59 in Berlin
    assert await scheduler.run_due() == []
    clock.advance(minutes=1)
    assert [o.guild_id for o in await scheduler.run_due()] == ["berlin"]
    clock.advance(hours=3)
    assert await scheduler.run_due() == []  # once a day
    assert len(poster.texts("c-seoul")) == 1 and len(poster.texts("c-berlin")) == 1


async def test_crash_between_send_and_mark_never_posts_twice(library, clock, poster):
    await configure(library, "g", "c1", "08:00", "UTC", max_papers=25, lang="zh")
    clock.now = datetime(2024, 12, 14, 8, 0, tzinfo=timezone.utc)
    poster.crash_after = 1
    with pytest.raises(KeyboardInterrupt):
        await RoundupScheduler(library, poster, clock=clock).run_due()
    assert (await last_run(library.db, "g"))["status"] == "sending"
    assert len(poster.texts("c1")) == 1
    clock.advance(minutes=5)  # restarted: a new scheduler on the same database
    outcomes = await RoundupScheduler(library, poster, clock=clock).run_due()
    assert [o.status for o in outcomes] == ["done"]
    texts = poster.texts("c1")
    assert len(texts) >= 2, "the roundup needs several blocks for this test"
    assert len(texts) == len(set(texts)), "no block posted twice"
    assert texts[0].startswith("📰") and sum(t.startswith("📰") for t in texts) == 1
    run = await last_run(library.db, "g")
    assert run["status"] == "done" and run["digest_date"] == "2024-12-13"


async def test_missed_roundup_is_caught_up_the_same_day_only(library, clock, poster):
    await configure(library, "g", "c1", "07:30", "UTC", max_papers=2)
    clock.now = datetime(2024, 12, 14, 15, 0, tzinfo=timezone.utc)  # bot was down at 07:30
    scheduler = RoundupScheduler(library, poster, clock=clock)
    assert [o.status for o in await scheduler.run_due()] == ["done"]
    assert await scheduler.run_due() == []
    assert len(poster.texts("c1")) == 1


async def test_a_day_without_new_papers_posts_nothing_or_a_note(library, clock, poster):
    await configure(library, "quiet", "c-quiet", "08:00", "UTC", max_papers=2)
    await configure(library, "chatty", "c-chatty", "08:00", "UTC", max_papers=2, note_when_empty=True)
    clock.now = datetime(2024, 12, 14, 8, 0, tzinfo=timezone.utc)
    scheduler = RoundupScheduler(library, poster, clock=clock)
    await scheduler.run_due()
    clock.advance(days=1)  # no digest arrived in between
    outcomes = {o.guild_id: o.status for o in await scheduler.run_due()}
    assert outcomes == {"quiet": "empty", "chatty": "empty"}
    assert len(poster.texts("c-quiet")) == 1
    assert poster.texts("c-chatty")[-1] == EMPTY_DAY_NOTE


async def test_deleted_channel_is_recorded_and_other_guilds_go_on(library, clock, poster):
    await configure(library, "a", "gone", "08:00", "UTC", max_papers=2)
    await configure(library, "b", "fine", "08:00", "UTC", max_papers=2)
    poster.deleted.add("gone")
    clock.now = datetime(2024, 12, 14, 8, 0, tzinfo=timezone.utc)
    outcomes = {o.guild_id: o for o in await RoundupScheduler(library, poster, clock=clock).run_due()}
    assert outcomes["a"].status == "failed" and "deleted" in outcomes["a"].error
    assert outcomes["b"].status == "done" and poster.texts("fine")
    assert (await last_run(library.db, "a"))["error"] == "channel gone was deleted"


async def test_settings_are_validated_with_helpful_messages(library):
    with pytest.raises(SettingError, match="IANA"):
        await update_settings(library.db, "g", tz="Mars/Olympus")
    with pytest.raises(SettingError, match="HH:MM"):
        await update_settings(library.db, "g", post_time="25:00")
    settings = await update_settings(library.db, "g", post_time="7:05", tz="Asia/Seoul", lang="zh-hant")
    assert (settings.post_time, settings.tz, settings.lang) == ("07:05", "Asia/Seoul", "zh-Hant")
    assert (await get_settings(library.db, "g")).post_time == "07:05"
    now = datetime(2024, 12, 14, 0, 0, tzinfo=timezone.utc)  # 09:00 in Seoul: 07:05 has passed
    assert settings.next_run(now, ran_today=False) is None  # not enabled yet
    settings = await update_settings(library.db, "g", channel_id="c", enabled=True)
    assert settings.next_run(now, ran_today=False) == now  # due now: catch-up
    assert settings.next_run(now, ran_today=True).isoformat() == "2024-12-15T07:05:00+09:00"
