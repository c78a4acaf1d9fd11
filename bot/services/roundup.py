"""The daily roundup: the papers of one digest date, ranked, each with a short summary in the
reader's language, cut into chat-sized blocks.

Summaries ("blurbs") are written by the LLM several papers per request and stored, so a roundup
asked again, or posted to several servers in one language, costs nothing more. Without an LLM,
or when it fails, the roundup still goes out: stored summaries in the language when there are
some, else the opening of the English abstract, flagged as untranslated.

A reply in the wrong shape degrades visibly: the blurbs that parse and are in the language are
kept; the others are asked for once more with a firmer instruction, and what is still missing is
recorded with its reason (no usable line, cut off, wrong language), so a rerun the same day
neither pays for those papers again nor leaves an untranslated entry without its reason.
"""

from __future__ import annotations

import json
import logging
import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import date as Date

from bot.corpus.text import markdown_to_text
from bot.errors import PaperbotError
from bot.llm.client import Caller, Usage
from bot.llm.errors import LLMError, LLMNotConfigured
from bot.llm.prompts import load_prompt
from bot.llm.task import run_task
from bot.llm.tokens import truncate_to_tokens
from bot.services.chunks import CHAT_LIMIT, escape_markdown, fit
from bot.services.context import source_text
from bot.services.language import language_name, normalize_tag, written_in
from bot.services.library import Library
from bot.services.papers import PaperDetail, paper_details
from bot.services.summaries import store_summaries
from bot.services.votes import SAVE_EMOJI, VOTE_EMOJI, group_interest
from bot.store import Database

log = logging.getLogger(__name__)

ROUNDUP_LIMIT = 8  # papers in a roundup asked for without a limit, on every front end
BLURB_KIND = "roundup_blurb"
GROUP_RANKING_CANDIDATES = 500  # papers of the day ranked by a server's votes before the cut
BLURBS_PER_REQUEST = 5
BLURB_OUTPUT_TOKENS = 180  # per paper: three sentences of Korean or Chinese fit
BLURB_SOURCE_TOKENS = 400  # per paper: the abstract, or the opening of a long summary
LISTING_OVERHEAD_TOKENS = 24  # per paper: its number, title line and separator (tiktoken)
NO_LINE = "the model's reply had no usable line for it"
CUT_OFF = "the model's reply was cut off before it"
FALLBACK_CHARS = 320
# `[1] text`, and the variants small models write: `1. text`, `**[1]** text`, `(1): text`
_NUMBERED_LINE = re.compile(r"^[ \t*]*[\[(]?(\d+)[\]).:][ \t*]*[:\-–]?[ \t]*(\S.*?)[ \t]*$", re.MULTILINE)
CJK_SENTENCE_ENDS = ("。", "！", "？")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|(?<=[。！？])")
# The header's last line where reactions count (a server: they are recorded per member there,
# and taken back with the reaction); not in DMs, the console or the CLI.
REACTIONS_HINT = f"-# React {VOTE_EMOJI} to an entry to vote for it (/top), {SAVE_EMOJI} to save it to your /readinglist."


class RoundupError(PaperbotError, ValueError):
    """A roundup that cannot be made from what the reader asked (a bad date, an empty library)."""


@dataclass
class RoundupEntry:
    paper: PaperDetail
    summary: str
    translated: bool  # the summary is in the roundup's language
    reason: str | None = None  # why not, when it is not

    @property
    def code_url(self) -> str | None:
        return next((link["url"] for link in self.paper.links if link["kind"] == "code"), None)

    def render(self, number: int) -> str:
        title = escape_markdown(self.paper.title)
        votes = f" · {self.paper.votes} votes" if self.paper.votes else ""
        lines = [f"**{number}. {title}**{votes}"]
        if self.paper.url:
            lines.append(f"<{self.paper.url}>")
        if not self.summary:
            lines.append("*(no abstract or summary in the library yet)*")
        else:
            lines.append(self.summary + ("" if self.translated else " *(untranslated)*"))
        extras = []
        if self.paper.topics:
            extras.append("Topics: " + ", ".join(escape_markdown(t) for t in self.paper.topics))
        if self.code_url:
            extras.append(f"Code: <{self.code_url}>")
        if extras:
            lines.append(" · ".join(extras))
        return "\n".join(lines)

    def to_json(self) -> dict:
        return {
            **self.paper.reference(),
            "summary": self.summary,
            "translated": self.translated,
            "reason": self.reason,
            "topics": self.paper.topics,
            "code": self.code_url,
            "votes": self.paper.votes,
        }


