"""The daily roundup scheduler with a controllable clock: on time in two time zones, exactly
once across a crash between send and mark, catch-up after downtime, a deleted channel."""

from __future__ import annotations

import asyncio
import json
import shutil
from datetime import datetime, timedelta, timezone

import numpy as np
import pytest

from bot.retrieval.embedders import normalize_rows
from bot.retrieval.search import Retriever
from bot.retrieval.vectors import count_missing
from bot.services import watches
from bot.services.background_embedding import BackgroundEmbedding
from bot.services.guilds import SettingError, get_settings, update_settings
from bot.services.library import Library
from bot.services.members import Member
from bot.services.ingest import embed_new, ingest_bytes
from bot.services.scheduler import (
    EMPTY_DAY_NOTE,
    LEASE_S,
    ChannelUnavailable,
    RoundupScheduler,
    TransientPostError,
    last_run,
)
from bot.services.sources import add_source, fetch_sources
from bot.store import Database
from bot.settings import Settings
from tests.conftest import corpus_file
from tests.support.watch_library import digest


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
        self.served: set[str] | None = None  # None: every server
        self.messages: dict[str, list[tuple[datetime, str]]] = {}
        self.deleted: set[str] = set()
        self.crash_after: int | None = None
        self.failures: list[Exception] = []  # raised by the next sends, one each
        self.delay_s = 0.0
        self.clock: Clock | None = None

    def serves(self, guild_id: str) -> bool:
        return self.served is None or guild_id in self.served

    async def check(self, channel_id: str) -> None:
        if channel_id in self.deleted:
            raise ChannelUnavailable(f"channel {channel_id} was deleted")

    async def send(self, channel_id: str, text: str, paper_id=None) -> str:
        if channel_id in self.deleted:
            raise ChannelUnavailable(f"channel {channel_id} was deleted")
        if self.failures:
            raise self.failures.pop(0)
        await asyncio.sleep(self.delay_s)
        self.messages.setdefault(channel_id, []).append((self.clock(), text))
        if self.crash_after is not None and sum(map(len, self.messages.values())) >= self.crash_after:
            self.crash_after = None
            raise KeyboardInterrupt  # the process dies: nothing after this line runs
        return str(sum(map(len, self.messages.values())))

    async def sent_since(self, channel_id: str, since: datetime) -> list[tuple[str, str]]:
        return [(str(number), text) for number, (at, text) in enumerate(self.messages.get(channel_id, []), start=1)
                if at >= since]

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
    assert len(poster.texts("c-seoul")) == len(poster.texts("c-berlin")) == 4  # a header and 3 entries, once


async def test_crash_between_send_and_mark_never_posts_twice(library, clock, poster):
    await configure(library, "g", "c1", "08:00", "UTC", max_papers=25, lang="zh")
    clock.now = datetime(2024, 12, 14, 8, 0, tzinfo=timezone.utc)
    poster.crash_after = 1
    with pytest.raises(KeyboardInterrupt):
        await RoundupScheduler(library, poster, clock=clock).run_due()
    assert (await last_run(library.db, "g"))["status"] == "sending"
    assert len(poster.texts("c1")) == 1
    await update_settings(library.db, "g", lang="ko")  # a rebuilt roundup would now differ
    clock.advance(minutes=LEASE_S + 1)  # restarted after the dead process's lease ran out
    outcomes = await RoundupScheduler(library, poster, clock=clock).run_due()
    assert [o.status for o in outcomes] == ["done"]
    texts = poster.texts("c1")
    assert len(texts) >= 2, "the roundup needs several blocks for this test"
    assert len(texts) == len(set(texts)), "no block posted twice"
    assert texts[0].startswith("📰") and sum(t.startswith("📰") for t in texts) == 1
    run = await last_run(library.db, "g")
    assert run["status"] == "done" and run["digest_date"] == "2024-12-13"
    assert texts == json.loads(run["blocks"]) and "Chinese" in texts[0], "the stored roundup, not a rebuilt one"
    # the first went out before the crash: found in the channel, recorded with its id on resuming
    assert json.loads(run["message_ids"]) == [str(n) for n in range(1, len(texts) + 1)]
    entries = await library.db.fetchall("SELECT message_id, paper_id FROM paper_messages WHERE guild_id = 'g'")
    assert len(entries) == len(texts) - 1  # each entry's message names its paper; the header none


