"""Languages: guess the language of a question, and name a BCP-47 tag for the model.

The model is told a language by name ("Traditional Chinese"), not by tag: names are what models
follow reliably. Guessing is by script, which is all a short chat question reliably shows.
"""

from __future__ import annotations

from bot.errors import PaperbotError
import re

from bot.corpus.language import guess_language  # noqa: F401 - part of this module's interface

LANGUAGE_NAMES = {
    "en": "English",
    "zh": "Simplified Chinese",
    "zh-Hans": "Simplified Chinese",
    "zh-CN": "Simplified Chinese",
    "zh-Hant": "Traditional Chinese",
    "zh-TW": "Traditional Chinese",
    "zh-HK": "Traditional Chinese",
    "ko": "Korean",
    "ja": "Japanese",
    "de": "German",
    "fr": "French",
    "es": "Spanish",
    "it": "Italian",
    "pt": "Portuguese",
    "pt-BR": "Brazilian Portuguese",
    "ru": "Russian",
    "uk": "Ukrainian",
    "pl": "Polish",
    "nl": "Dutch",
    "sv": "Swedish",
    "tr": "Turkish",
    "ar": "Arabic",
    "he": "Hebrew",
    "fa": "Persian",
    "hi": "Hindi",
    "bn": "Bengali",
    "vi": "Vietnamese",
    "th": "Thai",
    "id": "Indonesian",
}

# Languages offered first in chat; the aliases are other spellings of a language listed.
COMMON_LANGUAGES = ("en", "zh", "zh-Hant", "ko", "ja", "de", "fr", "es", "pt", "ru", "it", "vi")
LANGUAGE_ALIASES = frozenset({"zh-Hans", "zh-CN", "zh-TW", "zh-HK"})

_TAG = re.compile(r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$")


class UnknownLanguage(PaperbotError, ValueError):
    pass


def normalize_tag(tag: str) -> str:
    """A BCP-47 tag in its usual casing (`zh-hant` -> `zh-Hant`), or UnknownLanguage."""
    tag = tag.strip().replace("_", "-")
    if not _TAG.match(tag):
        raise UnknownLanguage(f"{tag!r} is not a language tag (try en, zh, zh-Hant, ko, ja, de)")
    parts = tag.split("-")
    out = [parts[0].lower()]
    for part in parts[1:]:
        out.append(part.title() if len(part) == 4 else part.upper() if len(part) == 2 else part.lower())
    return "-".join(out)


def language_name(tag: str) -> str:
    """What to call the language in a prompt; an unknown but well-formed tag is named by itself."""
    tag = normalize_tag(tag)
    return LANGUAGE_NAMES.get(tag) or LANGUAGE_NAMES.get(tag.split("-")[0]) or f"the language with BCP-47 tag {tag}"
