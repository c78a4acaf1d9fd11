"""paperbot on Discord, end to end: the real discord.py stack against a fake Discord on
127.0.0.1, with the real corpus and a scripted OpenAI-compatible server."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import threading
import time
from datetime import datetime, timedelta, timezone

import aiohttp
import discord
import pytest

from bot.services.ingest import ingest_bytes
from bot.discord.bot import PaperBot, run_bot, serve
from bot.services.guilds import update_settings
from bot.discord.cogs.questions import EDIT_INTERVAL_S
from bot.discord.cogs.roundup import SHUTDOWN_GRACE_S
from bot.services.scheduler import iso, last_run
from bot.settings import Settings
from bot.store import Database
from tests.conftest import corpus_file
from tests.support.fake_discord import CommandUnavailable, FakeDiscord, Interaction
from tests.support.openai_server import Reply, server_error

NO_PINGS = {"parse": []}
EPHEMERAL = 64

MENTION_DIGEST = """\
### LLM
|Publish Date|Title|Authors|Homepage|Code|
| :---: | :---: | :---: | :---: | :---: |
|**2025-02-01**|**@everyone Attention Is All You Need <@&123456>**|A. Author et.al.|[2502.00001v1](http://arxiv.org/abs/2502.00001v1)|null|
"""


class Clock:
    def __init__(self, now: datetime):
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def string_option(name: str, value) -> dict:
    return {"name": name, "type": 3, "value": value}


def bot_settings(corpus_db, openai_server, **more) -> Settings:
    return Settings(
        **more,
        PAPERBOT_DB=corpus_db,
        PAPERBOT_EMBEDDINGS="off",
        OPENAI_API_KEY="sk-test",
        OPENAI_BASE_URL=openai_server.base_url,
        PAPERBOT_LLM_TIMEOUT=2.0,
        PAPERBOT_LLM_MAX_ATTEMPTS=2,
        DISCORD_TOKEN="fake-token",
        PAPERBOT_LLM_COOLDOWN=0.01,
        PAPERBOT_SCHEDULER_TICK=0.1,
        PAPERBOT_MAX_ATTACHMENT_BYTES=200_000,
    )


@pytest.fixture
async def paperbot(fake_discord, corpus_db, openai_server):
    """A running PaperBot connected to the fake Discord; yields (bot, guild, clock)."""
    guild = fake_discord.add_guild("Reading club", ["general", "papers"])
    settings = bot_settings(corpus_db, openai_server)
    clock = Clock(datetime(2024, 12, 14, 6, 0, tzinfo=timezone.utc))
    bot = PaperBot(settings, clock=clock)
    await bot.login("fake-token")
    fake_discord.install_commands([command.to_dict(bot.tree) for command in bot.tree.get_commands()])
    runner = asyncio.create_task(bot.connect(reconnect=False))
    await asyncio.wait_for(bot.wait_until_ready(), 10)
    try:
        yield bot, guild, clock
    finally:
        await bot.close()
        await asyncio.wait_for(runner, 10)


def channel_id(guild: dict, name: str) -> str:
    return next(c["id"] for c in guild["channels"] if c["name"] == name)


async def test_connects_with_heartbeats_and_syncs_commands_only_when_the_owner_asks(paperbot, fake_discord):
    bot, guild, _ = paperbot
    assert bot.user.name == "paperbot" and bot.get_guild(int(guild["id"])) is not None
    await fake_discord.wait_for(lambda: fake_discord.heartbeats >= 1, timeout=5)
    assert not any(r.method == "PUT" for r in fake_discord.requests), "no blind sync at start-up"
    general = channel_id(guild, "general")
    await fake_discord.send_message(guild, general, f"<@{fake_discord.bot_user['id']}> sync", user=fake_discord.user("stranger"))
    refusal = await fake_discord.wait_for(lambda: fake_discord.messages.get(general))
    assert "owner" in refusal[-1]["content"]
    await fake_discord.send_message(guild, general, f"<@{fake_discord.bot_user['id']}> sync", user=fake_discord.owner)
    synced = await fake_discord.wait_for(lambda: fake_discord.commands.get(guild["id"]))
    names = {command["name"] for command in synced}
    assert names >= {"search", "paper", "ask", "summarize", "roundup", "config", "ingest", "usage"}
    ask = next(c for c in synced if c["name"] == "ask")
    assert all(option["description"] for option in ask["options"])
    options = {option["name"]: option for option in ask["options"]}
    assert options["paper"].get("autocomplete")
    languages = [choice["value"] for choice in options["language"]["choices"]]
    assert len(languages) == 25 and {"en", "zh", "zh-Hant", "ko"} <= set(languages)
    summarize = next(c for c in synced if c["name"] == "summarize")
    style = next(option for option in summarize["options"] if option["name"] == "style")
    assert [choice["value"] for choice in style["choices"]] == ["brief", "structured"]


async def test_ask_defers_at_once_then_answers_with_citations(paperbot, fake_discord, openai_server):
    _, guild, _ = paperbot
    openai_server.responder = lambda body: "OMG-Net finds mitotic figures with SAM [arXiv:2407.12773]. @everyone"
    token = await fake_discord.send_slash_command(
        guild, channel_id(guild, "general"), "ask", [string_option("question", "segment anything mitotic figures")]
    )
    await fake_discord.wait_for(lambda: "Sources:" in str(fake_discord.followups.get(token)))
    callback = fake_discord.callbacks[token]
    assert callback["type"] == 5 and callback["delay"] < 3.0  # deferred inside Discord's 3 s
    [reply] = fake_discord.followups[token]
    assert "[arXiv:2407.12773]" in reply["content"] and "Sources:" in reply["content"]
    assert reply["allowed_mentions"] == NO_PINGS
    assert all(len(m["content"]) <= 2000 for m in fake_discord.followups[token])


async def test_long_answers_are_split_under_2000_characters(paperbot, fake_discord, openai_server):
    _, guild, _ = paperbot
    paragraph = "Diffusion models keep improving on video. " * 30  # ~1,300 characters
    openai_server.script(Reply(text="\n\n".join([paragraph] * 5), stream_chunks=[paragraph + "\n\n"] * 5))
    token = await fake_discord.send_slash_command(
        guild, channel_id(guild, "general"), "ask", [string_option("question", "video diffusion")]
    )
    await fake_discord.wait_for(lambda: len(fake_discord.followups.get(token, [])) >= 4)
    await asyncio.sleep(0.3)
    contents = [m["content"] for m in fake_discord.followups[token]]
    assert all(len(c) <= 2000 for c in contents) and len(contents) >= 4
    assert sum(c.count("Diffusion models keep improving") for c in contents) == 150  # nothing lost


async def test_llm_failing_mid_command_gives_a_short_ephemeral_error(paperbot, fake_discord, openai_server):
    _, guild, _ = paperbot
    openai_server.script(server_error(500), server_error(500), server_error(500), server_error(500))
    token = await fake_discord.send_slash_command(
        guild, channel_id(guild, "general"), "summarize", [string_option("paper", "2407.12772")]
    )
    [error] = await fake_discord.wait_for(lambda: fake_discord.followups.get(token))
    assert fake_discord.callbacks[token]["type"] == 5
    assert "HTTP 500" in error["content"] and error["flags"] & EPHEMERAL
    assert "Traceback" not in error["content"] and len(error["content"]) < 300


async def test_everyone_in_a_paper_title_pings_nobody(paperbot, fake_discord):
    bot, guild, clock = paperbot
    report = await ingest_bytes(bot.lib.db, MENTION_DIGEST.encode(), "mentions.md")
    assert report.new == 1
    clock.now = datetime(2025, 2, 1, 12, 0, tzinfo=timezone.utc)  # the digest's day
    token = await fake_discord.send_slash_command(guild, channel_id(guild, "general"), "roundup", [])
    header, post = await fake_discord.wait_for(lambda: len(fake_discord.followups.get(token, [])) >= 2 and fake_discord.followups[token])
    assert "@everyone Attention" in post["content"] and "<@&123456" in post["content"]
    assert header["allowed_mentions"] == post["allowed_mentions"] == NO_PINGS


async def test_paper_embed_stays_within_discord_limits(paperbot, fake_discord):
    _, guild, _ = paperbot
    token = await fake_discord.send_slash_command(
        guild, channel_id(guild, "general"), "paper", [string_option("paper", "arXiv:2407.12773")]
    )
    [reply] = await fake_discord.wait_for(lambda: fake_discord.followups.get(token))
    [embed] = reply["embeds"]
    assert embed["title"].startswith("OMG-Net") and embed["url"] == "https://arxiv.org/abs/2407.12773"
    total = len(embed["title"]) + len(embed.get("description", "")) + len(embed["footer"]["text"]) + sum(
        len(f["name"]) + len(f["value"]) for f in embed["fields"]
    )
    assert total <= 6000 and len(embed["description"]) <= 4096 and len(embed["fields"]) <= 25
    assert any(f["name"] == "Related papers" for f in embed["fields"])


async def test_config_is_hidden_from_members_and_refused_politely_in_text(paperbot, fake_discord):
    bot, guild, _ = paperbot
    general = channel_id(guild, "general")
    show = [{"name": "show", "type": 1, "options": []}]
    with pytest.raises(CommandUnavailable, match="hidden from members"):  # default_member_permissions
        await fake_discord.send_slash_command(guild, general, "config", show)
    await fake_discord.send_message(guild, general, f"<@{fake_discord.bot_user['id']}> config")
    [refusal] = await fake_discord.wait_for(lambda: fake_discord.messages.get(general))
    assert "Manage Server" in refusal["content"]
    set_options = [{"name": "set", "type": 1, "options": [
        string_option("time", "07:30"), string_option("timezone", "Asia/Seoul"), string_option("language", "ko"),
        {"name": "enabled", "type": 5, "value": True},
    ]}]
    admin_token = await fake_discord.send_slash_command(guild, general, "config", set_options, admin=True)
    await fake_discord.wait_for(lambda: admin_token in fake_discord.callbacks)
    shown = fake_discord.callbacks[admin_token]["data"]
    assert "07:30 (Asia/Seoul)" in shown["content"] and "Korean" in shown["content"] and shown["flags"] & EPHEMERAL


async def test_scheduled_roundup_is_posted_once_and_a_deleted_channel_is_reported(paperbot, fake_discord):
    bot, guild, clock = paperbot
    other = fake_discord.add_guild("Other club", ["gone"])
    papers = channel_id(guild, "papers")
    await update_settings(bot.lib.db, guild["id"], channel_id=papers, post_time="07:00", tz="UTC", enabled=True, max_papers=3)
    await update_settings(bot.lib.db, other["id"], channel_id=channel_id(other, "gone"), post_time="07:00", enabled=True)
    fake_discord.delete_channel(channel_id(other, "gone"))
    await asyncio.sleep(0.3)
    assert papers not in fake_discord.messages  # 06:00: not yet
    clock.now = datetime(2024, 12, 14, 7, 0, tzinfo=timezone.utc)
    posted = await fake_discord.wait_for(lambda: len(fake_discord.messages.get(papers, [])) >= 4 and fake_discord.messages[papers])
    await asyncio.sleep(0.5)  # several more scheduler ticks
    assert len(fake_discord.messages[papers]) == len(posted) == 4  # a header and 3 entries, once
    assert posted[0]["content"].startswith("📰 **Paper roundup · 2024-12-13**")
    assert [post["content"][:5] for post in posted[1:]] == ["**1. ", "**2. ", "**3. "]
    assert all(post["allowed_mentions"] == NO_PINGS for post in posted)
    run = await last_run(bot.lib.db, other["id"])
    assert run["status"] == "failed" and "no longer exists" in run["error"]


async def test_ingest_takes_an_attachment_and_reports_what_it_added(paperbot, fake_discord):
    bot, guild, _ = paperbot
    general = channel_id(guild, "general")
    option, resolved = fake_discord.attachment("digest", "today.md", MENTION_DIGEST.encode())
    token = await fake_discord.send_slash_command(guild, general, "ingest", [option], admin=True, resolved=resolved)
    [report] = await fake_discord.wait_for(lambda: fake_discord.followups.get(token))
    assert "today.md (arxiv-daily-tables, 2025-02-01): 1 new papers" in report["content"]  # a table, no abstracts
    assert await bot.lib.db.fetchval("SELECT count(*) FROM papers WHERE arxiv_id = '2502.00001'") == 1

    option, resolved = fake_discord.attachment("digest", "noise.bin", bytes(range(256)) * 4)
    token = await fake_discord.send_slash_command(guild, general, "ingest", [option], admin=True, resolved=resolved)
    [error] = await fake_discord.wait_for(lambda: fake_discord.followups.get(token))
    assert error["content"] == "noise.bin: not text (binary data)"

    big = corpus_file("002").read_bytes()  # 344 kB, over this bot's 200 kB limit
    option, resolved = fake_discord.attachment("digest", "big.txt", big)
    token = await fake_discord.send_slash_command(guild, general, "ingest", [option], admin=True, resolved=resolved)
    await fake_discord.wait_for(lambda: token in fake_discord.callbacks)
    refusal = fake_discord.callbacks[token]
    assert "the limit is 200,000" in refusal["data"]["content"] and refusal["data"]["flags"] & EPHEMERAL
    assert fake_discord.downloads == ["today.md", "noise.bin"]  # the big one was refused unread


async def test_cooldown_and_daily_budget_say_when_to_try_again(paperbot, fake_discord, openai_server):
    bot, guild, _ = paperbot
    general = channel_id(guild, "general")
    member = fake_discord.user("eager")
    bot.settings.llm_cooldown_s = 60
    first = await fake_discord.send_slash_command(guild, general, "summarize", [string_option("paper", "2407.12772")], user=member)
    await fake_discord.wait_for(lambda: fake_discord.followups.get(first))
    second = await fake_discord.send_slash_command(guild, general, "summarize", [string_option("paper", "2407.12772")], user=member)
    await fake_discord.wait_for(lambda: second in fake_discord.callbacks)
    slow_down = fake_discord.callbacks[second]["data"]
    assert "try again in" in slow_down["content"] and slow_down["flags"] & EPHEMERAL

    bot.settings.llm_cooldown_s = 0.01
    bot.settings.guild_daily_token_budget = 10  # the first summary spent more than that
    third = await fake_discord.send_slash_command(
        guild, general, "ask", [string_option("question", "knowledge distillation")], user=fake_discord.user("other")
    )
    [budget] = await fake_discord.wait_for(lambda: fake_discord.followups.get(third))
    assert "daily LLM token budget" in budget["content"] and "midnight UTC" in budget["content"]
    assert len(openai_server.chat_requests()) == 1


def patch_times(fake: FakeDiscord, token: str) -> list[float]:
    return [r.at for r in fake.requests if r.method == "PATCH" and token in r.path]


async def test_answers_stream_by_editing_under_the_rate_limit(paperbot, fake_discord, openai_server):
    _, guild, _ = paperbot
    words = [f"word{n} " for n in range(250)]  # the server sends one every 10 ms: ~2.5 s in all
    final = "".join(words).strip()
    openai_server.script(Reply(text="".join(words), stream_chunks=words))
    token = await fake_discord.send_slash_command(guild, channel_id(guild, "general"), "ask", [string_option("question", "diffusion")])
    # done when the final text is in place: a preview can hold every word, but with the cursor
    await fake_discord.wait_for(lambda: [m["content"] for m in fake_discord.followups.get(token, [])] == [final], timeout=20)
    patches = patch_times(fake_discord, token)
    assert patches, "the answer was shown live, then replaced by the final text"
    gaps = [b - a for a, b in zip(patches, patches[1:])]
    assert all(gap >= EDIT_INTERVAL_S for gap in gaps), gaps  # 4 per 5 s: under Discord's 5
    assert not fake_discord.rejections


async def test_a_slow_discord_does_not_count_against_the_llm_deadline(paperbot, fake_discord, openai_server):
    bot, guild, _ = paperbot
    bot.settings.llm_deadline_s = 2.5
    fake_discord.response_delay_s = 3.0  # each preview takes Discord 3 s, longer than the deadline
    words = [f"w{n} " for n in range(100)]  # ~1 s of streaming
    openai_server.script(Reply(text="".join(words), stream_chunks=words))
    token = await fake_discord.send_slash_command(guild, channel_id(guild, "general"), "ask", [string_option("question", "diffusion")])
    final = "".join(words).strip()
    await fake_discord.wait_for(lambda: [m["content"] for m in fake_discord.followups.get(token, [])] == [final], timeout=20)
    assert len(openai_server.chat_requests()) == 1  # not retried as a failed LLM call


async def test_previews_stop_before_the_interaction_token_expires(paperbot, fake_discord, openai_server):
    _, guild, _ = paperbot
    words = [f"late{n} " for n in range(200)]
    openai_server.script(Reply(text="".join(words), stream_chunks=words))
    token = await fake_discord.send_slash_command(  # 14 min 30 s old: 30 s of token left
        guild, channel_id(guild, "general"), "ask", [string_option("question", "diffusion")], age_s=14 * 60 + 30
    )
    final = "".join(words).strip()
    await fake_discord.wait_for(lambda: [m["content"] for m in fake_discord.followups.get(token, [])] == [final], timeout=20)
    assert patch_times(fake_discord, token) == [] and not fake_discord.rejections


async def test_text_commands_take_the_rest_of_the_line(paperbot, fake_discord, openai_server):
    _, guild, _ = paperbot
    general = channel_id(guild, "general")
    mention = f"<@{fake_discord.bot_user['id']}>"
    openai_server.responder = lambda body: "Distillation trains a small model on a large one's outputs."
    await fake_discord.send_message(guild, general, f"{mention} ask what is knowledge distillation")
    await fake_discord.wait_for(lambda: "Distillation trains" in str(fake_discord.messages.get(general)), timeout=15)
    assert any("what is knowledge distillation" in json.dumps(r.json, ensure_ascii=False) for r in openai_server.chat_requests())
    assert "language tag" not in str(fake_discord.messages[general])

    await fake_discord.send_message(guild, general, f"{mention} summarize 2407.12773 ko structured")
    await fake_discord.wait_for(lambda: len(openai_server.chat_requests()) >= 2, timeout=15)
    prompt = json.dumps(openai_server.chat_requests()[-1].json, ensure_ascii=False)
    assert "Korean" in prompt and "OMG-Net" in prompt


async def test_an_answer_of_exactly_2000_characters_is_one_message_and_2001_two(paperbot, fake_discord, openai_server):
    _, guild, _ = paperbot
    general = channel_id(guild, "general")
    delivered = {}
    for size in (2000, 2001):
        text = ("x" * 99 + " ") * (size // 100) + "y" * (size % 100)
        text = text[:size - 1] + "z"
        assert len(text) == size
        openai_server.script(Reply(text=text))
        token = await fake_discord.send_slash_command(guild, general, "ask", [string_option("question", f"size {size}")])
        await fake_discord.wait_for(
            lambda: "▌" not in str(fake_discord.followups.get(token)) and sum(
                len(m["content"]) for m in fake_discord.followups.get(token, [])) >= size - 2, timeout=15)
        await asyncio.sleep(0.3)
        delivered[size] = [m["content"] for m in fake_discord.followups[token]]
    assert [len(m) for m in delivered[2000]] == [2000]
    assert len(delivered[2001]) == 2 and all(len(m) <= 2000 for m in delivered[2001])
    assert not fake_discord.rejections


HUGE_PAPER = """\
### LLM
|Publish Date|Title|Authors|Homepage|Code|
| :---: | :---: | :---: | :---: | :---: |
|**2025-03-01**|**{title}**|{authors}|[2503.00001v1](http://arxiv.org/abs/2503.00001v1)|null|
"""


async def test_an_outsized_paper_still_makes_an_embed_discord_accepts(paperbot, fake_discord):
    bot, guild, _ = paperbot
    title = "Scaling " * 60  # 480 characters
    authors = ", ".join(f"Author Number{n} Longname" for n in range(120))  # ~3,000 characters
    report = await ingest_bytes(bot.lib.db, HUGE_PAPER.format(title=title.strip(), authors=authors).encode(), "huge.md")
    assert report.new == 1
    token = await fake_discord.send_slash_command(guild, channel_id(guild, "general"), "paper", [string_option("paper", "2503.00001")])
    [reply] = await fake_discord.wait_for(lambda: fake_discord.followups.get(token))
    assert reply["embeds"] and len(reply["embeds"][0]["title"]) <= 256
    assert not fake_discord.rejections


async def test_autocomplete_answers_within_discords_rules(paperbot, fake_discord):
    _, guild, _ = paperbot
    general = channel_id(guild, "general")
    zone = [{"name": "set", "type": 1, "options": [{"name": "timezone", "type": 3, "value": "euro", "focused": True}]}]
    token = await fake_discord.send_autocomplete(guild, general, "config", zone, admin=True)
    await fake_discord.wait_for(lambda: fake_discord.interactions[token].choices is not None)
    zones = [c["value"] for c in fake_discord.interactions[token].choices]
    assert len(zones) == 25 and all(z.startswith("Europe/") for z in zones)
    token = await fake_discord.send_autocomplete(guild, general, "paper", [{"name": "paper", "type": 3, "value": "", "focused": True}])
    await fake_discord.wait_for(lambda: fake_discord.interactions[token].choices is not None)
    assert len(fake_discord.interactions[token].choices) == 25 and not fake_discord.rejections


async def test_roundup_works_in_dms_on_the_members_budget_with_a_cooldown(paperbot, fake_discord):
    bot, _, _ = paperbot
    member = fake_discord.user("reader")
    dm = fake_discord.dm_channel(member)
    first = await fake_discord.send_slash_command(None, dm, "roundup", [string_option("language", "ko")], user=member)
    posts = await fake_discord.wait_for(lambda: fake_discord.followups.get(first), timeout=15)
    assert posts[0]["content"].startswith("📰 **Paper roundup · 2024-12-13**")
    assert "React 👍" not in posts[0]["content"]  # reactions in a DM count for nothing
    spent_by = {row[0] for row in await bot.lib.db.fetchall("SELECT DISTINCT guild_id FROM llm_calls")}
    assert spent_by == {f"dm:{member['id']}"}
    again = await fake_discord.send_slash_command(None, dm, "roundup", [], user=member)
    await fake_discord.wait_for(lambda: again in fake_discord.callbacks)
    slow_down = fake_discord.callbacks[again]["data"]
    assert "try again in" in slow_down["content"] and slow_down["flags"] & EPHEMERAL


async def test_a_spent_budget_in_dms_is_called_the_members_own(paperbot, fake_discord):
    bot, guild, _ = paperbot
    member = fake_discord.user("reader")
    dm = fake_discord.dm_channel(member)
    bot.settings.roundup_cooldown_s = 0.01
    first = await fake_discord.send_slash_command(None, dm, "roundup", [string_option("language", "ko")], user=member)
    await fake_discord.wait_for(lambda: fake_discord.followups.get(first), timeout=15)
    bot.settings.guild_daily_token_budget = 10  # the Korean summaries spent more than that
    await asyncio.sleep(0.05)  # past the cooldown
    token = await fake_discord.send_slash_command(None, dm, "roundup", [string_option("language", "ja")], user=member)
    header = (await fake_discord.wait_for(lambda: fake_discord.followups.get(token), timeout=15))[0]["content"]
    assert "your daily LLM token budget for direct messages (10 tokens) is spent" in header
    assert "server" not in header
    await fake_discord.send_slash_command(guild, channel_id(guild, "general"), "ask",
                                          [string_option("question", "knowledge distillation")])
    for _ in range(200):  # until the answer's call is in the ledger (its first message may be a preview)
        if await bot.lib.db.fetchval("SELECT count(*) FROM llm_calls WHERE guild_id = ?", (guild["id"],)):
            break
        await asyncio.sleep(0.05)
    again = await fake_discord.send_slash_command(guild, channel_id(guild, "general"), "ask",
                                                  [string_option("question", "knowledge distillation")])
    [refused] = await fake_discord.wait_for(lambda: fake_discord.followups.get(again))
    assert "this server's daily LLM token budget (10 tokens) is spent" in refused["content"]


async def test_settings_are_retired_when_the_bot_leaves_a_server(paperbot, fake_discord):
    bot, guild, _ = paperbot
    await update_settings(bot.lib.db, guild["id"], channel_id=channel_id(guild, "papers"), enabled=True)
    await fake_discord.remove_guild(guild["id"])
    await fake_discord.wait_for(lambda: bot.get_guild(int(guild["id"])) is None)
    await asyncio.sleep(0.2)
    assert await bot.lib.db.fetchval("SELECT count(*) FROM guild_settings WHERE guild_id = ?", (guild["id"],)) == 0


async def test_the_channel_is_checked_before_the_roundup_is_built(paperbot, fake_discord, openai_server):
    bot, guild, clock = paperbot
    papers = channel_id(guild, "papers")
    await update_settings(bot.lib.db, guild["id"], channel_id=papers, post_time="07:00", lang="ja", enabled=True)
    await fake_discord.deny_send(papers)
    await asyncio.sleep(0.2)
    clock.now = datetime(2024, 12, 14, 7, 0, tzinfo=timezone.utc)
    run = None
    for _ in range(100):
        run = await last_run(bot.lib.db, guild["id"])
        if run and run["status"] != "sending":
            break
        await asyncio.sleep(0.05)
    assert run["status"] == "failed" and "may not post" in run["error"]
    assert openai_server.chat_requests() == [] and run["blocks"] is None  # nothing built, nothing paid


async def test_an_interrupted_run_resumes_from_the_channel_history_with_its_stored_blocks(paperbot, fake_discord):
    bot, guild, clock = paperbot
    papers = channel_id(guild, "papers")
    await update_settings(bot.lib.db, guild["id"], channel_id=papers, post_time="07:00", tz="UTC", enabled=True)
    started = datetime.now(timezone.utc) - timedelta(minutes=1)
    blocks = ["📰 first stored block", "second stored block", "third stored block"]
    await bot.lib.db.execute(  # a process died after sending the first block, before recording it
        "INSERT INTO roundup_runs (guild_id, local_date, status, channel_id, started_at, blocks, outcome, digest_date) "
        "VALUES (?, '2024-12-14', 'sending', ?, ?, ?, 'done', '2024-12-13')",
        (guild["id"], papers, iso(started), json.dumps(blocks)),
    )
    fake_discord.messages[papers] = [fake_discord.message(papers, fake_discord.bot_user, {"content": blocks[0]})]
    clock.now = datetime(2024, 12, 14, 7, 0, tzinfo=timezone.utc)
    await fake_discord.wait_for(lambda: len(fake_discord.messages[papers]) >= 3)
    await asyncio.sleep(0.3)
    assert [m["content"] for m in fake_discord.messages[papers]] == blocks
    assert any(r.method == "GET" and r.path == f"/channels/{papers}/messages" and "after" in r.query
               for r in fake_discord.requests), "the history was read through discord.py"
    run = await last_run(bot.lib.db, guild["id"])
    assert run["status"] == "done" and json.loads(run["message_ids"]) == [m["id"] for m in fake_discord.messages[papers]]


async def serving_mid_roundup(fake: FakeDiscord, corpus_db, openai_server, *, post_delay_s: float):
    """`paperbot run` (serve) with a roundup due, once its first post is in flight at Discord."""
    guild = fake.add_guild("Reading club", ["papers"])
    papers = channel_id(guild, "papers")
    async with await Database.open(corpus_db) as db:
        await update_settings(db, guild["id"], channel_id=papers, post_time="07:00", tz="UTC", enabled=True, max_papers=1)
    fake.post_delay_s = post_delay_s
    bot = PaperBot(bot_settings(corpus_db, openai_server), clock=Clock(datetime(2024, 12, 14, 7, 5, tzinfo=timezone.utc)))
    serving = asyncio.create_task(serve(bot, "fake-token"))
    await fake.wait_for(lambda: fake.posts_in_flight)
    return bot, guild, papers, serving


async def sigterm(serving: asyncio.Task) -> float:
    """SIGTERM this process (what `paperbot run` gets from systemd or docker stop); returns how
    many seconds `serve` took to end."""
    started = time.monotonic()
    os.kill(os.getpid(), signal.SIGTERM)
    await asyncio.wait_for(serving, 15)
    return time.monotonic() - started


async def test_sigterm_lets_the_roundup_being_posted_finish_then_closes_the_database(
    fake_discord, corpus_db, openai_server
):
    bot, guild, papers, serving = await serving_mid_roundup(fake_discord, corpus_db, openai_server, post_delay_s=1.5)
    await sigterm(serving)
    assert bot.library is None and bot.is_closed()
    assert len(fake_discord.messages[papers]) == 2  # the post in flight went out, and the last (a header, one entry)
    async with await Database.open(corpus_db) as db:
        run = await last_run(db, guild["id"])
    assert run["status"] == "done", run


async def test_sigterm_mid_stream_closes_within_seconds(fake_discord, corpus_db, openai_server):
    guild = fake_discord.add_guild("Reading club", ["general"])
    words = [f"slow{n} " for n in range(2000)]  # 20 s of streaming
    openai_server.script(Reply(text="".join(words), stream_chunks=words))
    bot = PaperBot(bot_settings(corpus_db, openai_server), clock=Clock(datetime(2024, 12, 14, 6, 0, tzinfo=timezone.utc)))
    serving = asyncio.create_task(serve(bot, "fake-token"))
    await asyncio.wait_for(fake_discord.identified.wait(), 10)
    fake_discord.install_commands([command.to_dict(bot.tree) for command in bot.tree.get_commands()])
    token = await fake_discord.send_slash_command(guild, channel_id(guild, "general"), "ask", [string_option("question", "q")])
    await fake_discord.wait_for(lambda: "slow1" in str(fake_discord.followups.get(token)))  # streaming

    assert await sigterm(serving) < 5 and bot.library is None and bot.is_closed()


async def test_sigterm_mid_roundup_stops_within_the_grace_and_leaves_the_run_resumable(
    fake_discord, corpus_db, openai_server
):
    bot, guild, _, serving = await serving_mid_roundup(fake_discord, corpus_db, openai_server, post_delay_s=60)
    assert await sigterm(serving) < SHUTDOWN_GRACE_S + 3  # Discord hangs on the post
    async with await Database.open(corpus_db) as db:
        run = await last_run(db, guild["id"])
    assert run["status"] == "sending" and run["owner"] is None and json.loads(run["blocks"])  # the next start resumes it


async def test_sigterm_while_the_gateway_never_answers_closes_within_seconds(fake_discord, corpus_db, openai_server):
    fake_discord.add_guild("Reading club", ["papers"])
    fake_discord.gateway_silent = True  # logged in, never ready
    bot = PaperBot(bot_settings(corpus_db, openai_server), clock=Clock(datetime(2024, 12, 14, 7, 5, tzinfo=timezone.utc)))
    serving = asyncio.create_task(serve(bot, "fake-token"))
    await fake_discord.wait_for(lambda: any(r.path == "/gateway/bot" for r in fake_discord.requests))
    await asyncio.sleep(0.5)
    assert await sigterm(serving) < 6 and bot.library is None and not bot.is_ready()


async def test_two_shard_processes_on_one_database_each_post_their_own_servers_once(
    fake_discord, corpus_db, openai_server
):
    fake_discord.shard_count = 2
    guilds = []
    while {fake_discord.shard_of(g["id"]) for g in guilds} != {0, 1} or len(guilds) < 3:
        guilds.append(fake_discord.add_guild(f"club {len(guilds)}", ["papers"]))
        await asyncio.sleep(0.003)  # a guild's shard follows its id's millisecond
    async with await Database.open(corpus_db) as db:
        for guild in guilds:
            await update_settings(db, guild["id"], channel_id=channel_id(guild, "papers"), post_time="07:00",
                                  tz="UTC", enabled=True, max_papers=2)
    clock = Clock(datetime(2024, 12, 14, 6, 59, tzinfo=timezone.utc))
    bots = [PaperBot(bot_settings(corpus_db, openai_server, PAPERBOT_SHARD_COUNT=2, PAPERBOT_SHARD_IDS=[shard]), clock=clock)
            for shard in (0, 1)]
    runners = []
    for bot in bots:
        await bot.login("fake-token")
        runners.append(asyncio.create_task(bot.connect(reconnect=False)))
    try:
        for bot in bots:
            await asyncio.wait_for(bot.wait_until_ready(), 10)
        clock.now = datetime(2024, 12, 14, 7, 0, tzinfo=timezone.utc)
        channels = [channel_id(guild, "papers") for guild in guilds]
        await fake_discord.wait_for(lambda: all(len(fake_discord.messages.get(c, [])) >= 3 for c in channels))
        await asyncio.sleep(0.5)  # more ticks of both schedulers
        assert all(len(fake_discord.messages[c]) == 3 for c in channels)  # a header and 2 entries, once
        for guild in guilds:
            run = await last_run(bots[0].lib.db, guild["id"])
            poster = bots[fake_discord.shard_of(guild["id"])].get_cog("Roundup").scheduler
            assert run["status"] == "done" and run["owner"] == poster.owner, "posted by the process holding its shard"
    finally:
        for bot in bots:
            await bot.close()
        await asyncio.gather(*runners, return_exceptions=True)


async def test_settings_of_servers_that_removed_the_bot_while_it_was_offline_are_retired_at_start(
    fake_discord, corpus_db, openai_server
):
    """This process serves shard 0 of 2. Stored: a server of shard 0 it is still in, one of shard
    0 that removed it while it was offline (the gateway no longer lists it), and one of shard 1
    (another process's, unknown here)."""
    fake_discord.shard_count = 2
    guilds = []
    while {fake_discord.shard_of(g["id"]) for g in guilds} != {0, 1}:
        guilds.append(fake_discord.add_guild(f"club {len(guilds)}", ["papers"]))
        await asyncio.sleep(0.003)  # a guild's shard follows its id's millisecond
    kept = next(g for g in guilds if fake_discord.shard_of(g["id"]) == 0)
    other_shard = next(g for g in guilds if fake_discord.shard_of(g["id"]) == 1)
    left = fake_discord.add_guild("left while paperbot was offline", ["papers"])
    while fake_discord.shard_of(left["id"]) != 0:
        await asyncio.sleep(0.003)
        left = fake_discord.add_guild("left while paperbot was offline", ["papers"])
    async with await Database.open(corpus_db) as db:
        for guild in (kept, other_shard, left):
            await update_settings(db, guild["id"], channel_id=channel_id(guild, "papers"), post_time="07:00",
                                  tz="UTC", enabled=True, max_papers=2)
    fake_discord.guilds.pop(left["id"])  # gone from the gateway's list; its channel would still take posts

    bot = PaperBot(bot_settings(corpus_db, openai_server, PAPERBOT_SHARD_COUNT=2, PAPERBOT_SHARD_IDS=[0]),
                   clock=Clock(datetime(2024, 12, 14, 7, 0, tzinfo=timezone.utc)))  # every roundup is due
    await bot.login("fake-token")
    runner = asyncio.create_task(bot.connect(reconnect=False))
    try:
        await asyncio.wait_for(bot.wait_until_ready(), 10)
        await fake_discord.wait_for(lambda: fake_discord.messages.get(channel_id(kept, "papers")))
        await asyncio.sleep(0.5)  # more scheduler ticks
        stored = {row[0] for row in await bot.lib.db.fetchall("SELECT guild_id FROM guild_settings")}
        assert stored == {kept["id"], other_shard["id"]}
        assert not fake_discord.messages.get(channel_id(left, "papers")), "no roundup for a server paperbot left"
        assert await last_run(bot.lib.db, left["id"]) is None
        assert not fake_discord.messages.get(channel_id(other_shard, "papers")), "the other process posts that one"
    finally:
        await bot.close()
        await asyncio.wait_for(runner, 10)


def run_bot_against(fake: FakeDiscord, settings: Settings) -> tuple[int, float]:
    """`paperbot run` against a fake Discord served from another thread: (exit code, seconds)."""
    loop = asyncio.new_event_loop()
    server = threading.Thread(target=loop.run_forever, daemon=True)
    server.start()
    asyncio.run_coroutine_threadsafe(fake.start(), loop).result(10)
    started = time.monotonic()
    try:
        with fake.pointed_at():
            code = run_bot(settings)
    finally:
        asyncio.run_coroutine_threadsafe(fake.stop(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
    return code, time.monotonic() - started


def test_rejected_token_is_one_line_and_exit_code_2(corpus_db, capsys):
    fake = FakeDiscord()
    code, _ = run_bot_against(fake, Settings(PAPERBOT_DB=corpus_db, PAPERBOT_EMBEDDINGS="off", DISCORD_TOKEN="not-the-token"))
    printed = capsys.readouterr()
    assert code == 2
    assert printed.out.strip().startswith("paperbot: Discord rejected the token") and "\n" not in printed.out.strip()
    assert "Traceback" not in printed.err
    assert any(r.path == "/users/@me" for r in fake.requests)


def test_message_content_intent_not_enabled_exits_with_one_line_within_seconds(corpus_db, capsys):
    fake = FakeDiscord()  # the application has no privileged intent enabled: IDENTIFY is closed with 4014
    fake.add_guild("Reading club", ["papers"])
    settings = Settings(PAPERBOT_DB=corpus_db, PAPERBOT_EMBEDDINGS="off", DISCORD_TOKEN="fake-token",
                        PAPERBOT_MESSAGE_CONTENT_INTENT=True)
    code, seconds = run_bot_against(fake, settings)
    printed = capsys.readouterr()
    assert code == 2 and seconds < 10
    assert printed.out.strip().startswith("paperbot: the Message Content intent is not enabled")
    assert "\n" not in printed.out.strip() and "Traceback" not in printed.err


async def test_the_fake_refuses_what_discord_refuses(paperbot, fake_discord):
    """The limits the other tests rely on: each check in the fake can fail a test."""
    bot, guild, _ = paperbot
    channel = bot.get_channel(int(channel_id(guild, "general")))
    await channel.send("x" * 2000)
    with pytest.raises(discord.HTTPException) as refused:
        await channel.send("x" * 2001)
    assert refused.value.code == 50035
    too_big = [
        discord.Embed(title="t" * 257),
        discord.Embed(description="d" * 4097),
        discord.Embed(title="fields").add_field(name="n", value="v" * 1025),
        discord.Embed(title="fields").add_field(name="n" * 257, value="v"),
        discord.Embed(title="footer").set_footer(text="f" * 2049),
        discord.Embed(title="author").set_author(name="a" * 257),
    ]
    many_fields = discord.Embed(title="many")
    for n in range(26):
        many_fields.add_field(name=str(n), value="v")
    for embed in too_big + [many_fields]:
        with pytest.raises(discord.HTTPException):
            await channel.send(embed=embed)
    with pytest.raises(discord.HTTPException):  # 2 x 4,000: each embed fits, the message does not
        await channel.send(embeds=[discord.Embed(description="d" * 4000), discord.Embed(description="d" * 2001)])
    async with aiohttp.ClientSession(headers={"Authorization": "Bot fake-token"}) as http:  # discord.py checks this one itself
        url = f"{fake_discord.base_url}/api/v10/channels/{channel.id}/messages"
        async with http.post(url, json={"embeds": [{"title": str(n)} for n in range(11)]}) as response:
            assert response.status == 400
    await channel.send(embeds=[discord.Embed(description="d" * 4000), discord.Embed(description="d" * 2000)])
    assert [r.code for r in fake_discord.rejections] == [50035] * 10


async def test_the_fake_holds_interactions_to_discords_rules(paperbot, fake_discord):
    bot, guild, _ = paperbot
    general = channel_id(guild, "general")
    token = await fake_discord.send_slash_command(guild, general, "usage", admin=True)
    await fake_discord.wait_for(lambda: token in fake_discord.callbacks)
    interaction = fake_discord.interactions[token]
    url = f"{fake_discord.base_url}/api/v10/interactions/1/{token}/callback"
    async with aiohttp.ClientSession() as http:
        async with http.post(url, json={"type": 4, "data": {"content": "again"}}) as second:
            assert second.status == 400 and (await second.json())["code"] == 40060
        now_ms = int(time.time() * 1000)
        fake_discord.interactions["late"] = Interaction("late", 2, now_ms, time.monotonic() - 3.5)
        async with http.post(url.replace(token, "late"), json={"type": 5}) as response:
            assert response.status == 404 and (await response.json())["code"] == 10062
        stale = await fake_discord.send_slash_command(guild, general, "roundup", age_s=16 * 60)
        async with http.post(f"{fake_discord.base_url}/api/v10/webhooks/1/{stale}", json={"content": "x"}) as expired:
            assert expired.status == 401
        edit = f"{fake_discord.base_url}/api/v10/webhooks/1/{token}/messages/@original"
        statuses = []
        for n in range(6):  # Discord allows 5 edits per 5 s
            async with http.patch(edit, json={"content": f"edit {n}"}) as response:
                statuses.append((response.status, (await response.json()).get("retry_after")))
        assert [s for s, _ in statuses] == [200] * 5 + [429] and 0 < statuses[-1][1] <= 5
    assert interaction.response_type == 4
    with pytest.raises(CommandUnavailable):
        await fake_discord.send_slash_command(guild, general, "roundup", [string_option("no_such_option", "x")])
    with pytest.raises(CommandUnavailable, match="direct messages"):
        member = fake_discord.user("dm")
        await fake_discord.send_slash_command(None, fake_discord.dm_channel(member), "ask",
                                              [string_option("question", "q")], user=member)