async def test_missed_roundup_is_caught_up_the_same_day_only(library, clock, poster):
    await configure(library, "g", "c1", "07:30", "UTC", max_papers=2)
    clock.now = datetime(2024, 12, 14, 15, 0, tzinfo=timezone.utc)  # bot was down at 07:30
    scheduler = RoundupScheduler(library, poster, clock=clock)
    assert [o.status for o in await scheduler.run_due()] == ["done"]
    assert await scheduler.run_due() == []
    assert len(poster.texts("c1")) == 3  # a header and 2 entries, once


async def test_a_day_without_new_papers_posts_nothing_or_a_note(library, clock, poster):
    await configure(library, "quiet", "c-quiet", "08:00", "UTC", max_papers=2)
    await configure(library, "chatty", "c-chatty", "08:00", "UTC", max_papers=2, note_when_empty=True)
    clock.now = datetime(2024, 12, 14, 8, 0, tzinfo=timezone.utc)
    scheduler = RoundupScheduler(library, poster, clock=clock)
    await scheduler.run_due()
    clock.advance(days=1)  # no digest arrived in between
    outcomes = {o.guild_id: o.status for o in await scheduler.run_due()}
    assert outcomes == {"quiet": "empty", "chatty": "empty"}
    assert len(poster.texts("c-quiet")) == 3  # only the first day's header and 2 entries
    assert poster.texts("c-chatty")[-1] == EMPTY_DAY_NOTE


class ClosedDms:
    """Members who accept no DMs: their watch matches wait for the roundup's line."""

    async def send_direct(self, member, delivery) -> bool:
        return False


async def test_watch_lines_for_closed_dms_go_out_on_a_day_without_news_too(library, clock, poster):
    await configure(library, "quiet", "c-quiet", "08:00", "UTC", max_papers=2)
    await configure(library, "chatty", "c-chatty", "08:00", "UTC", max_papers=2, note_when_empty=True)
    clock.now = datetime(2024, 12, 14, 8, 0, tzinfo=timezone.utc)
    scheduler = RoundupScheduler(library, poster, clock=clock)
    await scheduler.run_due()  # the day's roundup, before the matches exist
    posted = {channel: len(poster.texts(channel)) for channel in ("c-quiet", "c-chatty")}
    for guild in ("quiet", "chatty"):
        await watches.add_watch(library, Member(guild, "bob"), "mitotic figures")
    older = [("Counting mitotic figures with transformers", "Ana Silva, Bo Chen", "We count mitotic figures in slides.")]
    report = await ingest_bytes(library.db, digest("2024-12-01", older, 500), "older.md")
    assert report.new == 1  # a new paper in an older digest: no news for tomorrow's roundup
    await watches.deliver_pending(library, ClosedDms(), ["quiet", "chatty"])

    clock.advance(days=1)
    outcomes = {o.guild_id: o.status for o in await scheduler.run_due()}
    assert outcomes == {"quiet": "empty", "chatty": "empty"}
    [line] = poster.texts("c-quiet")[posted["c-quiet"]:]  # the line alone
    assert line.startswith("🔔 <@bob>: Counting mitotic figures")
    assert poster.texts("c-chatty")[posted["c-chatty"]:] == [EMPTY_DAY_NOTE, line]
    assert await watches.roundup_deliveries(library.db, "quiet") == []
    clock.advance(days=1)
    await scheduler.run_due()
    assert len(poster.texts("c-quiet")) == posted["c-quiet"] + 1, "the line goes out once"


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


FUTURE_DIGEST = """\
### LLM
|Publish Date|Title|Authors|Homepage|Code|
| :---: | :---: | :---: | :---: | :---: |
|**2024-12-14**|**A paper from the future of some servers**|A. Author et.al.|[2412.99999v1](http://arxiv.org/abs/2412.99999v1)|null|
"""


