"""Untranslated roundup entries built from a digest's Markdown read as prose."""

import re

from bot.corpus.parsers import structured_summaries
from bot.corpus.text import clean_text, markdown_to_text
from bot.services.roundup import opening
from tests.conftest import corpus_file

_MARKUP = re.compile(r"#{2,}|\*\*|\]\(|<sup>")


def test_markdown_becomes_plain_lines():
    text = (
        "### **研究方法**\n"
        "- **核心思路**：用*稀疏*的[专家](https://example.org)路由。<sup>1</sup>\n"
        "- 第二条\n\n"
        "A paragraph\nwrapped over ![figure](f.png) two lines with `code`.\n\n"
        "| Model | Score |\n|---|---|\n| Ours | 91.2 |\n"
    )
    assert markdown_to_text(text).split("\n") == [
        "研究方法",
        "核心思路：用稀疏的专家路由。1",
        "第二条",
        "A paragraph wrapped over two lines with code.",
        "Model | Score",
        "Ours | 91.2",
    ]
    assert markdown_to_text(text, headings=False).split("\n")[0] == "核心思路：用稀疏的专家路由。1"


def test_roundup_opening_of_a_real_structured_summary_is_prose():
    digest = structured_summaries.parse(clean_text(corpus_file("000").read_text(encoding="utf-8")))
    summaries = [s.text for p in digest.papers for s in p.summaries if s.kind == "structured_summary"]
    assert summaries and all(_MARKUP.search(text) for text in summaries)  # the stored text is Markdown
    for text in summaries:
        shown = opening(text)
        assert shown and not _MARKUP.search(shown), shown
