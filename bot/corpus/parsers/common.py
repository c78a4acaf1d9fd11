"""Small pieces of Markdown and text reading that several digest formats share."""

from __future__ import annotations

import re

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


def split_table_row(line: str) -> list[str]:
    """Cells of a Markdown table row `|a|b|c|`, stripped. Pipes inside links are not expected."""
    inner = line.strip()
    if inner.startswith("|"):
        inner = inner[1:]
    if inner.endswith("|"):
        inner = inner[:-1]
    return [cell.strip() for cell in inner.split("|")]


def is_table_separator(line: str) -> bool:
    """`|---|:---:|` lines between a table's header and its rows."""
    return bool(re.fullmatch(r"\s*\|?(\s*:?-+:?\s*\|)+\s*:?-*:?\s*", line))


def split_authors(text: str) -> tuple[list[str], bool]:
    """Author names from `A, B, C` (or `A et.al.`); returns (names, complete)."""
    text = text.strip().rstrip(".")
    complete = True
    et_al = re.search(r"\s*(?:,\s*)?\bet\.?\s*al\.?$", text, re.IGNORECASE)
    if et_al:
        text = text[: et_al.start()]
        complete = False
    names = [name.strip() for name in re.split(r",|;|，|、", text) if name.strip()]
    return names, complete


def strip_markdown_emphasis(text: str) -> str:
    """`**bold**` and `__bold__` markers removed."""
    return re.sub(r"(\*\*|__)(.+?)\1", r"\2", text).strip()