async def test_each_server_gets_the_latest_digest_of_its_own_local_today(library, clock, poster):
    report = await ingest_bytes(library.db, FUTURE_DIGEST.encode(), "future.md")
    assert report.digest_date == "2024-12-14"
    await configure(library, "east", "c-east", "09:00", "Pacific/Kiritimati", max_papers=2)  # UTC+14
    await configure(library, "west", "c-west", "08:00", "Pacific/Pago_Pago", max_papers=2)  # UTC-11
    clock.now = datetime(2024, 12, 13, 20, 0, tzinfo=timezone.utc)  # 10:00 on the 14th / 09:00 on the 13th
    outcomes = {o.guild_id: o.status for o in await RoundupScheduler(library, poster, clock=clock).run_due()}
    assert outcomes == {"east": "done", "west": "done"}
    assert "2024-12-14" in poster.texts("c-east")[0] and "from the future" in poster.texts("c-east")[1]
    assert "2024-12-13" in poster.texts("c-west")[0], "a digest dated in the server's future is not its roundup"


async def test_two_schedulers_on_one_database_file_post_each_roundup_once(library, clock, poster, corpus_db):
    await configure(library, "a", "c-a", "08:00", "UTC", max_papers=3)
    await configure(library, "b", "c-b", "08:00", "UTC", max_papers=3)
    clock.now = datetime(2024, 12, 14, 8, 0, tzinfo=timezone.utc)
    poster.delay_s = 0.2  # both processes are inside a run at the same time
    async with await Database.open(corpus_db) as other_db:  # a second process: its own connections
        other = await Library.open(Settings(PAPERBOT_DB=corpus_db, PAPERBOT_EMBEDDINGS="off"))
        try:
            first, second = await asyncio.gather(
                RoundupScheduler(library, poster, clock=clock).run_due(),
                RoundupScheduler(other, poster, clock=clock).run_due(),
            )
        finally:
            await other.close()
        assert await other_db.fetchval("SELECT count(*) FROM roundup_runs WHERE status = 'done'") == 2
    assert sorted(o.guild_id for o in first + second) == ["a", "b"]
    assert len(poster.texts("c-a")) == len(poster.texts("c-b")) == 4  # a header and 3 entries, once


async def test_a_live_run_is_left_alone_and_a_dead_one_taken_over(library, clock, poster):
    await configure(library, "g", "c1", "08:00", "UTC", max_papers=25)
    clock.now = datetime(2024, 12, 14, 8, 0, tzinfo=timezone.utc)
    poster.crash_after = 1
    with pytest.raises(KeyboardInterrupt):
        await RoundupScheduler(library, poster, clock=clock, owner="first").run_due()
    clock.advance(seconds=LEASE_S - 10)  # the first process may still be alive
    assert await RoundupScheduler(library, poster, clock=clock, owner="second").run_due() == []
    assert len(poster.texts("c1")) == 1
    clock.advance(seconds=20)  # its lease ran out: it died
    [outcome] = await RoundupScheduler(library, poster, clock=clock, owner="second").run_due()
    texts = poster.texts("c1")
    assert outcome.status == "done" and len(texts) == len(set(texts)) == len(json.loads((await last_run(library.db, "g"))["blocks"]))


async def test_a_run_lost_to_another_process_stops_and_its_last_entry_still_takes_votes(library, clock, poster):
    await configure(library, "g", "c1", "08:00", "UTC", max_papers=3)
    clock.now = datetime(2024, 12, 14, 8, 0, tzinfo=timezone.utc)
    send = poster.send

    async def send_then_lose_the_run(channel_id, text, paper_id=None):
        message_id = await send(channel_id, text, paper_id)
        if len(poster.texts(channel_id)) == 2:  # meanwhile another process took the run over
            await library.db.execute("UPDATE roundup_runs SET owner = 'second' WHERE guild_id = 'g'")
        return message_id

    poster.send = send_then_lose_the_run
    [outcome] = await RoundupScheduler(library, poster, clock=clock, owner="first").run_due()
    assert outcome.status == "sending" and len(poster.texts("c1")) == 2  # the header and entry 1, then it stopped
    assert json.loads((await last_run(library.db, "g"))["message_ids"]) == ["1"]
    rows = await library.db.fetchall("SELECT message_id FROM paper_messages WHERE guild_id = 'g'")
    assert [row[0] for row in rows] == ["2"], "entry 1 is on Discord: a 👍 on it counts"


