"""Paper tables in Markdown, read by column name (the cv-arxiv-daily family and its forks).

Forks and versions of these pipelines name and order their columns differently
(`|Publish Date|Title|Code|Abstract|`, `|Publish Date|Title|Abstract|PDF|Code|`,
`|Publish Date|Title|Authors|Homepage|Code|`, `|paper|code|`), so a column is known by its
header's name and its synonyms, never by its position. Tables are read with markdown-it, which
handles escaped pipes, missing or extra cells and alignment rows; a table's topic is the
heading above it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.corpus.language import guess_language
from bot.corpus.model import ParsedPaper, ParsedSummary, Problem
from bot.corpus.parsers.common import (
    MARKDOWN_LINK_RE,
    markdown_blocks,
    parse_date,
    split_authors,
    strip_markdown_emphasis,
)
from bot.corpus.text import parse_arxiv_id

# canonical column -> header names that mean it (lower case, spaces squashed)
COLUMNS = {
    "date": ("publish date", "date", "published", "update date", "发布日期", "日期"),
    "title": ("title", "paper", "paper title", "name", "标题", "论文"),
    "authors": ("authors", "author", "first author", "作者"),
    "link": ("pdf", "homepage", "link", "links", "url", "arxiv", "abs", "paper link"),
    "code": ("code", "github", "repo", "repository", "代码"),
    "abstract": ("abstract", "summary", "摘要", "tl;dr"),
}
_COLUMN_OF = {name: column for column, names in COLUMNS.items() for name in names}
_HEADER_LINE = re.compile(r"^\s*\|?(?P<cells>[^\n]*\|[^\n]*)\n\s*\|?\s*:?-{2,}", re.MULTILINE)


def column_of(header: str) -> str | None:
    return _COLUMN_OF.get(" ".join(strip_markdown_emphasis(header).lower().split()))


def _columns(header_cells: list[str]) -> list[str | None]:
    return [column_of(cell) for cell in header_cells]


def has_paper_table(text: str) -> bool:
    """A Markdown table whose header names a title column and at least one other known column."""
    for match in _HEADER_LINE.finditer(text):
        columns = _columns([cell for cell in match["cells"].split("|")])
        if "title" in columns and len({c for c in columns if c}) >= 2:
            return True
    return False


@dataclass
class TableRow:
    line: int  # 1-based
    topic: str | None
    cells: dict[str, str]  # canonical column -> the cell's Markdown
    source: str  # the row's line as written


def paper_rows(text: str, skip_heading=lambda heading: False) -> list[TableRow]:
    """Every body row of every paper table, with the heading above its table as its topic
    (headings that `skip_heading` rejects, such as "Updated on ...", are not topics)."""
    lines = text.split("\n")
    rows: list[TableRow] = []
    topic = None
    columns: list[str | None] = []
    for block in markdown_blocks(text):
        if block.kind == "heading":
            heading = strip_markdown_emphasis(block.text)
            if not skip_heading(heading):
                topic = heading
        elif block.kind == "header_row":
            columns = _columns(block.cells)
        elif block.kind == "row" and "title" in columns:
            cells = {column: cell for column, cell in zip(columns, block.cells) if column}
            rows.append(TableRow(block.line, topic, cells, lines[block.line - 1]))
    return rows


def paper_from_row(row: TableRow) -> ParsedPaper | Problem:
    """A paper from a table row: title, arXiv id (link column, title link, or any cell), date,
    authors, code link and abstract (English as the abstract, else as a translation)."""
    title_cell = row.cells.get("title", "")
    title_link = MARKDOWN_LINK_RE.search(title_cell)
    title = strip_markdown_emphasis(title_link["text"] if title_link else title_cell).strip()
    ids = None
    for candidate in (row.cells.get("link", ""), title_link["url"] if title_link else "", *row.cells.values()):
        link = MARKDOWN_LINK_RE.search(candidate)
        ids = parse_arxiv_id(link["url"] if link else candidate) if candidate else None
        if ids and ("arxiv" in candidate.lower() or re.search(r"\d{4}\.\d{4,5}", candidate)):
            break
        ids = None
    if not title and not ids:
        return Problem(row.line, "table row without a title or an arXiv id")
    paper = ParsedPaper(title=title or ids[0], line=row.line, published=parse_date(row.cells.get("date", "")))
    if ids:
        paper.arxiv_id, paper.arxiv_version = ids
    if row.topic:
        paper.topics.append(row.topic)
    if row.cells.get("authors"):
        paper.authors, paper.authors_complete = split_authors(row.cells["authors"])
    code = MARKDOWN_LINK_RE.search(row.cells.get("code", ""))
    if code and code["url"].startswith("http"):
        paper.links.append(("code", code["url"]))
    abstract = strip_markdown_emphasis(row.cells.get("abstract", "")).strip()
    abstract = re.sub(r"\s*et\.?\s*al\.?$", "", abstract)  # one fork appends the authors' "et.al."
    if abstract and abstract.lower() != "null":
        lang = guess_language(abstract)
        if lang == "en":  # the translation step was skipped: this is the original abstract
            paper.abstract = abstract
        else:
            paper.summaries.append(ParsedSummary(lang, "abstract_translation", abstract))
    return paper