@dataclass
class RoundupBlock:
    """One chat message of a roundup, with the entries it holds as (entry number, paper id), so
    a front end can put a button per entry without reading the text back."""

    text: str
    papers: list[tuple[int, int]]

    @property
    def paper(self) -> int | None:
        """The paper a message of exactly one entry is about: a 👍 or 🔖 on it names that paper."""
        return self.papers[0][1] if len(self.papers) == 1 else None


@dataclass
class Roundup:
    date: str | None
    lang: str
    topic: str | None
    entries: list[RoundupEntry]
    note: str | None = None  # why entries are untranslated, when they are
    usage: Usage = field(default_factory=Usage)
    in_server: bool = False  # posted in a server, where 👍 and 🔖 on an entry count

    @property
    def untranslated(self) -> int:
        return sum(1 for entry in self.entries if not entry.translated)

    @property
    def blocks(self) -> list[str]:
        """Chat-ready messages of at most 2,000 characters: a header, then one per entry."""
        return [block.text for block in self.posts]

    @property
    def posts(self) -> list[RoundupBlock]:
        """`blocks` with the paper of each entry's message. One message per entry, so that a
        reaction on it (👍 worth reading, 🔖 save) is about exactly one paper."""
        if not self.entries:
            return []
        about = f" · {escape_markdown(self.topic)}" if self.topic else ""
        header = [f"📰 **Paper roundup · {self.date}**{about} · {len(self.entries)} paper{'s' if len(self.entries) != 1 else ''} · {language_name(self.lang)}"]
        if self.untranslated:
            header.append(
                f"*{self.untranslated} of {len(self.entries)} summaries are not in "
                f"{language_name(self.lang)}{': ' + self.note if self.note else ''}.*"
            )
        hint = "\n" + REACTIONS_HINT if self.in_server else ""  # kept whole: a long note gives way
        return [RoundupBlock(fit("\n".join(header), CHAT_LIMIT - len(hint)) + hint, [])] + [
            RoundupBlock(fit(entry.render(number), CHAT_LIMIT), [(number, entry.paper.id)])
            for number, entry in enumerate(self.entries, start=1)
        ]

    @property
    def empty_message(self) -> str:
        """What a reader sees when the date has no papers (under the topic, if one was given)."""
        about = f" under topic “{self.topic}”" if self.topic else ""
        return f"No papers in the digests dated {self.date}{about}."

    def to_json(self) -> dict:
        return {
            "date": self.date,
            "lang": self.lang,
            "topic": self.topic,
            "blocks": self.blocks,
            "papers": [entry.to_json() for entry in self.entries],
            "untranslated": self.untranslated,
            "note": self.note,
            "usage": self.usage.to_json(),
        }


async def latest_digest_date(db: Database, on_or_before: str | None = None) -> str | None:
    """The newest digest date, or the newest not after `on_or_before` (a server's local today:
    a digest dated in its future must not become its roundup)."""
    return await db.fetchval(
        "SELECT max(digest_date) FROM digests WHERE ? IS NULL OR digest_date <= ?", (on_or_before, on_or_before)
    )


