"""A discussion of one paper: one thread per paper per channel, and answers grounded in the
paper with the thread's recent exchange as context.

The prompt holds, within the budget, the paper's whole stored text first (it is what answers
are cited from), then as many of the latest exchanges as still fit, newest kept first. It runs
as one LLM task (`bot.llm.task.run_task`), checked like an answer to `ask`: citations, cut-off,
language.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from bot.llm.client import Caller, TextCallback
from bot.llm.task import run_task
from bot.llm.tokens import count_tokens, pack, truncate_to_tokens
from bot.services.context import checked_preview, citation_keys, filter_citations, paper_block
from bot.services.language import guess_language, language_name, language_problem, normalize_tag
from bot.services.library import Library
from bot.services.papers import PaperDetail
from bot.services.qa import Answer, Question, answer_note
from bot.store import Database

log = logging.getLogger(__name__)

# Of the room left for context, the paper may take this share; the exchange gets the rest
# (and whatever the paper leaves unused).
PAPER_SHARE = 0.7
RECENT_TURNS = 12  # lines of the exchange considered before the token budget cuts more
MAX_TURN_CHARS = 1500


@dataclass(frozen=True)
class Turn:
    """One message of the exchange: who said it and what."""

    speaker: str
    text: str

    def line(self) -> str:
        return f"{self.speaker}: {' '.join(self.text.split())[:MAX_TURN_CHARS]}"


def exchange_lines(turns: list[Turn], budget: int, model: str) -> list[str]:
    """The latest turns that fit `budget` tokens, oldest first."""
    newest_first = [turn.line() for turn in reversed(turns[-RECENT_TURNS:])]
    return list(reversed(pack(newest_first, budget, model, separator="\n")))


async def discuss(
    library: Library,
    paper: PaperDetail,
    question: str,
    exchange: list[Turn],
    *,
    lang: str | None = None,
    caller: Caller | None = None,
    on_text: TextCallback | None = None,
) -> Answer:
    """An answer about `paper` to `question`, with the exchange so far as context; citations
    of anything but this paper are removed."""
    question = question.strip()
    if not question:
        raise ValueError("ask a question about the paper")
    lang = normalize_tag(lang) if lang else guess_language(question)
    llm = library.llm()
    block = paper_block(paper, full=True)
    exchange_tokens = sum(count_tokens(turn.line(), llm.model) for turn in exchange)
    keys = {key: paper for key in citation_keys(paper)}

    def fit(budget: int) -> dict[str, str]:
        paper_room = max(budget - min(budget * (1 - PAPER_SHARE), exchange_tokens), 0)
        context = truncate_to_tokens(block, int(paper_room), llm.model)
        lines = exchange_lines(exchange, budget - count_tokens(context, llm.model), llm.model)
        return {"context": context, "exchange": "\n".join(lines) or "(none yet)"}

    async def show(text: str) -> None:
        await on_text(checked_preview(text, keys))

    asked = Question(question, lang, [paper], full_text=True)
    result = await run_task(
        llm,
        "discuss",
        caller or Caller("discuss"),
        asked.usage,
        values={"language": language_name(lang), "question": question},
        fit=fit,
        on_text=show if on_text else None,
        check=lambda text: language_problem(text, lang),
    )
    text, cited, removed = filter_citations(result.completion.text, keys)
    if removed:
        log.warning("removed citations of papers not in the discussion: %s", ", ".join(removed))
    return Answer(asked, text, cited, [paper], removed, answer_note(result))


async def thread_for(db: Database, channel_id: str, paper_id: int) -> str | None:
    """The discussion thread of a paper in a channel, when one was opened."""
    return await db.fetchval(
        "SELECT thread_id FROM paper_threads WHERE channel_id = ? AND paper_id = ?", (channel_id, paper_id)
    )


async def remember_thread(db: Database, guild_id: str, channel_id: str, paper_id: int, thread_id: str) -> None:
    """Tie a thread to its paper (replacing a thread that was deleted)."""
    await db.execute(
        "INSERT INTO paper_threads (channel_id, paper_id, guild_id, thread_id) VALUES (?, ?, ?, ?) "
        "ON CONFLICT (channel_id, paper_id) DO UPDATE SET thread_id = excluded.thread_id",
        (channel_id, paper_id, guild_id, thread_id),
    )


async def paper_of_thread(db: Database, thread_id: str) -> int | None:
    return await db.fetchval("SELECT paper_id FROM paper_threads WHERE thread_id = ?", (thread_id,))
