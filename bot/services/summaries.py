"""Fresh summaries in the reader's language, written by the LLM once and kept.

A summary paperbot writes is stored beside the digests' summaries, with the model and the
prompt's version: asking again for the same paper, style and language returns the stored text
with no API call, and a changed prompt or model writes a new one.

Only a whole summary in the language asked for is kept. One cut off by the length limit is
asked for again with more room; one in another language is asked for again with a firmer
instruction. If it is still cut off or in the wrong language, it is shown with a note saying
so, labelled with the language it is really in, and not kept.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.errors import PaperbotError
from bot.corpus.text import text_sha
from bot.errors import PaperbotError
from bot.llm.client import Caller, Usage
from bot.llm.errors import LLMError
from bot.llm.prompts import load_prompt
from bot.llm.task import run_task
from bot.llm.tokens import truncate_to_tokens
from bot.services.context import source_text
from bot.services.language import language_name, language_problem, normalize_tag, written_in
from bot.services.library import Library
from bot.services.papers import PaperDetail, paper_detail, resolve_paper
from bot.store import Database
from bot.store.keyword_index import reindex_papers

# style -> (prompt task, summary kind stored, output tokens it needs)
STYLES = {
    "brief": ("summarize_brief", "brief", 400),
    "structured": ("summarize_structured", "structured_summary", 1200),
}


class NothingToSummarize(PaperbotError, LookupError):
    """The paper has neither an abstract nor a stored summary."""


@dataclass
class FreshSummary:
    paper: PaperDetail
    lang: str
    style: str
    text: str
    model: str
    prompt_version: str
    cached: bool
    usage: Usage
    note: str | None = None  # why this summary was not kept (cut off, wrong language)

    @property
    def complete(self) -> bool:
        return self.note is None

    def to_json(self) -> dict:
        return {
            **self.paper.reference(),
            "lang": self.lang,
            "style": self.style,
            "summary": self.text,
            "model": self.model,
            "prompt_version": self.prompt_version,
            "cached": self.cached,
            "complete": self.complete,
            "note": self.note,
            "usage": self.usage.to_json(),
        }


async def stored_summary(
    db: Database, paper_id: int, kind: str, lang: str, model: str, prompt_version: str
) -> str | None:
    """The newest summary written by this model with this prompt version, if any."""
    return await db.fetchval(
        "SELECT text FROM summaries WHERE paper_id = ? AND kind = ? AND lang = ? AND model = ? "
        "AND prompt_version = ? ORDER BY id DESC LIMIT 1",
        (paper_id, kind, lang, model, prompt_version),
    )


async def store_summaries(db: Database, rows: list[tuple[int, str, str, str, str, str]]) -> None:
    """Keep written summaries: rows of (paper_id, kind, lang, text, model, prompt_version).

    The same text written again moves to the newest model and prompt version. The papers'
    keyword index is refreshed so the new text is searchable.
    """
    if not rows:
        return
    async with db.transaction() as conn:
        await conn.executemany(
            "INSERT INTO summaries (paper_id, kind, lang, text, text_sha, model, prompt_version) "
            "VALUES (?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (paper_id, kind, lang, text_sha) DO UPDATE SET "
            "model = excluded.model, prompt_version = excluded.prompt_version",
            [(pid, kind, lang, text, text_sha(text), model, version) for pid, kind, lang, text, model, version in rows],
        )
        await reindex_papers(conn, sorted({row[0] for row in rows}))


async def summarize(
    library: Library,
    ref: str,
    *,
    lang: str = "en",
    style: str = "brief",
    fresh: bool = False,
    caller: Caller | None = None,
) -> FreshSummary:
    """A summary of one paper in `lang`: the stored one unless `fresh`, else written now.

    Raises PaperNotFound, NothingToSummarize, UnknownLanguage, or an LLMError (one line each).
    """
    if style not in STYLES:
        raise PaperbotError(f"unknown style {style!r}; choose brief or structured")
    lang = normalize_tag(lang)
    task, kind, output_tokens = STYLES[style]
    paper = await paper_detail(library.db, await resolve_paper(library.db, ref))
    source = source_text(paper)
    if not source:
        raise NothingToSummarize(f"{paper.title!r} has no abstract or summary to work from")
    llm = library.llm()
    prompt = load_prompt(task)
    usage = Usage()
    if not fresh:
        text = await stored_summary(library.db, paper.id, kind, lang, llm.model, prompt.cache_tag)
        if text is not None:
            return FreshSummary(paper, lang, style, text, llm.model, prompt.cache_tag, True, usage)

    result = await run_task(
        llm,
        task,
        caller or Caller("summarize"),
        usage,
        values={"language": language_name(lang), "title": paper.title},
        fit=lambda budget: {"source": truncate_to_tokens(source, budget, llm.model)},
        max_tokens=min(output_tokens, library.settings.max_output_tokens),
        check=lambda text: language_problem(text, lang),
        grow_output=True,
    )
    text = result.text
    if not text:
        raise LLMError(f"the model ({llm.model}) returned an empty summary; try again with --fresh")
    if result.problem:
        written = written_in(text, lang).found or "und"
        note = f"{result.problem}; shown as written and not kept"
        return FreshSummary(paper, written, style, text, llm.model, prompt.cache_tag, False, usage, note)
    if result.cut_off:
        note = (
            f"cut off at the model's length limit ({result.completion.completion_tokens} tokens); not kept: "
            "raise PAPERBOT_MAX_OUTPUT_TOKENS or try --style brief"
        )
        return FreshSummary(paper, lang, style, text, llm.model, prompt.cache_tag, False, usage, note)
    await store_summaries(library.db, [(paper.id, kind, lang, text, llm.model, prompt.cache_tag)])
    return FreshSummary(paper, lang, style, text, llm.model, prompt.cache_tag, False, usage)
