"""Chat-ready text for every command, shared by the Discord bot and the console so that the
console prints exactly what the bot would post. Each function returns messages of at most
2,000 characters, split between entries or paragraphs.
"""

from __future__ import annotations

from bot.retrieval.search import SearchResult
from bot.services.chunks import escape_markdown, fit, pack_entries, split_message
from bot.services.papers import PaperDetail
from bot.services.qa import Answer
from bot.services.summaries import FreshSummary


def link(key: str, arxiv_id: str | None) -> str:
    return f"<https://arxiv.org/abs/{arxiv_id}>" if arxiv_id else f"`{key}`"


def search_lines(results: list[SearchResult]) -> list[str]:
    return [
        f"**{n}.** {escape_markdown(r.title)} · {link(r.key, r.arxiv_id)}"
        + (f" · {r.published}" if r.published else "")
        for n, r in enumerate(results, start=1)
    ]


def search_messages(query: str, results: list[SearchResult]) -> list[str]:
    if not results:
        return [f"No papers match “{fit(query, 200)}”."]
    return pack_entries([f"🔎 Papers for “{fit(escape_markdown(query), 200)}”"] + search_lines(results))


def sources_line(papers: list[PaperDetail]) -> str:
    return "Sources: " + "; ".join(
        f"{escape_markdown(fit(p.title, 120))} {link(p.key, p.arxiv_id)}" for p in papers
    )


def answer_messages(answer: Answer) -> list[str]:
    """The answer split at paragraphs, then its sources (or a note that none was cited)."""
    entries = split_message(answer.text or "(the model gave no answer)")
    if answer.note:
        entries.append(f"-# ⚠️ {answer.note}")
    if answer.citations:
        entries.append(sources_line(answer.citations))
    if answer.question.rewritten_query:
        entries.append(f"-# searched again as: {fit(answer.question.rewritten_query, 200)}")
    return pack_entries(entries)


def summary_messages(summary: FreshSummary) -> list[str]:
    paper = summary.paper
    head = f"**{escape_markdown(paper.title)}** · {link(paper.key, paper.arxiv_id)}"
    origin = "stored" if summary.cached else "new"
    foot = f"-# {origin} summary by {summary.model} ({summary.prompt_version})"
    if summary.note:
        foot = f"-# ⚠️ {summary.note} · written by {summary.model}"
    return pack_entries([head] + split_message(summary.text) + [foot])


def paper_messages(detail: PaperDetail, related: list[SearchResult]) -> list[str]:
    """A paper as plain text (the console; the bot posts the same facts as an embed)."""
    facts = [f"**{escape_markdown(detail.title)}** · {link(detail.key, detail.arxiv_id)}"]
    if detail.authors:
        facts.append("Authors: " + escape_markdown(fit(", ".join(detail.authors), 300)))
    if detail.topics:
        facts.append("Topics: " + ", ".join(escape_markdown(t) for t in detail.topics))
    code = [link_["url"] for link_ in detail.links if link_["kind"] == "code"]
    if code:
        facts.append(f"Code: <{code[0]}>")
    entries = ["\n".join(facts)]
    if detail.abstract:
        entries.append(fit(detail.abstract, 1200))
    languages = sorted({s.lang for s in detail.summaries})
    if languages:
        entries.append("Summaries stored in: " + ", ".join(languages))
    if related:
        entries.append("Related:\n" + "\n".join(search_lines(related)))
    return pack_entries(entries)
