"""Ingestion, the one path for every caller (the CLI, /ingest, the digest sources): read
digests (bot/corpus/reading.py), write their papers (bot/store/paper_writes.py), then embed the
new texts so that search by meaning finds them at once (`ingest`, `ingest_upload`, `embed_new`).
The functions taking a `Database` only store; those taking a `Library` store and embed.

A paper is one row however many digests mention it. Identity is the arXiv id without version;
a paper known only by its title is matched by its title hash, and takes the arXiv id when the
same title later arrives with one. Each digest is written in one transaction, so a failure
leaves nothing half-written, and a digest whose content was ingested before changes nothing.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Awaitable, Callable, Iterable
from datetime import date
from pathlib import Path

from bot.corpus.reading import FileReport, PreparedDigest, prepare_digest
from bot.retrieval.sentences import embed_sentences
from bot.retrieval.vectors import embed_pending
from bot.services.library import Library
from bot.services.watches import match_new_papers
from bot.store import Database
from bot.store.paper_writes import write_papers

EmbedProgress = Callable[[int, int], None]  # (texts embedded so far, texts to embed)


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
        counts = await write_papers(conn, cursor.lastrowid, prepared.papers)
    report.new, report.updated, report.unchanged = counts.new, counts.updated, counts.unchanged
    report.summaries_added = counts.summaries_added
    return report


async def ingest_bytes(
    db: Database, data: bytes, name: str, path: str | None = None, *, today: date | None = None
) -> FileReport:
    """Ingest one digest's bytes. Never raises for bad input: the report carries the error.
    Parsing runs in a worker thread, so the event loop stays free for the bot. `today` (the
    UTC date by default) bounds the digest's date."""
    seen = await _already_ingested(db, data, name)
    if seen is not None:
        return seen
    return await write_digest(db, await asyncio.to_thread(prepare_digest, data, name, path, today))


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
    *,
    today: date | None = None,
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
        return seen if seen is not None else await asyncio.to_thread(prepare_digest, data, name, path, today)

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
    db: Database,
    paths: Iterable[Path],
    on_file: Callable[[FileReport], None] | None = None,
    *,
    today: date | None = None,
) -> list[FileReport]:
    """Ingest files and folders of digests; a path that does not exist gets its own report."""
    paths = list(paths)
    missing = [FileReport(name=str(p), error="no such file or folder") for p in paths if not p.exists()]
    for report in missing:
        if on_file:
            on_file(report)
    files = digest_files(p for p in paths if p.exists())
    sources = ((f.name, str(f), lambda f=f: _read(f)) for f in files)
    return missing + await ingest_many(db, sources, on_file, today=today)


async def embed_new(library: Library, *, rebuild: bool = False, progress: EmbedProgress | None = None) -> int:
    """Embed the texts that have no vector yet, or a stale one (every text with `rebuild`,
    each old vector kept until its new one replaces it); returns how many were embedded.
    Nothing to do when search by meaning is off."""
    embedder, reranker = library.retriever.embedder, library.retriever.reranker
    if embedder is None:
        return 0
    async with library.embedding_lock:
        embedded = await embed_pending(library.db, embedder, rebuild=rebuild, progress=progress)
        if reranker is not None:  # main texts and their sentences, ~60 a second: not counted, no progress shown
            await embed_pending(library.db, reranker, rebuild=rebuild, main_only=True)
            await embed_sentences(library.db, reranker, rebuild=rebuild)
    return embedded


async def ingest(
    library: Library,
    paths: Iterable[Path],
    *,
    embed: bool = True,
    on_file: Callable[[FileReport], None] | None = None,
    on_embed: EmbedProgress | None = None,
) -> tuple[list[FileReport], int]:
    """Ingest files and folders of digests, then embed what they added: (reports, texts embedded)."""
    reports = await ingest_paths(library.db, paths, on_file)
    stored = any(not r.error and not r.already_ingested for r in reports)
    embedded = await embed_new(library, progress=on_embed) if embed and stored else 0
    if stored:
        await match_new_papers(library)  # recorded now; the bot delivers them (bot/services/watches.py)
    return reports, embedded


async def ingest_upload(
    library: Library,
    data: bytes,
    name: str,
    path: str | None = None,
    *,
    on_stored: Callable[[FileReport], Awaitable[None]] | None = None,
) -> FileReport:
    """One digest received as bytes (an upload, a download): stored, then its new texts
    embedded. `on_stored` hears the report as soon as the papers are stored, so a reply need
    not wait for the embedding (minutes for a large digest on a small CPU)."""
    report = await ingest_bytes(library.db, data, name, path)
    if on_stored is not None:
        await on_stored(report)
    if not report.error and not report.already_ingested:
        await embed_new(library)
        await match_new_papers(library)
    return report
