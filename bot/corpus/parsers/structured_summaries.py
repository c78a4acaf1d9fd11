"""LLM-written summaries, one per paper (seen in Simplified Chinese).

    # Paper Title                       <- a heading of any level
    [arxiv_pdf_url](https://arxiv.org/pdf/2408.01031)      <- a line that is only an arXiv link
    ### 论文标题                         <- sections, in whichever form the model chose that day:
    ...                                    headings of any level, bold or not (`# **标题**`),
    ### 作者信息                            numbered bold labels (`1. **论文标题**`), or bold lines
    ### 论文标签
    ### 研究核心目标与问题 / 采用方法与技术 / 实验设计与主要发现 / ...

The whole text is kept as the paper's summary: as `structured_summary` when it has sections,
else (plain prose, one paragraph) as `summary`, with a warning that it was not understood.
The authors and tags sections give the paper's authors and topics. When the upstream pipeline
failed on a paper, the link is followed by `# faild to  read !!!!`: the paper is real, the
marker is not a summary.
"""

from __future__ import annotations

import re

from bot.corpus.language import guess_language
from bot.corpus.model import ParsedDigest, ParsedPaper, ParsedSummary, Problem
from bot.corpus.parsers.common import (
    clean_author,
    split_authors,
    strip_author_markup,
    strip_markdown_emphasis,
)
from bot.corpus.text import parse_arxiv_id

FORMAT = "structured-summaries"
# LLM-written: the model copies author lists from the PDF with affiliations and marks.
AUTHORS_RANK = 1

_FAILURE = re.compile(r"^#*\s*fai?le?d to\s+read\b", re.IGNORECASE)
_HEADING = re.compile(r"^#{1,6}\s+(?P<heading>.+?)\s*#*\s*$")
_LINK_LINE = re.compile(r"^\[[^\]]*\]\((?P<url>https?://(?:www\.)?arxiv\.org/(?:pdf|abs)/[^)\s]+)\)\s*$", re.IGNORECASE)
# section labels: "1. **论文标题**", "**论文标题**：" on a line of its own
_LABEL = re.compile(r"^(?:\d+[.、)]\s*)?\*{2,3}(?P<label>[^*]{1,30}?)\*{2,3}\s*[:：]?\s*$")
_AUTHORS_LABEL = re.compile(r"作者|authors?\b", re.IGNORECASE)
_AUTHORS_FIELD = re.compile(r"^(?:作者|作者列表|作者信息|主要贡献者|贡献者|authors?)$", re.IGNORECASE)
_TAGS_LABEL = re.compile(r"标签|关键词|keywords?|tags?", re.IGNORECASE)
_FIELD_LABEL = re.compile(r"^\**([^:：*]{1,8})\**\s*[:：]\s*")  # "主题分类：", "**机构**:"
_NOT_AUTHORS = re.compile(r"机构|单位|邮箱|affiliation|email|e-mail|项目|网页|http|@", re.IGNORECASE)


def _starts(lines: list[str]) -> list[int]:
    """Lines that start a paper: a heading followed (blank lines aside) by a lone arXiv link."""
    starts = []
    for i, line in enumerate(lines[:-1]):
        if not _HEADING.match(line):
            continue
        following = next((later for later in lines[i + 1 : i + 3] if later.strip()), "")
        if _LINK_LINE.match(following.strip()):
            starts.append(i)
    return starts


def detect(text: str) -> bool:
    return len(_starts(text[:8000].split("\n"))) >= 1


def parse(text: str) -> ParsedDigest:
    digest = ParsedDigest(format=FORMAT, digest_date=None)
    lines = text.split("\n")
    starts = _starts(lines)
    for number, start in enumerate(starts):
        end = starts[number + 1] if number + 1 < len(starts) else len(lines)
        paper, problems = _parse_entry(lines[start:end], start + 1, is_last=number + 1 == len(starts))
        digest.papers.append(paper)
        digest.problems += problems
    return digest


