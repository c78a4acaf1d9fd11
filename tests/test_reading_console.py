"""The reading room in `paperbot console` (one member) and `paperbot top|readinglist|watch --json`."""

from __future__ import annotations

import io
import json

import pytest
from rich.console import Console

from bot.console import PaperConsole
from bot.services import votes
from bot.services.library import Library
from bot.services.members import Member
from tests.test_cli import run
from tests.test_reading import OMG_NET, llm_settings

MEDICAL_SAM = "2408.00874"


@pytest.fixture
async def console(corpus_db, openai_server):
    async with await Library.open(llm_settings(corpus_db, openai_server)) as library:
        yield PaperConsole(library, Console(file=io.StringIO()))


async def said(console: PaperConsole, line: str) -> str:
    return "\n".join(await console.execute(line))


async def test_save_unsave_and_the_reading_list(console):
    assert "Your reading list is empty" in await said(console, "/readinglist")
    assert "🔖 Saved: OMG-Net" in await said(console, f"/save {OMG_NET}")
    assert "Already on your reading list" in await said(console, f"/save arXiv:{OMG_NET}")
    listed = await said(console, "/readinglist")
    assert "1 paper" in listed and "OMG-Net" in listed
    assert "Removed from your reading list" in await said(console, f"/unsave {OMG_NET}")
    assert "Not on your reading list" in await said(console, f"/unsave {OMG_NET}")
    assert "no paper with arXiv id 9999.99999" in await said(console, "/save 9999.99999")


async def test_top_ranks_the_votes_of_the_group(console):
    db = console.library.db
    sam = await db.fetchval("SELECT id FROM papers WHERE arxiv_id = ?", (MEDICAL_SAM,))
    assert "No votes in the last 7 days" in await said(console, "/top")
    await said(console, f"/vote {OMG_NET}")
    for user in ("a", "b"):
        await votes.set_vote(db, Member("console", user), sam, True)
    shown = await said(console, "/top --days 3")
    assert shown.index("Medical SAM 2") < shown.index("OMG-Net") and "👍 2" in shown
    assert "OMG-Net" not in await said(console, "/top --topic video")
    assert "Vote withdrawn" in await said(console, f"/unvote {OMG_NET}")
    assert "the period is 1 to 366 days" in await said(console, "/top --days 0")
    assert "invalid int value" in await said(console, "/top --days many")


async def test_top_takes_the_period_and_topic_as_words_as_on_discord(console):
    db = console.library.db
    sam = await db.fetchval("SELECT id FROM papers WHERE arxiv_id = ?", (MEDICAL_SAM,))
    await votes.set_vote(db, Member("console", "a"), sam, True)
    assert "Medical SAM 2" in await said(console, "/top 30")
    assert "Medical SAM 2" in await said(console, "/top 30 Medical SAM")
    assert "Medical SAM 2" not in await said(console, "/top 30 quantum")
    assert "Medical SAM 2" not in await said(console, "/top quantum")  # no number: all words are the topic
    assert "the period is 1 to 366 days" in await said(console, "/top 3650")
    assert "give the period once" in await said(console, "/top 3 --days 4")


async def test_me_language_and_forget(console):
    assert "No language set" in await said(console, "/me")
    assert "Korean (ko)" in await said(console, "/me language ko")
    assert "Korean (ko)" in await said(console, "/me")
    assert "is not a language" in await said(console, "/me language zz-invalid")
    assert "Korean (ko)" in await said(console, "/me language 한국어")  # a language's own name works too
    await said(console, f"/save {OMG_NET}")
    assert "Forgotten: 2 records" in await said(console, "/me forget")
    assert "No language set" in await said(console, "/me")
    assert "Your reading list is empty" in await said(console, "/readinglist")


async def test_watch_add_list_remove(console):
    assert "You watch nothing yet" in await said(console, "/watch list")
    assert "Watching “diffusion models”" in await said(console, '/watch add "diffusion models"')
    assert "already watch" in await said(console, "/watch add Diffusion   models")
    await said(console, "/watch add Kaiming He")
    listed = await said(console, "/watch")
    assert "1.** diffusion models" in listed and "2.** Kaiming He" in listed
    assert "No longer watching “diffusion models”" in await said(console, "/watch remove 1")
    assert "no watch '7'" in await said(console, "/watch remove 7")
    assert "No longer watching “Kaiming He”" in await said(console, "/watch remove kaiming he")


async def test_discuss_answers_questions_about_the_paper_until_end(console, openai_server):
    openai_server.responder = lambda body: f"It detects mitotic figures [arXiv:{OMG_NET}]."
    assert "Discussing OMG-Net" in await said(console, f"/discuss {OMG_NET}")
    first = await said(console, "what does it detect?")
    assert f"[arXiv:{OMG_NET}]" in first and "Sources:" in first
    await said(console, "and what's the stain?")  # an apostrophe is a question, not shell quoting
    second_prompt = openai_server.chat_requests()[-1].json["messages"][1]["content"]
    assert "member: what does it detect?" in second_prompt and "paperbot: It detects mitotic figures" in second_prompt
    assert "ended" in await said(console, "/end")
    assert "Unknown command 'after'" in await said(console, "after the end")
    assert len(openai_server.chat_requests()) == 2
    assert "No discussion to end" in await said(console, "/end")


async def test_read_in_my_language_uses_the_members_language(console, openai_server):
    openai_server.responder = lambda body: "독일어가 아닌 한국어 요약."
    await said(console, "/me language ko")
    shown = await said(console, f"/read {OMG_NET}")
    assert "한국어 요약" in shown and "Korean · new text" in shown
    assert "Korean · stored text" in await said(console, f"/read {OMG_NET}")
    assert len(openai_server.chat_requests()) == 1


async def test_cli_reading_room_as_json(tmp_path, corpus_db_file):
    (tmp_path / "cli.db").write_bytes(corpus_db_file.read_bytes())
    code, out, err = await run(tmp_path, "readinglist", "add", OMG_NET, "--json")
    assert code == 0, err
    assert json.loads(out) == {
        "arxiv_id": OMG_NET, "key": OMG_NET, "title": json.loads(out)["title"],
        "url": f"https://arxiv.org/abs/{OMG_NET}", "saved": True, "changed": True,
    }
    code, out, _ = await run(tmp_path, "readinglist", "--json")
    assert [item["arxiv_id"] for item in json.loads(out)] == [OMG_NET]
    code, out, _ = await run(tmp_path, "readinglist", "--guild", "123", "--json")
    assert json.loads(out) == []
    code, out, _ = await run(tmp_path, "watch", "add", "Kaiming He", "--json")
    assert json.loads(out)["query"] == "Kaiming He"
    code, out, _ = await run(tmp_path, "watch", "--json")
    assert [w["query"] for w in json.loads(out)["watches"]] == ["Kaiming He"] and json.loads(out)["new_matches"] == []
    code, out, _ = await run(tmp_path, "top", "--json")
    assert code == 0 and json.loads(out) == []
    code, out, err = await run(tmp_path, "watch", "remove", "3")
    assert code == 1 and err.count("\n") == 1 and "no watch '3'" in err and "Traceback" not in err
