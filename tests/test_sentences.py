"""The reranker's sentence vectors: cutting main texts into sentences and questions into parts,
embedding sentences once per text, and a question about one thing a paper says finding it."""

from __future__ import annotations

import numpy as np
import pytest

from bot.corpus.model import ParsedDigest, ParsedPaper
from bot.corpus.reading import FileReport, PreparedDigest
from bot.retrieval.embedders import LocalE5Embedder, LocalUseEmbedder
from bot.retrieval.search import Retriever
from bot.retrieval.sentences import embed_sentences, question_parts, sentence_coverage, sentences
from bot.retrieval.vectors import embed_pending
from bot.services.ingest import ingest_bytes, write_digest
from tests.conftest import corpus_file
from tests.test_vectors import embedding_requests, openai_embedder

# Six made-up papers. The first says in one sentence of five that its trick also speeds up
# protein structure prediction; the second is about protein structure prediction throughout.
PAPERS = [
    ("Linear-Time Attention for Long Documents",
     "Transformers struggle with documents of many thousand tokens because attention grows quadratically. "
     "We replace softmax attention with a kernel feature map that runs in linear time. On long-document "
     "classification and summarization benchmarks the model matches full attention while using a fraction "
     "of the memory. We also show that the same trick speeds up protein structure prediction on a single "
     "GPU. Code is released."),
    ("Evolutionary Couplings for Orphan Proteins",
     "Predicting the three-dimensional structure of a protein from its amino-acid sequence remains hard for "
     "orphan proteins. We feed co-evolution statistics from multiple sequence alignments into a geometric "
     "network. The predicted structures are more accurate than previous methods on held-out protein families."),
    ("Self-Supervised Speech Representations for Low-Resource Languages",
     "We pretrain a speech encoder on untranscribed audio in forty languages. Fine-tuned on one hour of "
     "labelled speech it halves the word error rate of supervised baselines."),
    ("Diffusion Models for Satellite Image Super-Resolution",
     "We sharpen low-resolution satellite images with a conditional diffusion model. The method recovers "
     "roads and buildings better than regression baselines."),
    ("Graph Neural Networks for Traffic Forecasting",
     "We forecast traffic speed on road networks with a spatio-temporal graph network. Attention over "
     "sensors captures how congestion spreads."),
    ("Quantizing Language Models to Four Bits",
     "Large language models are expensive to serve. We quantize weights to four bits with a second-order "
     "error correction and keep perplexity close to full precision."),
]


async def write_made_up_papers(db) -> list[int]:
    papers = [
        ParsedPaper(title=title, line=n, arxiv_id=f"2501.{n:05d}", abstract=abstract)
        for n, (title, abstract) in enumerate(PAPERS, start=1)
    ]
    digest = ParsedDigest("made-up", None, papers)
    await write_digest(db, PreparedDigest(FileReport(name="made-up.md"), "0" * 64, None, digest, papers))
    return [row[0] for row in await db.fetchall("SELECT id FROM papers ORDER BY arxiv_id")]


def test_sentences_are_cut_at_full_stops_of_every_script():
    english = "A Title\nWe study cats, e.g. house cats. They sleep a lot! Do they dream? Yes.\n"
    assert sentences(english) == ["We study cats, e.g. house cats.", "They sleep a lot!", "Do they dream?"]
    # Chinese summaries chain clauses with semicolons and put no space after a stop
    chinese = "标题\n本文提出了一种新的蒸馏方法。该方法无需教师模型；适用于各种网络架构。实验表明效果显著提升。"
    assert sentences(chinese) == ["本文提出了一种新的蒸馏方法。", "该方法无需教师模型；", "适用于各种网络架构。", "实验表明效果显著提升。"]
    # a paper known by its title alone is that one sentence
    assert sentences("Only a title") == ["Only a title"]


async def test_a_question_about_one_sentence_of_a_paper_finds_that_paper(db):
    paper_ids = await write_made_up_papers(db)
    embedder, reranker = LocalE5Embedder(), LocalUseEmbedder()
    await embed_pending(db, embedder)
    await embed_pending(db, reranker, main_only=True)
    retriever = Retriever(db, embedder, reranker)
    # "how to make protein structure prediction fast on a single GPU", asked in Korean
    question = "단일 GPU에서 단백질 구조 예측을 빠르게 하는 방법"
    whole_texts = [hit.paper_id for hit in await retriever.search(question, mode="semantic", limit=2)]
    assert whole_texts == [paper_ids[1], paper_ids[0]]  # whole texts: the protein paper is nearer
    assert await embed_sentences(db, reranker) == len(PAPERS)
    by_sentence = [hit.paper_id for hit in await retriever.search(question, mode="semantic", limit=2)]
    assert by_sentence == [paper_ids[0], paper_ids[1]]  # the paper that says it comes first


