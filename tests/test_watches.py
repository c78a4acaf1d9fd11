"""Watches against a small synthetic library embedded by the real offline model: a Korean watch
finds a new English paper, an author watch finds by name, papers already in the library never
match, and delivery sends one message per member, within the daily cap, once."""

from __future__ import annotations

import asyncio
import shutil
from datetime import datetime, timezone

import pytest

from bot.corpus.ingest import ingest_bytes
from bot.retrieval.embedders import LocalE5Embedder
from bot.retrieval.vectors import embed_pending
from bot.services import watches
from bot.services.library import Library
from bot.services.members import Member
from bot.services.reading_messages import delivery_messages, roundup_watch_line
from bot.settings import Settings
from bot.store import Database

# (title, authors, abstract): one line each, on distinct subjects, so each query has a clear answer.
BACKGROUND = [
    ("Folding proteins with evolutionary couplings", "Old Author, Bo Chen", "We infer protein contacts from coevolution to fold proteins."),
    ("Sparse attention for long documents", "A. One, B. Two", "A transformer attends sparsely to read documents of a million tokens."),
    ("Reinforcement learning for robot grasping", "C. Three, D. Four", "Robots learn to grasp unseen objects by trial and error."),
    ("Image generation with diffusion models", "E. Five, F. Six", "A denoising diffusion model generates photographs from noise."),
    ("Federated learning on mobile phones", "G. Seven, H. Eight", "Phones train a shared model without sending their data."),
    ("Detecting tumours in chest X-rays", "I. Nine, J. Ten", "A convolutional network finds lung tumours in radiographs."),
    ("Machine translation for low-resource languages", "K. Eleven, L. Twelve", "We translate between languages with little parallel text."),
    ("Forecasting electricity demand", "M. Thirteen, N. Fourteen", "A model predicts the load on the power grid hour by hour."),
    ("Autonomous driving in the rain", "O. Fifteen, P. Sixteen", "Self-driving cars perceive lanes and pedestrians in heavy rain."),
    ("Recommending music by listening history", "Q. Seventeen, R. Eighteen", "A recommender suggests songs from what people played before."),
    ("Quantum error correction with surface codes", "S. Nineteen, T. Twenty", "Surface codes protect qubits from noise in quantum computers."),
    ("Detecting fraud in credit card payments", "U. TwentyOne, V. TwentyTwo", "Anomaly detection flags fraudulent card transactions."),
    ("Weather prediction with graph neural networks", "W. TwentyThree, X. TwentyFour", "A graph network forecasts global weather ten days ahead."),
    ("Summarizing legal contracts", "Y. TwentyFive, Z. TwentySix", "A language model writes short summaries of long contracts."),
    ("Counting trees in satellite images", "Aa Bb, Cc Dd", "We count trees in forests from satellite photographs."),
    ("Compressing neural networks by pruning", "Ee Ff, Gg Hh", "Removing weights makes networks smaller and faster."),
    ("Teaching mathematics with chatbots", "Ii Jj, Kk Ll", "Students learn algebra from a conversational tutor."),
    ("Detecting hate speech on social media", "Mm Nn, Oo Pp", "A classifier finds abusive posts on social networks."),
    ("Simulating fluids on graphics cards", "Qq Rr, Ss Tt", "A GPU solver simulates water and smoke in real time."),
    ("Planning delivery routes for trucks", "Uu Vv, Ww Xx", "An optimizer plans the shortest routes for a fleet of trucks."),
    ("Estimating the age of wine from its chemistry", "Yy Zz, Ab Cd", "Chemical measurements tell how old a wine is."),
    ("Reading handwritten medieval manuscripts", "Ef Gh, Ij Kl", "Handwriting recognition transcribes medieval books."),
    ("Predicting earthquakes from seismic signals", "Mn Op, Qr St", "Seismograph signals warn of earthquakes seconds ahead."),
    ("Code generation with large language models", "Uv Wx, Yz Ab", "A language model writes programs from descriptions."),
    ("Tracking animals with camera traps", "Bc De, Fg Hi", "Camera traps and detectors follow wildlife in the forest."),
    ("Privacy attacks on language models", "Jk Lm, No Pq", "Attackers extract training data from a language model."),
    ("Optimizing warehouse robots", "Rs Tu, Vw Xy", "Robots fetch shelves in a warehouse with little waiting."),
    ("Measuring bias in face recognition", "Za Bc, De Fg", "Face recognition errs more often for some groups of people."),
]
TODAY = [
    ("Predicting protein structures with deep learning", "Ana Silva, Bo Chen", "We predict the three-dimensional structure of proteins from their amino acid sequence with a neural network."),
    ("A query optimizer for graph databases", "Hi Jk, Lm No", "We speed up queries over graph databases with a cost-based optimizer."),
    ("Recognizing speech in noisy rooms", "Pq Rs, Tu Vw", "Speech recognition stays accurate in loud, echoing rooms."),
]


