"""Watches against a small synthetic library embedded by the real offline model: a Korean watch
finds a new English paper, an author watch finds by name, papers already in the library never
match, delivery sends one message per member, within the daily cap, once; with the reranker,
both models' scores decide where the reranker has the paper's vector."""

from __future__ import annotations

import shutil
import sqlite3
from datetime import datetime, timezone

import pytest

from bot.services.ingest import embed_new, ingest, ingest_bytes
from bot.retrieval.matching import standardized_scores
from bot.retrieval.vectors import embed_pending
from bot.services import watches
from bot.services.library import Library
from bot.services.members import Member
from bot.services.reading_messages import delivery_messages, roundup_watch_line
from bot.settings import Settings
from bot.store import Database
from tests.support.watch_library import TODAY, digest


@pytest.fixture
async def library(watch_library_db, tmp_path, watch_embedder):
    path = tmp_path / "paperbot.db"
    shutil.copyfile(watch_library_db, path)
    library = await Library.open(Settings(PAPERBOT_DB=path, PAPERBOT_EMBEDDINGS="off", PAPERBOT_WATCH_DAILY_CAP=5))
    library.retriever.embedder = watch_embedder  # the session's model, loaded once
    try:
        yield library
    finally:
        library.retriever.embedder = library.retriever.reranker = None  # shared: not closed with this library
        await library.close()


async def arrive(library: Library, papers=TODAY) -> None:
    report = await ingest_bytes(library.db, digest("2026-11-20", papers, 100), "today.md")
    assert report.error is None and report.new == len(papers), report
    await embed_new(library)  # by the search model, and by the reranker when one is set


class Notifier:
    """DMs as a front end would send them; members in `closed` do not accept DMs."""

    def __init__(self, closed: frozenset[str] = frozenset()):
        self.closed = closed
        self.sent: list[watches.Delivery] = []

    async def send_direct(self, member: Member, delivery: watches.Delivery) -> bool:
        if member.user_id in self.closed:
            return False
        self.sent.append(delivery)
        return True


def titles(delivery: watches.Delivery) -> list[str]:
    return [paper.title for paper, _ in delivery.papers]


ALICE, BOB, CAROL = Member("g1", "alice"), Member("g1", "bob"), Member("g1", "carol")


async def test_a_korean_watch_finds_a_new_english_paper_and_an_author_watch_finds_by_name(library):
    await watches.add_watch(library, ALICE, "단백질 구조 예측")  # protein structure prediction
    await watches.add_watch(library, BOB, "Chen Bo")
    await watches.add_watch(library, CAROL, "quantum error correction")
    await arrive(library)
    notifier = Notifier()
    deliveries = await watches.deliver_pending(library, notifier, ["g1"])
    by_member = {d.member: titles(d) for d in notifier.sent}
    assert by_member == {
        ALICE: ["Predicting protein structures with deep learning"],
        BOB: ["Predicting protein structures with deep learning"],
    }, "carol's topic did not arrive today; the old protein paper (by Bo Chen too) is not new"
    assert len(deliveries) == 2 and all(d.direct for d in deliveries)
    message = "\n".join(delivery_messages(notifier.sent[0]))
    assert "Predicting protein structures" in message and "<https://arxiv.org/abs/2611.00100>" in message
    again = Notifier()
    assert await watches.deliver_pending(library, again, ["g1"]) == [] and again.sent == []


async def test_keywords_match_too_and_other_servers_wait_for_their_own_front_end(library):
    other = Member("g2", "dave")
    await watches.add_watch(library, other, "graph databases")
    await arrive(library)
    notifier = Notifier()
    assert await watches.deliver_pending(library, notifier, ["g1"]) == []
    await watches.deliver_pending(library, notifier, ["g2"])
    [delivery] = notifier.sent
    assert titles(delivery) == ["A query optimizer for graph databases"]