def _section_label(line: str) -> str | None:
    match = _HEADING.match(line) or _LABEL.match(line.strip())
    if not match:
        return None
    return strip_markdown_emphasis(match.group(1)).strip(" *:：")


def _sections(lines: list[str]) -> list[tuple[str, list[str]]]:
    sections: list[tuple[str, list[str]]] = []
    for line in lines:
        label = _section_label(line)
        if label is not None:
            sections.append((label, []))
        elif sections:
            sections[-1][1].append(line)
    return sections


def _parse_entry(lines: list[str], line_number: int, is_last: bool) -> tuple[ParsedPaper, list[Problem]]:
    paper = ParsedPaper(title=strip_markdown_emphasis(_HEADING.match(lines[0])["heading"]), line=line_number)
    link_at = next(i for i in range(1, len(lines)) if lines[i].strip())
    paper.arxiv_id, paper.arxiv_version = parse_arxiv_id(_LINK_LINE.match(lines[link_at].strip())["url"])
    body = lines[link_at + 1 :]
    if any(_FAILURE.match(line.strip()) for line in body[:3]):
        return paper, []  # the upstream summary failed: the paper without a summary
    summary = "\n".join(body).strip()
    if not summary:
        return paper, [Problem(line_number, f"no summary for {paper.title!r}")]
    sections = _sections(body)
    problems = []
    for label, content in sections:
        if _AUTHORS_LABEL.search(label) and not paper.authors:
            paper.authors = _authors(content)
        elif _TAGS_LABEL.search(label) and not paper.topics:
            paper.topics = _tags(content)
    if not sections:
        problems.append(Problem(line_number, f"summary of {paper.title!r} has no sections: kept whole"))
    elif is_last and len(sections) < 4:
        problems.append(Problem(line_number, f"possibly truncated: {paper.title!r} stops after {len(sections)} sections"))
    kind = "structured_summary" if sections else "summary"
    paper.summaries.append(ParsedSummary(lang=guess_language(summary), kind=kind, text=summary))
    return paper, problems


def _top_level_items(content: list[str]) -> list[str]:
    """The least-indented list items (or lines) of a section: names, not their affiliations."""
    items = [line for line in content if line.strip()]
    if not items:
        return []
    indent = min(len(line) - len(line.lstrip()) for line in items)
    top = [line.strip() for line in items if len(line) - len(line.lstrip()) == indent]
    return [re.sub(r"^(?:[-*+]|\d+[.)])\s+", "", line) for line in top]


def _authors(content: list[str]) -> list[str]:
    """People named in the authors section, whichever of its layouts the model used: a labelled
    bullet ("作者：A, B"), one bullet of names, or a bullet per author with an affiliation."""
    items = _top_level_items(content)
    for item in items:
        field = _FIELD_LABEL.match(item)
        if field and _AUTHORS_FIELD.match(field.group(1).strip()):
            return split_authors(item[field.end() :])[0]
    names: list[str] = []
    for item in items:
        if _FIELD_LABEL.match(item) or _NOT_AUTHORS.search(item):
            continue  # "机构：...", e-mails, project pages
        bold = re.findall(r"\*\*([^*]+)\*\*", item)
        candidates = bold if bold else re.split(r",|，|、|;|；", strip_author_markup(item))
        # names come first; the first piece that is not a name starts the affiliation
        for candidate in candidates:
            name = clean_author(candidate, one_word_ok=False)
            if name is None:
                break
            if name not in names:
                names.append(name)
    return names


def _tags(content: list[str]) -> list[str]:
    tags: list[str] = []
    for item in _top_level_items(content):
        value = _FIELD_LABEL.sub("", strip_markdown_emphasis(item))
        tags += [t.strip() for t in re.split(r"[、,，;；|]", value) if t.strip()]
    return list(dict.fromkeys(tags))
