"""The reading room on Discord, end to end: the real discord.py client against the fake Discord,
the real corpus (or the synthetic library of test_watches, embedded by the real model) and the
scripted OpenAI-compatible server."""

from __future__ import annotations

import asyncio
import json
import shutil
from datetime import datetime, timedelta, timezone

import pytest

from bot.services.ingest import ingest_bytes
from bot.discord.bot import PaperBot
from bot.discord.posting import DiscordPoster
from bot.retrieval.vectors import embed_pending
from bot.services import votes
from bot.services.guilds import get_settings, update_settings
from bot.services.members import Member
from bot.services.messages import link
from bot.services.papers import paper_detail
from bot.services.roundup import REACTIONS_HINT, build_roundup
from bot.services.scheduler import LEASE_S, RoundupScheduler, iso, last_run
from bot.settings import Settings
from tests.support.fake_discord import EPHEMERAL
from tests.test_discord import NO_PINGS, Clock, bot_settings, channel_id, string_option
from tests.support.watch_library import TODAY, digest

OMG_NET, MEDICAL_SAM = "2407.12773", "2408.00874"


async def start(fake_discord, settings: Settings, clock: Clock | None = None):
    guild = fake_discord.add_guild("Reading club", ["general", "papers"])
    bot = PaperBot(settings, clock=clock or Clock(datetime(2024, 12, 14, 6, 0, tzinfo=timezone.utc)))
    await bot.login("fake-token")
    fake_discord.install_commands([command.to_dict(bot.tree) for command in bot.tree.get_commands()])
    runner = asyncio.create_task(bot.connect(reconnect=False))
    await asyncio.wait_for(bot.wait_until_ready(), 30)
    return bot, guild, runner


async def stop(bot, runner) -> None:
    await bot.close()
    await asyncio.wait_for(runner, 10)


@pytest.fixture
async def paperbot(fake_discord, corpus_db, openai_server):
    bot, guild, runner = await start(fake_discord, bot_settings(corpus_db, openai_server))
    try:
        yield bot, guild
    finally:
        await stop(bot, runner)


async def paper_card(fake_discord, bot, guild, ref: str) -> dict:
    """A /paper card, once the bot has tied it to its paper (it learns the id after posting)."""
    token = await fake_discord.send_slash_command(guild, channel_id(guild, "general"), "paper", [string_option("paper", ref)])
    [card] = await fake_discord.wait_for(lambda: fake_discord.followups.get(token))
    await until(lambda: bot.lib.db.fetchval("SELECT 1 FROM paper_messages WHERE message_id = ?", (card["id"],)))
    return card


async def until(check, timeout: float = 10.0):
    """Poll an async check until it returns something truthy."""
    for _ in range(int(timeout / 0.05)):
        result = await check()
        if result:
            return result
        await asyncio.sleep(0.05)
    raise AssertionError("never happened")


async def react(fake_discord, guild, channel: str, *reactions: tuple[dict, str, dict]) -> None:
    """Members add reactions, in order: (message, emoji, member) each."""
    for message, emoji, user in reactions:
        await fake_discord.react(guild, channel, message["id"], emoji, user)


def button(message: dict, action: str) -> str:
    return next(c["custom_id"] for row in message["components"] for c in row["components"] if c["custom_id"].startswith(f"pb:{action}:"))


