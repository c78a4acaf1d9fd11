"""A small synthetic library for watches: 28 papers on distinct subjects ingested and embedded
by both real offline models (the search model and the reranker) once per session
(`watch_library_db`), and three papers that arrive
"today" (`TODAY`, written by `digest`). Matching by meaning is measured against the library, so
it needs a library of some size; the real corpus would take minutes to embed."""

from __future__ import annotations

import asyncio

import pytest

from bot.services.ingest import ingest_bytes
from bot.retrieval.embedders import LocalE5Embedder, LocalUseEmbedder
from bot.retrieval.vectors import embed_pending
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
def watch_embedder() -> LocalE5Embedder:
    """The offline model, loaded once per session for the watch tests."""
    return LocalE5Embedder()


@pytest.fixture(scope="session")
def watch_reranker() -> LocalUseEmbedder:
    """The reranker's offline model, loaded once per session for the watch tests."""
    return LocalUseEmbedder()


@pytest.fixture(scope="session")
def watch_library_db(tmp_path_factory, watch_embedder, watch_reranker) -> str:
    """The background library, ingested and embedded once per session."""
    path = tmp_path_factory.mktemp("watches") / "background.db"

    async def build() -> None:
        async with await Database.open(path) as db:
            report = await ingest_bytes(db, digest("2026-11-19", BACKGROUND, 1), "background.md")
            assert report.error is None and report.new == len(BACKGROUND), report
            await embed_pending(db, watch_embedder)
            await embed_pending(db, watch_reranker, main_only=True)  # as `embed_new` does

    asyncio.run(build())
    return str(path)