async def test_each_process_posts_only_for_the_servers_it_serves(library, clock, poster):
    await configure(library, "mine", "c-mine", "08:00", "UTC", max_papers=2)
    await configure(library, "theirs", "c-theirs", "08:00", "UTC", max_papers=2)
    clock.now = datetime(2024, 12, 14, 8, 0, tzinfo=timezone.utc)
    poster.served = {"mine"}
    assert [o.guild_id for o in await RoundupScheduler(library, poster, clock=clock).run_due()] == ["mine"]
    assert await last_run(library.db, "theirs") is None and not poster.texts("c-theirs")


async def test_a_run_interrupted_before_midnight_is_finished_after_it(library, clock, poster):
    await configure(library, "g", "c1", "23:50", "Europe/Berlin", max_papers=25)
    clock.now = datetime(2024, 12, 14, 22, 55, tzinfo=timezone.utc)  # 23:55 in Berlin
    poster.crash_after = 1
    with pytest.raises(KeyboardInterrupt):
        await RoundupScheduler(library, poster, clock=clock).run_due()
    clock.now = datetime(2024, 12, 14, 23, 10, tzinfo=timezone.utc)  # 00:10 on the 15th: today's is not due
    outcomes = await RoundupScheduler(library, poster, clock=clock).run_due()
    assert [(o.local_date, o.status) for o in outcomes] == [("2024-12-14", "done")]
    texts = poster.texts("c1")
    assert len(texts) > 1 and len(texts) == len(set(texts))


async def test_transient_errors_are_retried_with_backoff_before_the_run_is_final(library, clock, poster):
    await configure(library, "g", "c1", "08:00", "UTC", max_papers=2)
    await configure(library, "h", "c2", "08:00", "UTC", max_papers=2)
    clock.now = datetime(2024, 12, 14, 8, 0, tzinfo=timezone.utc)
    scheduler = RoundupScheduler(library, poster, clock=clock, max_attempts=3, retry_s=60)
    poster.failures = [TransientPostError("Discord answered 503")]
    outcomes = {o.guild_id: o.status for o in await scheduler.run_due()}
    assert outcomes == {"g": "sending", "h": "done"}
    clock.advance(seconds=59)
    assert await scheduler.run_due() == []  # not before the backoff
    clock.advance(seconds=1)
    assert [o.status for o in await scheduler.run_due()] == ["done"]
    assert len(poster.texts("c1")) == 3

    await configure(library, "k", "c3", "08:00", "UTC", max_papers=2)
    poster.failures = [TransientPostError("network down")] * 3
    await scheduler.run_due()
    clock.advance(seconds=60)
    await scheduler.run_due()
    clock.advance(seconds=119)
    assert await scheduler.run_due() == []  # the second retry waits twice as long
    clock.advance(seconds=1)
    [outcome] = await scheduler.run_due()
    run = await last_run(library.db, "k")
    assert outcome.status == run["status"] == "failed" and "after 3 attempts" in run["error"]


@pytest.mark.parametrize(
    ("day", "first_post_utc"),
    [
        ("2025-03-30", datetime(2025, 3, 30, 1, 30, tzinfo=timezone.utc)),  # 02:30 does not exist: 03:30 CEST
        ("2025-10-26", datetime(2025, 10, 26, 0, 30, tzinfo=timezone.utc)),  # 02:30 happens twice: the first
    ],
)
async def test_a_dst_day_posts_once_at_0230_berlin(library, clock, poster, day, first_post_utc):
    await configure(library, "g", "c1", "02:30", "Europe/Berlin", note_when_empty=True)
    scheduler = RoundupScheduler(library, poster, clock=clock)
    clock.now = datetime.fromisoformat(f"{day}T00:00:00+00:00") - timedelta(days=1)  # from the day before
    posted_at = []
    while clock.now < datetime.fromisoformat(f"{day}T00:00:00+00:00") + timedelta(hours=22):
        if await scheduler.run_due():
            posted_at.append(clock.now)
        clock.advance(minutes=5)
    assert posted_at == [first_post_utc - timedelta(days=1), first_post_utc]
    assert poster.texts("c1")[-1] == EMPTY_DAY_NOTE  # the same digest again: the note, once
    assert poster.texts("c1").count(EMPTY_DAY_NOTE) == 1