async def test_discuss_opens_one_thread_per_paper_and_answers_in_it_from_the_paper(paperbot, fake_discord, openai_server):
    bot, guild = paperbot
    general = channel_id(guild, "general")
    card = await paper_card(fake_discord, bot, guild, OMG_NET)
    discuss = button(card, "discuss")
    token = await fake_discord.click(guild, general, card, discuss)
    [opened] = await fake_discord.wait_for(lambda: fake_discord.followups.get(token))
    threads = [c for c in fake_discord.channels.values() if c["type"] == 11]
    assert len(threads) == 1 and threads[0]["parent_id"] == general and threads[0]["name"].startswith("OMG-Net")
    thread = threads[0]["id"]
    assert f"<#{thread}>" in opened["content"] and opened["flags"] & EPHEMERAL
    again = await fake_discord.click(guild, general, card, discuss)
    [pointer] = await fake_discord.wait_for(lambda: fake_discord.followups.get(again))
    assert f"<#{thread}>" in pointer["content"] and len([c for c in fake_discord.channels.values() if c["type"] == 11]) == 1

    fake_discord.no_threads.add(channel_id(guild, "papers"))
    refused = await fake_discord.click(guild, channel_id(guild, "papers"), card, discuss)
    [line] = await fake_discord.wait_for(lambda: fake_discord.followups.get(refused))
    assert "needs the Create Public Threads permission" in line["content"] and line["flags"] & EPHEMERAL

    openai_server.responder = lambda body: f"It detects mitotic figures in H&E slides [arXiv:{OMG_NET}]. @everyone [arXiv:1706.03762]"
    [starter] = fake_discord.messages[thread]
    assert "Discussion of OMG-Net" in starter["content"]
    await fake_discord.send_message(guild, thread, f"<@{fake_discord.bot_user['id']}> what does it detect?")
    answer = (await fake_discord.wait_for(lambda: fake_discord.messages[thread][1:]))[0]
    assert f"[arXiv:{OMG_NET}]" in answer["content"] and "1706.03762" not in answer["content"]
    assert answer["allowed_mentions"] == NO_PINGS
    [request] = openai_server.chat_requests()
    prompt = request.json["messages"][1]["content"]
    assert "what does it detect?" in prompt and "Mitotic activity" in prompt  # the paper's own text
    assert "paperbot: 💬 Discussion of OMG-Net" in prompt  # the thread so far

    await fake_discord.send_message(guild, thread, f"<@{fake_discord.bot_user['id']}> and the dataset?")
    await fake_discord.wait_for(lambda: len(fake_discord.messages[thread]) >= 3)
    second = openai_server.chat_requests()[1].json["messages"][1]["content"]
    assert "paperbot: It detects mitotic figures" in second  # the earlier answer is context


async def test_reactions_count_once_per_member_and_top_ranks_by_them(paperbot, fake_discord):
    bot, guild = paperbot
    general = channel_id(guild, "general")
    omg, sam = await paper_card(fake_discord, bot, guild, OMG_NET), await paper_card(fake_discord, bot, guild, MEDICAL_SAM)
    alice, bob = fake_discord.user("alice"), fake_discord.user("bob")
    await react(fake_discord, guild, general, (omg, "👍", alice), (omg, "👍", alice),  # twice: still one member
                (sam, "👍", alice), (sam, "👍", bob), (sam, "🔖", bob), (omg, "🎉", bob))  # 🎉 means nothing

    async def ranked():
        top = await votes.top(bot.lib.db, guild["id"])
        return [(t.paper.arxiv_id, t.votes, t.saves) for t in top] == [(MEDICAL_SAM, 2, 1), (OMG_NET, 1, 0)]

    await until(ranked)
    token = await fake_discord.send_slash_command(guild, general, "top", [{"name": "days", "type": 4, "value": 7}])
    [shown] = await fake_discord.wait_for(lambda: fake_discord.followups.get(token))
    assert shown["content"].index("Medical SAM 2") < shown["content"].index("OMG-Net")
    assert "👍 2 · 🔖 1" in shown["content"]

    await fake_discord.react(guild, general, sam["id"], "👍", alice, added=False)
    await fake_discord.react(guild, general, sam["id"], "👍", bob, added=False)

    async def reordered():
        top = await votes.top(bot.lib.db, guild["id"])
        return [t.paper.arxiv_id for t in top] == [OMG_NET]

    await until(reordered)
    saved = await votes.reading_list(bot.lib.db, Member(guild["id"], bob["id"]))
    assert [s.paper.arxiv_id for s in saved] == [MEDICAL_SAM]  # 🔖 put it on bob's list


async def test_read_in_my_language_is_private_and_the_second_reader_gets_it_without_the_llm(paperbot, fake_discord, openai_server):
    bot, guild = paperbot
    general = channel_id(guild, "general")
    openai_server.responder = lambda body: "Eine kurze Zusammenfassung von OMG-Net."
    alice, bob = fake_discord.user("alice"), fake_discord.user("bob")
    set_language = [{"name": "language", "type": 1, "options": [string_option("language", "de")]}]
    token = await fake_discord.send_slash_command(guild, general, "me", set_language, user=alice)
    [confirmed] = await fake_discord.wait_for(lambda: fake_discord.followups.get(token))
    assert "German (de)" in confirmed["content"] and confirmed["flags"] & EPHEMERAL

    card = await paper_card(fake_discord, bot, guild, OMG_NET)
    read = button(card, "read")
    first = await fake_discord.click(guild, general, card, read, user=alice)
    [written] = await fake_discord.wait_for(lambda: fake_discord.followups.get(first))
    assert "Eine kurze Zusammenfassung" in written["content"] and written["flags"] & EPHEMERAL
    assert fake_discord.callbacks[first]["type"] == 5 and len(openai_server.chat_requests()) == 1

    second = await fake_discord.click(guild, general, card, read, user=bob, locale="de")  # bob's client is German
    [cached] = await fake_discord.wait_for(lambda: fake_discord.followups.get(second))
    assert "Eine kurze Zusammenfassung" in cached["content"] and "stored text" in cached["content"]
    assert cached["flags"] & EPHEMERAL
    assert len(openai_server.chat_requests()) == 1, "the second member is served from the store"