def digest(day: str, papers: list[tuple[str, str, str]], first_number: int) -> bytes:
    """A topic-table digest with abstracts (the last entry ends with its Chinese translation,
    as the format requires)."""
    ids = [f"2611.{first_number + n:05d}" for n in range(len(papers))]
    rows = "\n".join(
        f"|**{day}**|**{title}**|{authors.split(',')[0]} et.al.|[{pid}v1](http://arxiv.org/abs/{pid}v1)|null|"
        for pid, (title, authors, _) in zip(ids, papers)
    )
    entries = "\n\n".join(
        f"##### **{title}**\n{pid}v1 by {authors}\n\n{abstract}" for pid, (title, authors, abstract) in zip(ids, papers)
    )
    return (
        "### Science\n|Publish Date|Title|Authors|Homepage|Code|\n| :---: | :---: | :---: | :---: | :---: |\n"
        f"{rows}\n\n#### Abstracts\n{entries}\n\n摘要：这是一篇合成的测试论文。\n"
    ).encode()


@pytest.fixture(scope="session")
def embedder() -> LocalE5Embedder:
    return LocalE5Embedder()


@pytest.fixture(scope="session")
def background_db(tmp_path_factory, embedder) -> str:
    """The background library, ingested and embedded once per session."""
    path = tmp_path_factory.mktemp("watches") / "background.db"

    async def build() -> None:
        async with await Database.open(path) as db:
            report = await ingest_bytes(db, digest("2026-11-19", BACKGROUND, 1), "background.md")
            assert report.error is None and report.new == len(BACKGROUND), report
            await embed_pending(db, embedder)

    asyncio.run(build())
    return str(path)


@pytest.fixture
async def library(background_db, tmp_path, embedder):
    path = tmp_path / "paperbot.db"
    shutil.copyfile(background_db, path)
    library = await Library.open(Settings(PAPERBOT_DB=path, PAPERBOT_EMBEDDINGS="off", PAPERBOT_WATCH_DAILY_CAP=5))
    library.retriever.embedder = embedder  # the session's model, loaded once
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
    [line] = roundup_watch_line(await watches.roundup_deliveries(library.db, "g1"))
    assert line.startswith("🔔 <@alice>: ") and line.count("arxiv.org") == 2
    assert await watches.roundup_deliveries(library.db, "g1") == []  # handed out once


async def test_a_matching_run_needs_no_vector_for_keyword_and_author_matches(library):
    await watches.add_watch(library, BOB, "Ana Silva")
    report = await ingest_bytes(library.db, digest("2026-11-20", TODAY, 100), "today.md")
    assert report.new == 3
    later = datetime(2100, 1, 1, tzinfo=timezone.utc)  # the papers waited past the grace period
    assert await watches.match_new_papers(library, now=datetime.now(timezone.utc)) == 0
    assert await watches.match_new_papers(library, now=later) == 1
