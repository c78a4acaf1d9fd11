"""What the keyword index (`papers_fts`) holds for each paper, and rewriting it.

Why bigrams: FTS5's word tokenizer sees a run of Chinese or Korean as one long "word", and a
trigram index finds nothing for the one- and two-character queries that are most common in CJK
(`模型`, `검색`). So CJK runs are written into the index as overlapping bigrams plus the run's
last character ("模型训练" -> "模型 型训 训练 练"); bot/retrieval/lexical.py searches a CJK
query by the same bigrams. It lives in the store because everything that writes papers or
summaries (ingestion, paperbot's own summaries) must refresh the index the same way.
"""

from __future__ import annotations

import json
import re

CJK_RUN = re.compile(
    "[\u1100-\u11ff\u3040-\u30ff\u3130-\u318f\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff]+"
)


def bigrams(run: str) -> list[str]:
    """Overlapping character pairs of a CJK run, then its last character."""
    return [run[i : i + 2] for i in range(len(run) - 1)] + [run[-1]]


def index_text(text: str | None) -> str:
    """Text as it is written into the index: CJK runs expanded to bigrams."""
    if not text:
        return ""
    return CJK_RUN.sub(lambda m: " " + " ".join(bigrams(m.group())) + " ", text)


async def reindex_papers(conn, paper_ids: list[int]) -> None:
    """Rewrite the keyword-index documents of these papers from what is stored now.
    Call it inside the transaction that changed them."""
    if not paper_ids:
        return
    ids_json = json.dumps(paper_ids)
    papers = await conn.execute_fetchall(
        "SELECT id, title, authors, abstract FROM papers WHERE id IN (SELECT value FROM json_each(?))",
        (ids_json,),
    )
    summaries: dict[int, list[str]] = {}
    for paper_id, text in await conn.execute_fetchall(
        "SELECT paper_id, text FROM summaries WHERE paper_id IN (SELECT value FROM json_each(?)) "
        "ORDER BY id",
        (ids_json,),
    ):
        summaries.setdefault(paper_id, []).append(text)
    topics: dict[int, list[str]] = {}
    for paper_id, topic in await conn.execute_fetchall(
        "SELECT paper_id, topic FROM paper_topics WHERE paper_id IN (SELECT value FROM json_each(?))",
        (ids_json,),
    ):
        topics.setdefault(paper_id, []).append(topic)
    await conn.executemany("DELETE FROM papers_fts WHERE rowid = ?", [(pid,) for pid in paper_ids])
    await conn.executemany(
        "INSERT INTO papers_fts (rowid, title, authors, abstract, summaries) VALUES (?, ?, ?, ?, ?)",
        [
            (
                row["id"],
                index_text(row["title"]),
                " ".join(json.loads(row["authors"])),
                index_text(row["abstract"]),
                index_text("\n".join(topics.get(row["id"], []) + summaries.get(row["id"], []))),
            )
            for row in papers
        ],
    )
