"""The fallback for digests in no known layout: papers found by their arXiv ids.

A digest nobody has written a parser for still names its papers by arXiv links
(`https://arxiv.org/abs/2407.12773`), `arXiv:2407.12773` or bare ids (`2407.12773`). Each id
becomes a paper with the best title near it: the text of the link that holds it, else the
heading of a section that holds only this paper, else the bold text or the opening words of its
paragraph; and the text around it (its paragraph, list item or table row and the paragraphs
that follow, up to the next paper or heading) as a summary in its language. The digest carries
a warning that it was read by this fallback, so a missing parser is visible, never silent.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from bot.corpus.language import guess_language
from bot.corpus.model import ParsedDigest, ParsedPaper, ParsedSummary, Problem
from bot.corpus.parsers.common import MARKDOWN_LINK_RE, markdown_blocks, parse_date, strip_markdown_emphasis
from bot.corpus.text import markdown_to_text, squash_spaces

FORMAT = "generic-arxiv-ids"
# Whatever is near an id: never preferred over a parser that knows its layout.
AUTHORS_RANK = 0

# An arXiv link or "arXiv:" id, or a bare new-style id whose month is a real month.
_ID = re.compile(
    r"(?:arxiv\.org/(?:abs|pdf|html)/|arxiv\s*:\s*)(?P<linked>\d{4}\.\d{4,5})(?:v\d+)?"
    r"|(?<![\w.\-/])(?P<bare>\d{2}(?:0[1-9]|1[0-2])\.\d{4,5})(?:v\d+)?(?![\w.\-])",
    re.IGNORECASE,
)
_GENERIC_LINK_TEXT = re.compile(
    r"^(?:pdf|abs|arxiv|link|paper|here|url|html|(?:arxiv\s*:?\s*)?\d{4}\.\d{4,5}(?:v\d+)?)$", re.IGNORECASE
)
# what points at a paper rather than names it: URLs (<autolinks> too) and ids with their label
_POINTER = re.compile(
    r"<?(?:https?://|www\.)[^\s<>()\[\]]*>?|\barxiv\.org/\S*|(?:\barxiv\s*[:：]?\s*)?\b\d{4}\.\d{4,5}(?:v\d+)?\b",
    re.IGNORECASE,
)
# brackets left holding nothing, or only the label of what was removed: "(arXiv )", "(code: )"
_EMPTY_BRACKETS = re.compile(r"[(\[（<]\s*(?:\w[\w ]{0,20}[:：])?\s*[)\]）>]")
# punctuation a title never starts or ends with once the links are gone
_LEFTOVER = " |:;,.-–—·•"
MAX_TEXT_CHARS = 4000
MAX_TITLE_CHARS = 200


def arxiv_ids(text: str) -> list[str]:
    """Distinct arXiv ids in the text, in order of appearance, without versions."""
    return list(dict.fromkeys(m["linked"] or m["bare"] for m in _ID.finditer(text)))


def detect(text: str) -> bool:
    return bool(_ID.search(text))


@dataclass
class _Unit:
    line: int  # 1-based
    heading: bool
    markdown: str
    ids: list[str] = field(default_factory=list)


def _units(text: str) -> list[_Unit]:
    """Headings, paragraphs, list-item paragraphs and table rows, in order, with their ids."""
    units = [_Unit(block.line, block.kind == "heading", block.text) for block in markdown_blocks(text)]
    for unit in units:
        unit.ids = arxiv_ids(unit.markdown)
    return units


def _plain(markdown: str) -> str:
    return squash_spaces(markdown_to_text(markdown))


def _title(arxiv_id: str, unit: _Unit, own_heading: _Unit | None) -> str:
    for link in MARKDOWN_LINK_RE.finditer(unit.markdown):
        text = strip_markdown_emphasis(link["text"]).strip()
        if arxiv_id in link["url"] and text and not _GENERIC_LINK_TEXT.match(text):
            return _plain(text)
    if own_heading is not None:
        return _plain(own_heading.markdown)
    # the longest bold text that is neither a date nor an id: "**2025-11-28** **Title**"
    bold = [b for b in re.findall(r"\*\*([^*]{8,}?)\*\*", unit.markdown) if not _ID.search(b) and not parse_date(b)]
    if bold:
        return _plain(max(bold, key=len))
    sentence = re.split(r"(?<=[.!?。！？])\s", _prose(unit.markdown), maxsplit=1)[0]
    return sentence[:MAX_TITLE_CHARS].strip(_LEFTOVER) or f"arXiv {arxiv_id}"


def _prose(markdown: str) -> str:
    """The words of a paragraph without what only points at a paper: links whose text is an
    id or "pdf", URLs, ids with their "arXiv" label, and the brackets they leave empty."""
    text = MARKDOWN_LINK_RE.sub(lambda m: "" if _GENERIC_LINK_TEXT.match(m["text"].strip()) else m["text"], markdown)
    text = _EMPTY_BRACKETS.sub(" ", _POINTER.sub(" ", text))
    text = re.sub(r"\s+([.,;:!?。，；：！？])", r"\1", _plain(text))
    return re.sub(r"([,;:—–-])(?:\s*[,;:—–-])+", r"\1", text).strip(_LEFTOVER)


def parse(text: str) -> ParsedDigest:
    digest = ParsedDigest(format=FORMAT, digest_date=parse_date(text[:2000]))
    units = _units(text)
    # a heading owns the paper when its section (up to the next heading) names only that paper
    section_ids: dict[int, set[str]] = {}
    heading_index = None
    for index, unit in enumerate(units):
        if unit.heading:
            heading_index = index
        if heading_index is not None:
            section_ids.setdefault(heading_index, set()).update(unit.ids)
    seen: set[str] = set()
    heading_index = None
    for index, unit in enumerate(units):
        if unit.heading:
            heading_index = index
        for arxiv_id in unit.ids:
            if arxiv_id in seen:
                continue
            seen.add(arxiv_id)
            own = units[heading_index] if heading_index is not None and section_ids[heading_index] == {arxiv_id} else None
            paper = ParsedPaper(title=_title(arxiv_id, unit, own), line=unit.line, arxiv_id=arxiv_id)
            body = _text_near(units, index)
            if body:
                paper.summaries.append(ParsedSummary(guess_language(body), "summary", body))
            digest.papers.append(paper)
    if digest.papers:
        digest.problems.append(Problem(1, f"no known layout: {len(digest.papers)} papers read by their arXiv ids alone"))
    return digest


def _text_near(units: list[_Unit], index: int) -> str:
    """The unit's text and the text units after it, up to the next heading or paper."""
    parts = [_plain(units[index].markdown)] if not units[index].heading else []
    for unit in units[index + 1 :]:
        if unit.heading or unit.ids or sum(map(len, parts)) > MAX_TEXT_CHARS:
            break
        parts.append(_plain(unit.markdown))
    return "\n".join(part for part in parts if part)[:MAX_TEXT_CHARS].strip()
