"""arXiv-daily topic tables (GitHub "cv-arxiv-daily" pages and their forks).

    ## Updated on 2024.07.17
    (table of contents in <details>)
    ## 多模态                              <- the topic of the table below it
    |Publish Date|Title|Code|Abstract|       <- columns differ by fork and version; read by name:
    |---|---|---|---|                          Title/Paper, Publish Date, Abstract, Authors,
    |**2024-07-16**|[Title](http://arxiv.org/abs/2407.11422)|null or **[link](url)**|中文摘要|
                                               PDF/Homepage/Link, Code (see tables.py)

Newer versions of one fork write a list instead of a table, read the same way:

    - **2025-11-28** **Title** [2511.23478](http://arxiv.org/abs/2511.23478)
      > 中文摘要

The same paper can sit under several topics: each row is reported with its topic and ingestion
merges them. A few abstracts were never translated: English text in the abstract column is the
paper's English abstract.
"""

from __future__ import annotations

import re

from bot.corpus.model import ParsedDigest, Problem
from bot.corpus.parsers.common import parse_date
from bot.corpus.parsers.tables import TableRow, has_paper_table, paper_from_row, paper_rows

FORMAT = "arxiv-daily-tables"
# Authors, when a fork shows them, come from arXiv's metadata (often "First Author et.al.").
AUTHORS_RANK = 3

_LIST_ROW = re.compile(
    r"^[-*]\s+\*\*(?P<date>\d{4}-\d{2}-\d{2})\*\*\s+\*\*(?P<title>.+?)\*\*\s+(?P<link>\[[^\]]*\]\([^)]*arxiv[^)]*\)).*$",
    re.IGNORECASE,
)
_HEADING = re.compile(r"^#{1,4}\s+(?P<heading>.+?)\s*$")
_UPDATED = re.compile(r"^#{1,4}\s+(?:Updated on\s+)?(?P<date>\d{4}[-./]\d{1,2}[-./]\d{1,2})\s*$", re.MULTILINE)


def detect(text: str) -> bool:
    return has_paper_table(text) or bool(re.search(_LIST_ROW.pattern, text, re.MULTILINE | re.IGNORECASE))


def _list_rows(text: str) -> list[TableRow]:
    """Rows of the list layout: a bold date, a bold title, the arXiv link, a quoted abstract."""
    rows: list[TableRow] = []
    topic = None
    lines = text.split("\n")
    for number, line in enumerate(lines):
        heading = _HEADING.match(line)
        if heading and not _UPDATED.match(line):
            topic = heading["heading"]
        item = _LIST_ROW.match(line)
        if not item:
            continue
        quoted = []
        for later in lines[number + 1 :]:
            if not later.strip().startswith(">"):
                break
            quoted.append(later.strip().lstrip(">").strip())
        cells = {"date": item["date"], "title": item["title"], "link": item["link"], "abstract": " ".join(quoted)}
        rows.append(TableRow(number + 1, topic, cells, line))
    return rows


def parse(text: str) -> ParsedDigest:
    updated = _UPDATED.search(text)
    digest = ParsedDigest(format=FORMAT, digest_date=parse_date(updated["date"]) if updated else None)
    rows = paper_rows(text, skip_heading=lambda heading: bool(_UPDATED.match("## " + heading))) + _list_rows(text)
    last_line = text.rstrip().count("\n") + 1
    for row in rows:
        entry = paper_from_row(row)
        if isinstance(entry, Problem):
            digest.problems.append(entry)
            continue
        digest.papers.append(entry)
        if row.line == last_line and row.source.startswith("|") and not row.source.rstrip().endswith("|"):
            digest.problems.append(Problem(row.line, f"possibly truncated: the row of {entry.title!r} is cut"))
    if digest.digest_date is None:
        digest.digest_date = max((p.published for p in digest.papers if p.published), default=None)
    return digest
