"""Digest sources: URLs that a public pipeline rewrites every day, or folders another job
writes into, fetched on a schedule and ingested before the roundups run.

URLs are fetched with conditional requests (ETag / Last-Modified), a timeout and a size limit
enforced while reading. Each source keeps a record of its last success and its last error; one
failing source never stops the others. Ingestion is idempotent by content hash, so fetching a
file that has not changed costs nothing.
"""

from __future__ import annotations

import asyncio
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import urlparse

import aiohttp

from bot.corpus.ingest import FileReport, digest_files, ingest_bytes, ingest_file
from bot.store import Database

USER_AGENT = "paperbot-digest-fetcher"
READ_CHUNK = 64 * 1024


class SourceError(ValueError):
    """A source that cannot be added or removed; the message says why."""


@dataclass
class Source:
    id: int
    location: str
    kind: str
    added_at: str
    etag: str | None = None
    last_modified: str | None = None
    last_checked_at: str | None = None
    last_success_at: str | None = None
    last_error: str | None = None
    last_error_at: str | None = None
    last_report: str | None = None

    def to_json(self) -> dict:
        return asdict(self)


@dataclass
class SourceResult:
    location: str
    ok: bool
    report: str  # one line: what was ingested, or the error

    def __str__(self) -> str:
        return f"{self.location}: {self.report}"


def now_iso() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _classify(location: str) -> tuple[str, str]:
    """(kind, normalized location) for a URL or a folder; SourceError otherwise."""
    location = location.strip()
    parsed = urlparse(location)
    if parsed.scheme in ("http", "https"):
        if not parsed.netloc:
            raise SourceError(f"{location!r} is not a complete URL")
        return "url", location
    if parsed.scheme and len(parsed.scheme) > 1:  # not a Windows drive letter
        raise SourceError(f"{parsed.scheme}: sources are not supported; give an http(s) URL or a folder")
    folder = Path(location).expanduser()
    if not folder.is_dir():
        raise SourceError(f"{location!r} is neither an http(s) URL nor an existing folder")
    return "folder", str(folder.resolve())


async def add_source(db: Database, location: str) -> Source:
    kind, location = _classify(location)
    if await db.fetchval("SELECT 1 FROM sources WHERE location = ?", (location,)):
        raise SourceError(f"{location} is already a source")
    await db.execute("INSERT INTO sources (location, kind) VALUES (?, ?)", (location, kind))
    return (await _load(db, "location = ?", location))[0]


async def list_sources(db: Database) -> list[Source]:
    return await _load(db, "1 = 1")


async def remove_source(db: Database, ref: str) -> Source:
    """Remove a source by its number (as `sources list` shows) or its location."""
    ref = ref.strip()
    found = await _load(db, "id = ? OR location = ?", int(ref) if ref.isdigit() else -1, ref)
    if not found:
        raise SourceError(f"no source {ref!r}: see `paperbot sources list`")
    await db.execute("DELETE FROM sources WHERE id = ?", (found[0].id,))
    return found[0]


async def _load(db: Database, where: str, *params) -> list[Source]:
    rows = await db.fetchall(f"SELECT * FROM sources WHERE {where} ORDER BY id", params)  # noqa: S608 - fixed clauses
    return [Source(**dict(row)) for row in rows]


def _summary(reports: list[FileReport]) -> str:
    parts = []
    for report in reports:
        if report.error:
            parts.append(f"{report.name}: {report.error}")
        elif report.already_ingested:
            continue
        else:
            parts.append(f"{report.name}: {report.new} new, {report.updated} updated")
    return "; ".join(parts) or "no changes"


async def _read_limited(response: aiohttp.ClientResponse, max_bytes: int) -> bytes:
    """The body, refusing it as soon as it passes `max_bytes` (Content-Length may be absent or wrong)."""
    if response.content_length is not None and response.content_length > max_bytes:
        raise SourceError(f"the digest is {response.content_length:,} bytes; the limit is {max_bytes:,}")
    chunks, size = [], 0
    async for chunk in response.content.iter_chunked(READ_CHUNK):
        size += len(chunk)
        if size > max_bytes:
            raise SourceError(f"the digest is larger than the {max_bytes:,}-byte limit")
        chunks.append(chunk)
    return b"".join(chunks)


async def _fetch_url(db: Database, source: Source, session: aiohttp.ClientSession, timeout_s: float, max_bytes: int) -> str:
    headers = {"User-Agent": USER_AGENT}
    if source.etag:
        headers["If-None-Match"] = source.etag
    if source.last_modified:
        headers["If-Modified-Since"] = source.last_modified
    async with session.get(
        source.location, headers=headers, timeout=aiohttp.ClientTimeout(total=timeout_s), allow_redirects=True
    ) as response:
        if response.status == 304:
            return "not modified"
        if response.status != 200:
            raise SourceError(f"HTTP {response.status} {response.reason or ''}".strip())
        data = await _read_limited(response, max_bytes)
        etag, last_modified = response.headers.get("ETag"), response.headers.get("Last-Modified")
    name = Path(urlparse(source.location).path).name or urlparse(source.location).netloc
    report = await ingest_bytes(db, data, name, source.location)
    if report.error:
        raise SourceError(report.error)
    # validators are kept only once the content is safely ingested
    await db.execute(
        "UPDATE sources SET etag = ?, last_modified = ? WHERE id = ?", (etag, last_modified, source.id)
    )
    return _summary([report])


async def _fetch_folder(db: Database, source: Source) -> str:
    folder = Path(source.location)
    if not folder.is_dir():
        raise SourceError("the folder no longer exists")
    return _summary([await ingest_file(db, path) for path in digest_files([folder])])


async def fetch_source(
    db: Database, source: Source, session: aiohttp.ClientSession, *, timeout_s: float = 30, max_bytes: int = 20_000_000
) -> SourceResult:
    """Fetch and ingest one source, recording the outcome on it; never raises for a bad source."""
    try:
        if source.kind == "url":
            report = await _fetch_url(db, source, session, timeout_s, max_bytes)
        else:
            report = await _fetch_folder(db, source)
    except (SourceError, aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
        message = _error_line(exc, timeout_s)
        await db.execute(
            "UPDATE sources SET last_checked_at = ?, last_error = ?, last_error_at = ? WHERE id = ?",
            (now_iso(), message, now_iso(), source.id),
        )
        return SourceResult(source.location, False, message)
    await db.execute(
        "UPDATE sources SET last_checked_at = ?, last_success_at = ?, last_report = ? WHERE id = ?",
        (now_iso(), now_iso(), report, source.id),
    )
    return SourceResult(source.location, True, report)


def _error_line(exc: BaseException, timeout_s: float) -> str:
    if isinstance(exc, asyncio.TimeoutError):
        return f"no answer within {timeout_s:g} s"
    if isinstance(exc, aiohttp.ClientConnectorError):
        return f"cannot connect ({exc.os_error or exc})"
    return str(exc) or type(exc).__name__


async def fetch_all(
    db: Database, *, session: aiohttp.ClientSession | None = None, timeout_s: float = 30, max_bytes: int = 20_000_000
) -> list[SourceResult]:
    """Fetch every source in turn. Sequential on purpose: ingestion has one writer anyway,
    and a handful of daily files does not need parallel downloads."""
    own_session = session is None
    session = session or aiohttp.ClientSession()
    try:
        return [
            await fetch_source(db, source, session, timeout_s=timeout_s, max_bytes=max_bytes)
            for source in await list_sources(db)
        ]
    finally:
        if own_session:
            await session.close()