class GatedEmbedder:
    """An embedder (paperbot's own interface) that holds every batch until the test opens the
    gate: a CPU embedding a large digest, on cue."""

    name = "gated-test-embedder"
    dim = 8

    def __init__(self):
        self.gate = asyncio.Event()
        self.batches_asked = 0
        self.running = self.most_running = 0
        self.failures: list[Exception] = []  # raised by the next batches, one each

    async def embed_passages(self, texts: list[str]):
        self.batches_asked += 1
        self.running += 1
        self.most_running = max(self.most_running, self.running)
        try:
            await self.gate.wait()
            if self.failures:
                raise self.failures.pop(0)
            return normalize_rows(np.random.default_rng(len(texts)).standard_normal((len(texts), self.dim)))
        finally:
            self.running -= 1

    async def embed_query(self, text: str):
        return (await self.embed_passages([text]))[0]


@pytest.fixture
async def gated_library(tmp_path):
    """An empty library whose embedder is a GatedEmbedder, and its background embedding."""
    db = await Database.open(tmp_path / "r.db")
    library = Library(settings=Settings(PAPERBOT_DB=tmp_path / "r.db"), db=db, retriever=Retriever(db, GatedEmbedder()))
    embedding = BackgroundEmbedding(library)
    yield library, library.retriever.embedder, embedding
    await embedding.close()
    await library.close()


async def all_embedded(library, timeout_s: float = 10.0) -> bool:
    for _ in range(int(timeout_s / 0.05)):
        if await count_missing(library.db, library.retriever.embedder.name) == 0:
            return True
        await asyncio.sleep(0.05)
    return False


async def test_a_roundup_after_a_source_fetch_does_not_wait_for_the_new_papers_to_embed(
    tmp_path, clock, poster, gated_library
):
    library, embedder, embedding = gated_library
    db = library.db
    folder = tmp_path / "drop"
    folder.mkdir()
    shutil.copy(corpus_file("001"), folder)  # a new digest arrives through a source
    await add_source(db, str(folder))
    await configure(library, "club", "c-club", "09:00", "UTC", max_papers=3)
    scheduler = RoundupScheduler(
        library, poster, clock=clock, before_roundups=lambda: fetch_sources(library, embedding=embedding)
    )
    clock.now = datetime(2024, 12, 14, 9, 0, tzinfo=timezone.utc)
    outcomes = await asyncio.wait_for(scheduler.run_due(), 15)  # the embedder is still held
    assert [o.status for o in outcomes] == ["done"]
    assert poster.texts("c-club")[0].startswith("📰 **Paper roundup · 2024-08-05**")
    assert embedder.batches_asked == 1 and await count_missing(db, embedder.name) > 0

    embedder.gate.set()
    assert await all_embedded(library), "the vectors came afterwards"
    assert await db.fetchval("SELECT count(*) FROM paper_vectors WHERE embedder = ?", (embedder.name,)) > 0


async def test_background_embedding_runs_one_at_a_time_and_a_failure_is_logged_then_retried(gated_library, caplog):
    library, embedder, embedding = gated_library
    await ingest_bytes(library.db, corpus_file("004").read_bytes(), "004")
    embedding.request()
    await asyncio.sleep(0.1)  # the first run is held at the gate
    await ingest_bytes(library.db, corpus_file("001").read_bytes(), "001")
    embedding.request()  # during the run: owed, not a second run
    embedding.request()
    assert [task.get_name() for task in asyncio.all_tasks()].count("embedding") == 1  # requests do not pile up
    uploaded = asyncio.create_task(embed_new(library))  # /ingest embedding meanwhile waits its turn
    await asyncio.sleep(0.1)
    assert embedder.batches_asked == 1
    embedder.gate.set()
    await uploaded
    assert await all_embedded(library) and embedder.most_running == 1

    await ingest_bytes(library.db, corpus_file("003").read_bytes(), "003")
    embedder.failures.append(RuntimeError("the embedding server went away"))
    embedding.request()
    for _ in range(100):
        if "embedding the new papers failed" in caplog.text:
            break
        await asyncio.sleep(0.05)
    assert "embedding the new papers failed" in caplog.text and "the embedding server went away" in caplog.text
    assert not await all_embedded(library, timeout_s=0.2)
    embedding.request()  # the next fetch's request
    assert await all_embedded(library)
