"""Ingesting the five real digests: one paper per identity, merged across digests, idempotent."""

import json
from datetime import date

import pytest

from bot.services.ingest import ingest_bytes, ingest_paths
from tests.conftest import corpus_file


async def ingest_corpus(db, corpus_dir):
    reports = await ingest_paths(db, [corpus_dir])
    assert [r.error for r in reports] == [None] * 5, reports
    return reports


async def snapshot(db):
    """Everything ingestion writes, to compare before and after a re-ingest."""
    tables = {}
    for table, order in [
        ("papers", "id"),
        ("paper_topics", "paper_id, topic"),
        ("paper_links", "paper_id, kind, url"),
        ("paper_digests", "paper_id, digest_id"),
        ("summaries", "id"),
        ("digests", "id"),
        ("papers_fts", "rowid"),
    ]:
        rows = await db.fetchall(f"SELECT * FROM {table} ORDER BY {order}")
        tables[table] = [tuple(r) for r in rows]
    return tables


async def test_the_five_digests_hold_371_papers(db, corpus_dir):
    reports = await ingest_corpus(db, corpus_dir)
    assert sorted(r.format for r in reports) == sorted(
        ["structured-summaries", "hf-daily-papers", "arxiv-daily-tables", "topic-table-abstracts", "chatpaper"]
    )
    assert await db.fetchval("SELECT count(*) FROM papers") == 371
    assert await db.fetchval("SELECT count(*) FROM papers WHERE arxiv_id IS NOT NULL") == 362
    assert await db.fetchval("SELECT count(*) FROM papers WHERE arxiv_id IS NULL") == 9
    # no version suffix ever leaks into the identity
    assert await db.fetchval("SELECT count(*) FROM papers WHERE arxiv_id LIKE '%v%'") == 0


async def test_000_and_001_describe_the_same_8_papers(db):
    for prefix in ("000", "001"):
        path = corpus_file(prefix)
        report = await ingest_bytes(db, path.read_bytes(), path.name)
        assert report.error is None
    assert await db.fetchval("SELECT count(*) FROM papers") == 8
    ko = await db.fetchval("SELECT count(DISTINCT paper_id) FROM summaries WHERE lang = 'ko'")
    zh = await db.fetchval(
        "SELECT count(DISTINCT paper_id) FROM summaries WHERE kind = 'structured_summary'"
    )
    assert (ko, zh) == (8, 7)
    # the failure marker is never stored as text about a paper
    assert await db.fetchval("SELECT count(*) FROM summaries WHERE text LIKE '%faild to%'") == 0
    # every one of the 8 is mentioned by both digests
    assert await db.fetchval(
        "SELECT count(*) FROM (SELECT paper_id FROM paper_digests GROUP BY paper_id HAVING count(*) = 2)"
    ) == 8


async def test_second_digest_reports_updated_papers_not_new_ones(db):
    first, second = corpus_file("000"), corpus_file("001")
    await ingest_bytes(db, first.read_bytes(), first.name)
    report = await ingest_bytes(db, second.read_bytes(), second.name)
    assert (report.new, report.updated, report.unchanged) == (0, 8, 0)


async def test_002_topics_and_003_full_authors(db):
    for prefix in ("002", "003"):
        path = corpus_file(prefix)
        assert (await ingest_bytes(db, path.read_bytes(), path.name)).error is None
    in_002 = await db.fetchval(
        "SELECT count(*) FROM paper_digests pd JOIN digests d ON d.id = pd.digest_id "
        "WHERE d.format = 'arxiv-daily-tables'"
    )
    assert in_002 == 255
    several_topics = await db.fetchval(
        "SELECT count(*) FROM (SELECT paper_id FROM paper_topics GROUP BY paper_id HAVING count(*) > 1)"
    )
    assert several_topics > 0
    row = await db.fetchone("SELECT authors, abstract FROM papers WHERE arxiv_id = '2407.12773'")
    authors = json.loads(row["authors"])
    assert authors[0] == "Zhuoyan Shen" and len(authors) > 10  # the full list, not "et.al."
    assert "\n" not in row["abstract"] and "Mitotic activity" in row["abstract"]
    assert await db.fetchval("SELECT count(*) FROM summaries WHERE text LIKE '%<paragraph>%'") == 0
    # 002 and 003 overlap: shared papers are one row with both digests
    shared = await db.fetchval(
        "SELECT count(*) FROM (SELECT paper_id FROM paper_digests GROUP BY paper_id HAVING count(*) = 2)"
    )
    assert shared > 0
    assert await db.fetchval("SELECT count(*) FROM papers") == 255 + 100 - shared