async def ranked_papers(db: Database, day: str, topic: str | None, limit: int) -> list[int]:
    """Papers of the digests dated `day`: most votes first, then mentioned by more digests,
    then the most recent."""
    pattern = None
    if topic:
        pattern = "%" + re.sub(r"([%_\\])", r"\\\1", topic.strip()) + "%"
    rows = await db.fetchall(
        """
        SELECT p.id FROM papers p
        JOIN paper_digests pd ON pd.paper_id = p.id
        JOIN digests d ON d.id = pd.digest_id
        WHERE d.digest_date = :day
          AND (:pattern IS NULL OR EXISTS (
                SELECT 1 FROM paper_topics t
                WHERE t.paper_id = p.id AND t.topic LIKE :pattern ESCAPE '\\'))
        GROUP BY p.id
        ORDER BY coalesce(p.votes, -1) DESC,
                 (SELECT count(*) FROM paper_digests x WHERE x.paper_id = p.id) DESC,
                 p.published DESC, p.id
        LIMIT :limit
        """,
        {"day": day, "pattern": pattern, "limit": limit},
    )
    return [row[0] for row in rows]


def opening(text: str, max_chars: int = FALLBACK_CHARS) -> str:
    """The first sentences of a text as prose (a digest's Markdown flattened), at most three and
    about `max_chars` characters."""
    out = ""
    for sentence in _SENTENCE_END.split(" ".join(markdown_to_text(text, headings=False).split()))[:3]:
        sentence = sentence.strip()
        if not sentence:
            continue
        joined = out + ("" if not out or out.endswith(CJK_SENTENCE_ENDS) else " ") + sentence
        if out and len(joined) > max_chars:
            break
        out = joined
    return fit(out, max_chars)


# Stored texts in the order their opening reads as a roundup blurb: a digest's structured
# summary comes last, since it often opens with metadata (title, authors, affiliation) rather
# than what the paper does.
BLURB_SOURCES = ("roundup_blurb", "brief", "summary", "abstract_translation", "highlights", "takeaways",
                 "structured_summary")


# A section heading of a structured summary: `### 作者信息`, `**Authors**`, `1. **论文标题**`.
_SECTION_HEADING = re.compile(r"^\s*(?:#{1,6}\s*.*|(?:\d+[.)]\s*)?\*\*[^*\n]+\*\*\s*[:：]?\s*)$", re.MULTILINE)
# Sections that say who and what, not what the paper does: left out of a one-paragraph blurb.
_METADATA_HEADING = re.compile(
    r"标题|題|作者|机构|機構|单位|标签|標籤|关键|關鍵|链接|title|author|affiliation|tag|keyword|link|제목|저자|소속|키워드|태그",
    re.IGNORECASE,
)


def without_metadata_sections(text: str) -> str:
    """A structured summary without its title, author, affiliation, tag and link sections, so
    that its opening says what the paper does (the whole text when nothing else is left)."""
    headings = list(_SECTION_HEADING.finditer(text))
    if not headings:
        return text
    kept = [text[: headings[0].start()]]
    for heading, following in zip(headings, headings[1:] + [None]):
        body = text[heading.end(): following.start() if following else len(text)]
        if not _METADATA_HEADING.search(heading.group(0)):
            kept.append(heading.group(0) + body)
    rest = "".join(kept).strip()
    return rest or text


def stored_entry(paper: PaperDetail, lang: str) -> RoundupEntry:
    """An entry from what is stored, without the LLM: the reader's language when possible."""
    # a reader of Simplified Chinese reads Traditional too: the same base language will do
    in_lang = [s for s in paper.summaries if s.lang == lang] or [
        s for s in paper.summaries if s.lang.split("-")[0] == lang.split("-")[0]
    ]
    in_lang.sort(key=lambda s: BLURB_SOURCES.index(s.kind) if s.kind in BLURB_SOURCES else len(BLURB_SOURCES))
    if in_lang:
        best = in_lang[0]
        text = without_metadata_sections(best.text) if best.kind == "structured_summary" else best.text
        return RoundupEntry(paper, opening(text), True)
    text = source_text(paper)
    in_english = bool(paper.abstract)
    translated = in_english and lang.split("-")[0] == "en"
    return RoundupEntry(paper, opening(text) if text else "", translated)


def parse_blurbs(reply: str, count: int) -> dict[int, str]:
    """`[n] text` lines of a reply, by 0-based position; numbers out of range are ignored."""
    blurbs = {}
    for match in _NUMBERED_LINE.finditer(reply):
        number = int(match.group(1))
        if 1 <= number <= count and match.group(2):
            blurbs.setdefault(number - 1, match.group(2))
    return blurbs


