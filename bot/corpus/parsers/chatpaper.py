"""ChatPaperFree / Cool Papers digests: English and Chinese abstracts, summary, takeaways, FAQ.

Two renderings of the same posts are read: the plain text of the web page

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
    点此查看论文截图

and the Markdown source of the blog post (YAML front matter, `# 2024-05-28 更新`, the title as a
heading, `**Authors:...**`, `[PDF](arXiv link) comment`, `**Summary**`, `**Key Takeaways**` with
`-` or `•` bullets, then ChatPaper's numbered notes "1. Title: ... 8. Conclusion:" and a
`<details>` block of screenshots). A paper starts at a line followed (blank lines aside) by an
`Authors:` line. The plain text carries no arXiv ids (papers are known by title); the Markdown
links each paper's arXiv page. The last FAQ pair, "想要进一步了解论文", is the pipeline's
advertisement for a chat service, not an answer about the paper, and is not kept.
"""

from __future__ import annotations

import re

from bot.corpus.language import guess_language
from bot.corpus.model import ParsedDigest, ParsedPaper, ParsedSummary, Problem
from bot.corpus.parsers.common import parse_date, split_authors, strip_markdown_emphasis
from bot.corpus.text import parse_arxiv_id

FORMAT = "chatpaper"
# From arXiv's metadata, but written in capitals or with markup on some days.
AUTHORS_RANK = 2

_DATE_LINE = re.compile(r"^#*\s*(?P<date>\d{4}-\d{2}-\d{2})\s*更新\s*$", re.MULTILINE)
_AUTHORS = re.compile(r"^\**\s*Authors?\s*[:：]\s*(?P<names>.*?)\**\s*$", re.IGNORECASE)
_LINKS_HEADING = "论文及项目相关链接"
_EXPAND = "点击展开 Cool Papers 详细信息"
_SCREENSHOTS = "点此查看论文截图"
_ADVERT_QUESTION = "想要进一步了解论文"
_NOTES_END = re.compile(r"^<details>|^<summary>|点此查看论文截图")
_URL = re.compile(r"https?://[^\s)\]>]+")
_CHATPAPER_MARK = re.compile(r"^\**\[?ChatPaperFree\]?(?:\([^)]*\))?\**$")


def _starts(lines: list[str]) -> list[int]:
    """Title lines: the non-empty line before an `Authors:` line (blank lines aside)."""
    starts = []
    for i in range(1, len(lines)):
        if _AUTHORS.match(lines[i].strip()):
            title_at = next((j for j in range(i - 1, max(i - 3, -1), -1) if lines[j].strip()), None)
            if title_at is not None and not _AUTHORS.match(lines[title_at].strip()):
                starts.append(title_at)
    return starts


def detect(text: str) -> bool:
    return bool(_DATE_LINE.search(text[:4000])) and bool(_starts(_blank_front_matter(text.split("\n"))))


# Labels some days write in Chinese.
_LABEL_SYNONYMS = {"摘要": "Summary", "总结": "Summary", "要点": "Key Takeaways", "关键要点": "Key Takeaways"}


def _label(line: str) -> str:
    """A line as a label: `**Summary:**`, `Summary` and `**摘要**` all read "Summary"."""
    label = strip_markdown_emphasis(line).strip(" *:：")
    return _LABEL_SYNONYMS.get(label, label)


def parse(text: str) -> ParsedDigest:
    date_line = _DATE_LINE.search(text)
    digest = ParsedDigest(format=FORMAT, digest_date=parse_date(date_line["date"]) if date_line else None)
    lines = _blank_front_matter(text.split("\n"))
    starts = _starts(lines)
    for number, start in enumerate(starts):
        end = starts[number + 1] if number + 1 < len(starts) else len(lines)
        paper, problems = _parse_entry(lines[start:end], start + 1)
        digest.papers.append(paper)
        digest.problems += problems
    return digest


def _blank_front_matter(lines: list[str]) -> list[str]:
    """The blog post's YAML front matter (`---` ... `---`; it has an `author:` key) blanked,
    keeping line numbers."""
    first = next((i for i, line in enumerate(lines) if line.strip()), None)
    if first is None or lines[first].strip() != "---":
        return lines
    end = next((i for i in range(first + 1, len(lines)) if lines[i].strip() == "---"), first)
    return [""] * (end + 1) + lines[end + 1 :]


