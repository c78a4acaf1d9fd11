"""Chat-ready text for the reading room (top papers, reading lists, watches, a paper in the
reader's language), shared by the Discord bot and the console like `messages.py`."""

from __future__ import annotations

from bot.services.chunks import escape_markdown, fit, pack_entries, split_message
from bot.services.language import language_name
from bot.services.messages import link
from bot.services.papers import PaperDetail
from bot.services.translations import InLanguage
from bot.services.votes import SavedPaper, TopPaper
from bot.services.watches import Delivery, Watch


def paper_line(paper: PaperDetail) -> str:
    return f"{escape_markdown(fit(paper.title, 200))} · {link(paper.key, paper.arxiv_id)}"


def top_messages(papers: list[TopPaper], days: int, topic: str | None) -> list[str]:
    about = f" on “{escape_markdown(fit(topic, 100))}”" if topic else ""
    if not papers:
        return [f"No votes{about} in the last {days} days yet: react 👍 to a paper worth reading."]
    entries = [f"🏆 **Top papers{about}, last {days} days**"]
    for number, top in enumerate(papers, start=1):
        counts = f"👍 {top.votes}" + (f" · 🔖 {top.saves}" if top.saves else "")
        entries.append(f"**{number}.** {paper_line(top.paper)} · {counts}")
    return pack_entries(entries, separator="\n")


def reading_list_messages(saved: list[SavedPaper], whose: str = "Your") -> list[str]:
    if not saved:
        return [f"{whose} reading list is empty: react 🔖 to a paper, or /save it."]
    entries = [f"🔖 **{whose} reading list** · {len(saved)} paper{'s' if len(saved) != 1 else ''}"]
    entries += [f"**{n}.** {paper_line(item.paper)}" for n, item in enumerate(saved, start=1)]
    return pack_entries(entries, separator="\n")


def saved_message(paper: PaperDetail, saved: bool, changed: bool) -> str:
    if saved:
        return ("🔖 Saved: " if changed else "Already on your reading list: ") + paper_line(paper)
    return ("Removed from your reading list: " if changed else "Not on your reading list: ") + paper_line(paper)


def watch_list_messages(watches: list[Watch]) -> list[str]:
    if not watches:
        return ['You watch nothing yet: /watch add "a topic or an author" to hear about new papers.']
    entries = ["🔔 **Your watches** (new papers that match come to you, a few a day)"]
    entries += [f"**{n}.** {escape_markdown(w.query)}" for n, w in enumerate(watches, start=1)]
    return pack_entries(entries, separator="\n")


def delivery_messages(delivery: Delivery, where: str | None = None) -> list[str]:
    """A member's watch matches, as a DM (or the console's note)."""
    head = "🔔 New papers for your watches" + (f" in {escape_markdown(where)}" if where else "")
    entries = [head]
    entries += [f"• {paper_line(paper)} — “{escape_markdown(fit(query, 80))}”" for paper, query in delivery.papers]
    if delivery.capped:
        entries.append(f"-# and {delivery.capped} more today, over your daily limit")
    return pack_entries(entries, separator="\n")


def watches_and_news_messages(listed: list[Watch], deliveries: list[Delivery]) -> list[str]:
    """`/watch list` where the member is answered in place (console, CLI): their watches, then
    what the watches found since last time."""
    return watch_list_messages(listed) + [message for delivery in deliveries for message in delivery_messages(delivery)]


def roundup_watch_line(deliveries: list[Delivery]) -> list[str]:
    """The roundup's daily line for members whose DMs are closed (mentions are off: no ping)."""
    entries = [
        f"🔔 <@{d.member.user_id}>: " + "; ".join(paper_line(paper) for paper, _ in d.papers)
        for d in deliveries
        if d.papers
    ]
    return pack_entries(entries, separator="\n") if entries else []


def in_language_messages(result: InLanguage) -> list[str]:
    head = f"**{escape_markdown(result.paper.title)}** · {link(result.paper.key, result.paper.arxiv_id)}"
    origin = "stored" if result.cached else "new"
    foot = f"-# {language_name(result.lang)} · {origin} text from {escape_markdown(result.source)}"
    return pack_entries([head] + split_message(result.text) + [foot])