@dataclass
class Blurbs:
    """What the LLM gave for a roundup's papers: summaries by paper id, and for the papers it
    gave no usable summary, why not."""

    written: dict[int, str] = field(default_factory=dict)
    missed: dict[int, str] = field(default_factory=dict)

    def update(self, other: "Blurbs") -> None:
        self.written |= other.written
        self.missed |= other.missed


class _Collector:
    """Checks each reply of one request: keeps the usable blurbs of every reply (so a retry only
    has to fix the rest) and the reason for each paper still missing."""

    def __init__(self, papers: list[PaperDetail], lang: str):
        self.papers, self.lang = papers, lang
        self.good: dict[int, str] = {}
        self.reasons: dict[int, str] = {}

    def __call__(self, reply: str) -> str | None:
        parsed = parse_blurbs(reply, len(self.papers))
        for i in range(len(self.papers)):
            if i in self.good:
                continue
            if i not in parsed:
                self.reasons[i] = NO_LINE
                continue
            verdict = written_in(parsed[i], self.lang)
            if verdict.ok:
                self.good[i] = parsed[i]
                self.reasons.pop(i, None)
            else:
                self.reasons[i] = verdict.reason(self.lang)
        if not self.reasons:
            return None
        return f"{len(self.reasons)} of {len(self.papers)} summaries unusable ({Counter(self.reasons.values()).most_common(1)[0][0]})"


