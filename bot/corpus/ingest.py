"""Ingestion: read a digest, pick its parser by content, merge its papers into the store.

A paper is one row however many digests mention it. Identity is the arXiv id without version;
a paper known only by its title is matched by its title hash, and takes the arXiv id when the
same title later arrives with one. Each digest is written in one transaction, so a failure
leaves nothing half-written, and a digest whose content was ingested before changes nothing.

The work is set-based (one query per table per digest, not per paper) so that ingest keeps up
with a bare `executemany` of the same rows; see benchmarks/ingest_search.py.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from bot.corpus.model import DigestError, ParsedDigest, ParsedPaper, Problem
from bot.corpus.parsers import detect_parser
from bot.corpus.text import clean_text, text_sha, title_hash
from bot.retrieval.lexical import index_text
from bot.store import Database

# Larger files are refused before reading: no real digest comes near it.
MAX_DIGEST_BYTES = 20_000_000


@dataclass
class FileReport:
    """What ingesting one digest did, for the CLI's per-file report and for /ingest."""

    name: str
    format: str | None = None
    digest_date: str | None = None
    new: int = 0
    updated: int = 0
    unchanged: int = 0
    summaries_added: int = 0
    already_ingested: bool = False
    problems: list[Problem] = field(default_factory=list)
    error: str | None = None  # the whole file could not be read: one line, naming the reason

    @property
    def papers(self) -> int:
        return self.new + self.updated + self.unchanged


def decode_digest(data: bytes) -> str:
    """Digest bytes as clean text, or DigestError saying why they are not a digest."""
    if not data.strip():
        raise DigestError("empty file")
    if len(data) > MAX_DIGEST_BYTES:
        raise DigestError(f"too large ({len(data):,} bytes; the limit is {MAX_DIGEST_BYTES:,})")
    if b"\x00" in data[:65536]:
        raise DigestError("not text (binary data)")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DigestError(f"not UTF-8 text (invalid byte at offset {exc.start})") from None
    return clean_text(text)


def parse_digest(text: str) -> ParsedDigest:
    parser = detect_parser(text)
    if parser is None:
        first = next((line.strip() for line in text.splitlines() if line.strip()), "")
        raise DigestError(f"unknown digest format (starts with {first[:60]!r})")
    digest = parser.parse(text)
    if not digest.papers:
        reasons = "; ".join(f"line {p.line}: {p.message}" for p in digest.problems[:3])
        raise DigestError("no paper could be read" + (f" ({reasons})" if reasons else ""))
    return digest


def _identity(paper: ParsedPaper) -> str:
    return f"arxiv:{paper.arxiv_id}" if paper.arxiv_id else f"title:{title_hash(paper.title)}"


def _version_number(version: str | None) -> int:
    return int(version[1:]) if version else 0


def merge_entries(papers: Iterable[ParsedPaper]) -> list[ParsedPaper]:
    """Entries of one digest that describe the same paper, merged into one (first seen first)."""
    merged: dict[str, ParsedPaper] = {}
    by_title: dict[str, str] = {}
    for paper in papers:
        key = _identity(paper)
        # an id-less entry of a paper that the same digest also gives with its id
        key = by_title.get(title_hash(paper.title), key) if not paper.arxiv_id else key
        into = merged.get(key)
        if into is None:
            merged[key] = paper
            by_title.setdefault(title_hash(paper.title), key)
            continue
        _merge_into(into, paper)
    return list(merged.values())


def _merge_into(into: ParsedPaper, other: ParsedPaper) -> None:
    if other.arxiv_id and not into.arxiv_id:
        into.arxiv_id = other.arxiv_id
    if _version_number(other.arxiv_version) > _version_number(into.arxiv_version):
        into.arxiv_version = other.arxiv_version
    if (other.authors_complete and not into.authors_complete) or len(other.authors) > len(into.authors):
        into.authors, into.authors_complete = other.authors, other.authors_complete
    into.abstract = into.abstract or other.abstract
    into.published = into.published or other.published
    if other.votes is not None:
        into.votes = max(into.votes or 0, other.votes)
    into.topics += [t for t in other.topics if t not in into.topics]
    into.links += [link for link in other.links if link not in into.links]
    into.summaries += [s for s in other.summaries if s not in into.summaries]


@dataclass
class PreparedDigest:
    """A digest read and parsed, not yet written: the CPU half of ingesting it."""

    report: FileReport
    sha: str
    path: str | None
    digest: ParsedDigest | None = None
    papers: list[ParsedPaper] = field(default_factory=list)


def prepare_digest(data: bytes, name: str, path: str | None = None) -> PreparedDigest:
    """Decode, parse and merge a digest. Pure CPU, no database: it runs in a worker thread."""
    prepared = PreparedDigest(FileReport(name=name), hashlib.sha256(data).hexdigest(), path)
    try:
        prepared.digest = parse_digest(decode_digest(data))
    except DigestError as exc:
        prepared.report.error = str(exc)
        return prepared
    prepared.report.format, prepared.report.digest_date = prepared.digest.format, prepared.digest.digest_date
    prepared.report.problems = list(prepared.digest.problems)
    prepared.papers = merge_entries(prepared.digest.papers)
    return prepared


