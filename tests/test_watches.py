"""Watches against a small synthetic library embedded by the real offline model: a Korean watch
finds a new English paper, an author watch finds by name, papers already in the library never
match, and delivery sends one message per member, within the daily cap, once."""

from __future__ import annotations

import shutil
from datetime import datetime, timezone

import pytest

from bot.services.ingest import ingest, ingest_bytes
from bot.retrieval.vectors import embed_pending
from bot.services import watches
from bot.services.library import Library
from bot.services.members import Member
from bot.services.reading_messages import delivery_messages, roundup_watch_line
from bot.settings import Settings
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
        library.retriever.embedder = None  # shared: not closed with this library
        await library.close()


async def arrive(library: Library, papers=TODAY) -> None:
    report = await ingest_bytes(library.db, digest("2026-11-20", papers, 100), "today.md")
    assert report.error is None and report.new == len(papers), report
    await embed_pending(library.db, library.retriever.embedder)


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
