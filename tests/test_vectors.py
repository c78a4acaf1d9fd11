"""Search by meaning: the offline model across languages, incremental embedding, and the
OpenAI-compatible embedder against a scripted server on 127.0.0.1."""

from __future__ import annotations

import numpy as np
import pytest

from bot.services.ingest import ingest_bytes
from bot.llm.embeddings import OpenAIEmbedder
from bot.llm.errors import LLMError
from bot.retrieval.embedders import LocalE5Embedder, LocalUseEmbedder
from bot.retrieval.matching import semantic_scores
from bot.retrieval.search import Retriever, describe_hits, rerank
from bot.retrieval.vectors import VectorIndex, count_missing, embed_pending, is_main_facet
from bot.errors import ConfigurationError
from bot.services.library import make_reranker
from bot.settings import Settings, load_settings
from tests.conftest import corpus_file
from tests.support.openai_server import Reply, rate_limited, server_error


def openai_embedder(server, model: str = "embed-a", **overrides) -> OpenAIEmbedder:
    settings = Settings(
        OPENAI_API_KEY="sk-test",
        PAPERBOT_EMBEDDINGS="openai",
        PAPERBOT_EMBEDDINGS_BASE_URL=server.base_url,
        PAPERBOT_EMBEDDINGS_MODEL=model,
        PAPERBOT_LLM_TIMEOUT=2.0,
        PAPERBOT_LLM_MAX_ATTEMPTS=3,
        **overrides,
    )
    return OpenAIEmbedder.from_settings(settings)


def embedding_requests(server) -> list:
    return [r for r in server.requests if r.path.endswith("/embeddings")]


async def test_korean_question_finds_a_paper_with_only_english_and_chinese_text(db):
    # 004 (English abstracts with Chinese translations), 000 (Chinese summaries) and 001 (Korean
    # highlights of the same papers) together:
    # the Korean question must reach past the papers that share its language, with and
    # without the reranker
    for prefix in ("000", "001", "004"):
        path = corpus_file(prefix)
        assert (await ingest_bytes(db, path.read_bytes(), path.name)).error is None
    embedder, reranker = LocalE5Embedder(), LocalUseEmbedder()
    await embed_pending(db, embedder)
    await embed_pending(db, reranker, main_only=True)
    for retriever in (Retriever(db, embedder), Retriever(db, embedder, reranker)):
        # "how to move a big teacher network's knowledge into a small student model"
        question = "큰 교사 네트워크의 지식을 작은 학생 모델로 옮기는 방법"
        hits = await describe_hits(db, await retriever.search(question, limit=3, mode="semantic"))
        wanted = "All You Need in Knowledge Distillation Is a Tailored Coordinate System"
        assert wanted in [hit.title for hit in hits]
        langs = await db.fetchall(
            "SELECT DISTINCT s.lang FROM summaries s JOIN papers p ON p.id = s.paper_id WHERE p.title = ?",
            (wanted,),
        )
        assert {row[0] for row in langs} == {"zh"}  # nothing Korean about it
        # Medical SAM 2 is known here only by its Korean highlights; it used to come first for
        # any Korean question, e.g. "automatically making sound effects that match a video"
        question = "영상에 맞는 효과음을 자동으로 만드는 방법"
        hits = await describe_hits(db, await retriever.search(question, limit=3, mode="semantic"))
        assert hits[0].title.startswith("YingSound"), [hit.title for hit in hits]


async def test_the_reranker_reads_each_papers_main_text_once_and_waits_for_its_vectors(db, openai_server):
    path = corpus_file("004")
    assert (await ingest_bytes(db, path.read_bytes(), path.name)).error is None
    openai_server.embedding_dim = 8
    embedder, reranker = openai_embedder(openai_server), LocalUseEmbedder()
    await embed_pending(db, embedder)
    question = "making a small model learn from a large one"
    alone = await Retriever(db, embedder).search(question, mode="semantic")
    # no reranker vectors yet: the ranking is the search model's
    assert [h.paper_id for h in await Retriever(db, embedder, reranker).search(question, mode="semantic")] == [
        h.paper_id for h in alone
    ]
    papers = await db.fetchval("SELECT count(*) FROM papers")
    assert await embed_pending(db, reranker, main_only=True) == papers
    facets = await db.fetchall("SELECT facet FROM paper_vectors WHERE embedder = ?", (reranker.name,))
    assert len(facets) == papers and all(is_main_facet(row[0]) for row in facets)
    assert await embed_pending(db, reranker, main_only=True) == 0
    reranked = await Retriever(db, embedder, reranker).search(question, mode="semantic")
    assert sorted(h.paper_id for h in reranked) == sorted(h.paper_id for h in alone)  # same candidates
    assert [h.paper_id for h in reranked] != [h.paper_id for h in alone]  # another order


