"""The retrieval development sets (benchmarks/devset*.json) ask about papers the corpus holds:
a wrong id or title would silently score as a miss in benchmarks/retrieval.py."""

import json
import re
from collections import Counter, defaultdict

import pytest

from bot.services.papers import resolve_paper
from bot.store import Database
from tests.conftest import PROJECT_ROOT

PLAIN = PROJECT_ROOT / "benchmarks" / "devset_plain.json"
TOPICS = PROJECT_ROOT / "benchmarks" / "devset_topics.json"
DEVSETS = sorted(set((PROJECT_ROOT / "benchmarks").glob("devset*.json")) - {TOPICS})


def questions(path):
    return json.loads(path.read_text(encoding="utf-8"))


@pytest.mark.parametrize("path", DEVSETS, ids=lambda path: path.name)
async def test_every_expected_paper_is_the_one_the_corpus_holds(path, corpus_db):
    async with await Database.open(corpus_db) as db:
        for item in questions(path):
            expected = item["expected"]
            paper_id = await resolve_paper(db, expected.removeprefix("title:"))
            arxiv_id, title = (await db.fetchall("SELECT arxiv_id, title FROM papers WHERE id = ?", (paper_id,)))[0]
            # a title key must name the paper exactly, not merely come closest by fuzzy matching
            named = title if expected.startswith("title:") else arxiv_id
            assert named == expected.removeprefix("title:"), (item["q"], expected, arxiv_id, title)


def test_plain_set_splits_are_balanced_across_languages_and_papers():
    items = questions(PLAIN)
    languages = {item["lang"] for item in items}
    per_split = defaultdict(Counter)
    for item in items:
        per_split[item["split"]][item["lang"]] += 1
    assert set(per_split) == {"tune", "holdout", "fresh"}
    for split, counts in per_split.items():
        assert set(counts) == languages and len(set(counts.values())) == 1, (split, counts)
    assert len({item["q"] for item in items}) == len(items), "a question is asked twice"
    fresh_languages = defaultdict(set)
    for item in items:
        if item["split"] == "fresh":
            fresh_languages[item["expected"]].add(item["lang"])
    crowded = {paper: langs for paper, langs in fresh_languages.items() if len(langs) > 2}
    assert not crowded, f"fresh papers asked in more than two languages: {crowded}"


async def test_every_topic_has_papers_in_the_corpus_and_is_asked_in_every_language(corpus_db):
    # A topic's right papers are those whose title matches its pattern: a pattern matching
    # nothing would score every answer as wrong.
    items = questions(TOPICS)
    async with await Database.open(corpus_db) as db:
        titles = [title for (title,) in await db.fetchall("SELECT title FROM papers")]
    languages = {item["lang"] for item in questions(PLAIN)}
    asked = defaultdict(set)
    for item in items:
        asked[item["topic"]].add(item["lang"])
        assert any(re.search(item["relevant"], title, re.IGNORECASE) for title in titles), item
    assert all(langs == languages for langs in asked.values()), asked
    assert len({item["q"] for item in items}) == len(items), "a query is asked twice"
