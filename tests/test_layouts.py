"""Layout variants of each digest family, and the generic fallback, on small invented digests."""

from datetime import date

import pytest

from bot.corpus.merge import merge_entries
from bot.corpus.model import DigestError
from bot.corpus.parsers.common import split_authors
from bot.corpus.reading import date_in_file_name, parse_digest, prepare_digest


def read(text: str):
    digest = parse_digest(text)
    return digest, {p.arxiv_id or p.title: p for p in merge_entries(digest.papers)}


# --- LLM-written structured summaries -------------------------------------------------------

STRUCTURED = """
# Gentle Experts Are Sparse
[arxiv_pdf_url](https://arxiv.org/pdf/2501.00001)
1. **论文标题**
   - 温和专家是稀疏的

2. **作者信息**
   - **Ada Lovelace**<sup>1</sup>, **Alan Turing**∗1
   - 1剑桥大学

3. **论文标签**
   - 混合专家 | 稀疏性

## Quiet Transformers
[arxiv_pdf_url](https://arxiv.org/pdf/2501.00002v2)
# **论文标题**
安静的变换器
# **作者信息**
- 主要贡献者: Grace Hopper$^{1}$, 李再静$^{2}$, 孙茂松（示例团队）
# **研究方法**
我们让变换器安静下来。

# Plain Prose Model
[arxiv_pdf_url](https://arxiv.org/pdf/2501.00003)
这篇论文提出了一种只用一段话描述的方法，没有任何小节。

# Failed Upstream Paper
[arxiv_pdf_url](https://arxiv.org/pdf/2501.00004)
# faild to  read !!!!
"""


def test_structured_summaries_in_numbered_heading_and_prose_forms():
    digest, papers = read(STRUCTURED)
    assert digest.format == "structured-summaries"
    assert list(papers) == ["2501.00001", "2501.00002", "2501.00003", "2501.00004"]
    numbered = papers["2501.00001"]
    assert numbered.authors == ["Ada Lovelace", "Alan Turing"]
    assert numbered.topics == ["混合专家", "稀疏性"]
    assert [s.kind for s in numbered.summaries] == ["structured_summary"]
    headed = papers["2501.00002"]
    assert headed.arxiv_version == "v2"
    assert headed.authors == ["Grace Hopper", "李再静", "孙茂松"]
    prose = papers["2501.00003"]
    assert [(s.kind, s.lang) for s in prose.summaries] == [("summary", "zh")]
    assert any("no sections" in p.message and "Plain Prose" in p.message for p in digest.problems)
    assert papers["2501.00004"].summaries == []  # the failure marker is not a summary


# --- Hugging Face daily papers ---------------------------------------------------------------

HF = """#### Daily Papers (2025-01-02)

## [Older Layout Paper](https://arxiv.org/abs/2501.00011)

- 첫 번째 요점입니다.
  - 중첩된 요점입니다.
- 두 번째 요점입니다.

### [Newer Layout Paper](https://huggingface.co/papers/2501.00012)
![](https://example.org/thumb.png)
Vote: -
Authors: Ada Lovelace, Alan Turing, +
- ***What's New***: 새로운 점.
- ***Technical Details***: 기술 세부 사항.

### [Last Paper Cut Short](https://arxiv.org/abs/2501.00013)
"""


def test_hf_lists_with_plain_or_labelled_bullets_and_a_cut_last_entry():
    digest, papers = read(HF)
    assert (digest.format, digest.digest_date) == ("hf-daily-papers", "2025-01-02")
    older = papers["2501.00011"]
    assert [(s.kind, s.lang) for s in older.summaries] == [("summary", "ko")]
    assert "중첩된 요점" in older.summaries[0].text
    newer = papers["2501.00012"]
    assert (newer.authors, newer.authors_complete, newer.votes) == (["Ada Lovelace", "Alan Turing"], False, None)
    assert newer.summaries[0].kind == "highlights" and "**What's New**: 새로운 점." in newer.summaries[0].text
    assert papers["2501.00013"].summaries == []  # kept, with a warning
    assert any("Last Paper Cut Short" in p.message for p in digest.problems)


# --- arXiv-daily tables and lists ------------------------------------------------------------

TABLES = """## Updated on 2025.01.03

## Robots
|Title|PDF|Publish Date|Abstract|Code|
|:---|:---:|---|---|---|
|**Walking Robots Walk**|[2501.00021v1](http://arxiv.org/abs/2501.00021v1)|**2025-01-02**|机器人会走路。 et.al.|**[link](https://github.com/example/walk)**|
|**Untranslated Robots**|[2501.00022](http://arxiv.org/abs/2501.00022)|2025-01-02|Robots that were never translated.|null|

### Old Fork
|paper|code|
|---|---|
|[graph robots: a review](https://arxiv.org/abs/1812.00023)|[code](https://github.com/example/graph)|

## Video
- **2025-01-02** **Listed Video Paper** [2501.00024](http://arxiv.org/abs/2501.00024)
  > 一个以列表写成的视频论文摘要。
"""


