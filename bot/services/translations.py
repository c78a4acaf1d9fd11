"""A paper in the reader's language: a summary already stored in that language when there is
one (no LLM call), otherwise a brief one written once by the summaries service and kept, so
the next member who asks gets it from the store."""

from __future__ import annotations

from dataclasses import dataclass

from bot.llm.client import Caller
from bot.services.context import RICHNESS
from bot.services.language import normalize_tag
from bot.services.library import Library
from bot.services.papers import PaperDetail, paper_detail
from bot.services.summaries import summarize


@dataclass
class InLanguage:
    paper: PaperDetail
    lang: str
    text: str
    cached: bool  # served from the store, no LLM call
    source: str  # the digest it came from, or "paperbot:<model>"


def stored_in_language(paper: PaperDetail, lang: str) -> InLanguage | None:
    """The richest text about the paper already in `lang` (the abstract for English)."""
    if lang == "en" and paper.abstract:
        return InLanguage(paper, lang, paper.abstract, True, "abstract")
    stored = [s for s in paper.summaries if s.lang == lang and s.kind in RICHNESS]
    if not stored:
        return None
    best = max(stored, key=lambda s: (-RICHNESS.index(s.kind), len(s.text)))
    return InLanguage(paper, lang, best.text, True, best.source)


async def read_in_language(library: Library, paper_id: int, lang: str, *, caller: Caller | None = None) -> InLanguage:
    lang = normalize_tag(lang)
    paper = await paper_detail(library.db, paper_id)
    stored = stored_in_language(paper, lang)
    if stored is not None:
        return stored
    written = await summarize(library, paper.key, lang=lang, style="brief", caller=caller or Caller("read_in_language"))
    # a summary the model did not write in `lang` (or cut off) is labelled as it is, and says so
    text = f"{written.text}\n\n({written.note})" if written.note else written.text
    return InLanguage(paper, written.lang, text, written.cached, f"paperbot:{written.model}")