async def _already_ingested(db: Database, data: bytes, name: str) -> FileReport | None:
    seen = await db.fetchone(
        "SELECT format, digest_date FROM digests WHERE sha256 = ?", (hashlib.sha256(data).hexdigest(),)
    )
    if seen is None:
        return None
    return FileReport(name=name, format=seen["format"], digest_date=seen["digest_date"], already_ingested=True)


async def write_digest(db: Database, prepared: PreparedDigest) -> FileReport:
    """Write a prepared digest in one transaction (a no-op when its bytes were seen before)."""
    report = prepared.report
    if report.error or prepared.digest is None:
        return report
    async with db.transaction() as conn:
        # checked inside the write lock: another ingest of the same bytes may have won
        async with conn.execute("SELECT 1 FROM digests WHERE sha256 = ?", (prepared.sha,)) as cur:
            if await cur.fetchone():
                report.already_ingested = True
                return report
        cursor = await conn.execute(
            "INSERT INTO digests (name, path, sha256, format, digest_date, paper_count) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (report.name, prepared.path, prepared.sha, prepared.digest.format, prepared.digest.digest_date,
             len(prepared.papers)),
        )
        await _write_papers(conn, cursor.lastrowid, prepared.papers, report)
    return report


async def ingest_bytes(db: Database, data: bytes, name: str, path: str | None = None) -> FileReport:
    """Ingest one digest's bytes. Never raises for bad input: the report carries the error.
    Parsing runs in a worker thread, so the event loop stays free for the bot."""
    seen = await _already_ingested(db, data, name)
    if seen is not None:
        return seen
    return await write_digest(db, await asyncio.to_thread(prepare_digest, data, name, path))


def _read(path: Path) -> bytes | FileReport:
    try:
        return path.read_bytes()
    except OSError as exc:
        return FileReport(name=path.name, error=f"cannot read ({exc.strerror or exc})")


async def ingest_file(db: Database, path: Path) -> FileReport:
    data = _read(path)
    if isinstance(data, FileReport):
        return data
    return await ingest_bytes(db, data, path.name, str(path))