def test_tables_are_read_by_column_name_and_the_list_layout_too():
    digest, papers = read(TABLES)
    assert (digest.format, digest.digest_date) == ("arxiv-daily-tables", "2025-01-03")
    walking = papers["2501.00021"]
    assert (walking.title, walking.published, walking.arxiv_version) == ("Walking Robots Walk", "2025-01-02", "v1")
    assert walking.topics == ["Robots"] and walking.links == [("code", "https://github.com/example/walk")]
    assert [(s.lang, s.text) for s in walking.summaries] == [("zh", "机器人会走路。")]
    assert papers["2501.00022"].abstract == "Robots that were never translated."
    old = papers["1812.00023"]
    assert (old.title, old.topics) == ("graph robots: a review", ["Old Fork"])
    listed = papers["2501.00024"]
    assert (listed.title, listed.topics) == ("Listed Video Paper", ["Video"])
    assert listed.summaries[0].text == "一个以列表写成的视频论文摘要。"


TOPIC_ABSTRACTS = """### LLM
|Publish Date|Title|Authors|PDF|Code|
| :---: | :---: | :---: | :---: | :---: |
|**2025-01-04**|**Tiny Models Think**|Ada Lovelace et.al.|[2501.00031v1](http://arxiv.org/abs/2501.00031v1)|null|

#### Abstracts
##### **Tiny Models Think**
2501.00031v1 by Ada Lovelace, Alan Turing

Tiny models think
hard-wrapped.

摘要：<paragraph>小模型會思考。</paragraph>
"""


def test_topic_table_with_a_pdf_column_and_its_abstracts():
    digest, papers = read(TOPIC_ABSTRACTS)
    assert (digest.format, digest.digest_date) == ("topic-table-abstracts", "2025-01-04")
    paper = papers["2501.00031"]
    assert (paper.authors, paper.authors_complete) == (["Ada Lovelace", "Alan Turing"], True)
    assert paper.abstract == "Tiny models think hard-wrapped."
    assert [(s.lang, s.text) for s in paper.summaries] == [("zh-Hant", "小模型會思考。")]


# --- ChatPaperFree Markdown posts ------------------------------------------------------------

CHATPAPER_MARKDOWN = """
---
title: Robots
author: Someone
---

# 2025-01-05 更新

## Gentle   Robots

**Authors:Ada Lovelace, Alan Turing**

We study gentle robots.

[PDF](http://arxiv.org/abs/2501.00041v1) Project page: https://example.org/gentle

**Summary**
温和的机器人。

**Key Takeaways**
• 机器人很温和。
• 它们很安静。

**[ChatPaperFree](https://huggingface.co/spaces/example)**

1. Title: 温和的机器人
2. Authors: ADA LOVELACE
6. Summary:
- (1):研究背景。

<details>
  <summary>点此查看论文截图</summary>
</details>
"""


def test_chatpaper_markdown_posts():
    digest, papers = read(CHATPAPER_MARKDOWN)
    assert (digest.format, digest.digest_date) == ("chatpaper", "2025-01-05")
    paper = papers["2501.00041"]
    assert (paper.title, paper.authors, paper.abstract) == ("Gentle Robots", ["Ada Lovelace", "Alan Turing"], "We study gentle robots.")
    assert paper.links == [("project", "https://example.org/gentle")]
    texts = {s.kind: s.text for s in paper.summaries}
    assert texts["summary"] == "温和的机器人。"
    assert texts["takeaways"] == "- 机器人很温和。\n- 它们很安静。"
    assert texts["structured_summary"].startswith("1. Title: 温和的机器人") and "研究背景" in texts["structured_summary"]


# --- the generic fallback --------------------------------------------------------------------

MADE_UP = """Reading club picks, 2025-01-06
====

* [A Study of Patient Cats](https://arxiv.org/abs/2501.00051v2) -- cats wait, and we measure how long.
  They wait longer when it rains.

> Honourable mention: arXiv:2501.00052, about dogs.

Also see 2501.00053 for the follow-up on parrots that talk back.
"""


def test_a_made_up_layout_is_read_by_its_arxiv_ids():
    digest, papers = read(MADE_UP)
    assert (digest.format, digest.digest_date) == ("generic-arxiv-ids", "2025-01-06")
    assert list(papers) == ["2501.00051", "2501.00052", "2501.00053"]
    cats = papers["2501.00051"]
    assert cats.title == "A Study of Patient Cats"
    assert "They wait longer when it rains." in cats.summaries[0].text
    assert papers["2501.00053"].title.startswith("Also see for the follow-up on parrots")
    assert any("no known layout" in p.message for p in digest.problems)