async def test_reingesting_the_corpus_changes_nothing(db, corpus_dir):
    await ingest_corpus(db, corpus_dir)
    before = await snapshot(db)
    reports = await ingest_paths(db, [corpus_dir])
    assert all(r.already_ingested for r in reports)
    assert await snapshot(db) == before


async def test_reingesting_the_same_papers_from_a_renamed_copy_changes_no_paper(db, tmp_path):
    original = corpus_file("001")
    await ingest_bytes(db, original.read_bytes(), original.name)
    before = await snapshot(db)
    # same papers, one byte different: a new digest, but no paper, topic or summary changes
    report = await ingest_bytes(db, original.read_bytes() + b"\n", "copy.md")
    assert (report.new, report.updated, report.unchanged, report.summaries_added) == (0, 0, 8, 0)
    after = await snapshot(db)
    for table in ("papers", "paper_topics", "summaries", "papers_fts"):
        assert after[table] == before[table], table


async def test_title_only_paper_merges_when_it_arrives_with_an_id(db):
    chatpaper = (
        "2024-12-13 更新\n"
        "Sparse Mixtures of Gentle Experts\n"
        "Authors:Ada Lovelace, Alan Turing\n"
        "We study gentle experts and find them sparse.\n"
        "我们研究温和的专家，发现它们是稀疏的。\n"
        "论文及项目相关链接\n"
        "Summary\n"
        "温和专家很稀疏。\n"
        "Key Takeaways\n"
        "- 专家是稀疏的\n"
        "点击展开 Cool Papers 详细信息\n"
        "Q: 这篇论文试图解决什么问题?\n"
        "A: 专家太吵。\n"
    ).encode()
    first = await ingest_bytes(db, chatpaper, "chatpaper.md")
    assert first.error is None and first.new == 1
    key_before = await db.fetchone("SELECT id, arxiv_id, title_hash FROM papers")
    assert key_before["arxiv_id"] is None

    hf = (
        "## Daily Papers (2024-12-14)\n\n"
        "### [Sparse mixtures of gentle experts](https://arxiv.org/abs/2412.09999)\n\n"
        "Vote: 3\n\n"
        "Authors: Ada Lovelace, Alan Turing\n\n"
        "- **What's New**: 부드러운 전문가를 연구합니다.\n"
        "- **Technical Details**: 희소합니다.\n"
        "- **Performance Highlights**: 좋습니다.\n"
    ).encode()
    second = await ingest_bytes(db, hf, "hf.md")
    assert second.error is None
    assert (second.new, second.updated) == (0, 1)
    rows = await db.fetchall("SELECT id, arxiv_id, title_hash FROM papers")
    assert len(rows) == 1
    assert rows[0]["id"] == key_before["id"] and rows[0]["arxiv_id"] == "2412.09999"
    langs = {r[0] for r in await db.fetchall("SELECT lang FROM summaries")}
    assert {"zh", "ko"} <= langs


@pytest.mark.parametrize(
    "data, reason",
    [
        (b"", "empty"),
        (b"   \n\n", "empty"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "not text"),
        ("résumé".encode("latin-1") + b" plain words", "not UTF-8"),
        (b"# My shopping list\n- eggs\n- milk\n", "unknown digest format"),
    ],
)
async def test_bad_files_get_one_line_reasons_and_write_nothing(db, data, reason):
    report = await ingest_bytes(db, data, "bad.md")
    assert report.error is not None and reason in report.error
    assert "\n" not in report.error
    assert await db.fetchval("SELECT count(*) FROM digests") == 0
    assert await db.fetchval("SELECT count(*) FROM papers") == 0