async def test_a_daily_cap_and_a_line_in_the_roundup_when_dms_are_closed(library):
    for topic in ("protein structure", "graph database queries", "speech recognition"):
        await watches.add_watch(library, ALICE, topic)
    await arrive(library)
    notifier = Notifier(closed=frozenset({"alice"}))
    [delivery] = await watches.deliver_pending(library, notifier, ["g1"], daily_cap=2)
    assert notifier.sent == [] and not delivery.direct
    assert len(delivery.papers) == 2 and delivery.capped == 1
    waiting = await watches.roundup_deliveries(library.db, "g1")
    [line] = roundup_watch_line(waiting)
    assert line.startswith("🔔 <@alice>: ") and line.count("arxiv.org") == 2
    assert await watches.roundup_deliveries(library.db, "g1") == waiting  # kept until a roundup carries it
    async with library.db.transaction() as conn:
        await watches.hand_out(conn, waiting)
    assert await watches.roundup_deliveries(library.db, "g1") == []  # handed out once


async def test_a_matching_run_needs_no_vector_for_keyword_and_author_matches(library):
    await watches.add_watch(library, BOB, "Ana Silva")
    report = await ingest_bytes(library.db, digest("2026-11-20", TODAY, 100), "today.md")
    assert report.new == 3
    later = datetime(2100, 1, 1, tzinfo=timezone.utc)  # the papers waited past the grace period
    assert await watches.match_new_papers(library, now=datetime.now(timezone.utc)) == 0
    assert await watches.match_new_papers(library, now=later) == 1


async def test_every_ingest_records_the_matches_at_once(library, tmp_path):
    await watches.add_watch(library, ALICE, "speech recognition in noisy rooms")
    (tmp_path / "today.md").write_bytes(digest("2026-11-20", TODAY, 100))
    reports, embedded = await ingest(library, [tmp_path / "today.md"])
    assert reports[0].new == 3 and embedded > 0
    rows = await library.db.fetchall("SELECT user_id, status FROM watch_matches")
    assert [tuple(row) for row in rows] == [("alice", "pending")]  # delivered later by the front end


async def test_the_daily_cap_keeps_an_authors_paper_then_the_best_topic_matches_not_the_first_to_arrive(library):
    await watches.add_watch(library, ALICE, "video generation")
    await watches.add_watch(library, ALICE, "Zed Quill")
    await arrive(library, [
        # arrives first, and matches the topic's words only in passing
        ("Robot arms that learn to grasp from video", "Ab Cd, Ef Gh",
         "Robot manipulation policies trained on video demonstrations; generation of grasp poses for unseen objects."),
        ("Text-to-video generation with diffusion models", "Ij Kl, Mn Op",
         "We generate video clips from text prompts with a latent diffusion model for video generation."),
        ("Routing ships around storms", "Zed Quill, Qr St", "An optimizer plans ship routes that avoid storms."),
    ])
    notifier = Notifier()
    [delivery] = await watches.deliver_pending(library, notifier, ["g1"], daily_cap=2)
    assert titles(delivery) == ["Routing ships around storms", "Text-to-video generation with diffusion models"]
    assert delivery.capped == 1


NOISY_SPEECH = "잡음 속 음성 인식"  # speech recognition in noise: e5 alone scores the paper 2.4, below 3.5


@pytest.mark.parametrize("reranker_on", [True, False])
async def test_with_the_reranker_a_watch_matches_what_both_models_agree_on(library, watch_reranker, reranker_on):
    reranker = watch_reranker if reranker_on else None
    library.retriever.reranker = reranker
    await watches.add_watch(library, ALICE, NOISY_SPEECH)  # both query vectors stored at once
    library.retriever.reranker = None
    await watches.add_watch(library, BOB, NOISY_SPEECH)  # added before the reranker was turned on
    library.retriever.reranker = reranker
    await arrive(library)
    notifier = Notifier()
    await watches.deliver_pending(library, notifier, ["g1"])
    by_member = {d.member: titles(d) for d in notifier.sent}
    if reranker_on:  # the two models' standardized scores average 3.2, above 2.7
        assert by_member == {member: ["Recognizing speech in noisy rooms"] for member in (ALICE, BOB)}
    else:
        assert by_member == {}, "the search model alone leaves it out"
    stored = await library.db.fetchall("SELECT reranker, reranker_vector FROM watches ORDER BY id")
    if reranker_on:  # bob's was embedded when matching, as the search model's are when it changes
        assert [row[0] for row in stored] == [watch_reranker.name] * 2 and stored[0][1] == stored[1][1]
        assert len(stored[0][1]) == 4 * watch_reranker.dim
    else:
        assert [tuple(row) for row in stored] == [(None, None)] * 2


