"""Keyword search over the `papers_fts` FTS5 index, ranked by BM25 with the title weighted up.

Why bigrams: FTS5's word tokenizer sees a run of Chinese or Korean as one long "word", and a
trigram index finds nothing for the one- and two-character queries that are most common in CJK
(`模型`, `검색`). So CJK runs are written into the index as overlapping bigrams plus the run's
last character ("模型训练" -> "模型 型训 训练 练"; bot/store/keyword_index.py writes it), and a
CJK query is searched by its bigrams (a quoted one as a phrase). Any CJK query length then
works with one index, and Latin text keeps the porter word tokenizer. Measured in benchmarks/ingest_search.py.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.retrieval.cache import LibraryCache
from bot.store import Database
from bot.store.keyword_index import CJK_RUN, bigrams

_WORD = re.compile(r"\w+")
_QUOTED = re.compile(r'"([^"]+)"')

# BM25 column weights: title, authors, abstract, summaries.
BM25_WEIGHTS = (10.0, 3.0, 2.0, 1.0)

# Words too common to help a ranked OR query; dropping them keeps posting lists short.
STOPWORDS = frozenset(
    """a an and are as at be by can do does for from has have how i in into is it its of on or
    our that the their this to was we what when where which who why with you your paper papers
    about any there these those than then they them""".split()
)


def _fts_string(token_text: str) -> str:
    return '"' + token_text.replace('"', '""') + '"'


def _term_query(chunk: str) -> list[str]:
    """FTS5 terms for one piece of user text: words, and CJK runs as bigram phrases."""
    terms = []
    for match in _WORD.finditer(chunk):
        word = match.group()
        for piece in re.split(f"({CJK_RUN.pattern})", word):
            if not piece:
                continue
            if CJK_RUN.fullmatch(piece):
                if len(piece) == 1:
                    terms.append(_fts_string(piece) + "*")  # starts a bigram, or ends a run
                else:
                    # Each bigram on its own: a CJK question is a sentence, and Korean words
                    # carry particles ("평가를"), so requiring the whole run would find nothing.
                    terms.extend(_fts_string(b) for b in bigrams(piece)[:-1])
            elif piece.lower() not in STOPWORDS:
                terms.append(_fts_string(piece))
    return terms


def _phrase_tokens(chunk: str) -> list[str]:
    """Index tokens of a quoted phrase, in order, stopwords kept: the phrase must match as written."""
    tokens = []
    for word in _WORD.findall(chunk):
        for piece in re.split(f"({CJK_RUN.pattern})", word):
            if not piece:
                continue
            if CJK_RUN.fullmatch(piece) and len(piece) > 1:
                tokens.extend(bigrams(piece)[:-1])
            else:
                tokens.append(piece)
    return tokens


def parse_query(query: str) -> tuple[list[str], list[str]]:
    """FTS5 phrases (from quoted text: required) and terms (ranked, any may match) of a query.

    Every user term is quoted, so FTS5 syntax characters (`"*():^-`) are searched as text and
    never raise.
    """
    phrases = []
    for match in _QUOTED.finditer(query):
        tokens = _phrase_tokens(match.group(1))
        if tokens:
            phrases.append(_fts_string(" ".join(tokens)))
    rest = _QUOTED.sub(" ", query)
    terms = list(dict.fromkeys(_term_query(rest)))
    if not terms and not phrases:
        # a query of stopwords only ("what is it") still searches for them
        terms = list(dict.fromkeys(_fts_string(w) for w in _WORD.findall(rest)))
    return phrases, terms


def match_expression(phrases: list[str], terms: list[str], *, all_terms: bool = False, column: str | None = None) -> str | None:
    """An FTS5 MATCH expression: phrases AND (terms OR'ed, or AND'ed with `all_terms`)."""
    parts = list(phrases)
    if terms:
        parts.append("(" + (" AND " if all_terms else " OR ").join(terms) + ")")
    if not parts:
        return None
    expression = " AND ".join(parts)
    return f"{{{column}}}: ({expression})" if column else expression


def build_match_query(query: str) -> str | None:
    """The MATCH expression for free text (all terms ranked), or None when nothing is searchable."""
    return match_expression(*parse_query(query))


# BM25 scores every document that matches, about a microsecond each: ranking a term found in
# half of 100,000 papers would take 50 ms. Above this many candidates, the query is narrowed.
MAX_RANKED_CANDIDATES = 4000


@dataclass(frozen=True)
class LexicalHit:
    paper_id: int
    score: float  # higher is better (negated BM25)


async def _match_count(cache: LibraryCache, expression: str) -> int:
    """Papers matching, counted up to MAX_RANKED_CANDIDATES + 1: narrowing only asks whether
    counts stay under that limit, and stopping there is 5-7x faster for a common word."""

    async def count() -> int:
        return await cache.db.fetchval(
            "SELECT count(*) FROM (SELECT 1 FROM papers_fts WHERE papers_fts MATCH ? LIMIT ?)",
            (expression, MAX_RANKED_CANDIDATES + 1),
            default=0,
        )

    return await cache.get(("matches", expression), count)


async def _narrowed_expression(cache: LibraryCache, phrases: list[str], terms: list[str]) -> str | None:
    """The widest expression whose matches can be ranked quickly.

    In order: every term (OR); the rarer terms only (common words add little to BM25 anyway);
    every term required (AND); every term required in the title.
    """
    if not terms:
        return match_expression(phrases, terms)
    frequency = {term: await _match_count(cache, term) for term in terms}
    if sum(frequency.values()) <= MAX_RANKED_CANDIDATES:
        return match_expression(phrases, terms)
    rare = [t for t in terms if frequency[t] <= MAX_RANKED_CANDIDATES // 2]
    if rare and sum(frequency[t] for t in rare) <= MAX_RANKED_CANDIDATES:
        return match_expression(phrases, rare)
    if len(terms) > 1 and min(frequency.values()) <= MAX_RANKED_CANDIDATES:
        return match_expression(phrases, terms, all_terms=True)
    every = match_expression(phrases, terms, all_terms=True)
    if await _match_count(cache, every) <= MAX_RANKED_CANDIDATES:
        return every
    return match_expression(phrases, terms, all_terms=True, column="title")


async def lexical_search(
    db: Database, query: str, limit: int = 10, cache: LibraryCache | None = None
) -> list[LexicalHit]:
    """Ranked keyword hits. `cache` (refreshed by the caller) keeps match counts between
    searches; without one every count is taken afresh."""
    phrases, terms = parse_query(query)
    expression = await _narrowed_expression(cache or LibraryCache(db), phrases, terms)
    if expression is None:
        return []
    rows = await db.fetchall(
        "SELECT rowid, bm25(papers_fts, ?, ?, ?, ?) AS rank FROM papers_fts "
        "WHERE papers_fts MATCH ? ORDER BY rank LIMIT ?",
        (*BM25_WEIGHTS, expression, limit),
    )
    return [LexicalHit(row[0], -row[1]) for row in rows]
