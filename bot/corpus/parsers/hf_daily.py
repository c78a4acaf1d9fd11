"""Hugging Face "Daily Papers" lists, with LLM-written highlights (seen in Korean).

    ## Daily Papers (2024-08-05)

    ### [Title](https://arxiv.org/abs/2408.00874)
    ![](thumbnail url)
    Vote: 15
    Authors: Junde Wu, Yunli Qi, Jiayuan Zhu
    - **What's New**: ...
    - **Technical Details**: ...
    - **Performance Highlights**: ...

The three bullets become one summary of kind "highlights", in the language they are written in.
"""

from __future__ import annotations

import re

from bot.corpus.language import guess_language
from bot.corpus.model import ParsedDigest, ParsedPaper, ParsedSummary, Problem
from bot.corpus.parsers.common import MARKDOWN_LINK_RE, parse_date, split_authors
from bot.corpus.text import parse_arxiv_id

FORMAT = "hf-daily-papers"

_HEADER = re.compile(r"^##\s+Daily Papers\s*\((?P<date>[^)]*)\)", re.MULTILINE)
_ENTRY = re.compile(r"^###\s+\[")
_BULLET = re.compile(r"^-\s+\*\*(?P<label>[^*]+?)\*\*\s*:?\s*(?P<text>.*)$")


def detect(text: str) -> bool:
    return bool(_HEADER.search(text[:2000])) and "### [" in text


def parse(text: str) -> ParsedDigest:
    header = _HEADER.search(text)
    digest = ParsedDigest(format=FORMAT, digest_date=parse_date(header["date"]) if header else None)
    lines = text.split("\n")
    starts = [i for i, line in enumerate(lines) if _ENTRY.match(line)]
    for number, start in enumerate(starts):
        end = starts[number + 1] if number + 1 < len(starts) else len(lines)
        is_last = number + 1 == len(starts)
        entry = _parse_entry(lines[start:end], start + 1, is_last)
        if isinstance(entry, Problem):
            digest.problems.append(entry)
        else:
            digest.papers.append(entry)
    return digest


def _parse_entry(lines: list[str], line_number: int, is_last: bool) -> ParsedPaper | Problem:
    link = MARKDOWN_LINK_RE.search(lines[0])
    if not link:
        return Problem(line_number, "paper heading without a [title](link)")
    paper = ParsedPaper(title=link["text"].strip(), line=line_number)
    ids = parse_arxiv_id(link["url"])
    if ids:
        paper.arxiv_id, paper.arxiv_version = ids
    bullets: list[str] = []
    for line in lines[1:]:
        stripped = line.strip()
        if stripped.startswith("Vote:"):
            votes = re.search(r"\d+", stripped)
            paper.votes = int(votes.group()) if votes else None
        elif stripped.startswith("Authors:"):
            paper.authors, paper.authors_complete = split_authors(stripped[len("Authors:") :])
        elif (bullet := _BULLET.match(stripped)) and bullet["text"].strip():
            bullets.append(f"- **{bullet['label'].strip()}**: {bullet['text'].strip()}")
    if is_last and (not paper.authors or not bullets):
        return Problem(line_number, f"truncated mid-paper: {paper.title!r} ends before its highlights")
    if bullets:
        body = "\n".join(bullets)
        paper.summaries.append(ParsedSummary(lang=guess_language(body), kind="highlights", text=body))
    return paper