async def test_save_readinglist_and_forget_by_command(paperbot, fake_discord):
    bot, guild = paperbot
    general = channel_id(guild, "general")
    alice = fake_discord.user("alice")

    async def say(name, options=None, user=alice) -> dict:
        token = await fake_discord.send_slash_command(guild, general, name, options or [], user=user)
        [reply] = await fake_discord.wait_for(lambda: fake_discord.followups.get(token))
        return reply

    assert "🔖 Saved" in (await say("save", [string_option("paper", OMG_NET)]))["content"]
    listed = await say("readinglist")
    assert "OMG-Net" in listed["content"] and listed["flags"] & EPHEMERAL
    assert "no paper with arXiv id 9999.99999" in (await say("save", [string_option("paper", "9999.99999")]))["content"]
    forgotten = await say("me", [{"name": "forget", "type": 1, "options": []}])
    assert "Forgotten: 1 records" in forgotten["content"]
    assert "empty" in (await say("readinglist"))["content"]


@pytest.fixture
async def watching_bot(fake_discord, watch_library_db, tmp_path, openai_server):
    path = tmp_path / "paperbot.db"
    shutil.copyfile(watch_library_db, path)
    settings = bot_settings(path, openai_server).model_copy(
        update={"embeddings": "local", "watch_interval_s": 0.2}
    )
    bot, guild, runner = await start(fake_discord, settings)
    try:
        yield bot, guild
    finally:
        await stop(bot, runner)


async def test_a_korean_watch_finds_a_new_english_paper_and_sends_one_dm(watching_bot, fake_discord):
    bot, guild = watching_bot
    general = channel_id(guild, "general")
    alice, bob = fake_discord.user("alice"), fake_discord.user("bob")
    fake_discord.closed_dms.add(bob["id"])
    for member in (alice, bob):
        add = [{"name": "add", "type": 1, "options": [string_option("topic", "단백질 구조 예측")]}]
        token = await fake_discord.send_slash_command(guild, general, "watch", add, user=member)
        [ok] = await fake_discord.wait_for(lambda: fake_discord.followups.get(token))
        assert "Watching “단백질 구조 예측”" in ok["content"]

    report = await ingest_bytes(bot.lib.db, digest("2026-11-20", TODAY, 100), "today.md")
    assert report.new == 3
    await embed_pending(bot.lib.db, bot.lib.retriever.embedder)
    [dm] = await fake_discord.wait_for(lambda: fake_discord.messages_to(alice), timeout=20)
    assert "Predicting protein structures with deep learning" in dm["content"] and "Reading club" in dm["content"]
    assert "graph databases" not in dm["content"] and "speech" not in dm["content"].lower()

    async def left_for_the_roundup():
        return await bot.lib.db.fetchval(
            "SELECT count(*) FROM watch_matches WHERE user_id = ? AND status = 'roundup'", (bob["id"],)
        )

    assert await until(left_for_the_roundup) == 1  # bob's DMs are closed
    await asyncio.sleep(0.5)  # more delivery rounds: nothing is sent twice
    assert len(fake_discord.messages_to(alice)) == 1 and fake_discord.messages_to(bob) == []


