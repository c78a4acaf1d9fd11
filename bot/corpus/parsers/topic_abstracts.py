"""An LLM topic table followed by full abstracts with Chinese translations.

    ### LLM
    |Publish Date|Title|Authors|Homepage|Code|
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
from bot.corpus.parsers.common import (
    MARKDOWN_LINK_RE,
    is_table_separator,
    parse_date,
    split_authors,
    split_table_row,
    strip_markdown_emphasis,
)
from bot.corpus.text import join_hard_wrapped, parse_arxiv_id

FORMAT = "topic-table-abstracts"

_HEADER = re.compile(r"^\|\s*Publish Date\s*\|\s*Title\s*\|\s*Authors\s*\|\s*Homepage\s*\|\s*Code\s*\|", re.MULTILINE)
_ENTRY = re.compile(r"^#####\s+(?P<title>.+?)\s*$")
_ID_LINE = re.compile(r"^(?P<id>\S+)\s+by\s+(?P<authors>.+)$")
_TRANSLATION = re.compile(r"^摘要\s*[:：]\s*")


def detect(text: str) -> bool:
    return bool(_HEADER.search(text))


def parse(text: str) -> ParsedDigest:
    digest = ParsedDigest(format=FORMAT, digest_date=None)
    lines = text.split("\n")
    topic = None
    abstracts_at = next((i for i, line in enumerate(lines) if line.strip() == "#### Abstracts"), len(lines))
    for number, line in enumerate(lines[:abstracts_at], start=1):
        if line.startswith("### "):
            topic = line[4:].strip()
        elif line.startswith("|") and not _HEADER.match(line) and not is_table_separator(line):
            entry = _parse_row(line, number, topic)
            (digest.problems if isinstance(entry, Problem) else digest.papers).append(entry)
    starts = [i for i in range(abstracts_at, len(lines)) if _ENTRY.match(lines[i])]
    for position, start in enumerate(starts):
        end = starts[position + 1] if position + 1 < len(starts) else len(lines)
        entry = _parse_abstract(lines[start:end], start + 1, is_last=position + 1 == len(starts))
        (digest.problems if isinstance(entry, Problem) else digest.papers).append(entry)
    digest.digest_date = max((p.published for p in digest.papers if p.published), default=None)
    return digest


def _parse_row(line: str, number: int, topic: str | None) -> ParsedPaper | Problem:
    cells = split_table_row(line)
    if len(cells) < 5:
        return Problem(number, f"malformed table row: expected 5 cells, found {len(cells)}")
    homepage = MARKDOWN_LINK_RE.search(cells[3])
    ids = parse_arxiv_id(homepage["url"] if homepage else cells[3])
    if not ids:
        return Problem(number, "table row without an arXiv id")
    paper = ParsedPaper(title=strip_markdown_emphasis(cells[1]), line=number, published=parse_date(cells[0]))
    paper.arxiv_id, paper.arxiv_version = ids
    paper.authors, paper.authors_complete = split_authors(cells[2])
    if topic:
        paper.topics.append(topic)
    code = MARKDOWN_LINK_RE.search(cells[4])
    if code:
        paper.links.append(("code", code["url"]))
    return paper


def _parse_abstract(lines: list[str], number: int, is_last: bool) -> ParsedPaper | Problem:
    title = strip_markdown_emphasis(_ENTRY.match(lines[0])["title"])
    id_line = _ID_LINE.match(lines[1].strip()) if len(lines) > 1 else None
    ids = parse_arxiv_id(id_line["id"]) if id_line else None
    if not ids:
        reason = "truncated mid-paper" if is_last else "abstract entry without its 'ID by authors' line"
        return Problem(number, f"{reason}: {title!r}")
    paper = ParsedPaper(title=title, line=number)
    paper.arxiv_id, paper.arxiv_version = ids
    paper.authors, paper.authors_complete = split_authors(id_line["authors"])
    body = lines[2:]
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