def _parse_entry(lines: list[str], line_number: int) -> tuple[ParsedPaper, list[Problem]]:
    paper = ParsedPaper(title=strip_markdown_emphasis(lines[0].strip().lstrip("#").strip()), line=line_number)
    paper.title = " ".join(paper.title.split())
    authors_at = next(i for i in range(1, len(lines)) if _AUTHORS.match(lines[i].strip()))
    paper.authors, paper.authors_complete = split_authors(_AUTHORS.match(lines[authors_at].strip())["names"])
    body = [line.strip() for line in lines[authors_at + 1 :]]
    labels = [_label(line) for line in body]
    # the abstracts end where the links begin (a heading, or the Markdown's "[PDF](...)" line)
    links_at = next(
        (i for i, line in enumerate(body) if labels[i] == _LINKS_HEADING or line.startswith("[PDF]")),
        _index(labels, "Summary"),
    )
    head = [line for line in body[:links_at] if line]
    english = [line for line in head if guess_language(line) == "en"]
    chinese = [line for line in head if guess_language(line) != "en"]
    paper.abstract = " ".join(english) or None
    if chinese:
        text = "\n".join(chinese)
        paper.summaries.append(ParsedSummary(guess_language(text), "abstract_translation", text))
    for line in body[links_at : _index(labels, "Summary")]:
        for url in _URL.findall(line):
            ids = parse_arxiv_id(url) if "arxiv.org" in url else None
            if ids:
                paper.arxiv_id, paper.arxiv_version = ids
            elif "github.com" in url:
                paper.links.append(("code", url.rstrip(".,")))
            else:
                paper.links.append(("project", url.rstrip(".,")))
    summary = _block(body, labels, "Summary", "Key Takeaways")
    if summary:
        paper.summaries.append(ParsedSummary(guess_language(summary), "summary", summary))
    takeaways = _block(body, labels, "Key Takeaways", None)
    if takeaways:
        paper.summaries.append(ParsedSummary(guess_language(takeaways), "takeaways", takeaways))
    notes = _chatpaper_notes(body)
    if notes:
        paper.summaries.append(ParsedSummary(guess_language(notes), "structured_summary", notes))
    for question, answer in _faq(body):
        text = f"Q: {question}\nA: {answer}"
        paper.summaries.append(ParsedSummary(guess_language(text), "faq", text))
    if not summary and not takeaways:
        return paper, [Problem(line_number, f"possibly truncated: {paper.title!r} ends before its summary")]
    return paper, []


def _index(labels: list[str], marker: str) -> int:
    return labels.index(marker) if marker in labels else len(labels)


def _is_block_end(line: str, label: str) -> bool:
    return label in (_EXPAND, _SCREENSHOTS) or bool(
        _CHATPAPER_MARK.match(line) or _NOTES_END.search(line)
    )


def _block(body: list[str], labels: list[str], start: str, stop: str | None) -> str:
    """The non-empty lines after the label `start`, up to `stop` or the next part of the entry."""
    if start not in labels:
        return ""
    lines = []
    for line, label in zip(body[labels.index(start) + 1 :], labels[labels.index(start) + 1 :]):
        if label == start:
            continue  # "**要点**" then "**Key Takeaways**": the same label twice
        if label == stop or _is_block_end(line, label) or re.match(r"^1\.\s*Title\s*:|^<ol>", line):
            break
        if line:
            lines.append("- " + line[1:].strip() if line.startswith("•") else line)
    return "\n".join(lines).strip()


def _chatpaper_notes(body: list[str]) -> str:
    """ChatPaper's numbered notes ("1. Title: ..." to "8. Conclusion: ...") as one text."""
    start = next((i for i, line in enumerate(body) if re.match(r"^1\.\s*Title\s*:", line)), None)
    if start is None:
        return ""
    notes = []
    for line in body[start:]:
        if _NOTES_END.search(line):
            break
        if line:
            notes.append(line)
    return "\n".join(notes)


def _faq(lines: list[str]) -> list[tuple[str, str]]:
    pairs: list[tuple[str, list[str]]] = []
    after = lines[lines.index(_EXPAND) :] if _EXPAND in lines else []
    for line in after:
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