async def test_the_scheduled_roundup_has_buttons_per_entry_and_the_line_for_closed_dms(fake_discord, corpus_db, openai_server):
    clock = Clock(datetime(2024, 12, 14, 6, 0, tzinfo=timezone.utc))
    settings = bot_settings(corpus_db, openai_server).model_copy(update={"watch_interval_s": 0.2})
    bot, guild, runner = await start(fake_discord, settings, clock)
    try:
        bob = fake_discord.user("bob")
        fake_discord.closed_dms.add(bob["id"])
        add = [{"name": "add", "type": 1, "options": [string_option("topic", "mitotic figures")]}]
        token = await fake_discord.send_slash_command(guild, channel_id(guild, "general"), "watch", add, user=bob)
        await fake_discord.wait_for(lambda: fake_discord.followups.get(token))
        new = [("Counting mitotic figures with transformers", "Ana Silva, Bo Chen", "We count mitotic figures in slides."),
               ("Another paper of the day", "Cc Dd, Ee Ff", "Something else entirely.")]
        report = await ingest_bytes(bot.lib.db, digest("2024-12-14", new, 500), "today.md")
        assert report.new == 2

        async def kept_for_the_roundup():
            return await bot.lib.db.fetchval("SELECT count(*) FROM watch_matches WHERE status = 'roundup'")

        assert await until(kept_for_the_roundup) == 1  # by keywords (no vectors here); bob's DMs are closed
        papers = channel_id(guild, "papers")
        await update_settings(bot.lib.db, guild["id"], channel_id=papers, post_time="07:00", tz="UTC", enabled=True)
        clock.now = datetime(2024, 12, 14, 7, 0, tzinfo=timezone.utc)
        posted = await fake_discord.wait_for(lambda: len(fake_discord.messages.get(papers, [])) >= 4 and fake_discord.messages[papers])
        header, *entries, line = posted
        assert header["content"].startswith("📰 **Paper roundup · 2024-12-14**") and not header.get("components")
        assert header["content"].endswith("\n" + REACTIONS_HINT)  # members learn that reactions vote
        assert len(entries) == 2
        for entry in entries:  # each entry its own message, with its paper's buttons
            labels = [c["label"] for row in entry["components"] for c in row["components"]]
            assert labels == ["Discuss", "Read in my language"]
        assert line["content"].startswith(f"🔔 <@{bob['id']}>: Counting mitotic figures") and line["allowed_mentions"] == NO_PINGS

        token = await fake_discord.click(guild, papers, entries[0], button(entries[0], "discuss"))
        [opened] = await fake_discord.wait_for(lambda: fake_discord.followups.get(token))
        assert "Opened <#" in opened["content"]
        await asyncio.sleep(0.5)  # more scheduler and delivery rounds: nothing posted twice
        assert len(fake_discord.messages[papers]) == 4
    finally:
        await stop(bot, runner)


async def test_a_server_turns_on_ranking_by_its_votes(paperbot, fake_discord):
    bot, guild = paperbot
    options = [{"name": "set", "type": 1, "options": [{"name": "rank_by_votes", "type": 5, "value": True}]}]
    token = await fake_discord.send_slash_command(guild, channel_id(guild, "general"), "config", options, admin=True)
    await fake_discord.wait_for(lambda: token in fake_discord.callbacks)
    shown = fake_discord.callbacks[token]["data"]["content"]
    assert "Rank by the group's votes on related papers: yes" in shown
    assert (await get_settings(bot.lib.db, guild["id"])).rank_by_group_votes


async def test_an_answer_offers_each_source_in_the_readers_language(paperbot, fake_discord, openai_server):
    bot, guild = paperbot
    general = channel_id(guild, "general")
    openai_server.responder = lambda body: (
        "Ein Mitose-Detektor." if "German" in str(body["messages"]) else f"OMG-Net finds mitotic figures [arXiv:{OMG_NET}]."
    )
    token = await fake_discord.send_slash_command(guild, general, "ask", [string_option("question", "segment anything mitotic figures")])
    [answer] = await fake_discord.wait_for(lambda: "Sources:" in str(fake_discord.followups.get(token)) and fake_discord.followups[token])
    [read] = [c for row in answer["components"] for c in row["components"]]
    assert read["label"] == "Read 1"
    click = await fake_discord.click(guild, general, answer, read["custom_id"], locale="de")
    [private] = await fake_discord.wait_for(lambda: fake_discord.followups.get(click))
    assert "Ein Mitose-Detektor." in private["content"] and private["flags"] & EPHEMERAL and "OMG-Net" in private["content"]


def entry_paper(message: dict) -> int:
    """The paper of a roundup entry's message, from its Discuss button."""
    return int(button(message, "discuss").split(":")[-1])


