"""The reading room in `paperbot console`: the console is one member of its own server
(`CONSOLE_MEMBER`), with a reading list, votes, a language, watches and discussions.

`/discuss PAPER` starts a discussion: lines that are not commands are then questions about
that paper, answered with the discussion so far as context, until `/end`.
"""

from __future__ import annotations

import argparse

from bot.services import votes, watches
from bot.services.discussion import Turn, discuss
from bot.services.library import Library
from bot.services.members import CONSOLE_MEMBER, Member, forget_member, language_line, member_language, set_member_language
from bot.services.messages import answer_messages
from bot.services.papers import PaperDetail, paper_detail, resolve_paper
from bot.services.reading_messages import (
    in_language_messages,
    paper_line,
    reading_list_messages,
    saved_message,
    top_messages,
    watches_and_news_messages,
)
from bot.services.translations import read_in_language

HELP = """Reading room (you are one member):
  /discuss ID_OR_TITLE   then type questions about it; /end finishes
  /save ID, /unsave ID, /readinglist, /vote ID, /unvote ID
  /top [DAYS] [TOPIC]     (or --days N, --topic T)
  /read ID [--lang L]    the paper in your language
  /me, /me language L, /me forget
  /watch add TOPIC_OR_AUTHOR, /watch list, /watch remove N"""


def parsers(make) -> dict[str, argparse.ArgumentParser]:
    """The reading room's command parsers, built with the console's parser factory."""
    return {
        "discuss": make("discuss", "ref", {}),
        "end": make("end", None, {}),
        "save": make("save", "ref", {}),
        "unsave": make("unsave", "ref", {}),
        "vote": make("vote", "ref", {}),
        "unvote": make("unvote", "ref", {}),
        "readinglist": make("readinglist", None, {}),
        "top": make("top", "words", {"--days": {"type": int}, "--topic": {}}, optional=True),
        "read": make("read", "ref", {"--lang": {}}),
        "me": make("me", "words", {}, optional=True),
        "watch": make("watch", "words", {}, optional=True),
    }


def _top_period(args) -> tuple[int, str | None]:
    """`/top [DAYS] [TOPIC]` as on Discord: a leading number is the period, the words after it
    the topic; --days and --topic say the same and win when given."""
    words = list(args.words or [])
    days = int(words.pop(0)) if words and words[0].isdigit() else None
    if args.days is not None and days is not None:
        raise votes.ReadingError("give the period once: /top DAYS or /top --days DAYS")
    if args.topic is not None and words:
        raise votes.ReadingError("give the topic once: /top DAYS TOPIC or /top --topic TOPIC")
    days = args.days if args.days is not None else days
    return (votes.TOP_DAYS if days is None else days), (args.topic or " ".join(words) or None)


class ReadingRoom:
    def __init__(self, library: Library, member: Member = CONSOLE_MEMBER):
        self.library = library
        self.member = member
        self.discussing: PaperDetail | None = None
        self.exchange: list[Turn] = []
        self.handlers = {
            "discuss": self.discuss, "end": self.end, "save": self.save, "unsave": self.unsave,
            "vote": self.vote, "unvote": self.unvote, "readinglist": self.readinglist, "top": self.top,
            "read": self.read, "me": self.me, "watch": self.watch,
        }

    async def _paper(self, words: list[str]) -> PaperDetail:
        return await paper_detail(self.library.db, await resolve_paper(self.library.db, " ".join(words)))

    async def discuss(self, args) -> list[str]:
        self.discussing, self.exchange = await self._paper(args.ref), []
        return [f"💬 Discussing {paper_line(self.discussing)}\nType questions about it; /end finishes."]

    async def end(self, args) -> list[str]:
        if self.discussing is None:
            return ["No discussion to end: /discuss PAPER starts one."]
        title, self.discussing, self.exchange = self.discussing.title, None, []
        return [f"Discussion of “{title}” ended."]

    async def question(self, text: str) -> list[str]:
        """A line typed during a discussion: answered about the paper, and kept as context."""
        assert self.discussing is not None
        lang = await member_language(self.library.db, self.member.user_id)
        answer = await discuss(self.library, self.discussing, text, self.exchange, lang=lang)
        self.exchange += [Turn("member", text), Turn("paperbot", answer.text)]
        return answer_messages(answer)

    async def save(self, args) -> list[str]:
        paper, changed = await votes.save(self.library.db, self.member, " ".join(args.ref))
        return [saved_message(paper, True, changed)]

    async def unsave(self, args) -> list[str]:
        paper, changed = await votes.unsave(self.library.db, self.member, " ".join(args.ref))
        return [saved_message(paper, False, changed)]

    async def _vote(self, words: list[str], voted: bool) -> list[str]:
        paper = await self._paper(words)
        changed = await votes.set_vote(self.library.db, self.member, paper.id, voted)
        if voted:
            return [("👍 Voted for " if changed else "You already voted for ") + paper_line(paper)]
        return [("Vote withdrawn: " if changed else "You had not voted for ") + paper_line(paper)]

    async def vote(self, args) -> list[str]:
        return await self._vote(args.ref, True)

    async def unvote(self, args) -> list[str]:
        return await self._vote(args.ref, False)

    async def readinglist(self, args) -> list[str]:
        return reading_list_messages(await votes.reading_list(self.library.db, self.member))

    async def top(self, args) -> list[str]:
        days, topic = _top_period(args)
        papers = await votes.top(self.library.db, self.member.guild_id, days=days, topic=topic)
        return top_messages(papers, days, topic)

    async def read(self, args) -> list[str]:
        paper_id = await resolve_paper(self.library.db, " ".join(args.ref))
        lang = args.lang or await member_language(self.library.db, self.member.user_id) or "en"
        return in_language_messages(await read_in_language(self.library, paper_id, lang))

    async def me(self, args) -> list[str]:
        words = args.words or []
        db, user = self.library.db, self.member.user_id
        if not words:
            return [language_line(await member_language(db, user))]
        if words[0] == "language" and len(words) == 2:
            return [language_line(await set_member_language(db, user, words[1]))]
        if words == ["forget"]:
            removed = await forget_member(db, user)
            self.discussing, self.exchange = None, []
            return [f"Forgotten: {removed} records about you (votes, reading list, watches, language) deleted."]
        return ["Use /me, /me language L (e.g. ko, zh, zh-Hant, de) or /me forget."]

    async def watch(self, args) -> list[str]:
        words = args.words or ["list"]
        action, rest = words[0], " ".join(words[1:])
        if action == "add" and rest:
            watch = await watches.add_watch(self.library, self.member, rest)
            return [f"🔔 Watching “{watch.query}”: new papers that match will be shown here."]
        if action == "remove" and rest:
            watch = await watches.remove_watch(self.library.db, self.member, rest)
            return [f"No longer watching “{watch.query}”."]
        if action == "list" and not rest:
            notifier = watches.CollectingNotifier()
            await watches.deliver_pending(self.library, notifier, [self.member.guild_id])
            listed = await watches.list_watches(self.library.db, self.member)
            return watches_and_news_messages(listed, notifier.deliveries)
        return ["Use /watch add TOPIC_OR_AUTHOR, /watch list or /watch remove N."]
