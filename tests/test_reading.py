"""The reading room's services on a real SQLite file: votes and reading lists per member and
server, top papers, members' languages and forgetting, a paper in the reader's language, and
discussions answered by the scripted OpenAI-compatible server."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from bot.services.ingest import ingest_bytes
from bot.llm.tokens import count_message_tokens

from bot.services import votes
from bot.services.discussion import Turn, discuss, paper_of_thread, remember_thread, thread_for
from bot.services.library import Library
from bot.services.members import Member, forget_member, member_language, set_member_language
from bot.services.papers import paper_detail, resolve_paper
from bot.services.roundup import build_roundup
from bot.services.translations import read_in_language
from bot.settings import Settings

ALICE, BOB, CAROL = Member("g1", "alice"), Member("g1", "bob"), Member("g1", "carol")
ALICE_ELSEWHERE = Member("g2", "alice")
OMG_NET = "2407.12773"


def llm_settings(db_path, server, **extra) -> Settings:
    return Settings(
        PAPERBOT_DB=db_path, PAPERBOT_EMBEDDINGS="off", OPENAI_API_KEY="sk-test",
        OPENAI_BASE_URL=server.base_url, PAPERBOT_LLM_MAX_ATTEMPTS=1, **extra,
    )


@pytest.fixture
async def library(corpus_db):
    async with await Library.open(Settings(PAPERBOT_DB=corpus_db, PAPERBOT_EMBEDDINGS="off")) as lib:
        yield lib


async def some_papers(db, count: int) -> list[int]:
    return [row[0] for row in await db.fetchall("SELECT id FROM papers ORDER BY id LIMIT ?", (count,))]


async def test_a_member_counts_once_and_a_withdrawn_vote_no_longer_counts(library):
    db = library.db
    [paper] = await some_papers(db, 1)
    assert await votes.set_vote(db, ALICE, paper, True)
    assert not await votes.set_vote(db, ALICE, paper, True)  # the same reaction again
    await votes.set_vote(db, BOB, paper, True)
    [top] = await votes.top(db, "g1")
    assert top.votes == 2
    assert await votes.set_vote(db, ALICE, paper, False)
    assert not await votes.set_vote(db, ALICE, paper, False)
    [top] = await votes.top(db, "g1")
    assert top.votes == 1
    assert await votes.top(db, "g2") == []  # another server's votes are its own


async def test_top_orders_by_voters_then_saves_then_digest_votes_within_the_period(library):
    db = library.db
    with_digest_votes = await db.fetchall(
        "SELECT id FROM papers WHERE votes IS NOT NULL ORDER BY votes DESC LIMIT 2"
    )
    more_digest_votes, fewer_digest_votes = (row[0] for row in with_digest_votes)
    most_voted, saved, old = await db.fetchall(
        "SELECT id FROM papers WHERE votes IS NULL ORDER BY id LIMIT 3"
    )
    most_voted, saved, old = most_voted[0], saved[0], old[0]
    for member in (ALICE, BOB, CAROL):
        await votes.set_vote(db, member, most_voted, True)
    for paper in (fewer_digest_votes, more_digest_votes, saved):
        await votes.set_vote(db, ALICE, paper, True)
    await votes.set_saved(db, BOB, saved, True)
    await votes.set_vote(db, BOB, old, True)
    await db.execute(
        "UPDATE paper_votes SET voted_at = ? WHERE paper_id = ?",
        ((datetime.now(timezone.utc) - timedelta(days=10)).strftime("%Y-%m-%dT%H:%M:%S.000Z"), old),
    )
    ranked = [top.paper.id for top in await votes.top(db, "g1", days=7)]
    assert ranked == [most_voted, saved, more_digest_votes, fewer_digest_votes]
    assert old in [top.paper.id for top in await votes.top(db, "g1", days=30)]
    with pytest.raises(votes.ReadingError):
        await votes.top(db, "g1", days=0)


async def test_top_keeps_papers_of_a_topic(library):
    db = library.db
    segment = await resolve_paper(db, OMG_NET)
    [other] = [pid for pid in await some_papers(db, 3) if pid != segment][:1]
    await votes.set_vote(db, ALICE, segment, True)
    await votes.set_vote(db, ALICE, other, True)
    topical = await votes.top(db, "g1", topic="mitotic")
    assert [top.paper.id for top in topical] == [segment]


async def test_reading_lists_are_per_member_and_server(library):
    db = library.db
    paper, changed = await votes.save(db, ALICE, OMG_NET)
    assert changed and paper.arxiv_id == OMG_NET
    assert not (await votes.save(db, ALICE, f"arXiv:{OMG_NET}v1"))[1]
    assert [s.paper.arxiv_id for s in await votes.reading_list(db, ALICE)] == [OMG_NET]
    assert await votes.reading_list(db, ALICE_ELSEWHERE) == []
    assert await votes.reading_list(db, BOB) == []
    assert (await votes.unsave(db, ALICE, OMG_NET))[1]
    assert await votes.reading_list(db, ALICE) == []


async def test_forget_deletes_everything_about_a_member_in_every_server(library):
    db = library.db
    [paper] = await some_papers(db, 1)
    await set_member_language(db, "alice", "zh-hant")
    assert await member_language(db, "alice") == "zh-Hant"
    for member in (ALICE, ALICE_ELSEWHERE, BOB):
        await votes.set_vote(db, member, paper, True)
        await votes.set_saved(db, member, paper, True)
    assert await forget_member(db, "alice") == 5
    assert await member_language(db, "alice") is None
    assert await votes.reading_list(db, ALICE) == [] and await votes.reading_list(db, ALICE_ELSEWHERE) == []
    assert [s.paper.id for s in await votes.reading_list(db, BOB)] == [paper]
    [top] = await votes.top(db, "g1")
    assert top.votes == 1


async def test_read_in_my_language_serves_a_stored_summary_without_the_llm(corpus_db, openai_server):
    async with await Library.open(llm_settings(corpus_db, openai_server)) as library:
        paper_id, lang = await library.db.fetchone(
            "SELECT paper_id, lang FROM summaries WHERE lang NOT IN ('en') AND digest_id IS NOT NULL LIMIT 1"
        )
        result = await read_in_language(library, paper_id, lang)
    assert result.cached and result.text
    assert openai_server.chat_requests() == []


async def test_read_in_my_language_writes_once_and_the_next_member_reads_it_from_the_store(corpus_db, openai_server):
    openai_server.responder = lambda body: "Eine kurze Zusammenfassung."
    async with await Library.open(llm_settings(corpus_db, openai_server)) as library:
        paper_id = await resolve_paper(library.db, OMG_NET)
        first = await read_in_language(library, paper_id, "de")
        second = await read_in_language(library, paper_id, "de")
    assert not first.cached and second.cached
    assert first.text == second.text == "Eine kurze Zusammenfassung."
    assert len(openai_server.chat_requests()) == 1


async def test_discussion_answers_from_the_paper_with_the_recent_exchange(corpus_db, openai_server):
    openai_server.responder = lambda body: (
        f"It finds mitotic figures [arXiv:{OMG_NET}], unlike [arXiv:1706.03762]."
    )
    async with await Library.open(llm_settings(corpus_db, openai_server)) as library:
        paper = await paper_detail(library.db, await resolve_paper(library.db, OMG_NET))
        exchange = [Turn("alice", "Which stain do they use?"), Turn("paperbot", "H&E slides.")]
        answer = await discuss(library, paper, "And what does it detect?", exchange)
    [request] = openai_server.chat_requests()
    prompt = request.json["messages"][1]["content"]
    assert "alice: Which stain do they use?" in prompt and paper.abstract[:80] in prompt
    assert "And what does it detect?" in prompt
    assert f"[arXiv:{OMG_NET}]" in answer.text and "1706.03762" not in answer.text
    assert answer.removed_citations == ["[arXiv:1706.03762]"]


async def test_a_long_discussion_keeps_the_newest_exchange_within_the_budget(corpus_db, openai_server):
    openai_server.responder = lambda body: "ok"
    settings = llm_settings(corpus_db, openai_server, PAPERBOT_CONTEXT_WINDOW=2000, PAPERBOT_MAX_OUTPUT_TOKENS=200)
    async with await Library.open(settings) as library:
        paper = await paper_detail(library.db, await resolve_paper(library.db, OMG_NET))
        exchange = [Turn("member", f"question number {n} " + "words " * 120) for n in range(12)]
        await discuss(library, paper, "and now?", exchange)
        budget, model = library.llm().prompt_budget(), library.llm().model
    [request] = openai_server.chat_requests()
    prompt = request.json["messages"][1]["content"]
    assert "question number 11" in prompt and "question number 0 " not in prompt
    assert f"[arXiv:{OMG_NET}]" in prompt and "Title: OMG-Net" in prompt
    assert count_message_tokens(request.json["messages"], model) <= budget


async def test_one_thread_per_paper_per_channel(library):
    db = library.db
    [paper] = await some_papers(db, 1)
    assert await thread_for(db, "c1", paper) is None
    await remember_thread(db, "g1", "c1", paper, "t1")
    await remember_thread(db, "g1", "c1", paper, "t2")  # the first was deleted: reopened
    assert await thread_for(db, "c1", paper) == "t2" and await paper_of_thread(db, "t2") == paper
    assert await paper_of_thread(db, "t1") is None and await thread_for(db, "c2", paper) is None


def topic_table(day: str, sections: dict[str, list[tuple[str, str]]]) -> bytes:
    """A topic-table digest: {topic: [(arxiv id, title)]}."""
    parts = []
    for topic, papers in sections.items():
        rows = "\n".join(
            f"|**{day}**|**{title}**|A. Author et.al.|[{pid}v1](http://arxiv.org/abs/{pid}v1)|null|" for pid, title in papers
        )
        parts.append(f"### {topic}\n|Publish Date|Title|Authors|Homepage|Code|\n| :---: | :---: | :---: | :---: | :---: |\n{rows}")
    return "\n\n".join(parts).encode()


async def test_a_server_can_rank_its_roundup_by_the_votes_on_earlier_related_papers(tmp_path):
    async with await Library.open(Settings(PAPERBOT_DB=tmp_path / "p.db", PAPERBOT_EMBEDDINGS="off")) as library:
        db = library.db
        await ingest_bytes(db, topic_table("2025-03-01", {"Biology": [("2503.00001", "Folding proteins")]}), "d1.md")
        await ingest_bytes(db, topic_table("2025-03-02", {
            "Robotics": [("2503.00011", "Grasping cups"), ("2503.00012", "Walking robots")],
            "Biology": [("2503.00013", "Designing enzymes")],
        }), "d2.md")
        await votes.set_vote(db, ALICE, await resolve_paper(db, "2503.00001"), True)
        await db.execute("UPDATE paper_votes SET voted_at = '2025-03-01T12:00:00.000Z'")
        plain = await build_roundup(library, day="2025-03-02", limit=2)
        ranked = await build_roundup(library, day="2025-03-02", limit=2, rank_for_guild="g1")
        elsewhere = await build_roundup(library, day="2025-03-02", limit=2, rank_for_guild="g2")
    assert "Designing enzymes" not in [e.paper.title for e in plain.entries]
    assert [e.paper.title for e in ranked.entries][0] == "Designing enzymes"
    assert [e.paper.title for e in elsewhere.entries] == [e.paper.title for e in plain.entries]