async def scheduled_roundup(fake_discord, bot, guild, clock: Clock, max_papers: int) -> list[dict]:
    """Turn on the roundup in #papers at 07:00 UTC, move the clock there, and wait for its
    header and entries."""
    papers = channel_id(guild, "papers")
    await update_settings(bot.lib.db, guild["id"], channel_id=papers, post_time="07:00", tz="UTC", enabled=True,
                          max_papers=max_papers)
    clock.now = datetime(2024, 12, 14, 7, 0, tzinfo=timezone.utc)
    return await fake_discord.wait_for(
        lambda: len(fake_discord.messages.get(papers, [])) > max_papers and fake_discord.messages[papers]
    )


async def paper_link(bot, entry: dict) -> str:
    """How the reading room's lists name an entry's paper."""
    paper = await paper_detail(bot.lib.db, entry_paper(entry))
    return link(paper.key, paper.arxiv_id)


async def group_counts(bot, guild) -> dict[int, tuple[int, int]]:
    return {top.paper.id: (top.votes, top.saves) for top in await votes.top(bot.lib.db, guild["id"])}


async def test_votes_and_saves_on_roundup_entries_count_once_per_member_and_show_in_top_and_reading_lists(
    fake_discord, corpus_db, openai_server
):
    clock = Clock(datetime(2024, 12, 14, 6, 0, tzinfo=timezone.utc))
    bot, guild, runner = await start(fake_discord, bot_settings(corpus_db, openai_server), clock)
    try:
        papers, general = channel_id(guild, "papers"), channel_id(guild, "general")
        header, first, second, _ = await scheduled_roundup(fake_discord, bot, guild, clock, max_papers=3)
        alice, bob = fake_discord.user("alice"), fake_discord.user("bob")
        await react(fake_discord, guild, papers, (first, "👍", alice), (first, "👍", alice),  # twice: still one member
                    (second, "👍", alice), (second, "👍", bob), (second, "🔖", alice),
                    (header, "👍", bob))  # the header names no paper

        async def counted():
            return await group_counts(bot, guild) == {entry_paper(second): (2, 1), entry_paper(first): (1, 0)}

        await until(counted)

        async def say(name, options=None, user=alice) -> str:
            token = await fake_discord.send_slash_command(guild, general, name, options or [], user=user)
            replies = await fake_discord.wait_for(lambda: fake_discord.followups.get(token))
            return "\n".join(reply["content"] for reply in replies)

        first_link, second_link = [await paper_link(bot, entry) for entry in (first, second)]
        shown = await say("top")
        assert shown.index(second_link) < shown.index(first_link) and "👍 2 · 🔖 1" in shown
        assert second_link in await say("readinglist")

        await fake_discord.react(guild, papers, second["id"], "👍", bob, added=False)  # removing takes it back
        await fake_discord.react(guild, papers, second["id"], "🔖", alice, added=False)

        async def taken_back():
            return await group_counts(bot, guild) == {entry_paper(second): (1, 0), entry_paper(first): (1, 0)}

        await until(taken_back)
        assert "reading list is empty" in await say("readinglist")

        # /roundup on demand posts the same way: a reaction on its entry counts for that paper
        token = await fake_discord.send_slash_command(guild, general, "roundup", [{"name": "limit", "type": 4, "value": 1}])
        on_demand, entry = await fake_discord.wait_for(lambda: len(fake_discord.followups.get(token, [])) >= 2 and fake_discord.followups[token])
        assert on_demand["content"].endswith("\n" + REACTIONS_HINT) and entry_paper(entry) == entry_paper(first)
        await fake_discord.react(guild, general, entry["id"], "👍", bob)

        async def on_demand_counted():
            return (await group_counts(bot, guild))[entry_paper(first)] == (2, 0)

        await until(on_demand_counted)
    finally:
        await stop(bot, runner)


class ProcessDied(BaseException):
    """The process stopped: nothing after the raise runs (not an Exception a handler catches)."""


class DyingPoster(DiscordPoster):
    """Posts through discord.py, and dies right after the n-th message is on Discord, before
    paperbot records it: the worst moment for a stop."""

    def __init__(self, client, dies_after: int):
        super().__init__(client)
        self.left = dies_after

    async def send(self, channel_id, text, paper_id=None):
        message_id = await super().send(channel_id, text, paper_id)
        self.left -= 1
        if self.left == 0:
            raise ProcessDied()
        return message_id


