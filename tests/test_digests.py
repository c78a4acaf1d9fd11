"""The real digests of other days and forks (../shared/digests): every paper, its summary,
clean authors. Expectations come from the files' text, not from the parsers."""

import json
import re

import pytest

from bot.services.ingest import ingest_paths
from bot.corpus.merge import merge_entries
from bot.corpus.reading import decode_digest, parse_digest, prepare_digest
from tests.conftest import CORPUS_DIR, PROJECT_ROOT

DIGESTS_DIR = PROJECT_ROOT.parent / "shared" / "digests"
_ANY_ID = re.compile(r"(?<![\d.])(\d{4}\.\d{4,5})(?:v\d+)?(?!\d)")
# what a clean author name never contains: markup, footnote marks, affiliations, labels, digits
GARBLED_AUTHOR = re.compile(r"[<>$^*∗†‡:：（()\[\]{}@+\d|]|团队|大学|实验室|贡献|^\W|\W$|et\.? ?al", re.IGNORECASE)

# file prefix -> (layout it is read as, languages of its summaries), from ../shared/digests/README.md
EXPECTED = {
    "fmt000": ("structured-summaries", {"zh"}),
    "fmt001": ("hf-daily-papers", {"ko"}),
    "fmt002": ("arxiv-daily-tables", {"zh"}),
    "fmt003": ("topic-table-abstracts", {"zh", "zh-Hant"}),
    "fmt004": ("chatpaper", {"zh"}),
}


def digest_file(prefix: str):
    return next(DIGESTS_DIR.glob(f"{prefix}_*.md"))


@pytest.mark.parametrize("prefix", sorted(EXPECTED))
def test_every_paper_of_a_real_digest_is_read_with_its_summary(prefix):
    text = decode_digest(digest_file(prefix).read_bytes())
    digest = parse_digest(text)
    layout, languages = EXPECTED[prefix]
    assert digest.format == layout
    papers = merge_entries(digest.papers)
    assert {p.arxiv_id for p in papers} == set(_ANY_ID.findall(text))
    assert len(papers) == len(set(_ANY_ID.findall(text)))
    # each paper keeps the text the file has about it, in the file's language
    assert all(p.summaries for p in papers), [p.title for p in papers if not p.summaries]
    assert {s.lang for p in papers for s in p.summaries} == languages
    assert not [s for p in papers for s in p.summaries if "faild to" in s.text]


@pytest.mark.parametrize("prefix", sorted(EXPECTED))
def test_no_garbled_author_in_a_real_digest(prefix):
    text = decode_digest(digest_file(prefix).read_bytes())
    authors = [name for paper in parse_digest(text).papers for name in paper.authors]
    names_authors = bool(re.search(r"Authors|作者", text))  # fmt001 and fmt002 name none
    assert bool(authors) == names_authors
    assert [name for name in authors if GARBLED_AUTHOR.search(name) or len(name) < 2] == []


def test_llm_written_author_lists_lose_their_markup_and_affiliations():
    papers = {p.arxiv_id: p for p in parse_digest(decode_digest(digest_file("fmt000").read_bytes())).papers}
    # "- Gyeongsik Moon<sup>1,2</sup>, Takaaki Shiratori<sup>2</sup>, 和 Shunsuke Saito<sup>2</sup>"
    assert papers["2407.21686"].authors == ["Gyeongsik Moon", "Takaaki Shiratori", "Shunsuke Saito"]
    # "- **Ruohao Guo**: 国家通用人工智能重点实验室, ..." one bullet per author
    assert papers["2407.21721"].authors[0] == "Ruohao Guo"
    # "- 作者单位：加州大学伯克利分校" is not an author
    assert papers["2407.21781"].authors[-1] == "Koushil Sreenath"


def test_the_older_hf_layout_keeps_every_summary_and_the_last_paper():
    text = decode_digest(digest_file("fmt001").read_bytes())
    papers = parse_digest(text).papers
    last_id = _ANY_ID.findall(text)[-1]
    assert papers[-1].arxiv_id == last_id and papers[-1].summaries
    assert {s.kind for p in papers for s in p.summaries} == {"summary"}  # plain bullets


def test_a_digest_dated_only_by_its_file_name_gets_that_date():
    path = digest_file("fmt000")
    assert parse_digest(decode_digest(path.read_bytes())).digest_date is None  # its text states no date
    assert prepare_digest(path.read_bytes(), path.name, str(path)).report.digest_date == "2024-08-01"


async def test_every_digest_ingests_beside_the_corpus_and_again_changes_nothing(db):
    corpus = await ingest_paths(db, [CORPUS_DIR])
    assert [r.error for r in corpus] == [None] * 5
    assert await db.fetchval("SELECT count(*) FROM papers") == 371
    reports = await ingest_paths(db, [DIGESTS_DIR])
    assert [r.error for r in reports] == [None] * 5
    ids = set()
    for path in sorted(DIGESTS_DIR.glob("fmt*.md")):
        ids |= set(_ANY_ID.findall(path.read_text(encoding="utf-8")))
    stored = {r[0] for r in await db.fetchall("SELECT arxiv_id FROM papers WHERE arxiv_id IS NOT NULL")}
    assert ids <= stored
    without_text = await db.fetchval(
        "SELECT count(*) FROM papers p JOIN paper_digests pd ON pd.paper_id = p.id "
        "JOIN digests d ON d.id = pd.digest_id WHERE d.name LIKE 'fmt%' AND p.abstract IS NULL "
        "AND NOT EXISTS (SELECT 1 FROM summaries s WHERE s.paper_id = p.id)"
    )
    assert without_text == 0
    authors = [a for (row,) in await db.fetchall("SELECT authors FROM papers") for a in json.loads(row)]
    assert [a for a in authors if GARBLED_AUTHOR.search(a)] == []

    before = {t: await db.fetchall(f"SELECT * FROM {t} ORDER BY 1") for t in ("papers", "summaries", "paper_topics")}
    again = await ingest_paths(db, [CORPUS_DIR, DIGESTS_DIR])
    assert all(r.already_ingested for r in again)
    after = {t: await db.fetchall(f"SELECT * FROM {t} ORDER BY 1") for t in ("papers", "summaries", "paper_topics")}
    assert {t: [tuple(r) for r in rows] for t, rows in after.items()} == {
        t: [tuple(r) for r in rows] for t, rows in before.items()
    }
