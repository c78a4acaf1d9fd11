"""LLM-written structured summaries, one per paper (seen in Simplified Chinese).

    # Paper Title
    [arxiv_pdf_url](https://arxiv.org/pdf/2408.01031)
    ### 论文标题            <- headings vary: bold or not, `###` or `####`, slightly different words
    ...
    ### 作者信息            <- "- **作者**： A, B, C", or one bullet of names, or a bullet per author
    ### 论文标签            <- topic and keyword tags
    ### 研究核心目标与问题 / 采用方法与技术 / 实验设计与主要发现 / 结论... / 关键图表与数据 / 其他...

When the upstream pipeline failed on a paper, its title and link are followed by the line
`# faild to  read !!!!` instead of sections: the paper is real, the marker is not a summary.
"""

from __future__ import annotations

import re

from bot.corpus.language import guess_language
from bot.corpus.model import ParsedDigest, ParsedPaper, ParsedSummary, Problem
from bot.corpus.parsers.common import MARKDOWN_LINK_RE, split_authors, strip_markdown_emphasis
from bot.corpus.text import parse_arxiv_id

FORMAT = "structured-summaries"

_FAILURE = re.compile(r"^#\s*fai?le?d to\s+read\b", re.IGNORECASE)
_PDF_LINK = re.compile(r"^\[arxiv_pdf_url\]\(", re.IGNORECASE)
_SECTION = re.compile(r"^#{3,4}\s+(?P<heading>.+?)\s*$")


def detect(text: str) -> bool:
    return bool(re.search(r"^\[arxiv_pdf_url\]\(", text[:5000], re.MULTILINE))


def parse(text: str) -> ParsedDigest:
    digest = ParsedDigest(format=FORMAT, digest_date=None)
    lines = text.split("\n")
    starts = [
        i
        for i in range(len(lines) - 1)
        if lines[i].startswith("# ") and _PDF_LINK.match(lines[i + 1].strip())
    ]
    for number, start in enumerate(starts):
        end = starts[number + 1] if number + 1 < len(starts) else len(lines)
        entry = _parse_entry(lines[start:end], start + 1, is_last=number + 1 == len(starts))
        (digest.problems if isinstance(entry, Problem) else digest.papers).append(entry)
    return digest


def _sections(lines: list[str]) -> list[tuple[str, list[str]]]:
    sections: list[tuple[str, list[str]]] = []
    for line in lines:
        heading = _SECTION.match(line)
        if heading:
            sections.append((strip_markdown_emphasis(heading["heading"]), []))
        elif sections:
            sections[-1][1].append(line)
    return sections


def _parse_entry(lines: list[str], line_number: int, is_last: bool) -> ParsedPaper | Problem:
    paper = ParsedPaper(title=lines[0][2:].strip(), line=line_number)
    link = MARKDOWN_LINK_RE.search(lines[1])
    ids = parse_arxiv_id(link["url"]) if link else None
    if not ids:
        return Problem(line_number + 1, f"no arXiv link for {paper.title!r}")
    paper.arxiv_id, paper.arxiv_version = ids
    body = lines[2:]
    if any(_FAILURE.match(line.strip()) for line in body[:3]):
        return paper  # the upstream summary failed: the paper without a summary
    sections = _sections(body)
    if not sections:
        return Problem(line_number, f"no summary sections for {paper.title!r}")
    for heading, content in sections:
        if "作者" in heading:
            paper.authors = _authors(content)
        elif "标签" in heading or "关键词" in heading:
            paper.topics = _tags(content)
    summary = "\n".join(body).strip()
    if is_last and len(sections) < 4:
        return Problem(line_number, f"truncated mid-paper: {paper.title!r} stops after {len(sections)} sections")
    paper.summaries.append(
        ParsedSummary(lang=guess_language(summary), kind="structured_summary", text=summary)
    )
    return paper


def _clean_name(name: str) -> str:
    name = strip_markdown_emphasis(name).replace("\\*", "").replace("*", "")
    return re.sub(r"[\d†‡§¶,]+$", "", name).strip()


def _authors(content: list[str]) -> list[str]:
    """Authors from the bullets of the authors section, whichever of its layouts it uses."""
    bullets = [line[2:].strip() for line in content if line.startswith("- ")]
    for bullet in bullets:
        labelled = re.match(r"\**作者\**\s*[:：]\s*(.+)", bullet)
        if labelled:
            return [_clean_name(n) for n in split_authors(labelled.group(1))[0] if _clean_name(n)]
    if not bullets:
        return []
    if bullets[0].count(",") >= 2:  # one bullet listing every author; later bullets: affiliations
        return [_clean_name(n) for n in split_authors(bullets[0])[0] if _clean_name(n)]
    # a bullet per author, "Name, affiliation" at most
    names = [_clean_name(bullet.split(",")[0]) for bullet in bullets]
    return [n for n in names if n and not re.search(r"[\u4e00-\u9fff@{]", n)]


def _tags(content: list[str]) -> list[str]:
    tags: list[str] = []
    for line in content:
        if not line.startswith("- "):
            continue
        value = strip_markdown_emphasis(line[2:])
        value = re.sub(r"^\**[^:：*]{1,8}\**\s*[:：]\s*", "", value)  # "主题分类：" labels
        tags += [t.strip() for t in re.split(r"[、,，;；]", value) if t.strip()]
    return list(dict.fromkeys(tags))