async def write_blurbs(
    library: Library, papers: list[PaperDetail], lang: str, caller: Caller, usage: Usage
) -> Blurbs:
    """Blurbs for `papers` from one LLM request (two when the first reply is partly unusable);
    the usable ones stored for next time, the misses recorded with their reason for today."""
    llm = library.llm()
    sources = [source_text(paper) for paper in papers]

    def listing(budget: int) -> dict[str, str]:
        per_paper = min(BLURB_SOURCE_TOKENS, budget // len(papers) - LISTING_OVERHEAD_TOKENS)
        return {"papers": "\n\n".join(
            f"[{n}] {paper.title}\n{truncate_to_tokens(source, max(per_paper, 0), llm.model)}"
            for n, (paper, source) in enumerate(zip(papers, sources), start=1)
        )}

    collector = _Collector(papers, lang)
    result = await run_task(
        llm,
        "roundup_blurbs",
        caller,
        usage,
        values={"language": language_name(lang)},
        fit=listing,
        max_tokens=min(BLURB_OUTPUT_TOKENS * len(papers), library.settings.max_output_tokens),
        check=collector,
    )
    if result.cut_off:
        collector.reasons = {i: CUT_OFF if reason == NO_LINE else reason for i, reason in collector.reasons.items()}
    if collector.reasons:
        log.warning("roundup reply had %d of %d usable summaries", len(collector.good), len(papers))
    blurbs = Blurbs(
        {papers[i].id: text for i, text in collector.good.items()},
        {papers[i].id: reason for i, reason in collector.reasons.items()},
    )
    tag = result.prompt.cache_tag
    await store_summaries(library.db, [(pid, BLURB_KIND, lang, text, llm.model, tag) for pid, text in blurbs.written.items()])
    await library.db.executemany(
        "INSERT OR REPLACE INTO roundup_misses (paper_id, lang, model, prompt_version, reason) VALUES (?, ?, ?, ?, ?)",
        [(pid, lang, llm.model, tag, reason) for pid, reason in blurbs.missed.items()],
    )
    return blurbs


async def known_blurbs(library: Library, paper_ids: list[int], lang: str) -> Blurbs:
    """Blurbs stored for these papers, and today's recorded misses (not asked for again today)."""
    llm = library.llm()
    prompt_version = load_prompt("roundup_blurbs").cache_tag
    ids = json.dumps(paper_ids)
    rows = await library.db.fetchall(
        "SELECT paper_id, text FROM summaries WHERE kind = ? AND lang = ? AND model = ? "
        "AND prompt_version = ? AND paper_id IN (SELECT value FROM json_each(?)) ORDER BY id",
        (BLURB_KIND, lang, llm.model, prompt_version, ids),
    )
    misses = await library.db.fetchall(
        "SELECT paper_id, reason FROM roundup_misses WHERE lang = ? AND model = ? AND prompt_version = ? "
        "AND day = strftime('%Y-%m-%d', 'now') AND paper_id IN (SELECT value FROM json_each(?))",
        (lang, llm.model, prompt_version, ids),
    )
    return Blurbs({row[0]: row[1] for row in rows}, {row[0]: row[1] for row in misses})


def summarize_reasons(missed: dict[int, str]) -> str:
    """The reasons entries are untranslated, most common first, with how many each."""
    counts = Counter(missed.values()).most_common()
    return "; ".join(reason if n == 1 else f"{reason} ({n} papers)" for reason, n in counts)


def parse_day(day: str) -> str:
    try:
        return Date.fromisoformat(day.strip()).isoformat()
    except ValueError:
        raise RoundupError(f"{day!r} is not a date: use YYYY-MM-DD, e.g. 2024-07-17") from None


async def build_roundup(
    library: Library,
    *,
    day: str | None = None,
    lang: str = "en",
    limit: int = ROUNDUP_LIMIT,
    topic: str | None = None,
    caller: Caller | None = None,
    on_or_before: str | None = None,
    rank_for_guild: str | None = None,
    in_server: bool = False,
) -> Roundup:
    """The roundup of digest date `day` (default: the latest, or the latest dated on or before
    `on_or_before`). With `rank_for_guild`, that server's votes on earlier papers decide the
    order (see `votes.group_interest`). `in_server`: its header says that reactions vote and
    save. Never fails for want of an LLM."""
    lang = normalize_tag(lang)
    if limit < 1:
        raise RoundupError("the roundup needs room for at least one paper (--limit 1 or more)")
    day = parse_day(day) if day else await latest_digest_date(library.db, on_or_before)
    if day is None:
        raise RoundupError("the library has no dated digest yet: run paperbot ingest first")
    if rank_for_guild is None:
        ranked = await ranked_papers(library.db, day, topic, limit)
    else:  # the day's papers closest to what this server voted for first, the digests' order after
        ranked = await ranked_papers(library.db, day, topic, GROUP_RANKING_CANDIDATES)
        interest = await group_interest(library, rank_for_guild, ranked, day)
        ranked = sorted(ranked, key=lambda pid: -interest.get(pid, 0.0))[:limit]
    papers = await paper_details(library.db, ranked)
    result = Roundup(day, lang, topic, [], in_server=in_server)
    if not papers:
        return result
    caller = caller or Caller("roundup")
    blurbs = Blurbs()
    failure: str | None = None
    try:
        blurbs = await known_blurbs(library, [p.id for p in papers], lang)
        missing = [p for p in papers if p.id not in blurbs.written and p.id not in blurbs.missed]
        for start in range(0, len(missing), BLURBS_PER_REQUEST):
            batch = missing[start : start + BLURBS_PER_REQUEST]
            blurbs.update(await write_blurbs(library, batch, lang, caller, result.usage))
    except LLMError as exc:
        # the roundup goes out anyway, from stored text; the reader is told why
        level = logging.INFO if isinstance(exc, LLMNotConfigured) else logging.WARNING
        log.log(level, "roundup without the LLM: %s", exc)
        failure = "no LLM is configured" if isinstance(exc, LLMNotConfigured) else str(exc)
    for paper in papers:
        if paper.id in blurbs.written:
            entry = RoundupEntry(paper, blurbs.written[paper.id], True)
        else:
            entry = stored_entry(paper, lang)
            if not entry.translated:
                entry.reason = blurbs.missed.get(paper.id) or failure or f"no summary in {language_name(lang)} is stored"
        result.entries.append(entry)
    reasons = {e.paper.id: e.reason for e in result.entries if e.reason}
    result.note = summarize_reasons(reasons) if reasons else failure
    return result
