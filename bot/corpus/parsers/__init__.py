"""One parser per digest format, picked by content (never by file name).

Each module has `FORMAT` (the name stored with the digest), `detect(text) -> bool` and
`parse(text) -> ParsedDigest`, and describes the format it reads in its docstring.
"""

from __future__ import annotations

from types import ModuleType

from bot.corpus.parsers import (
    chatpaper,
    generic,
    hf_daily,
    structured_summaries,
    topic_abstracts,
    topic_tables,
)

# Most specific first: topic_abstracts' tables would also satisfy topic_tables.
PARSERS: tuple[ModuleType, ...] = (
    structured_summaries,
    hf_daily,
    topic_abstracts,
    topic_tables,
    chatpaper,
    generic,  # the fallback: any digest that names arXiv ids
)


def detect_parser(text: str) -> ModuleType | None:
    """The parser that recognizes this digest, or None for an unknown format."""
    return next((parser for parser in PARSERS if parser.detect(text)), None)
