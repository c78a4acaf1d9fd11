"""What a parser hands to ingestion: plain data, no database, no I/O.

A parser may yield the same paper more than once within one digest (a table row and, later, its
abstract section; a row repeated under several topics). Ingestion merges entries with the same
identity, so a parser only reports what it sees where it sees it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bot.errors import PaperbotError


@dataclass(frozen=True)
class ParsedSummary:
    """A piece of text about a paper written by a digest (or, later, by our LLM)."""

    lang: str  # BCP-47: en, zh, zh-Hant, ko, ...
    kind: str  # one of SUMMARY_KINDS
    text: str


# Kinds of summary text. Kept small and documented because `show --json` exposes them.
SUMMARY_KINDS = {
    "abstract_translation": "the paper's abstract translated into another language",
    "structured_summary": "an LLM-written summary with sections (problem, method, findings, ...)",
    "highlights": "short bullets: what's new, technical details, performance",
    "summary": "a one-paragraph summary",
    "takeaways": "key takeaway bullets",
    "faq": "one question about the paper and its answer",
    "brief": "a 3-5 sentence summary written by paperbot's LLM",
    "roundup_blurb": "a 1-3 sentence summary for the daily roundup, written by paperbot's LLM",
}


@dataclass
class ParsedPaper:
    title: str
    line: int  # 1-based line where this entry starts in the digest, for reports
    arxiv_id: str | None = None  # without version: "2407.12773"
    arxiv_version: str | None = None  # "v1" when the digest states it
    authors: list[str] = field(default_factory=list)  # in the paper's order
    authors_complete: bool = True  # False for "First Author et.al." style lists
    authors_source_rank: int = 0  # how authoritative the digest's author lists are (see merge.py)
    abstract: str | None = None  # English abstract
    published: str | None = None  # YYYY-MM-DD
    topics: list[str] = field(default_factory=list)
    links: list[tuple[str, str]] = field(default_factory=list)  # (kind, url): code, project, pdf
    votes: int | None = None
    summaries: list[ParsedSummary] = field(default_factory=list)


@dataclass(frozen=True)
class Problem:
    """Something in a digest that could not be read; the rest of the file still counts."""

    line: int
    message: str


@dataclass
class ParsedDigest:
    format: str
    digest_date: str | None  # YYYY-MM-DD when the digest states its date
    papers: list[ParsedPaper] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)


class DigestError(PaperbotError):
    """The whole digest cannot be read (unknown format, not text, empty, truncated)."""
