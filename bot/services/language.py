"""Languages: read a language the reader names, name it for the model, and check that a text the
model wrote is in the language asked for.

Tags are real BCP-47 (`langcodes` with `language-data`): `--lang zz-invalid` is refused, and a
language can be named in any language (`Korean`, `한국어`, `Deutsch`). The model is told a
language by name ("Traditional Chinese"), not by tag: names are what models follow reliably.

Checking output: a script tells most languages apart for free (Hangul, kana, Han, Cyrillic,
Arabic, ...); Latin-script languages are told apart by `py3langid` (an offline n-gram model,
about 0.2 ms per paragraph once loaded, ~1 s to load).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache

import langcodes

from bot.corpus.language import chinese_lang_tag, guess_language  # noqa: F401 - part of this module's interface
from bot.errors import PaperbotError

# What the model is told; languages not listed are named by langcodes ("Swahili").
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


class UnknownLanguage(PaperbotError, ValueError):
    pass


def normalize_tag(tag: str) -> str:
    """A valid BCP-47 tag in its usual casing (`zh_hant` -> `zh-Hant`) for a tag or a language
    name in any language (`Korean`, `한국어`); UnknownLanguage for anything else."""
    text = tag.strip()
    hint = "try a BCP-47 tag such as en, zh, zh-Hant, ko, ja, de, or a language's name"
    if not text:
        raise UnknownLanguage(f"no language given ({hint})")
    try:
        language = langcodes.Language.get(langcodes.standardize_tag(text.replace("_", "-")))
    except (langcodes.LanguageTagError, ValueError):
        try:
            language = langcodes.find(text)
        except LookupError:
            raise UnknownLanguage(f"{tag!r} is not a language ({hint})") from None
    if not language.is_valid() or language.language in (None, "und") or not language.has_name_data():
        raise UnknownLanguage(f"{tag!r} is not a language ({hint})")
    return language.to_tag()


def language_name(tag: str) -> str:
    """What to call the language in a prompt or a message, in English."""
    tag = normalize_tag(tag)
    return LANGUAGE_NAMES.get(tag) or LANGUAGE_NAMES.get(tag.split("-")[0]) or langcodes.Language.get(tag).display_name()


# --- is a text in the language asked for? -----------------------------------------------------

_SCRIPTS = {  # script -> characters; languages below say which script they are written in
    "hangul": "\uac00-\ud7af\u1100-\u11ff\u3130-\u318f",
    "kana": "\u3040-\u30ff",
    "han": "\u4e00-\u9fff\u3400-\u4dbf",
    "cyrillic": "\u0400-\u04ff",
    "arabic": "\u0600-\u06ff",
    "hebrew": "\u0590-\u05ff",
    "devanagari": "\u0900-\u097f",
    "bengali": "\u0980-\u09ff",
    "thai": "\u0e00-\u0e7f",
    "greek": "\u0370-\u03ff",
    "latin": "A-Za-z\u00c0-\u024f\u1e00-\u1eff",
}
_SCRIPT_RE = {name: re.compile(f"[{chars}]") for name, chars in _SCRIPTS.items()}
SCRIPT_OF = {
    "ko": "hangul", "ja": "kana", "zh": "han", "ru": "cyrillic", "uk": "cyrillic", "bg": "cyrillic",
    "sr": "cyrillic", "ar": "arabic", "fa": "arabic", "ur": "arabic", "he": "hebrew", "hi": "devanagari",
    "mr": "devanagari", "ne": "devanagari", "bn": "bengali", "th": "thai", "el": "greek",
}
# Text the check ignores: citation labels, links, code, numbers (they are in any language).
_NOISE = re.compile(r"\[[^\]]*\]|https?://\S+|`[^`]*`|\b[\w.-]*\d[\w.-]*\b")
MIN_LETTERS = 24  # shorter than this, no verdict: a model name and two words prove nothing
MIN_DISTINCT_WORDS = 5  # fewer, no verdict on a Latin-script language either
MIN_CONFIDENCE = 0.5  # the identifier's share for another language before it counts as wrong


@dataclass(frozen=True)
class LanguageVerdict:
    ok: bool
    found: str | None  # the language or script the text appears to be in, when it is not ok

    def reason(self, wanted: str) -> str:
        found = f"in {language_name(self.found)}" if self.found and self.found in LANGUAGE_NAMES else "in another language"
        return f"the model wrote {found}, not in {language_name(wanted)}"


@cache
def language_identifier():
    """py3langid's model, loaded once (about a second; `Library.warm_up` loads it at start)."""
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    return LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)


def script_counts(text: str) -> dict[str, int]:
    return {name: len(pattern.findall(text)) for name, pattern in _SCRIPT_RE.items()}


def dominant_script_language(counts: dict[str, int]) -> str | None:
    """A language tag for a text's main script (Latin gives None: the script does not tell)."""
    cjk = counts["hangul"] + counts["kana"] + counts["han"]
    # one CJK character carries about a word: CJK text with English terms is still CJK
    if cjk and cjk * 3 >= counts["latin"]:
        return "ko" if counts["hangul"] else "ja" if counts["kana"] else "zh"
    others = {name: n for name, n in counts.items() if name not in ("latin", "hangul", "kana", "han") and n}
    if others and max(others.values()) * 2 >= counts["latin"]:
        script = max(others, key=others.__getitem__)
        return next(lang for lang, s in SCRIPT_OF.items() if s == script)
    return None


def written_in(text: str, tag: str) -> LanguageVerdict:
    """Whether `text` is written in the language `tag` (no verdict against short texts)."""
    base = normalize_tag(tag).split("-")[0]
    clean = _NOISE.sub(" ", text)
    counts = script_counts(clean)
    if sum(counts.values()) < MIN_LETTERS:
        return LanguageVerdict(True, None)
    found = dominant_script_language(counts)
    wanted_script = SCRIPT_OF.get(base, "latin")
    if wanted_script != "latin":
        if found is None or SCRIPT_OF.get(found) != wanted_script:
            return LanguageVerdict(False, found or "en")
        if base == "zh" and "Hant" in tag and chinese_lang_tag(clean) != "zh-Hant":
            return LanguageVerdict(False, "zh")
        return LanguageVerdict(True, None)
    if found is not None:
        return LanguageVerdict(False, found)
    if len({word.casefold() for word in clean.split()}) < MIN_DISTINCT_WORDS:
        return LanguageVerdict(True, None)
    ranked = language_identifier().rank(clean)[:3]
    # technical English terms pull any Latin-script text towards English: a second place
    # with a fair share still counts; and an unsure identifier proves nothing
    (top, share), rest = ranked[0], ranked[1:]
    if top == base or share < MIN_CONFIDENCE or any(lang == base and p >= 0.2 for lang, p in rest):
        return LanguageVerdict(True, None)
    return LanguageVerdict(False, top)


def language_problem(text: str, tag: str) -> str | None:
    """What is wrong with the language of `text`, or None when it is in `tag`'s language."""
    verdict = written_in(text, tag)
    return None if verdict.ok else verdict.reason(tag)
