"""Paper text as LLM context: labelled blocks, packed by rank under a token budget.

Each block starts with the label the model must cite (`[arXiv:2407.12773]`, or `[title: ...]`
for a paper without an id), so citations can be checked against what was actually supplied.
"""

from __future__ import annotations

import re

from bot.corpus.text import parse_arxiv_id
from bot.services.papers import PaperDetail

# Summary kinds in the order they are worth reading when there is no English abstract.
RICHNESS = ("structured_summary", "abstract_translation", "summary", "highlights", "brief", "takeaways")

_ARXIV_CITATION = re.compile(r"\[\s*arXiv\s*:\s*([^\]\s]+?)\s*\]", re.IGNORECASE)
_TITLE_CITATION = re.compile(r"\[\s*title\s*:\s*([^\]]+?)\s*\]", re.IGNORECASE)
# `arXiv:2407.12773` without brackets, as models often write it (not inside a bracketed label)
_BARE_ARXIV_CITATION = re.compile(
    r"(?<![\[\w/])arXiv\s*:\s*(\d{4}\.\d{4,5}(?:v\d+)?|[a-z-]+(?:\.[A-Z]{2})?/\d{7}(?:v\d+)?)", re.IGNORECASE
)
# the end of a streamed text that may be the start of a citation not yet complete
_UNFINISHED_CITATION = re.compile(r"(?:\[[^\]\n]*|(?<![\w/])a(?:r(?:X(?:i(?:v[\s:]*[\w./-]*)?)?)?)?)$", re.IGNORECASE)
# what a removed citation leaves behind: empty brackets, doubled or stranded separators
_TIDY = (
    (re.compile(r"[(（\[]\s*[,;，、]?\s*[)）\]]"), ""),
    (re.compile(r"([(（\[])\s*[,;，、]\s*"), r"\1"),
    (re.compile(r"\s*[,;，、]\s*([)）\]])"), r"\1"),
    (re.compile(r"([,;，、])(?:\s*[,;，、])+"), r"\1"),
    (re.compile(r"[ \t]+([.,;:!?。，、；：！？])"), r"\1"),
    (re.compile(r"([,;，、])([.!?。！？])"), r"\2"),
    (re.compile(r"[ \t]{2,}"), " "),
)


def paper_label(detail: PaperDetail) -> str:
    return f"[arXiv:{detail.arxiv_id}]" if detail.arxiv_id else f"[title: {detail.title}]"


def richest_summary(detail: PaperDetail, lang: str | None = None):
    """The most informative stored summary (in `lang` when given and present), or None."""
    candidates = [s for s in detail.summaries if s.kind in RICHNESS]
    if lang:
        in_lang = [s for s in candidates if s.lang == lang or s.lang.split("-")[0] == lang.split("-")[0]]
        candidates = in_lang or candidates
    if not candidates:
        return None
    return max(candidates, key=lambda s: (len(s.text) > 200, -RICHNESS.index(s.kind), len(s.text)))


def source_text(detail: PaperDetail) -> str:
    """What a fresh summary is written from: the English abstract, else the richest summary."""
    if detail.abstract:
        return detail.abstract
    summary = richest_summary(detail)
    return summary.text if summary else ""


def paper_block(detail: PaperDetail, *, full: bool = False) -> str:
    """One paper as context: label, title, authors, and its abstract or best summary.

    `full` adds every stored summary and FAQ answer, for questions about one paper.
    """
    lines = [paper_label(detail), f"Title: {detail.title}"]
    if detail.authors:
        lines.append("Authors: " + ", ".join(detail.authors[:12]) + (" et al." if len(detail.authors) > 12 else ""))
    if detail.published:
        lines.append(f"Published: {detail.published}")
    if detail.abstract:
        lines.append(f"Abstract: {detail.abstract}")
    if full:
        for summary in detail.summaries:
            lines.append(f"{summary.kind} ({summary.lang}): {summary.text}")
    elif not detail.abstract:
        summary = richest_summary(detail)
        if summary:
            lines.append(f"Summary ({summary.lang}): {summary.text}")
    return "\n".join(lines)


def cited_labels(answer: str) -> list[str]:
    """Every citation in an answer, as written (`[arXiv:...]`, `arXiv:...` and `[title: ...]`)."""
    return [
        m.group(0) for pattern in (_ARXIV_CITATION, _BARE_ARXIV_CITATION, _TITLE_CITATION) for m in pattern.finditer(answer)
    ]


def filter_citations(answer: str, supplied: dict[str, PaperDetail]) -> tuple[str, list[PaperDetail], list[str]]:
    """Keep citations of supplied papers, drop the rest.

    `supplied` maps normalized keys (arXiv id, or casefolded title) to papers. Returns the answer
    with unknown citations removed, the papers cited (in order of first citation), and the
    labels removed (for the log).
    """
    cited: dict[int, PaperDetail] = {}
    removed: list[str] = []

    def check(match: re.Match, key: str) -> str:
        paper = supplied.get(key)
        if paper is None:
            removed.append(match.group(0))
            return ""
        cited.setdefault(paper.id, paper)
        return match.group(0)

    def by_id(match: re.Match) -> str:
        return check(match, (parse_arxiv_id(match.group(1)) or (match.group(1), None))[0])

    answer = _ARXIV_CITATION.sub(by_id, answer)
    answer = _BARE_ARXIV_CITATION.sub(by_id, answer)
    answer = _TITLE_CITATION.sub(lambda m: check(m, m.group(1).strip().casefold()), answer)
    if removed:
        for pattern, replacement in _TIDY:
            answer = pattern.sub(replacement, answer)
    return answer.strip(), list(cited.values()), removed


def checked_preview(text: str, supplied: dict[str, PaperDetail]) -> str:
    """A streamed answer so far, safe to show: an unfinished citation at its end is held back
    and citations of papers not supplied are removed, as in the final answer."""
    return filter_citations(_UNFINISHED_CITATION.sub("", text), supplied)[0]


def citation_keys(detail: PaperDetail) -> list[str]:
    """The keys under which `filter_citations` recognizes a supplied paper."""
    keys = [detail.title.strip().casefold()]
    if detail.arxiv_id:
        keys.append(detail.arxiv_id)
    return keys