def test_rerank_averages_standardized_opinions_and_treats_a_missing_one_as_average():
    hits = [(1, 0.9), (2, 0.8), (3, 0.7), (4, 0.1)]
    # the second model prefers 3, then 2; it has no vector for 1
    second = np.array([np.nan, 0.5, 0.9, 0.0])
    assert [pid for pid, _ in rerank(hits, [second])] == [3, 1, 2, 4]  # 1 keeps its lead over 2
    twice = rerank(hits, [second, second])  # two thirds of the say: 3's lead grows
    assert [pid for pid, _ in twice] == [3, 1, 2, 4] and twice[0][1] - twice[1][1] > 0.5
    # a third opinion that agrees with the search model's order keeps 1 ahead of 3
    assert [pid for pid, _ in rerank(hits, [second, np.array([1.0, 0.5, 0.4, 0.0])])][0] == 1
    # an opinion with nothing to say is left out, not counted as average for everyone
    assert rerank(hits, [second, np.full(4, np.nan)]) == rerank(hits, [second])
    assert rerank(hits, [np.full(4, np.nan)]) == hits and rerank(hits, []) == hits


async def test_main_facet_from_a_summary_is_named_by_its_language_and_renamed_without_re_embedding(db, openai_server):
    # 000: Chinese structured summaries and no abstracts, so every "main" text is Chinese
    path = corpus_file("000")
    assert (await ingest_bytes(db, path.read_bytes(), path.name)).error is None
    embedder = openai_embedder(openai_server)
    first = await embed_pending(db, embedder)
    layout = await db.fetchall("SELECT paper_id, facet FROM paper_vectors ORDER BY 1, 2")
    # the paper whose summary failed upstream keeps a plain "main" (its title alone)
    assert {row[1] for row in layout} == {"main", "main:zh", "title"}
    before = {tuple(row) for row in await db.fetchall("SELECT paper_id, text_sha, vector FROM paper_vectors WHERE facet = 'main:zh'")}
    # a library embedded before facets were named by language, plus a facet no paper has any more
    await db.execute("UPDATE paper_vectors SET facet = 'main' WHERE facet = 'main:zh'")  # "main" was unique per paper
    await db.execute(
        "INSERT INTO paper_vectors (paper_id, embedder, facet, dim, text_sha, vector) "
        "SELECT paper_id, embedder, 'ko', dim, 'gone', vector FROM paper_vectors WHERE facet = 'title' LIMIT 1"
    )
    requests = len(embedding_requests(openai_server))
    assert await embed_pending(db, embedder) == 0
    assert len(embedding_requests(openai_server)) == requests  # renamed, not embedded again
    assert await db.fetchall("SELECT paper_id, facet FROM paper_vectors ORDER BY 1, 2") == layout
    after = {tuple(row) for row in await db.fetchall("SELECT paper_id, text_sha, vector FROM paper_vectors WHERE facet = 'main:zh'")}
    assert after == before and first == len(layout)
    index = await Retriever(db, embedder).index()
    some_paper = next(iter(before))[0]
    assert np.allclose(index.vector_of(some_paper), index.transform(np.frombuffer(next(iter(
        v for pid, _, v in before if pid == some_paper)), dtype="<f4")), atol=1e-5)
    await embedder.close()