def digest_files(paths: Iterable[Path]) -> list[Path]:
    """The files named, and the digest files inside the folders named (not README.md)."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found += sorted(
                p
                for p in path.iterdir()
                if p.is_file() and not p.name.startswith(".") and p.name.lower() != "readme.md"
            )
        else:
            found.append(path)
    return found


async def ingest_many(
    db: Database,
    sources: Iterable[tuple[str, str | None, Callable[[], bytes | FileReport]]],
    on_file: Callable[[FileReport], None] | None = None,
) -> list[FileReport]:
    """Ingest digests in order, parsing the next one in a worker thread while the current one
    is written: parsing is Python, writing is mostly SQLite (which releases the GIL), so on
    two cores the two overlap. `sources` yields (name, path, load) with `load()` returning the
    bytes or an error report."""

    async def prepare(name: str, path: str | None, load) -> PreparedDigest | FileReport:
        data = await asyncio.to_thread(load)
        if isinstance(data, FileReport):
            return data
        seen = await _already_ingested(db, data, name)
        return seen if seen is not None else await asyncio.to_thread(prepare_digest, data, name, path)

    reports: list[FileReport] = []
    pending = None
    for source in list(sources) + [None]:
        upcoming = asyncio.ensure_future(prepare(*source)) if source is not None else None
        if pending is not None:
            prepared = await pending
            report = prepared if isinstance(prepared, FileReport) else await write_digest(db, prepared)
            reports.append(report)
            if on_file:
                on_file(report)
        pending = upcoming
    return reports


async def ingest_paths(
    db: Database, paths: Iterable[Path], on_file: Callable[[FileReport], None] | None = None
) -> list[FileReport]:
    """Ingest files and folders of digests; a path that does not exist gets its own report."""
    paths = list(paths)
    missing = [FileReport(name=str(p), error="no such file or folder") for p in paths if not p.exists()]
    for report in missing:
        if on_file:
            on_file(report)
    files = digest_files(p for p in paths if p.exists())
    return missing + await ingest_many(db, ((f.name, str(f), lambda f=f: _read(f)) for f in files), on_file)


# --- writing -------------------------------------------------------------------------------


async def _fetch(conn, sql: str, params=()) -> list:
    async with conn.execute(sql, params) as cursor:
        return list(await cursor.fetchall())


async def _find_existing(conn, papers: list[ParsedPaper]) -> dict[int, dict]:
    """Existing rows for the digest's papers, keyed by index in `papers`."""
    ids = [p.arxiv_id for p in papers if p.arxiv_id]
    hashes = [title_hash(p.title) for p in papers]
    by_id = {
        row["arxiv_id"]: dict(row)
        for row in await _fetch(
            conn,
            "SELECT * FROM papers WHERE arxiv_id IN (SELECT value FROM json_each(?))",
            (json.dumps(ids),),
        )
    }
    by_hash: dict[str, list[dict]] = {}
    for row in await _fetch(
        conn,
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


def _updated_fields(row: dict, paper: ParsedPaper) -> dict:
    """The columns of an existing paper that this digest adds to or improves."""
    changes: dict = {}
    if paper.arxiv_id and row["arxiv_id"] is None:
        changes["arxiv_id"] = paper.arxiv_id
    newer_version = _version_number(paper.arxiv_version) > _version_number(row["arxiv_version"])
    if newer_version:
        changes["arxiv_version"] = paper.arxiv_version
    authors = json.loads(row["authors"])
    if paper.authors_complete and len(paper.authors) > len(authors):
        changes["authors"] = json.dumps(paper.authors, ensure_ascii=False)
    elif not authors and paper.authors:
        changes["authors"] = json.dumps(paper.authors, ensure_ascii=False)
    # a new arXiv version may rewrite its abstract; otherwise the first abstract seen stays
    if paper.abstract and (not row["abstract"] or (newer_version and paper.abstract != row["abstract"])):
        changes["abstract"] = paper.abstract
    if paper.published and not row["published"]:
        changes["published"] = paper.published
    if paper.votes is not None and paper.votes > (row["votes"] or 0):
        changes["votes"] = paper.votes
    return changes


async def _write_papers(conn, digest_id: int, papers: list[ParsedPaper], report: FileReport) -> None:
    existing = await _find_existing(conn, papers)
    next_id = (await _fetch(conn, "SELECT coalesce(max(id), 0) + 1 FROM papers"))[0][0]
    inserts, updates, paper_ids, is_new = [], [], [], []
    for index, paper in enumerate(papers):
        row = existing.get(index)
        if row is None:
            paper_id, next_id = next_id, next_id + 1
            inserts.append((
                paper_id, paper.arxiv_id, paper.arxiv_version, paper.title, title_hash(paper.title),
                json.dumps(paper.authors, ensure_ascii=False), paper.abstract, paper.published,
                paper.votes,
            ))
            is_new.append(True)
        else:
            paper_id = row["id"]
            changes = _updated_fields(row, paper)
            if changes:
                updates.append((paper_id, changes))
            is_new.append(False)
        paper_ids.append(paper_id)

    await conn.executemany(
        "INSERT INTO papers (id, arxiv_id, arxiv_version, title, title_hash, authors, abstract, "
        "published, votes) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        inserts,
    )
    for paper_id, changes in updates:
        # column names come from _updated_fields, never from input
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
    summaries_changed = await _insert_new_rows(
        conn,
        "SELECT paper_id, lang, kind, text_sha FROM summaries "
        "WHERE paper_id IN (SELECT value FROM json_each(?))",
        "INSERT INTO summaries (paper_id, lang, kind, text, text_sha, digest_id) VALUES (?, ?, ?, ?, ?, ?)",
        paper_ids,
        summary_rows,
        key=lambda r: (r[0], r[1], r[2], r[4]),
    )
    report.summaries_added = len(summaries_changed)
    changed |= {row[0] for row in summaries_changed}
    await conn.executemany(
        "INSERT OR IGNORE INTO paper_digests (paper_id, digest_id, votes) VALUES (?, ?, ?)",
        [(pid, digest_id, p.votes) for pid, p in zip(paper_ids, papers)],
    )

    for paper_id, new in zip(paper_ids, is_new):
        if new:
            report.new += 1
        elif paper_id in changed:
            report.updated += 1
        else:
            report.unchanged += 1
    touched = [pid for pid, new in zip(paper_ids, is_new) if new or pid in changed]
    await reindex_papers(conn, touched)


def _paper_ids_of(rows: list[tuple]) -> set[int]:
    return {row[0] for row in rows}


async def _insert_new_rows(conn, select_sql, insert_sql, paper_ids, rows, key=None) -> list[tuple]:
    """Insert the rows (paper_id first) not stored yet, comparing `key(row)` with the stored
    rows that `select_sql` returns; returns the rows inserted."""
    key = key or tuple
    stored = {tuple(r) for r in await _fetch(conn, select_sql, (json.dumps(paper_ids),))}
    new_rows, seen = [], set()
    for row in rows:
        k = key(row)
        if k in stored or k in seen:
            continue
        seen.add(k)
        new_rows.append(row)
    await conn.executemany(insert_sql, new_rows)
    return new_rows


async def reindex_papers(conn, paper_ids: list[int]) -> None:
    """Rewrite the keyword-index documents of these papers from what is stored now."""
    if not paper_ids:
        return
    ids_json = json.dumps(paper_ids)
    papers = await _fetch(
        conn,
        "SELECT id, title, authors, abstract FROM papers WHERE id IN (SELECT value FROM json_each(?))",
        (ids_json,),
    )
    summaries: dict[int, list[str]] = {}
    for paper_id, text in await _fetch(
        conn,
        "SELECT paper_id, text FROM summaries WHERE paper_id IN (SELECT value FROM json_each(?)) "
        "ORDER BY id",
        (ids_json,),
    ):
        summaries.setdefault(paper_id, []).append(text)
    topics: dict[int, list[str]] = {}
    for paper_id, topic in await _fetch(
        conn,
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
