"""Small pieces of Markdown and text reading that several digest formats share."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from markdown_it import MarkdownIt

from bot.corpus.text import squash_spaces

# [text](url): the text may contain brackets one level deep (titles like "[SAM] ...").
MARKDOWN_LINK_RE = re.compile(r"\[(?P<text>(?:[^\[\]]|\[[^\[\]]*\])*)\]\((?P<url>[^()\s]*(?:\([^()\s]*\)[^()\s]*)*)\)")

_DATE_RE = re.compile(r"(?P<y>\d{4})[-./年](?P<m>\d{1,2})[-./月](?P<d>\d{1,2})")


def parse_date(text: str) -> str | None:
    """The first date written as 2024-07-17, 2024.07.17, 2024/7/17 or 2024年7月17日, as YYYY-MM-DD."""
    match = _DATE_RE.search(text)
    if not match:
        return None
    year, month, day = int(match["y"]), int(match["m"]), int(match["d"])
    if not (1 <= month <= 12 and 1 <= day <= 31):
        return None
    return f"{year:04d}-{month:02d}-{day:02d}"


def strip_markdown_emphasis(text: str) -> str:
    """`**bold**` and `__bold__` markers removed."""
    return re.sub(r"(\*\*|__)(.+?)\1", r"\2", text).strip()


@dataclass
class Block:
    """One block of a Markdown digest, as markdown-it reads it."""

    line: int  # 1-based, where the block starts
    kind: str  # "heading", "text" (a paragraph or list-item paragraph), "header_row", "row", "raw"
    text: str  # the block's Markdown; a table row's cells joined by " | "
    cells: list[str] = field(default_factory=list)  # a table row's cells, as Markdown


# Blocks only: the parsers read a block's Markdown themselves, and skipping markdown-it's inline
# pass halves the time a 1,000-paper table takes.
_BLOCK_PARSER = MarkdownIt("commonmark").enable("table").disable("inline")


def markdown_blocks(text: str) -> list[Block]:
    """Headings, paragraphs, table rows and raw (HTML, code) blocks, in order."""
    blocks: list[Block] = []
    kind = "text"
    row: Block | None = None
    for token in _BLOCK_PARSER.parse(text):
        line = (token.map[0] if token.map else 0) + 1
        if token.type == "heading_open":
            kind = "heading"
        elif token.type == "heading_close":
            kind = "text"
        elif token.type == "thead_open":
            kind = "header_row"
        elif token.type == "thead_close":
            kind = "text"
        elif token.type == "tr_open":
            row = Block(line, "header_row" if kind == "header_row" else "row", "")
        elif token.type == "tr_close" and row is not None:
            row.text = " | ".join(row.cells)
            blocks.append(row)
            row = None
        elif token.type == "inline" and row is not None:
            row.cells.append(token.content.strip())
        elif token.type == "inline":
            blocks.append(Block(line, kind, token.content))
        elif token.type in ("html_block", "code_block", "fence"):
            blocks.append(Block(line, "raw", token.content))
    return blocks


# --- authors --------------------------------------------------------------------------------

# Markup that LLM-written digests wrap around names: <sup>1</sup>, $^{1,2}$, footnote marks.
_AUTHOR_MARKUP = re.compile(
    r"<sup>.*?(?:</sup>|$)|<[^>]*>|\$?\^\{?[^}$\s]*\}?\$?|\$\^?|\\\*|[*∗†‡§¶#✉⋆★]"
)
# "Name: affiliation", "Name（affiliation", "Name (corresponding author)": the name comes first.
_AFFILIATION_START = re.compile(r"\s*[:：（(]")
_LIST_LABEL = re.compile(r"^\s*\**\s*(?:authors?|作者(?:信息)?|主要贡献者|贡献者|저자)\s*\**\s*[:：]\s*", re.IGNORECASE)
_LEADING_CONJUNCTION = re.compile(r"^(?:and|和|及|与|&)\s+", re.IGNORECASE)
# Institutions, companies and the titles and notes models copy beside names.
_NOT_A_PERSON = re.compile(
    r"大学|学院|实验室|研究院|研究所|研究中心|公司|团队|小组|中心|机构|独立研究者|贡献|通讯|"
    r"\b(?:universit\w*|univ|institut\w*|laborator\w*|labs?|inc|ltd|llc|corp\w*|academy|college|"
    r"school|department|dept|cent(?:er|re)|team|group|research|studios?|technolog\w*|google|meta|"
    r"microsoft|nvidia|deepmind|openai|alibaba|tencent|bytedance|ieee|member|fellow|equal|"
    r"contribution|corresponding|author)\b",
    re.IGNORECASE,
)
_LATIN_NAME = re.compile(r"^[^\W\d_][\w'’.\-]*(?:\s+-?[^\W\d_][\w'’.\-]*){0,5}$")  # "S. -H. Gary Chan"
# letters, single spaces, dots, hyphens and apostrophes only: nothing to clean
_CLEAN_LATIN_NAME = re.compile(r"[^\W\d_][^\W\d_'’.\-]*(?: -?[^\W\d_][^\W\d_'’.\-]*){0,5}")
_CJK_NAME = re.compile(r"^[\u4e00-\u9fff\uac00-\ud7af·]{2,5}$")


def strip_author_markup(text: str) -> str:
    """Footnote marks and affiliation numbers removed: `A<sup>1,2</sup>, B$^{2}$` -> `A, B`."""
    return _AUTHOR_MARKUP.sub("", text)


def clean_author(name: str, *, one_word_ok: bool = True) -> str | None:
    """One person's name without markup, footnote marks or affiliation; None when what is
    left is not a person's name (an institution, a number, `+`, an e-mail, a sentence).
    Lists taken from arXiv have one-word names; where names are guessed from free text,
    `one_word_ok=False` tells "Amherst" (the tail of an affiliation) from a person."""
    name = name.strip()
    # most names from arXiv need no cleaning (twice as fast without it)
    if not _CLEAN_LATIN_NAME.fullmatch(name) or _LEADING_CONJUNCTION.match(name):
        name = _cleaned(name)
    if not name or _NOT_A_PERSON.search(name) or not (_LATIN_NAME.match(name) or _CJK_NAME.match(name)):
        return None
    if not one_word_ok and _LATIN_NAME.match(name) and " " not in name:
        return None
    return name


def _cleaned(name: str) -> str:
    name = strip_author_markup(name)
    name = _AFFILIATION_START.split(name, maxsplit=1)[0]
    # a Python list written out ("['A', 'B']") leaves brackets and quotes around names
    name = _LEADING_CONJUNCTION.sub("", squash_spaces(name).strip(" []'\"")).strip(" .,;·-_'\"")
    return re.sub(r"(?<=[^\W\d_])\d+$", "", name).strip()  # "Ling Yue1": an affiliation number


def split_authors(text: str) -> tuple[list[str], bool]:
    """Author names from `A, B, C` (or `A et.al.`, `A, B, +`), each cleaned by `clean_author`;
    returns (names, complete). A label (`Authors:`, `主要贡献者:`) before the list is dropped."""
    text = _LIST_LABEL.sub("", strip_author_markup(strip_markdown_emphasis(text.strip()))).strip().rstrip(".")
    complete = True
    et_al = re.search(r"\s*(?:,\s*)?\b(?:et\.?\s*al\.?|等)$", text, re.IGNORECASE)
    if et_al:
        text = text[: et_al.start()]
        complete = False
    names = []
    for part in re.split(r",|;|，|、|；", text):
        if part.strip() in ("+", "...", "…"):  # Hugging Face shortens long lists with "+"
            complete = False
        name = clean_author(part)
        if name and name not in names:
            names.append(name)
    return names, complete