async def test_changed_abstract_re_embeds_exactly_that_paper(db, openai_server):
    path = corpus_file("003")
    original = path.read_text(encoding="utf-8")
    assert (await ingest_bytes(db, original.encode(), "day1.md")).error is None
    embedder = openai_embedder(openai_server)
    await embed_pending(db, embedder)
    assert await count_missing(db, embedder.name) == 0
    retriever = Retriever(db, embedder)  # long-lived, as in the bot
    stale = await retriever.index()
    sentence = "Counting mitotic figures (MFs) is a time-consuming, laborious task prone to"
    assert sentence in original
    # arXiv version 2 of the paper comes with a revised abstract
    changed = original.replace(sentence, "Counting mitotic figures (MFs) is slow and prone to")
    changed = changed.replace("2407.12773v1", "2407.12773v2")
    report = await ingest_bytes(db, changed.encode(), "day1-revised.md")
    assert report.updated == 1, report
    assert await count_missing(db, embedder.name) == 1
    before = len(embedding_requests(openai_server))
    assert await embed_pending(db, embedder) == 1  # one facet: the English "main" text
    sent = [text for r in embedding_requests(openai_server)[before:] for text in r.json["input"]]
    assert len(sent) == 1 and sent[0].startswith("OMG-Net") and "is slow and prone to" in sent[0]
    # same number of vectors, one replaced: the long-lived index reloads and holds the new one
    paper_id, blob = await db.fetchone(
        "SELECT p.id, v.vector FROM papers p JOIN paper_vectors v ON v.paper_id = p.id "
        "WHERE p.arxiv_id = '2407.12773' AND v.facet = 'main'"
    )
    fresh = await retriever.index()
    assert fresh is not stale and len(fresh) == len(stale)
    stored = np.frombuffer(blob, dtype="<f4")
    assert np.allclose(fresh.vector_of(paper_id), fresh.transform(stored), atol=1e-5)
    assert not np.array_equal(stale.vector_of(paper_id), fresh.vector_of(paper_id))
    assert await retriever.index() is fresh  # nothing changed since: no reload
    await embedder.close()


async def test_switching_embedder_never_mixes_dimensions(db, openai_server):
    path = corpus_file("001")
    await ingest_bytes(db, path.read_bytes(), path.name)
    first = openai_embedder(openai_server, "embed-a")
    await embed_pending(db, first)
    openai_server.embedding_dim = 32
    second = openai_embedder(openai_server, "embed-b")
    assert await count_missing(db, second.name) == 8  # a new model starts from nothing
    await embed_pending(db, second)
    dims = {tuple(r) for r in await db.fetchall("SELECT DISTINCT embedder, dim FROM paper_vectors")}
    assert dims == {("openai:embed-a", 64), ("openai:embed-b", 32)}
    retriever = Retriever(db, second)
    hits = await retriever.search("diffusion models for video", limit=3, mode="semantic")
    assert len(hits) == 3
    index = await retriever.index()
    assert index.matrix.shape[1] == 32 and index.embedder_name == "openai:embed-b"
    with pytest.raises(ValueError, match="dimension"):
        await VectorIndex.load(db, "openai:embed-a", 32)
    await first.close()
    await second.close()


async def test_openai_embedder_retries_rate_limits_and_server_errors(openai_server):
    embedder = openai_embedder(openai_server)
    openai_server.script(rate_limited(0.2), server_error(503))
    vectors = await embedder.embed_passages(["one text", "another text"])
    assert vectors.shape == (2, 64)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0)
    assert len(embedding_requests(openai_server)) == 3
    await embedder.close()


async def test_input_too_long_is_cut_and_sent_again_not_retried_as_is(openai_server):
    embedder = openai_embedder(openai_server)
    openai_server.max_embedding_input_chars = 4000
    long_text = "attention " * 3000  # 30,000 characters
    vector = await embedder.embed_query(long_text)
    assert vector.shape == (64,)
    sizes = [len(r.json["input"][0]) for r in embedding_requests(openai_server)]
    assert sizes == sorted(sizes, reverse=True) and len(set(sizes)) == len(sizes)  # each shorter
    assert sizes[-1] <= 4000 < sizes[0]
    # the limit learned is kept: the next long text goes out short at once
    await embedder.embed_query(long_text)
    assert len(embedding_requests(openai_server)) == len(sizes) + 1
    await embedder.close()


async def test_unauthorized_endpoint_is_not_retried(openai_server):
    embedder = openai_embedder(openai_server)
    openai_server.script(Reply(status=401, body={"error": {"message": "bad key", "code": "invalid_api_key"}}))
    with pytest.raises(LLMError, match="rejected the API key"):
        await embedder.embed_query("anything")
    assert len(embedding_requests(openai_server)) == 1
    await embedder.close()


def clustered_vectors(rng: np.random.Generator, rows: int, dim: int = 96) -> np.ndarray:
    """Vectors around a few hundred topic centres, the shape real embeddings have."""
    centres = rng.standard_normal((300, dim)).astype(np.float32)
    return centres[rng.integers(0, len(centres), rows)] + 0.6 * rng.standard_normal((rows, dim)).astype(np.float32)


