"""Grounded questions and answers over the library, with citations checked against the context.

1. Retrieve: the hybrid search, or one paper's whole stored text when the reader names it.
   A question in another language than English whose keywords find little is rewritten by the
   LLM into English search terms and searched again (many papers have English text only).
   The rewrite is checked before it is searched: one line of English keywords, not an echo of
   the question, no fence markers, bounded length; anything else is ignored.
2. Pack the papers by rank under the token budget, each labelled with what the model must cite.
3. Answer in the question's language (asked again, more firmly, once, when the model answers
   in another); citations of papers that were not supplied are removed and logged, and the
   streamed preview never shows a citation before it is checked. An answer cut off by the
   length limit, or still in the wrong language, says so in `note`.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field, replace

from bot.errors import PaperbotError
from bot.llm.client import Caller, TextCallback, Usage
from bot.llm.errors import LLMError
from bot.llm.task import TaskResult, run_task
from bot.llm.tokens import pack
from bot.retrieval.search import SearchHit
from bot.services.context import checked_preview, citation_keys, filter_citations, paper_block
from bot.services.language import (
    dominant_script_language,
    guess_language,
    language_name,
    language_problem,
    normalize_tag,
    script_counts,
)
from bot.services.library import Library
from bot.services.papers import PaperDetail, paper_detail, paper_details, resolve_paper

log = logging.getLogger(__name__)

CANDIDATES = 8  # papers offered to the model, best first, as many as fit the budget
# A non-English question is weakly supported when fewer than this many of its top 5 papers
# were found by keywords too: its words are probably not in the papers' (English) text.
MIN_KEYWORD_SUPPORT = 2
REWRITE_MAX_TOKENS = 60
REWRITE_MAX_CHARS = 200
REWRITE_MAX_WORDS = 16
_FENCE_LIKE = re.compile(r"<<<|>>>|```|\bDATA [0-9a-f]{6,}", re.IGNORECASE)
RRF_K = 60  # reciprocal rank fusion constant for merging the original and rewritten searches


class EmptyQuestion(PaperbotError, ValueError):
    """A question of only spaces: says how to ask one."""


@dataclass
class Question:
    """A question with the papers chosen to answer it, before the LLM is asked."""

    text: str
    lang: str
    papers: list[PaperDetail]
    full_text: bool = False  # one named paper, with every stored summary
    rewritten_query: str | None = None
    usage: Usage = field(default_factory=Usage)


@dataclass
class Answer:
    question: Question
    text: str
    citations: list[PaperDetail]
    supplied: list[PaperDetail]
    removed_citations: list[str]
    note: str | None = None  # what is wrong with the answer: cut off, not in the language asked

    def to_json(self) -> dict:
        return {
            "answer": self.text,
            "lang": self.question.lang,
            "citations": [paper.reference() for paper in self.citations],
            "context": [paper.reference() for paper in self.supplied],
            "rewritten_query": self.question.rewritten_query,
            "complete": self.note is None,
            "note": self.note,
            "usage": self.question.usage.to_json(),
        }


def keyword_support(hits: list[SearchHit]) -> int:
    return sum(1 for hit in hits[:5] if hit.ranks.get("lexical") or hit.exact)


def is_weak(hits: list[SearchHit], lang: str, coverage: float) -> bool:
    """Whether a search needs a second try in English: few hits, or a question in a language
    that little of the library is written in, or whose keywords found little."""
    if len(hits) < 3:
        return True
    if lang.split("-")[0] == "en":
        return False
    return coverage < 1.0 or keyword_support(hits) < MIN_KEYWORD_SUPPORT


def merge_rankings(*rankings: list[SearchHit]) -> list[int]:
    """Paper ids by reciprocal rank fusion of several rankings; exact hits stay first."""
    scores: dict[int, float] = {}
    exact: list[int] = []
    for ranking in rankings:
        for rank, hit in enumerate(ranking, start=1):
            scores[hit.paper_id] = scores.get(hit.paper_id, 0.0) + 1.0 / (RRF_K + rank)
            if hit.exact and hit.paper_id not in exact:
                exact.append(hit.paper_id)
    rest = sorted((pid for pid in scores if pid not in exact), key=lambda pid: -scores[pid])
    return exact + rest


def checked_rewrite(question: str, reply: str) -> str | None:
    """The model's English search terms for `question`, or None when the reply is not that:
    empty, an echo of the question, fence markers, not in Latin script, or too long."""
    line = " ".join(reply.split()).strip(" \"'“”「」")
    line = re.sub(r"^(?:english\s+)?(?:search\s+)?keywords?\s*:\s*", "", line, flags=re.IGNORECASE)
    if not line or _FENCE_LIKE.search(line):
        return None
    if len(line) > REWRITE_MAX_CHARS or len(line.split()) > REWRITE_MAX_WORDS:
        return None
    asked, said = " ".join(question.split()).casefold(), line.casefold()
    if said == asked or (len(said) > 12 and (said in asked or asked in said)):
        return None
    if dominant_script_language(script_counts(line)) is not None:  # not English keywords
        return None
    return line


async def rewrite_query(library: Library, question: str, caller: Caller) -> tuple[str | None, Usage]:
    usage = Usage()
    result = await run_task(
        library.llm(),
        "rewrite_query",
        replace(caller, feature="rewrite_query"),
        usage,
        values={"question": question},
        max_tokens=REWRITE_MAX_TOKENS,
    )
    rewritten = checked_rewrite(question, result.text)
    if rewritten is None:
        log.info("query rewrite ignored: %r is not English search terms for the question", result.text[:120])
    return rewritten, usage


async def gather(
    library: Library,
    question: str,
    *,
    paper_ref: str | None = None,
    lang: str | None = None,
    caller: Caller | None = None,
) -> Question:
    """The papers that should answer `question`. Needs no LLM unless retrieval is weak, and
    then goes on without the rewrite when no LLM is available."""
    question = question.strip()
    if not question:
        raise EmptyQuestion("ask a question, e.g. paperbot ask \"what is new in retrieval-augmented generation?\"")
    lang = normalize_tag(lang) if lang else guess_language(question)
    caller = caller or Caller("ask")
    if paper_ref:
        paper = await paper_detail(library.db, await resolve_paper(library.db, paper_ref))
        return Question(question, lang, [paper], full_text=True)

    hits = await library.retriever.search(question, limit=CANDIDATES)
    result = Question(question, lang, [])
    ranked = [hit.paper_id for hit in hits]
    if is_weak(hits, lang, await library.retriever.lexical_weight(question)):
        try:
            rewritten, usage = await rewrite_query(library, question, caller)
        except LLMError as exc:
            log.info("question not rewritten (%s)", exc)
        else:
            result.rewritten_query, result.usage = rewritten, usage
            if rewritten:
                more = await library.retriever.search(rewritten, limit=CANDIDATES)
                ranked = merge_rankings(hits, more)
    result.papers = await paper_details(library.db, ranked[:CANDIDATES])
    return result


async def answer(
    library: Library,
    question: Question,
    *,
    caller: Caller | None = None,
    on_text: TextCallback | None = None,
) -> Answer:
    """The LLM's answer to a gathered question, grounded in its papers, citations checked."""
    llm = library.llm()
    blocks = [paper_block(paper, full=question.full_text) for paper in question.papers]
    packed: list[str] = []  # the blocks sent, set by `fit` before the answer streams

    def supplied_keys() -> dict[str, PaperDetail]:
        return {key: paper for paper in question.papers[: len(packed)] for key in citation_keys(paper)}

    def fit(budget: int) -> dict[str, str]:
        packed[:] = pack(blocks, budget, llm.model)
        return {"context": "\n\n".join(packed) if packed else "(no paper in the library matches this question)"}

    async def show(text: str) -> None:
        await on_text(checked_preview(text, supplied_keys()))

    result = await run_task(
        llm,
        "ask",
        caller or Caller("ask"),
        question.usage,
        values={"language": language_name(question.lang), "question": question.text},
        fit=fit,
        on_text=show if on_text else None,
        check=lambda text: language_problem(text, question.lang),
    )
    supplied = question.papers[: len(packed)]
    text, cited, removed = filter_citations(result.completion.text, supplied_keys())
    if removed:
        log.warning("removed citations of papers not in the context: %s", ", ".join(removed))
    return Answer(question, text, cited, supplied, removed, answer_note(result))


def answer_note(result: TaskResult) -> str | None:
    """What the reader must know about an answer: cut off, or not in the language asked."""
    notes = [result.problem] if result.problem else []
    if result.cut_off:
        notes.append(f"the answer was cut off at the length limit ({result.completion.completion_tokens} tokens)")
    return "; ".join(notes) or None


async def ask(
    library: Library,
    question: str,
    *,
    paper_ref: str | None = None,
    lang: str | None = None,
    caller: Caller | None = None,
    on_text: TextCallback | None = None,
) -> Answer:
    gathered = await gather(library, question, paper_ref=paper_ref, lang=lang, caller=caller)
    return await answer(library, gathered, caller=caller, on_text=on_text)