def test_a_question_is_cut_into_the_parts_it_asks_for():
    assert question_parts("shrinking a huge network into a tiny one, through a helper network picked "
                          "automatically, because the gap is too large for one jump") == [
        "shrinking a huge network into a tiny one", "through a helper network picked automatically",
        "because the gap is too large for one jump"]
    assert question_parts("Objekte erkennen, wobei ein Sprachmodell hilft") == ["Objekte erkennen", "wobei ein Sprachmodell hilft"]
    assert question_parts("像素级分类模型对少见类别过于自信，怎样估计可信度") == ["像素级分类模型对少见类别过于自信", "怎样估计可信度"]
    # one part (or parts too short to say anything alone): the question itself
    assert question_parts("단일 GPU에서 단백질 구조 예측을 빠르게 하는 방법") == ["단일 GPU에서 단백질 구조 예측을 빠르게 하는 방법"]
    assert question_parts("cats and dogs") == ["cats and dogs"]


async def test_coverage_averages_each_parts_nearest_sentence(db):
    paper_ids = await write_made_up_papers(db)
    reranker = LocalUseEmbedder()
    await embed_sentences(db, reranker)
    said = ["We replace softmax attention with a kernel feature map that runs in linear time.",
            "We also show that the same trick speeds up protein structure prediction on a single GPU."]
    parts = await reranker.embed_passages(said)
    unknown = max(paper_ids) + 1
    one = await sentence_coverage(db, reranker.name, [paper_ids[0], paper_ids[1], unknown], parts[1:])
    assert one[0] > 0.99  # that very sentence (float16 storage costs the fourth decimal)
    assert one[1] < 0.9 and np.isnan(one[2])
    both = await sentence_coverage(db, reranker.name, [paper_ids[0], paper_ids[1]], parts)
    assert both[0] > 0.99  # each part has its own sentence in the first paper
    protein_paper_alone = await sentence_coverage(db, reranker.name, [paper_ids[1]], parts[:1])
    assert both[1] == pytest.approx((one[1] + protein_paper_alone[0]) / 2, abs=1e-6)
    # vectors of another size (another model's question) say nothing rather than fail
    assert np.isnan(await sentence_coverage(db, reranker.name, paper_ids[:1], parts[:, :8])).all()
    assert (await sentence_coverage(db, reranker.name, [], parts)).size == 0


async def test_sentences_are_embedded_once_and_again_when_the_abstract_changes(db, openai_server):
    path = corpus_file("003")
    original = path.read_text(encoding="utf-8")
    assert (await ingest_bytes(db, original.encode(), "day1.md")).error is None
    openai_server.embedding_dim = 8
    embedder = openai_embedder(openai_server)
    papers = await db.fetchval("SELECT count(*) FROM papers")
    assert await embed_sentences(db, embedder) == papers
    rows = await db.fetchall("SELECT dim, length(vectors) FROM sentence_vectors WHERE embedder = ?", (embedder.name,))
    assert len(rows) == papers and all(dim == 8 and size % (8 * 2) == 0 for dim, size in rows)
    assert await embed_sentences(db, embedder) == 0  # nothing new
    sentence = "Counting mitotic figures (MFs) is a time-consuming, laborious task prone to"
    changed = original.replace(sentence, "Counting mitotic figures (MFs) is slow and prone to")
    changed = changed.replace("2407.12773v1", "2407.12773v2")
    assert (await ingest_bytes(db, changed.encode(), "day1-revised.md")).updated == 1
    before = len(embedding_requests(openai_server))
    assert await embed_sentences(db, embedder) == 1  # that paper alone
    sent = [text for r in embedding_requests(openai_server)[before:] for text in r.json["input"]]
    assert any("is slow and prone to" in text for text in sent)
    paper_id, title = await db.fetchone("SELECT id, title FROM papers WHERE arxiv_id = '2407.12773'")
    assert not any(title in text for text in sent)  # the title is not a sentence
    blob = await db.fetchval("SELECT vectors FROM sentence_vectors WHERE paper_id = ?", (paper_id,))
    assert len(blob) == len(sent) * 8 * 2  # one float16 row per sentence sent
    assert await embed_sentences(db, embedder, rebuild=True) == papers
    await embedder.close()