# links, URLs and labelled ids written inside the sentence that names the paper
POINTERS = """Grab bag, 2025-02-03

Cool paper: Patient Cats Wait Longer (arXiv 2502.00071).

Another one https://arxiv.org/abs/2502.00072v1 — Dogs Fetch Sticks Faster; we liked it.

Parrots Talk Back <https://arxiv.org/pdf/2502.00073> [pdf](https://arxiv.org/pdf/2502.00073)

- [arXiv:2502.00074](https://arxiv.org/abs/2502.00074): Owls Sleep by Day (code: www.example.org/owls)
"""


def test_a_fallback_title_keeps_no_link_url_or_id_label():
    _, papers = read(POINTERS)
    assert [p.title for p in papers.values()] == [
        "Cool paper: Patient Cats Wait Longer",
        "Another one — Dogs Fetch Sticks Faster; we liked it",
        "Parrots Talk Back",
        "Owls Sleep by Day",
    ]


def test_a_file_with_neither_ids_nor_papers_is_one_line_error():
    with pytest.raises(DigestError) as error:
        parse_digest("# Notes\n\nNothing here is a paper.\n- version 1.2\n")
    assert "unknown digest format" in str(error.value) and "\n" not in str(error.value)


# --- authors and dates ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "written, names, complete",
    [
        ("Gyeongsik Moon<sup>1,2</sup>, Takaaki Shiratori<sup>2</sup>", ["Gyeongsik Moon", "Takaaki Shiratori"], True),
        ("李再静$^{1}$, 孙茂松（MiniCPM-V团队", ["李再静", "孙茂松"], True),
        ("Ruohao Guo: 国家通用人工智能重点实验室", ["Ruohao Guo"], True),
        ("主要贡献者: Ada Lovelace, Alan Turing", ["Ada Lovelace", "Alan Turing"], True),
        ("Authors: Ada Lovelace∗, Alan Turing†, +", ["Ada Lovelace", "Alan Turing"], False),
        ("Ada Lovelace, 42, , Cambridge University", ["Ada Lovelace"], True),
        ("Ada Lovelace et.al.", ["Ada Lovelace"], False),
    ],
)
def test_authors_are_people(written, names, complete):
    assert split_authors(written) == (names, complete)


HF_DATED = "## Daily Papers ({day})\n\n### [Dated Paper](https://arxiv.org/abs/2501.00061)\n\n- 요점.\n"


@pytest.mark.parametrize(
    "day, today, refused",
    [
        ("2025-01-08", date(2025, 1, 6), "more than a day after today (2025-01-06)"),
        ("2025-01-07", date(2025, 1, 6), None),  # a time zone ahead of UTC
        ("1991-07-31", date(2025, 1, 6), "before arXiv existed (1991-08-01)"),
    ],
)
def test_digest_dates_must_be_sane(day, today, refused):
    report = prepare_digest(HF_DATED.format(day=day).encode(), "dated.md", today=today).report
    assert report.error == (f"dated {day}, {refused}" if refused else None)


@pytest.mark.parametrize(
    "name, day",
    [
        ("2024-08-01.md", "2024-08-01"),
        ("fmt000_2024-08-01_x.md", "2024-08-01"),
        ("digest_20231120.md", "2023-11-20"),
        ("paper_logs/2023/11/20.md", "2023-11-20"),
        ("/archive/2020-01-01/daily_2024-08-01.md", "2024-08-01"),  # the file's own name first
        ("notes_2024-02-31.md", None),  # not a day
        ("build_120240801.md", None),  # digits run on: not a date
        ("digest.md", None),
    ],
)
def test_a_date_is_read_from_a_file_name(name, day):
    assert date_in_file_name(name) == day


UNDATED = "Picks\n\n* [A Study of Patient Cats](https://arxiv.org/abs/2501.00051)\n"


@pytest.mark.parametrize(
    "text, name, day, refused",
    [
        (UNDATED, "picks_2025-01-05.md", "2025-01-05", None),
        (UNDATED, "paper_logs/2025/01/05.md", "2025-01-05", None),
        ("Picks of 2025-01-04\n" + UNDATED, "picks_2025-01-05.md", "2025-01-04", None),  # its own date wins
        (UNDATED, "picks_2025-03-01.md", None, "dated 2025-03-01, more than a day after today (2025-01-06)"),
        (UNDATED, "picks_1990-12-31.md", None, "dated 1990-12-31, before arXiv existed (1991-08-01)"),
    ],
)
def test_an_undated_digest_takes_its_file_names_date(text, name, day, refused):
    report = prepare_digest(text.encode(), name.rsplit("/", 1)[-1], name, today=date(2025, 1, 6)).report
    assert (report.digest_date, report.error) == (day, refused)
