"""Untranslated roundup entries built from a digest's Markdown read as prose."""

import re

from bot.corpus.parsers import structured_summaries
from bot.corpus.text import clean_text, markdown_to_text
from bot.services.papers import PaperDetail, SummaryView
from bot.services.roundup import opening, stored_entry, without_metadata_sections
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


def test_a_structured_summary_blurb_opens_with_what_the_paper_does():
    text = (
        "### **论文标题**\n- **Owls: 夜间视觉模型**\n\n"
        "### **作者信息**\n- **Ann Lee**, **Bo Chen**\n- **机构**: Example Lab\n\n"
        "### **论文标签**\n- 视觉\n- 夜间\n\n"
        "### **研究核心目标与问题**\n- 本研究让模型在黑暗中识别物体。\n\n"
        "### **采用方法与技术**\n- 提出了一种低光增强方法。\n"
    )
    assert without_metadata_sections(text).startswith("### **研究核心目标与问题**")
    numbered = "1. **Title**\nOwls at night\n2. **Authors**\nAnn Lee\n3. **Goal**\nModels that see in the dark.\n"
    assert opening(without_metadata_sections(numbered)) == "Goal Models that see in the dark."
    # nothing but metadata: the text stays whole rather than vanishing
    assert without_metadata_sections("### 作者\n- Ann Lee\n") == "### 作者\n- Ann Lee\n"


def test_an_untranslated_entry_prefers_a_one_paragraph_summary_over_a_structured_one():
    paper = PaperDetail(
        id=1, key="2401.00001", arxiv_id="2401.00001", arxiv_version=None, title="Owls", authors=[], abstract=None,
        published=None, votes=None, topics=[], links=[], digests=[],
        summaries=[
            SummaryView(lang="zh", kind="structured_summary", text="### 作者\n- Ann Lee\n### 目标\n- 让模型在黑暗中识别物体。", source="d", model=None),
            SummaryView(lang="zh", kind="summary", text="本文提出夜间视觉模型。", source="d", model=None),
        ],
    )
    assert stored_entry(paper, "zh").summary == "本文提出夜间视觉模型。"
