"""Slash-command option values: languages (fixed choices), papers and time zones (autocomplete)."""

from __future__ import annotations

from zoneinfo import available_timezones

from discord import app_commands

from bot.services.chunks import fit
from bot.services.language import COMMON_LANGUAGES, LANGUAGE_ALIASES, LANGUAGE_NAMES
from bot.services.papers import papers_starting_with

MAX_CHOICES = 25  # Discord's limit


async def paper_choices(bot, current: str) -> list[app_commands.Choice[str]]:
    """Papers matching what the member has typed so far (an id prefix or part of a title)."""
    matches = await papers_starting_with(bot.lib.db, current, MAX_CHOICES)
    return [app_commands.Choice(name=fit(label, 100), value=key) for key, label in matches]


# Slash commands offer languages as a fixed list (Discord allows 25 choices): one entry per
# language, aliases such as zh-CN left out. The prefix form of a command takes any BCP-47 tag.
_OFFERED = list(COMMON_LANGUAGES) + [t for t in LANGUAGE_NAMES if t not in COMMON_LANGUAGES and t not in LANGUAGE_ALIASES]
LANGUAGE_CHOICES = [app_commands.Choice(name=f"{LANGUAGE_NAMES[t]} ({t})", value=t) for t in _OFFERED[:MAX_CHOICES]]


# Read once: the zone database does not change while the bot runs, and autocomplete asks on
# every keystroke (listing it reads some 600 files).
ZONES = tuple(sorted(available_timezones()))


def timezone_choices(current: str) -> list[app_commands.Choice[str]]:
    """Zones containing what was typed, those starting with it first."""
    current = current.strip().lower()
    found = [z for z in ZONES if current in z.lower()]
    found.sort(key=lambda z: not z.lower().startswith(current))  # stable: alphabetical within each
    return [app_commands.Choice(name=z, value=z) for z in found[:MAX_CHOICES]]