async def test_truncated_digest_keeps_whole_papers_and_reports_the_cut_one(db):
    text = corpus_file("003").read_text(encoding="utf-8")
    cut = text.index("##### **LMMs-Eval")  # keep the table and the first abstract entry...
    cut = text.index("\n\n", cut + 200)  # ...and stop inside the second one
    report = await ingest_bytes(db, text[:cut].encode(), "cut.md")
    assert report.error is None
    assert any("truncated" in p.message for p in report.problems)
    # no half-written paper: the cut entry has no English abstract stored
    abstract = await db.fetchval("SELECT abstract FROM papers WHERE arxiv_id = '2407.12772'")
    assert abstract is None
    assert await db.fetchval("SELECT abstract IS NOT NULL FROM papers WHERE arxiv_id = '2407.12773'") == 1


async def test_invisible_characters_never_reach_the_store(db):
    hf = (
        "## Daily Papers (2024-12-14)\n\n"
        "### [Hidden\u200b Ins\u202etructions](https://arxiv.org/abs/2412.00001)\n\n"
        "Vote: 1\n\nAuthors: Eve\ufeff Example\n\n"
        "- **What's New**: 보이지\u200b 않는 문자.\n"
        "- **Technical Details**: 없음.\n"
        "- **Performance Highlights**: 없음.\n"
    ).encode()
    assert (await ingest_bytes(db, hf, "hidden.md")).error is None
    row = await db.fetchone("SELECT title, authors FROM papers")
    assert row["title"] == "Hidden Instructions"
    assert json.loads(row["authors"]) == ["Eve Example"]
    text = await db.fetchval("SELECT text FROM summaries")
    assert "\u200b" not in text and "보이지 않는 문자" in text


LLM_WRITTEN = (
    "# Gentle Experts Are Sparse\n"
    "[arxiv_pdf_url](https://arxiv.org/pdf/2501.00071)\n"
    "### 作者信息\n"
    "- Ada King Lovelace<sup>1</sup>, Alan M. Turing$^{2}$, Charles Babbage（剑桥大学）\n"
    "### 研究方法\n"
    "- 温和的专家。\n"
).encode()
HF_LIST = (
    "## Daily Papers (2025-01-07)\n\n"
    "### [Gentle Experts Are Sparse](https://arxiv.org/abs/2501.00071)\n\n"
    "Authors: Ada Lovelace, Alan Turing\n\n"
    "- **What's New**: 부드러운 전문가.\n"
).encode()


@pytest.mark.parametrize("order", [(LLM_WRITTEN, HF_LIST), (HF_LIST, LLM_WRITTEN)])
async def test_the_more_authoritative_author_list_wins_in_either_order(db, order):
    for number, data in enumerate(order):
        assert (await ingest_bytes(db, data, f"{number}.md")).error is None
    row = await db.fetchone("SELECT authors, authors_rank FROM papers WHERE arxiv_id = '2501.00071'")
    # the Hugging Face list (from arXiv) beats the longer list an LLM copied from the PDF
    assert (json.loads(row["authors"]), row["authors_rank"]) == (["Ada Lovelace", "Alan Turing"], 7)
    assert await db.fetchval("SELECT count(*) FROM summaries") == 2


async def test_a_digest_dated_in_the_future_is_refused_and_writes_nothing(db):
    future = HF_LIST.replace(b"2025-01-07", b"2099-01-01")
    report = await ingest_bytes(db, future, "future.md", today=date(2098, 12, 30))
    assert report.error == "dated 2099-01-01, more than a day after today (2098-12-30)"
    assert await db.fetchval("SELECT count(*) FROM digests") == 0
    assert await db.fetchval("SELECT count(*) FROM papers") == 0
    # without a clock passed in, today is the real UTC date
    assert (await ingest_bytes(db, future, "future.md")).error.startswith("dated 2099-01-01, more than a day")