@pytest.fixture
async def roundup_at_seven(fake_discord, corpus_db, openai_server):
    """The bot at 06:00 UTC, its server's roundup (3 papers) due in #papers at 07:00 UTC:
    (bot, guild, its clock, #papers)."""
    clock = Clock(datetime(2024, 12, 14, 6, 0, tzinfo=timezone.utc))  # the bot's own schedule: not due yet
    bot, guild, runner = await start(fake_discord, bot_settings(corpus_db, openai_server), clock)
    try:
        papers = channel_id(guild, "papers")
        await update_settings(bot.lib.db, guild["id"], channel_id=papers, post_time="07:00", tz="UTC", enabled=True,
                              max_papers=3)
        yield bot, guild, clock, papers
    finally:
        await stop(bot, runner)


async def test_a_roundup_stopped_mid_send_resumes_with_the_rest_and_votes_on_both_runs_count(
    roundup_at_seven, fake_discord
):
    bot, guild, clock, papers = roundup_at_seven
    dying = RoundupScheduler(bot.lib, DyingPoster(bot, dies_after=2), clock=Clock(datetime(2024, 12, 14, 7, 0, tzinfo=timezone.utc)))
    with pytest.raises(ProcessDied):
        await dying.run_due()
    header, first = fake_discord.messages[papers]  # the header, recorded; entry 1, not recorded
    run = await last_run(bot.lib.db, guild["id"])
    assert run["status"] == "sending" and json.loads(run["message_ids"]) == [header["id"]]

    clock.now = datetime(2024, 12, 14, 7, 0, tzinfo=timezone.utc) + timedelta(seconds=LEASE_S + 1)  # the lease ran out
    posted = await fake_discord.wait_for(lambda: len(fake_discord.messages[papers]) >= 4 and fake_discord.messages[papers])
    await asyncio.sleep(0.5)  # more scheduler ticks: nothing posted twice
    assert fake_discord.messages[papers] == posted and posted[:2] == [header, first]
    assert [post["content"][:5] for post in posted[1:]] == ["**1. ", "**2. ", "**3. "]
    _, _, second, third = posted
    for entry in (second, third):  # the resumed run's entries have their buttons
        assert [c["label"] for row in entry["components"] for c in row["components"]] == ["Discuss", "Read in my language"]
    run = await last_run(bot.lib.db, guild["id"])
    assert run["status"] == "done" and json.loads(run["message_ids"]) == [m["id"] for m in posted]

    alice, bob = fake_discord.user("alice"), fake_discord.user("bob")
    await react(fake_discord, guild, papers, (first, "👍", alice),  # posted by the run that died
                (third, "👍", bob), (third, "🔖", alice))  # posted by the resumed run

    async def counted():
        return await group_counts(bot, guild) == {entry_paper(first): (1, 0), entry_paper(third): (1, 1)}

    await until(counted)
    saved = await votes.reading_list(bot.lib.db, Member(guild["id"], alice["id"]))
    assert [item.paper.id for item in saved] == [entry_paper(third)]


async def test_a_roundup_stored_before_the_reactions_hint_resumes_without_posting_its_header_twice(
    roundup_at_seven, fake_discord
):
    bot, guild, clock, papers = roundup_at_seven
    # a run stored by a paperbot from before the hint (its header: today's without the hint
    # line), whose process died after posting the header, before recording it
    roundup = await build_roundup(bot.lib, limit=2, on_or_before="2024-12-14")
    before = roundup.posts
    assert REACTIONS_HINT not in before[0].text
    await bot.lib.db.execute(
        "INSERT INTO roundup_runs (guild_id, local_date, status, channel_id, started_at, blocks, block_papers, "
        "outcome, digest_date) VALUES (?, '2024-12-14', 'sending', ?, ?, ?, ?, 'done', ?)",
        (guild["id"], papers, iso(datetime.now(timezone.utc) - timedelta(minutes=1)),
         json.dumps([post.text for post in before]), json.dumps([post.papers for post in before]), roundup.date),
    )
    fake_discord.messages[papers] = [fake_discord.message(papers, fake_discord.bot_user, {"content": before[0].text})]

    clock.now = datetime(2024, 12, 14, 7, 0, tzinfo=timezone.utc)
    posted = await fake_discord.wait_for(lambda: len(fake_discord.messages[papers]) >= 3 and fake_discord.messages[papers])
    await asyncio.sleep(0.5)  # more scheduler ticks: nothing posted twice
    assert [m["content"] for m in fake_discord.messages[papers]] == [post.text for post in before]
    assert [entry_paper(entry) for entry in posted[1:]] == [post.paper for post in before[1:]]
    run = await last_run(bot.lib.db, guild["id"])
    assert run["status"] == "done" and json.loads(run["message_ids"]) == [m["id"] for m in posted]
