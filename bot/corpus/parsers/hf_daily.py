"""Hugging Face "Daily Papers" lists, with LLM-written notes per paper (seen in Korean).

    ## Daily Papers (2024-08-05)

    ### [Title](https://arxiv.org/abs/2408.00874)      <- a heading of any level holding a link
    ![](thumbnail url)                                   (optional, as are the video lines)
    Vote: 15                                             (optional; "Vote: -" when unknown)
    Authors: Junde Wu, Yunli Qi, Jiayuan Zhu, +         (optional; "+" shortens a long list)
    - **What's New**: ...                                <- labelled bullets, `**` or `***`, or
    - **Technical Details**: ...                            plain bullets (the older layout),
    - **Performance Highlights**: ...                       possibly with nested bullets

Labelled bullets become one summary of kind "highlights"; plain bullets one of kind "summary",
in the language they are written in.
"""

from __future__ import annotations

import re

from bot.corpus.language import guess_language
from bot.corpus.model import ParsedDigest, ParsedPaper, ParsedSummary, Problem
from bot.corpus.parsers.common import MARKDOWN_LINK_RE, parse_date, split_authors
from bot.corpus.text import parse_arxiv_id

FORMAT = "hf-daily-papers"
# Hugging Face takes the author list from arXiv.
AUTHORS_RANK = 3

_HEADER = re.compile(r"^#{1,4}\s+Daily Papers\s*\((?P<date>[^)]*)\)", re.MULTILINE | re.IGNORECASE)
_ENTRY = re.compile(r"^#{2,4}\s+\[")
_LABELLED = re.compile(r"^[-*]\s+\*{2,3}(?P<label>[^*]+?)\s*:?\s*\*{2,3}\s*:?\s*(?P<text>.*)$")
_BULLET = re.compile(r"^\s*[-*]\s+\S")


def detect(text: str) -> bool:
    return bool(_HEADER.search(text[:2000])) and bool(re.search(r"^#{2,4}\s+\[", text, re.MULTILINE))


def parse(text: str) -> ParsedDigest:
    header = _HEADER.search(text)
    digest = ParsedDigest(format=FORMAT, digest_date=parse_date(header["date"]) if header else None)
    lines = text.split("\n")
    starts = [i for i, line in enumerate(lines) if _ENTRY.match(line)]
    for number, start in enumerate(starts):
        end = starts[number + 1] if number + 1 < len(starts) else len(lines)
        entry = _parse_entry(lines[start:end], start + 1)
        if isinstance(entry, Problem):
            digest.problems.append(entry)
            continue
        digest.papers.append(entry)
        if number + 1 == len(starts) and not entry.summaries:
            digest.problems.append(Problem(start + 1, f"possibly truncated: {entry.title!r} has no notes"))
    return digest


def _parse_entry(lines: list[str], line_number: int) -> ParsedPaper | Problem:
    link = MARKDOWN_LINK_RE.search(lines[0])
    if not link or not link["text"].strip():
        return Problem(line_number, "paper heading without a [title](link)")
    paper = ParsedPaper(title=link["text"].strip(), line=line_number)
    ids = parse_arxiv_id(link["url"])
    if ids:
        paper.arxiv_id, paper.arxiv_version = ids
    labelled: list[str] = []
    plain: list[str] = []
    for line in lines[1:]:
        stripped = line.strip()
        if stripped.startswith("Vote:"):
            votes = re.search(r"\d+", stripped)
            paper.votes = int(votes.group()) if votes else None
        elif stripped.startswith("Authors:"):
            paper.authors, paper.authors_complete = split_authors(stripped[len("Authors:") :])
        elif (bullet := _LABELLED.match(stripped)) and bullet["text"].strip():
            labelled.append(f"- **{bullet['label'].strip()}**: {bullet['text'].strip()}")
        elif _BULLET.match(line):
            plain.append(line.rstrip())
    if labelled:
        body = "\n".join(labelled)
        paper.summaries.append(ParsedSummary(lang=guess_language(body), kind="highlights", text=body))
    elif plain:
        body = "\n".join(plain)
        paper.summaries.append(ParsedSummary(lang=guess_language(body), kind="summary", text=body))
    return paper
