"""Members of a reading group: who they are to the store, their language, forgetting them.

A member is a user in one server: reading lists, votes and watches are per server. The console
is one member of its own server, CONSOLE_MEMBER. A member's language belongs to the person
and is the same in every server.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.services.language import language_name, normalize_tag
from bot.store import Database


@dataclass(frozen=True)
class Member:
    guild_id: str
    user_id: str


CONSOLE_MEMBER = Member("console", "console")

# Every table that holds something about a member, for `forget`.
_MEMBER_TABLES = ("paper_votes", "reading_list", "watch_matches", "watches")


async def member_language(db: Database, user_id: str) -> str | None:
    return await db.fetchval("SELECT lang FROM member_languages WHERE user_id = ?", (user_id,))


async def set_member_language(db: Database, user_id: str, lang: str) -> str:
    """Store a member's language (a BCP-47 tag, normalized); UnknownLanguage when it is not one."""
    lang = normalize_tag(lang)
    await db.execute(
        "INSERT INTO member_languages (user_id, lang) VALUES (?, ?) "
        "ON CONFLICT (user_id) DO UPDATE SET lang = excluded.lang",
        (user_id, lang),
    )
    return lang


def language_line(lang: str | None) -> str:
    if lang is None:
        return "No language set: answers follow the server's or the question's language."
    return f"Your language: {language_name(lang)} ({lang})."


async def forget_member(db: Database, user_id: str) -> int:
    """Delete everything stored about a user, in every server; returns how many rows went."""
    removed = 0
    async with db.transaction() as conn:
        for table in (*_MEMBER_TABLES, "member_languages"):
            cursor = await conn.execute(f"DELETE FROM {table} WHERE user_id = ?", (user_id,))  # noqa: S608 - fixed names
            removed += cursor.rowcount
    return removed


def language_from_locale(locale: str) -> str:
    """A chat client's locale as the language to read in: `zh-TW` -> `zh-Hant`, `zh-CN` ->
    `zh`, otherwise the base language (`en-US` -> `en`, `pt-BR` -> `pt`)."""
    tag = normalize_tag(locale)
    if tag in ("zh-TW", "zh-HK", "zh-Hant"):
        return "zh-Hant"
    return tag.split("-")[0]


async def reading_language(db: Database, user_id: str, locale: str | None) -> str:
    """The language a member reads in: theirs when set, else their chat client's, else English."""
    return await member_language(db, user_id) or (language_from_locale(locale) if locale else "en")
