"""ChatPaperFree / Cool Papers digests: English and Chinese abstracts, summary, takeaways, FAQ.

    (disclaimer lines)
    2024-12-13 更新
    Paper Title
    Authors:A, B, C
    English abstract (one line)
    Chinese abstract (one line)
    论文及项目相关链接
    (optional: "PDF <comment>" and links)
    Summary
    <paragraph>
    Key Takeaways
    - bullet ...
    点击展开 Cool Papers 详细信息
    Q: question
    A: answer, possibly over many lines
    ...
    点此查看论文截图

Papers carry no arXiv id: they are known by title. A paper starts at a line followed by an
`Authors:` line. The last FAQ pair, "想要进一步了解论文", is the pipeline's advertisement for a
chat service, not an answer about the paper, and is not kept.
"""

from __future__ import annotations

import re

from bot.corpus.language import guess_language
from bot.corpus.model import DigestError, ParsedDigest, ParsedPaper, ParsedSummary, Problem
from bot.corpus.parsers.common import MARKDOWN_LINK_RE, parse_date, split_authors
from bot.corpus.text import parse_arxiv_id

FORMAT = "chatpaper"

_DATE_LINE = re.compile(r"^\d{4}-\d{2}-\d{2}\s*更新\s*$", re.MULTILINE)
_LINKS_HEADING = "论文及项目相关链接"
_EXPAND = "点击展开 Cool Papers 详细信息"
_SCREENSHOTS = "点此查看论文截图"
_ADVERT_QUESTION = "想要进一步了解论文"
_URL = re.compile(r"https?://\S+")


def detect(text: str) -> bool:
    return bool(_DATE_LINE.search(text[:3000])) and "\nAuthors:" in text


def parse(text: str) -> ParsedDigest:
    date_line = _DATE_LINE.search(text)
    digest = ParsedDigest(format=FORMAT, digest_date=parse_date(date_line.group()) if date_line else None)
    lines = text.split("\n")
    starts = [
        i - 1
        for i in range(1, len(lines))
        if lines[i].startswith("Authors:") and lines[i - 1].strip()
    ]
    if not starts:
        raise DigestError("no paper (a title line followed by an Authors: line) found")
    for number, start in enumerate(starts):
        end = starts[number + 1] if number + 1 < len(starts) else len(lines)
        entry = _parse_entry(lines[start:end], start + 1)
        (digest.problems if isinstance(entry, Problem) else digest.papers).append(entry)
    return digest


def _parse_entry(lines: list[str], line_number: int) -> ParsedPaper | Problem:
    paper = ParsedPaper(title=lines[0].strip(), line=line_number)
    paper.authors, paper.authors_complete = split_authors(lines[1][len("Authors:") :])
    body = [line.strip() for line in lines[2:]]
    if _LINKS_HEADING not in body:
        return Problem(line_number, f"truncated mid-paper: {paper.title!r} has no '{_LINKS_HEADING}' line")
    head = [line for line in body[: body.index(_LINKS_HEADING)] if line]
    english = [line for line in head if guess_language(line) == "en"]
    chinese = [line for line in head if guess_language(line) != "en"]
    paper.abstract = " ".join(english) or None
    if chinese:
        text = "\n".join(chinese)
        paper.summaries.append(ParsedSummary(guess_language(text), "abstract_translation", text))
    rest = body[body.index(_LINKS_HEADING) + 1 :]
    for line in rest[: _index(rest, "Summary")]:
        for url in _URL.findall(line) + [m["url"] for m in MARKDOWN_LINK_RE.finditer(line)]:
            ids = parse_arxiv_id(url) if "arxiv.org" in url else None
            if ids:
                paper.arxiv_id, paper.arxiv_version = ids
            elif "github.com" in url:
                paper.links.append(("code", url.rstrip(").,")))
            else:
                paper.links.append(("project", url.rstrip(").,")))
    summary = _block(rest, "Summary", "Key Takeaways")
    if summary:
        paper.summaries.append(ParsedSummary(guess_language(summary), "summary", summary))
    takeaways = _block(rest, "Key Takeaways", _EXPAND)
    if takeaways:
        paper.summaries.append(ParsedSummary(guess_language(takeaways), "takeaways", takeaways))
    for question, answer in _faq(rest):
        text = f"Q: {question}\nA: {answer}"
        paper.summaries.append(ParsedSummary(guess_language(text), "faq", text))
    if not summary and not takeaways:
        return Problem(line_number, f"truncated mid-paper: {paper.title!r} ends before its summary")
    return paper


def _index(lines: list[str], marker: str) -> int:
    return lines.index(marker) if marker in lines else len(lines)


def _block(lines: list[str], start: str, stop: str) -> str:
    """The non-empty lines between the marker line `start` and the line `stop`."""
    if start not in lines:
        return ""
    after = lines[lines.index(start) + 1 :]
    return "\n".join(line for line in after[: _index(after, stop)] if line).strip()


def _faq(lines: list[str]) -> list[tuple[str, str]]:
    pairs: list[tuple[str, list[str]]] = []
    for line in lines[_index(lines, _EXPAND) :]:
        if line.startswith("Q:"):
            pairs.append((line[2:].strip(), []))
        elif pairs and line and line != _SCREENSHOTS:
            answer = pairs[-1][1]
            answer.append(line[2:].strip() if line.startswith("A:") and not answer else line)
    return [
        (question, "\n".join(answer))
        for question, answer in pairs
        if answer and _ADVERT_QUESTION not in question
    ]
