"""Autocomplete for slash-command options: papers by id or title, languages, time zones."""

from __future__ import annotations

from zoneinfo import available_timezones

from discord import app_commands

from bot.services.chunks import fit
from bot.services.language import COMMON_LANGUAGES, LANGUAGE_NAMES

MAX_CHOICES = 25  # Discord's limit


async def paper_choices(bot, current: str) -> list[app_commands.Choice[str]]:
    """Papers matching what the member has typed so far (an id prefix or part of a title)."""
    db = bot.lib.db
    current = current.strip()
    if not current:
        rows = await db.fetchall(
            "SELECT arxiv_id, title_hash, title FROM papers ORDER BY published DESC, id DESC LIMIT ?",
            (MAX_CHOICES,),
        )
    else:
        rows = await db.fetchall(
            "SELECT arxiv_id, title_hash, title FROM papers WHERE arxiv_id LIKE ? || '%' "
            "OR title LIKE '%' || ? || '%' ORDER BY arxiv_id LIKE ? || '%' DESC, published DESC LIMIT ?",
            (current, current, current, MAX_CHOICES),
        )
    return [
        app_commands.Choice(
            name=fit(f"{row['arxiv_id'] or 'no id'} · {row['title']}", 100),
            value=row["arxiv_id"] or f"t-{row['title_hash']}",
        )
        for row in rows
    ]


def language_choices(current: str) -> list[app_commands.Choice[str]]:
    """Common languages first; any BCP-47 tag typed in full is accepted by the commands."""
    current = current.strip().lower()
    tags = list(COMMON_LANGUAGES) + [t for t in LANGUAGE_NAMES if t not in COMMON_LANGUAGES]
    matches = [
        t for t in tags if not current or t.lower().startswith(current) or current in LANGUAGE_NAMES[t].lower()
    ]
    return [app_commands.Choice(name=f"{LANGUAGE_NAMES[t]} ({t})", value=t) for t in matches[:MAX_CHOICES]]


def timezone_choices(current: str) -> list[app_commands.Choice[str]]:
    current = current.strip().lower()
    zones = sorted(z for z in available_timezones() if current in z.lower())
    return [app_commands.Choice(name=z, value=z) for z in zones[:MAX_CHOICES]]
