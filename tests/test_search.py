"""Keyword search in English, Chinese and Korean, lookups by id and title, FTS syntax as text."""

import pytest

from bot.services.ingest import ingest_bytes, ingest_paths
from bot.retrieval.cache import LibraryCache
from bot.retrieval.lexical import build_match_query
from bot.store.keyword_index import index_text
from bot.retrieval.search import Retriever, describe_hits, search
from bot.services.papers import PaperNotFound, paper_detail, resolve_paper


@pytest.fixture
async def library(db, corpus_dir):
    reports = await ingest_paths(db, [corpus_dir])
    assert all(r.error is None for r in reports)
    return db


async def titles_for(db, query, limit=10, mode="lexical"):
    return [r.title for r in await describe_hits(db, await search(db, query, limit=limit, mode=mode))]


async def test_english_keywords_rank_the_title_match_first(library):
    titles = await titles_for(library, "medical segment anything video")
    assert titles[0].startswith("Medical SAM 2")


async def test_two_character_chinese_query_finds_papers(library):
    # a trigram index finds nothing for a two-character query; the bigram index must
    results = await search(library, "蒸馏", limit=20)
    assert results, "no result for 蒸馏 (distillation)"
    detail = await paper_detail(library, results[0].paper_id)
    text = " ".join([detail.title, detail.abstract or ""] + [s.text for s in detail.summaries])
    assert "蒸馏" in text


async def test_one_character_cjk_query_is_answered(library):
    assert await search(library, "模", limit=5)


async def test_chinese_sentence_finds_the_paper_it_describes(library):
    # 002 has only an English title and a Chinese abstract for this paper
    titles = await titles_for(library, "反思性指令微调 幻觉")
    assert any("Reflective Instruction Tuning" in t for t in titles[:3])


async def test_korean_query_finds_the_korean_summary(library):
    titles = await titles_for(library, "의료 영상 분할")
    assert any(t.startswith("Medical SAM 2") for t in titles[:3])
    # a two-syllable query with a particle attached in the text ("모델을", "모델은") still matches
    assert await search(library, "모델", limit=5)


@pytest.mark.parametrize(
    "query", ['"', "*", "(", ")", "-", ":", "^", 'a "b', "NEAR(x y)", "x OR", "AND", "title:foo", '"*"']
)
async def test_fts_syntax_characters_are_searched_as_text_never_an_error(library, query):
    await search(library, query)  # must not raise
    match = build_match_query(query)
    assert match is None or match.count('"') % 2 == 0


async def test_quoted_phrase_must_match_as_written(library):
    results = await search(library, '"segment anything"', limit=50)
    assert results
    for result in results:
        detail = await paper_detail(library, result.paper_id)
        text = " ".join([detail.title, detail.abstract or ""] + [s.text for s in detail.summaries])
        assert "segment anything" in text.lower()


@pytest.mark.parametrize(
    "ref", ["2408.00874", "2408.00874v1", "arXiv:2408.00874", "https://arxiv.org/abs/2408.00874",
            "http://arxiv.org/pdf/2408.00874v2.pdf"]
)
async def test_lookup_by_arxiv_id_in_any_form(library, ref):
    detail = await paper_detail(library, await resolve_paper(library, ref))
    assert detail.arxiv_id == "2408.00874"
    hits = await search(library, ref, limit=3)
    assert hits[0].exact and hits[0].paper_id == detail.id


async def test_lookup_by_exact_and_fuzzy_title(library):
    exact = await resolve_paper(library, "POA: Pre-training Once for Models of All Sizes")
    sloppy = await resolve_paper(library, "poa pre-training once for model of all size")
    assert exact == sloppy
    assert (await paper_detail(library, exact)).arxiv_id == "2408.01031"


async def test_id_less_papers_have_a_stable_key(library):
    row = await library.fetchone("SELECT id, title FROM papers WHERE arxiv_id IS NULL LIMIT 1")
    detail = await paper_detail(library, row["id"])
    assert detail.key.startswith("t-")
    assert await resolve_paper(library, detail.key) == row["id"]
    assert await resolve_paper(library, row["title"]) == row["id"]


async def test_unknown_references_say_what_was_looked_for(library):
    with pytest.raises(PaperNotFound, match="2501.99999"):
        await resolve_paper(library, "2501.99999")
    with pytest.raises(PaperNotFound, match="zebra"):
        await resolve_paper(library, "zebra crossing choreography for penguins")


def test_cjk_runs_are_indexed_as_bigrams():
    assert index_text("模型训练 ok").split() == ["模型", "型训", "训练", "练", "ok"]
    assert index_text("검색을").split() == ["검색", "색을", "을"]


def korean_digest(first_number: int, count: int) -> bytes:
    """A small HF-daily-papers digest: English titles, Korean highlights."""
    entries = []
    for n in range(first_number, first_number + count):
        arxiv_id = f"2601.{n:05d}"
        entries.append(
            f"### [Zyxwv probe paper {n}](https://arxiv.org/abs/{arxiv_id})\n\nVote: 3\n\n"
            f"Authors: Ada Probe, Bo Probe\n\n"
            f"- **What's New**: 검증용 논문 {n}번은 새로운 방법을 제안합니다.\n"
        )
    return ("## Daily Papers (2026-01-05)\n\n" + "\n".join(entries)).encode()


async def test_search_figures_are_refreshed_when_papers_arrive(library):
    retriever = Retriever(library)
    before = await retriever.lexical_weight("새로운 방법을 제안하는 논문")
    assert await retriever.lexical_weight("새로운 방법을 제안하는 논문") == before  # kept, not recounted
    assert [h.paper_id for h in await retriever.search("zyxwv", mode="lexical")] == []

    report = await ingest_bytes(library, korean_digest(1, 40), "probe.md")
    assert report.error is None and report.papers == 40

    assert await retriever.lexical_weight("새로운 방법을 제안하는 논문") > before
    hits = await retriever.search("zyxwv", limit=50, mode="lexical")
    assert len(hits) == 40


async def test_library_cache_computes_once_per_generation(db):
    cache = LibraryCache(db)
    calls = []

    async def compute():
        calls.append(1)
        return len(calls)

    await cache.refresh()
    assert await cache.get("k", compute) == 1
    await cache.refresh()
    assert await cache.get("k", compute) == 1
    await ingest_bytes(db, korean_digest(100, 1), "one.md")
    await cache.refresh()
    assert await cache.get("k", compute) == 2
