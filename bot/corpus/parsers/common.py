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


# Characters whose simplified and traditional forms differ, pairwise (same position).
_SIMPLIFIED = "这个们来为会与对学体说时开发实现问题进过经数据种资机网络应该图处计练训测试验结构语视觉并从后将让当点无变层认识类优质标准频历亿万传统术记忆场区范杂读单简检较识"
_TRADITIONAL = "這個們來為會與對學體說時開發實現問題進過經數據種資機網絡應該圖處計練訓測試驗結構語視覺並從後將讓當點無變層認識類優質標準頻歷億萬傳統術記憶場區範雜讀單簡檢較識"
_SIMPLIFIED_ONLY = set(_SIMPLIFIED) - set(_TRADITIONAL)
_TRADITIONAL_ONLY = set(_TRADITIONAL) - set(_SIMPLIFIED)


def chinese_lang_tag(text: str) -> str:
    """`zh-Hant` when the text is written in traditional characters, else `zh`."""
    simplified = sum(ch in _SIMPLIFIED_ONLY for ch in text)
    traditional = sum(ch in _TRADITIONAL_ONLY for ch in text)
    return "zh-Hant" if traditional > simplified else "zh"
