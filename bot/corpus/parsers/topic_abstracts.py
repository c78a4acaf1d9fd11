"""An LLM topic table followed by full abstracts with Chinese translations.

    ### LLM                                    <- the topic
    |Publish Date|Title|Authors|Homepage|Code|    <- or PDF/Link..., read by name (tables.py)
    | :---: | :---: | :---: | :---: | :---: |
    |**2024-07-17**|**Title**|First Author et.al.|[2407.12773v1](http://arxiv.org/abs/2407.12773v1)|null|
    ...
    #### Abstracts
    ##### **Title**
    2407.12773v1 by Full Author, List, ...

    English abstract, hard-wrapped
    over several lines.

    摘要：<paragraph>中文翻译……</paragraph>     (markup optional; traditional or simplified)

Table rows give the date, topic and code link; the abstract entries give the full author list,
the English abstract and its translation. Both are reported and merged by ingestion.
"""

from __future__ import annotations

import re

from bot.corpus.language import guess_language
from bot.corpus.model import ParsedDigest, ParsedPaper, ParsedSummary, Problem
from bot.corpus.parsers.common import split_authors, strip_markdown_emphasis
from bot.corpus.parsers.tables import has_paper_table, paper_from_row, paper_rows
from bot.corpus.text import join_hard_wrapped, parse_arxiv_id

FORMAT = "topic-table-abstracts"
# Both the table's "First Author et.al." and the abstracts' full lists come from arXiv.
AUTHORS_RANK = 3

_ABSTRACTS = re.compile(r"^#{1,6}\s+\**Abstracts\**\s*$", re.MULTILINE | re.IGNORECASE)
_ENTRY = re.compile(r"^#{4,6}\s+(?P<title>.+?)\s*$")
_ID_LINE = re.compile(r"^(?P<id>\S+)\s+by\s+(?P<authors>.+)$")
_ID_LINE_ANYWHERE = re.compile(r"^\s*(?:arxiv:)?\d{4}\.\d{4,5}(?:v\d+)?\s+by\s+\S", re.MULTILINE | re.IGNORECASE)
_TRANSLATION = re.compile(r"^摘要\s*[:：]\s*")


def detect(text: str) -> bool:
    """A paper table followed by abstract entries (`<id> by <authors>` lines)."""
    return has_paper_table(text) and bool(_ABSTRACTS.search(text) or _ID_LINE_ANYWHERE.search(text))


def parse(text: str) -> ParsedDigest:
    digest = ParsedDigest(format=FORMAT, digest_date=None)
    lines = text.split("\n")
    abstracts = _ABSTRACTS.search(text)
    abstracts_at = text.count("\n", 0, abstracts.start()) if abstracts else len(lines)
    for row in paper_rows("\n".join(lines[:abstracts_at])):
        entry = paper_from_row(row)
        (digest.problems if isinstance(entry, Problem) else digest.papers).append(entry)
    starts = [
        i
        for i in range(abstracts_at + 1 if abstracts else len(lines), len(lines) - 1)
        if _ENTRY.match(lines[i]) and (_ID_LINE.match(lines[i + 1].strip()) or abstracts)
    ]
    for position, start in enumerate(starts):
        end = starts[position + 1] if position + 1 < len(starts) else len(lines)
        entry = _parse_abstract(lines[start:end], start + 1, is_last=position + 1 == len(starts))
        (digest.problems if isinstance(entry, Problem) else digest.papers).append(entry)
    digest.digest_date = max((p.published for p in digest.papers if p.published), default=None)
    return digest


def _parse_abstract(lines: list[str], number: int, is_last: bool) -> ParsedPaper | Problem:
    title = strip_markdown_emphasis(_ENTRY.match(lines[0])["title"])
    id_line = _ID_LINE.match(lines[1].strip()) if len(lines) > 1 else None
    ids = parse_arxiv_id(id_line["id"]) if id_line else None
    if not ids and is_last:
        return Problem(number, f"truncated mid-paper: {title!r}")
    paper = ParsedPaper(title=title, line=number)
    if ids:  # else the entry is known by its title, and merges with its table row
        paper.arxiv_id, paper.arxiv_version = ids
        paper.authors, paper.authors_complete = split_authors(id_line["authors"])
    body = lines[2:] if ids else lines[1:]
    translation_at = next((i for i, line in enumerate(body) if _TRANSLATION.match(line)), None)
    if translation_at is None:
        if is_last:
            return Problem(number, f"truncated mid-paper: {title!r} ends before its translation")
        translation_at = len(body)
    paper.abstract = join_hard_wrapped(body[:translation_at]) or None
    translation = "\n".join(body[translation_at:]).strip()
    translation = _TRANSLATION.sub("", translation)
    translation = re.sub(r"</?paragraph>", "", translation).strip()
    if translation:
        paper.summaries.append(ParsedSummary(guess_language(translation), "abstract_translation", translation))
    return paper
