"""arXiv-daily topic tables with Chinese abstracts (a GitHub "cv-arxiv-daily" style page).

    ## Updated on 2024.07.17
    (table of contents in <details>)
    ## 多模态
    |Publish Date|Title|Code|Abstract|
    |---|---|---|---|
    |**2024-07-16**|[Title](http://arxiv.org/abs/2407.11422)|null or **[link](github url)**|中文摘要|

The same paper can sit under several topics: each row is reported with its topic and ingestion
merges them. Some rows end with an empty extra cell (`||`), and a few abstracts were never
translated: English text in the abstract column is the paper's English abstract.
"""

from __future__ import annotations

import re

from bot.corpus.language import guess_language
from bot.corpus.model import ParsedDigest, ParsedPaper, ParsedSummary, Problem
from bot.corpus.parsers.common import (
    MARKDOWN_LINK_RE,
    is_table_separator,
    parse_date,
    split_table_row,
    strip_markdown_emphasis,
)
from bot.corpus.text import parse_arxiv_id

FORMAT = "arxiv-daily-tables"

_UPDATED = re.compile(r"^##\s+Updated on\s+(?P<date>\S+)", re.MULTILINE)
_HEADER = re.compile(r"^\|\s*Publish Date\s*\|\s*Title\s*\|\s*Code\s*\|\s*Abstract\s*\|", re.MULTILINE)


def detect(text: str) -> bool:
    return bool(_HEADER.search(text))


def parse(text: str) -> ParsedDigest:
    updated = _UPDATED.search(text)
    digest = ParsedDigest(format=FORMAT, digest_date=parse_date(updated["date"]) if updated else None)
    topic = None
    lines = text.split("\n")
    for number, line in enumerate(lines, start=1):
        if line.startswith("## ") and not _UPDATED.match(line):
            topic = line[3:].strip()
        elif line.startswith("|") and not _HEADER.match(line) and not is_table_separator(line):
            is_last_line = not any(rest.strip() for rest in lines[number:])
            entry = _parse_row(line, number, topic, is_last_line)
            (digest.problems if isinstance(entry, Problem) else digest.papers).append(entry)
    if digest.digest_date is None:
        digest.digest_date = max((p.published for p in digest.papers if p.published), default=None)
    return digest


def _parse_row(line: str, number: int, topic: str | None, is_last_line: bool) -> ParsedPaper | Problem:
    cells = split_table_row(line)
    while len(cells) > 4 and not cells[-1]:
        cells.pop()
    if len(cells) < 4 or (is_last_line and not line.rstrip().endswith("|")):
        reason = "truncated mid-paper" if is_last_line else "malformed table row"
        return Problem(number, f"{reason}: expected 4 cells, found {len(cells)}")
    date, title_cell, code_cell, abstract = cells[0], cells[1], cells[2], "|".join(cells[3:])
    link = MARKDOWN_LINK_RE.search(title_cell)
    ids = parse_arxiv_id(link["url"]) if link else None
    if not ids:
        return Problem(number, "title cell without an arXiv link")
    paper = ParsedPaper(title=link["text"].strip(), line=number, published=parse_date(date))
    paper.arxiv_id, paper.arxiv_version = ids
    if topic:
        paper.topics.append(topic)
    code = MARKDOWN_LINK_RE.search(code_cell)
    if code:
        paper.links.append(("code", code["url"]))
    abstract = strip_markdown_emphasis(abstract).strip()
    if abstract and abstract != "null":
        lang = guess_language(abstract)
        if lang == "en":  # the translation step was skipped: this is the original abstract
            paper.abstract = abstract
        else:
            paper.summaries.append(ParsedSummary(lang, "abstract_translation", abstract))
    return paper
