"""Splitting text into chat-sized messages: between entries or paragraphs, never inside one.

Discord allows 2,000 characters per message; the roundup, long answers and the console all cut
their text here so that every message fits.
"""

from __future__ import annotations

import re

CHAT_LIMIT = 2000


_MARKDOWN_SPECIAL = re.compile(r"([\\*_~|`>])")


def escape_markdown(text: str) -> str:
    """Text shown literally in chat: a title with `*` or `_` does not turn bold or italic."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", text)


def fit(text: str, limit: int) -> str:
    """Text cut to at most `limit` characters, at a word boundary, with an ellipsis."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    space = cut.rfind(" ")
    if space > limit * 0.6:
        cut = cut[:space]
    return cut.rstrip() + "…"


def pack_entries(entries: list[str], limit: int = CHAT_LIMIT, separator: str = "\n\n") -> list[str]:
    """Join entries into as few messages as fit; an entry is never split across two messages
    (one longer than `limit` on its own is cut to fit)."""
    blocks: list[str] = []
    current = ""
    for entry in entries:
        entry = fit(entry.strip(), limit)
        if not entry:
            continue
        candidate = f"{current}{separator}{entry}" if current else entry
        if len(candidate) <= limit:
            current = candidate
        else:
            blocks.append(current)
            current = entry
    if current:
        blocks.append(current)
    return blocks


_BOUNDARIES = ((r"\n\s*\n", "\n\n"), (r"\n", "\n"), (r"(?<=[.!?。！？])\s+", " "), (r" ", " "))


def split_message(text: str, limit: int = CHAT_LIMIT) -> list[str]:
    """A long answer as messages: split at paragraphs; a paragraph too long for one message is
    split at lines, then sentences, then words, then hard cuts."""
    return _split(text.strip(), limit, 0)


def _split(text: str, limit: int, level: int) -> list[str]:
    if len(text) <= limit:
        return [text] if text else []
    if level == len(_BOUNDARIES):
        return [text[i : i + limit] for i in range(0, len(text), limit)]
    pattern, separator = _BOUNDARIES[level]
    pieces = []
    for piece in re.split(pattern, text):
        if piece.strip():
            pieces += _split(piece.strip(), limit, level + 1) if len(piece) > limit else [piece.strip()]
    return pack_entries(pieces, limit, separator)
