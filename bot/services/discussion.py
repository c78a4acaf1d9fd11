"""A discussion of one paper: one thread per paper per channel, and answers grounded in the
paper with the thread's recent exchange as context.

The prompt holds, within the budget, the paper's whole stored text first (it is what answers
are cited from), then as many of the latest exchanges as still fit, newest kept first.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from bot.llm.client import Caller, TextCallback
from bot.llm.prompts import load_prompt
from bot.llm.tokens import count_message_tokens, count_tokens, pack, truncate_to_tokens
from bot.services.context import citation_keys, filter_citations, paper_block, paper_label
from bot.services.language import guess_language, language_name, normalize_tag
from bot.services.library import Library
from bot.services.papers import PaperDetail
from bot.services.qa import Answer, Question
from bot.store import Database

log = logging.getLogger(__name__)

# Of the room left for context, the paper may take this share; the exchange gets the rest
# (and whatever the paper leaves unused).
PAPER_SHARE = 0.7
RECENT_TURNS = 12  # lines of the exchange considered before the token budget cuts more
MAX_TURN_CHARS = 1500
# Each rendering draws a fresh fence nonce, which tokenizes to a few tokens more or less than
# the one measured; joins at token boundaries can add a token each.
RENDERING_SLACK = 24


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
    prompt = load_prompt("discuss")
    values = {"language": language_name(lang), "question": question, "label": paper_label(paper)}
    overhead = count_message_tokens(prompt.render(**values, context="", exchange=""), llm.model)
    room = llm.prompt_budget() - overhead - RENDERING_SLACK
    block = paper_block(paper, full=True)
    paper_room = max(room - min(room * (1 - PAPER_SHARE), sum(count_tokens(t.line(), llm.model) for t in exchange)), 0)
    context = await asyncio.to_thread(truncate_to_tokens, block, int(paper_room), llm.model)
    lines = await asyncio.to_thread(
        exchange_lines, exchange, room - count_tokens(context, llm.model), llm.model
    )
    completion = await llm.complete(
        prompt.render(**values, context=context, exchange="\n".join(lines) or "(none yet)"),
        caller or Caller("discuss"),
        on_text=on_text,
    )
    asked = Question(question, lang, [paper], full_text=True)
    asked.usage.add(completion)
    text, cited, removed = filter_citations(completion.text, {key: paper for key in citation_keys(paper)})
    if removed:
        log.warning("removed citations of papers not in the discussion: %s", ", ".join(removed))
    return Answer(asked, text, cited, [paper], removed)


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
