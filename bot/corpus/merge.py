"""Merging what several entries say about one paper.

Within a digest, entries with the same identity (the arXiv id without version, else the title's
hash) become one paper. Against the store, a digest only adds to or improves what is kept
(`updated_fields`), so ingesting the same papers again changes nothing.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

from bot.corpus.model import ParsedPaper
from bot.corpus.text import title_hash


def identity(paper: ParsedPaper) -> str:
    return f"arxiv:{paper.arxiv_id}" if paper.arxiv_id else f"title:{title_hash(paper.title)}"


def version_number(version: str | None) -> int:
    return int(version[1:]) if version else 0


def authors_rank(paper: ParsedPaper) -> int:
    """What the papers table stores as `authors_rank`: the source's rank (each parser's
    AUTHORS_RANK: arXiv-derived lists over LLM-written ones) times two, plus one for a
    complete list."""
    return paper.authors_source_rank * 2 + int(paper.authors_complete)


def _authors_strength(rank: int, authors: list[str]) -> tuple:
    """Which of two author lists to keep: the higher rank, then the longer list, then (only so
    the result never depends on ingest order) the one that sorts last."""
    if not authors:
        return (-1,)
    return (rank, len(authors), json.dumps(authors, ensure_ascii=False))


def merge_entries(papers: Iterable[ParsedPaper]) -> list[ParsedPaper]:
    """Entries of one digest that describe the same paper, merged into one (first seen first)."""
    merged: dict[str, ParsedPaper] = {}
    by_title: dict[str, str] = {}
    for paper in papers:
        key = identity(paper)
        # an id-less entry of a paper that the same digest also gives with its id
        key = by_title.get(title_hash(paper.title), key) if not paper.arxiv_id else key
        into = merged.get(key)
        if into is None:
            merged[key] = paper
            by_title.setdefault(title_hash(paper.title), key)
            continue
        _merge_into(into, paper)
    return list(merged.values())


def _merge_into(into: ParsedPaper, other: ParsedPaper) -> None:
    if other.arxiv_id and not into.arxiv_id:
        into.arxiv_id = other.arxiv_id
    if version_number(other.arxiv_version) > version_number(into.arxiv_version):
        into.arxiv_version = other.arxiv_version
    if _authors_strength(authors_rank(other), other.authors) > _authors_strength(authors_rank(into), into.authors):
        into.authors, into.authors_complete = other.authors, other.authors_complete
        into.authors_source_rank = other.authors_source_rank
    into.abstract = into.abstract or other.abstract
    into.published = into.published or other.published
    if other.votes is not None:
        into.votes = max(into.votes or 0, other.votes)
    into.topics += [t for t in other.topics if t not in into.topics]
    into.links += [link for link in other.links if link not in into.links]
    into.summaries += [s for s in other.summaries if s not in into.summaries]


def updated_fields(row: dict, paper: ParsedPaper) -> dict:
    """The columns of a stored paper (`row`) that this digest's entry adds to or improves."""
    changes: dict = {}
    if paper.arxiv_id and row["arxiv_id"] is None:
        changes["arxiv_id"] = paper.arxiv_id
    newer_version = version_number(paper.arxiv_version) > version_number(row["arxiv_version"])
    if newer_version:
        changes["arxiv_version"] = paper.arxiv_version
    stored = _authors_strength(row["authors_rank"], json.loads(row["authors"]))
    if _authors_strength(authors_rank(paper), paper.authors) > stored:
        changes["authors"] = json.dumps(paper.authors, ensure_ascii=False)
        changes["authors_rank"] = authors_rank(paper)
    # a new arXiv version may rewrite its abstract; otherwise the first abstract seen stays
    if paper.abstract and (not row["abstract"] or (newer_version and paper.abstract != row["abstract"])):
        changes["abstract"] = paper.abstract
    if paper.published and not row["published"]:
        changes["published"] = paper.published
    if paper.votes is not None and paper.votes > (row["votes"] or 0):
        changes["votes"] = paper.votes
    return changes
