"""Writing a parsed digest's papers into the store, inside the digest's transaction.

The work is set-based (one query per table per digest, not per paper) so that ingest keeps up
with a bare `executemany` of the same rows; see benchmarks/ingest_search.py.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from bot.corpus.merge import authors_rank, updated_fields
from bot.corpus.model import ParsedPaper
from bot.corpus.text import text_sha, title_hash
from bot.store.keyword_index import reindex_papers


@dataclass
class WriteCounts:
    new: int = 0
    updated: int = 0
    unchanged: int = 0
    summaries_added: int = 0


async def _find_existing(conn, papers: list[ParsedPaper]) -> dict[int, dict]:
    """Existing rows for the digest's papers, keyed by index in `papers`."""
    ids = [p.arxiv_id for p in papers if p.arxiv_id]
    hashes = [title_hash(p.title) for p in papers]
    by_id = {
        row["arxiv_id"]: dict(row)
        for row in await conn.execute_fetchall(
            "SELECT * FROM papers WHERE arxiv_id IN (SELECT value FROM json_each(?))", (json.dumps(ids),)
        )
    }
    by_hash: dict[str, list[dict]] = {}
    for row in await conn.execute_fetchall(
        "SELECT * FROM papers WHERE title_hash IN (SELECT value FROM json_each(?)) ORDER BY id",
        (json.dumps(hashes),),
    ):
        by_hash.setdefault(row["title_hash"], []).append(dict(row))
    found = {}
    for index, paper in enumerate(papers):
        same_title = by_hash.get(hashes[index], [])
        if paper.arxiv_id:
            row = by_id.get(paper.arxiv_id) or next(
                (r for r in same_title if r["arxiv_id"] is None), None
            )
        else:
            # prefer the paper that already has an id: the title-only entry merges into it
            row = next((r for r in same_title if r["arxiv_id"]), None) or next(iter(same_title), None)
        if row is not None:
            found[index] = row
    return found


async def write_papers(conn, digest_id: int, papers: list[ParsedPaper]) -> WriteCounts:
    """Insert new papers, improve known ones, add topics, links and summaries not stored yet,
    link every paper to the digest and refresh the keyword index of what changed."""
    existing = await _find_existing(conn, papers)
    next_id = (await conn.execute_fetchall("SELECT coalesce(max(id), 0) + 1 FROM papers"))[0][0]
    inserts, updates, paper_ids, is_new = [], [], [], []
    for index, paper in enumerate(papers):
        row = existing.get(index)
        if row is None:
            paper_id, next_id = next_id, next_id + 1
            inserts.append((
                paper_id, paper.arxiv_id, paper.arxiv_version, paper.title, title_hash(paper.title),
                json.dumps(paper.authors, ensure_ascii=False), authors_rank(paper), paper.abstract,
                paper.published, paper.votes,
            ))
            is_new.append(True)
        else:
            paper_id = row["id"]
            changes = updated_fields(row, paper)
            if changes:
                updates.append((paper_id, changes))
            is_new.append(False)
        paper_ids.append(paper_id)

    await conn.executemany(
        "INSERT INTO papers (id, arxiv_id, arxiv_version, title, title_hash, authors, authors_rank, "
        "abstract, published, votes) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        inserts,
    )
    for paper_id, changes in updates:
        # column names come from updated_fields, never from input
        assignments = ", ".join(f"{column} = ?" for column in changes)
        await conn.execute(
            f"UPDATE papers SET {assignments}, updated_at = strftime('%Y-%m-%dT%H:%M:%SZ', 'now') "
            "WHERE id = ?",
            (*changes.values(), paper_id),
        )
    changed = {paper_id for paper_id, _ in updates}
    changed |= _paper_ids_of(await _insert_new_rows(
        conn,
        "SELECT paper_id, topic FROM paper_topics WHERE paper_id IN (SELECT value FROM json_each(?))",
        "INSERT INTO paper_topics (paper_id, topic) VALUES (?, ?)",
        paper_ids,
        [(pid, topic) for pid, p in zip(paper_ids, papers) for topic in p.topics],
    ))
    changed |= _paper_ids_of(await _insert_new_rows(
        conn,
        "SELECT paper_id, kind, url FROM paper_links WHERE paper_id IN (SELECT value FROM json_each(?))",
        "INSERT INTO paper_links (paper_id, kind, url) VALUES (?, ?, ?)",
        paper_ids,
        [(pid, kind, url) for pid, p in zip(paper_ids, papers) for kind, url in p.links],
    ))
    summary_rows = [
        (pid, s.lang, s.kind, s.text, text_sha(s.text), digest_id)
        for pid, p in zip(paper_ids, papers)
        for s in p.summaries
        if s.text.strip()
    ]
    summaries_added = await _insert_new_rows(
        conn,
        "SELECT paper_id, lang, kind, text_sha FROM summaries "
        "WHERE paper_id IN (SELECT value FROM json_each(?))",
        "INSERT INTO summaries (paper_id, lang, kind, text, text_sha, digest_id) VALUES (?, ?, ?, ?, ?, ?)",
        paper_ids,
        summary_rows,
        key=lambda r: (r[0], r[1], r[2], r[4]),
    )
    changed |= _paper_ids_of(summaries_added)
    await conn.executemany(
        "INSERT OR IGNORE INTO paper_digests (paper_id, digest_id, votes) VALUES (?, ?, ?)",
        [(pid, digest_id, p.votes) for pid, p in zip(paper_ids, papers)],
    )

    counts = WriteCounts(summaries_added=len(summaries_added))
    for paper_id, new in zip(paper_ids, is_new):
        if new:
            counts.new += 1
        elif paper_id in changed:
            counts.updated += 1
        else:
            counts.unchanged += 1
    await reindex_papers(conn, [pid for pid, new in zip(paper_ids, is_new) if new or pid in changed])
    return counts


def _paper_ids_of(rows: list[tuple]) -> set[int]:
    return {row[0] for row in rows}


async def _insert_new_rows(conn, select_sql, insert_sql, paper_ids, rows, key=None) -> list[tuple]:
    """Insert the rows (paper_id first) not stored yet, comparing `key(row)` with the stored
    rows that `select_sql` returns; returns the rows inserted."""
    key = key or tuple
    stored = {tuple(r) for r in await conn.execute_fetchall(select_sql, (json.dumps(paper_ids),))}
    new_rows, seen = [], set()
    for row in rows:
        k = key(row)
        if k in stored or k in seen:
            continue
        seen.add(k)
        new_rows.append(row)
    await conn.executemany(insert_sql, new_rows)
    return new_rows