async def test_papers_without_the_rerankers_vector_are_matched_by_the_search_model_alone(library, watch_reranker):
    library.retriever.reranker = watch_reranker
    await watches.add_watch(library, ALICE, NOISY_SPEECH)
    await watches.add_watch(library, BOB, "단백질 구조 예측")  # e5 alone scores the protein paper 4.0
    # e5 alone scores the speech paper 2.9: above the combined threshold, below its own
    await watches.add_watch(library, CAROL, "Spracherkennung bei Lärm")
    report = await ingest_bytes(library.db, digest("2026-11-20", TODAY, 100), "today.md")
    assert report.new == 3
    await embed_pending(library.db, library.retriever.embedder)  # the reranker's vectors not yet
    assert await watches.match_new_papers(library) == 1
    [(user, paper_id, score)] = await library.db.fetchall("SELECT user_id, paper_id, score FROM watch_matches")
    assert user == "bob"
    # the score recorded is the search model's own, not an average with a missing vector
    index = await library.retriever.index()
    query = await library.retriever.embedder.embed_query("단백질 구조 예측")
    _, alone = standardized_scores(index, query[None, :], [paper_id])
    assert score == pytest.approx(float(alone[0, 0]), abs=1e-4) and score >= watches.SEMANTIC_THRESHOLD


async def test_the_search_model_decides_alone_while_the_reranker_has_embedded_less_than_half_the_library(
    library, watch_reranker
):
    library.retriever.reranker = watch_reranker
    await watches.add_watch(library, BOB, "단백질 구조 예측")
    await arrive(library)  # today's papers: both models' vectors
    await library.db.execute(  # as when the reranker was just turned on and is still embedding
        "DELETE FROM paper_vectors WHERE embedder = ? AND paper_id BETWEEN 11 AND 28", (watch_reranker.name,)
    )
    assert await watches.match_new_papers(library) == 1
    [(paper_id, score)] = await library.db.fetchall("SELECT paper_id, score FROM watch_matches")
    index = await library.retriever.index()
    query = await library.retriever.embedder.embed_query("단백질 구조 예측")
    _, alone = standardized_scores(index, query[None, :], [paper_id])
    assert score == pytest.approx(float(alone[0, 0]), abs=1e-4), "13 of 31 papers: no mean and spread to trust"


async def test_the_migration_keeps_older_watches_which_get_the_rerankers_vector_when_matching(
    watch_library_db, tmp_path, watch_embedder, watch_reranker
):
    path = tmp_path / "older.db"
    shutil.copyfile(watch_library_db, path)
    with sqlite3.connect(path) as conn:  # back to the schema before 0014: watches without its columns
        conn.execute("ALTER TABLE watches DROP COLUMN reranker_vector")
        conn.execute("ALTER TABLE watches DROP COLUMN reranker")
        conn.execute(
            "INSERT INTO watches (guild_id, user_id, query, embedder, vector, after_paper_id) "
            "VALUES ('g1', 'alice', ?, NULL, NULL, (SELECT max(id) FROM papers))",
            (NOISY_SPEECH,),
        )
        conn.execute("PRAGMA user_version = 13")
    async with await Database.open(path) as db:
        rows = await db.fetchall("SELECT query, reranker, reranker_vector FROM watches")
        assert [tuple(row) for row in rows] == [(NOISY_SPEECH, None, None)]
    library = await Library.open(Settings(PAPERBOT_DB=path, PAPERBOT_EMBEDDINGS="off"))
    library.retriever.embedder, library.retriever.reranker = watch_embedder, watch_reranker
    try:
        await arrive(library)
        await watches.match_new_papers(library)
        [(user, paper_id)] = await library.db.fetchall("SELECT user_id, paper_id FROM watch_matches")
        assert user == "alice"
        assert await library.db.fetchval("SELECT title FROM papers WHERE id = ?", (paper_id,)) == TODAY[2][0]
        assert await library.db.fetchval("SELECT reranker FROM watches") == watch_reranker.name
    finally:
        library.retriever.embedder = library.retriever.reranker = None
        await library.close()