def test_two_stage_search_finds_nearly_what_the_exact_scan_finds():
    rng = np.random.default_rng(7)
    matrix = clustered_vectors(rng, 30_000)
    ids = np.arange(len(matrix), dtype=np.int64) // 2  # two facets per paper
    facets = ["main", "title"] * (len(matrix) // 2)
    exact = VectorIndex.from_arrays("synthetic", matrix.shape[1], ids, matrix, facets, two_stage=False)
    fast = VectorIndex.from_arrays("synthetic", matrix.shape[1], ids, matrix, facets, two_stage=True)
    assert exact.projected is None and fast.projected is not None
    assert fast.nbytes > exact.nbytes

    found = total = 0
    for row in rng.choice(len(matrix), 40, replace=False):
        query = matrix[row] + 0.3 * rng.standard_normal(matrix.shape[1]).astype(np.float32)
        query /= np.linalg.norm(query)
        truth = {pid for pid, _ in exact.search(query, 10)}
        got = fast.search(query, 10)
        found += len(truth & {pid for pid, _ in got})
        total += len(truth)
        assert int(ids[row]) not in {pid for pid, _ in fast.search(query, 10, exclude={int(ids[row])})}
    assert found / total >= 0.9


def test_index_size_picks_the_search_strategy():
    rng = np.random.default_rng(1)
    small = clustered_vectors(rng, 200)
    index = VectorIndex.from_arrays("synthetic", small.shape[1], np.arange(200), small)
    assert index.projected is None
    assert index.search(small[5] / np.linalg.norm(small[5]), 1)[0][0] == 5


def test_a_text_in_the_questions_language_does_not_win_once_its_facet_is_named_by_language():
    # 50 papers' main texts in one language and one paper's in the question's language: the
    # language shows as a shared direction. In one "main" group that paper beats the paper the
    # question is about; named "main:ko" it is standardized among its own and the right one wins.
    rng = np.random.default_rng(3)
    dim = 32
    topics = rng.standard_normal((51, dim)).astype(np.float32)
    language = np.zeros(dim, np.float32)
    language[0] = 1.0
    korean = topics[50] + 2.5 * language * np.linalg.norm(topics[50]) / 1.5
    rows = np.vstack([topics[:50] + 0.2 * rng.standard_normal((50, dim)), korean]).astype(np.float32)
    question = (topics[7] + 2.5 * language * np.linalg.norm(topics[7]) / 1.5).astype(np.float32)
    shared = VectorIndex.from_arrays("synthetic", dim, np.arange(51), rows.copy(), ["main"] * 51)
    assert shared.search(question, 1)[0][0] == 50
    named = VectorIndex.from_arrays("synthetic", dim, np.arange(51), rows.copy(), ["main"] * 50 + ["main:ko"])
    assert named.search(question, 1)[0][0] == 7


@pytest.mark.parametrize(
    ("settings", "reranker"),
    [
        ({}, LocalUseEmbedder),
        ({"PAPERBOT_RERANKER": "off"}, None),
        ({"PAPERBOT_EMBEDDINGS": "off"}, None),  # nothing to rerank without search by meaning
    ],
)
def test_the_reranker_is_chosen_by_the_settings(settings, reranker):
    chosen = make_reranker(Settings(**settings))
    assert chosen is None if reranker is None else isinstance(chosen, reranker)


def test_an_unknown_reranker_setting_is_a_configuration_error():
    with pytest.raises(ConfigurationError, match="PAPERBOT_RERANKER"):
        load_settings(PAPERBOT_RERANKER="large")


def test_a_paper_whose_facets_all_match_beats_one_whose_single_facet_matches_a_little_better():
    # The question's topic is in both texts of paper 0 and in one text of paper 1, there a
    # little more clearly: a paper scores by a soft maximum of its facets, not its best alone,
    # in search and in watches alike.
    rng = np.random.default_rng(11)
    dim = 64
    topic = rng.standard_normal(dim).astype(np.float32)
    topic /= np.linalg.norm(topic)

    def text(clarity: float) -> np.ndarray:
        noise = rng.standard_normal(dim).astype(np.float32)
        noise -= (noise @ topic) * topic
        return clarity * topic + np.sqrt(1 - clarity**2) * noise / np.linalg.norm(noise)

    rows = [text(0.62), text(0.62), text(0.66), text(0.0)]  # paper 0: main, title; paper 1: main, title
    rows += [text(rng.uniform(0.0, 0.3)) for _ in range(2 * 58)]  # 58 papers about other things
    index = VectorIndex.from_arrays(
        "synthetic", dim, np.arange(120) // 2, np.array(rows), ["main", "title"] * 60
    )
    ranked = [paper for paper, _ in index.search(topic, 2)]
    assert ranked == [0, 1]
    papers, scores = semantic_scores(index, topic[None, :], [0, 1])
    assert papers == [0, 1] and scores[0, 0] > scores[0, 1]
