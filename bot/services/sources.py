"""Digest sources: URLs that a public pipeline rewrites every day, or folders another job
writes into, fetched on a schedule and ingested before the roundups run.

URLs are fetched with conditional requests (ETag / Last-Modified), a timeout and a size limit
enforced while reading. Each source keeps a record of its last success and its last error; one
failing source never stops the others. Ingestion is idempotent by content hash, so fetching a
file that has not changed costs nothing.
"""

from __future__ import annotations

from bot.errors import PaperbotError
import logging
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path, PurePosixPath
from urllib.parse import unquote, urlparse

import aiohttp

from bot.services.background_embedding import BackgroundEmbedding
from bot.services.ingest import FileReport, digest_files, embed_new, ingest_bytes, ingest_file
from bot.services.library import Library
from bot.store import Database

log = logging.getLogger(__name__)

USER_AGENT = "paperbot"
READ_CHUNK = 64 * 1024
DEFAULT_TIMEOUT_S = 30.0
DEFAULT_MAX_BYTES = 20_000_000
MAX_ERROR_CHARS = 300


class SourceError(PaperbotError):
    """A source that cannot be added, removed or read; the one-line message says why."""


@dataclass
class Source:
    """One row of `sources`."""

    id: int
    location: str  # http(s) URL or absolute folder path
    kind: str  # 'url' or 'folder'
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
    """What one fetch did: `report` is the line stored as last_report, or as last_error."""

    location: str
    ok: bool
    report: str

    def __str__(self) -> str:
        return f"{self.location}: {self.report}"


def now_iso() -> str:
    """UTC with milliseconds and Z, the same shape as the schema's `added_at` default."""
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


# --- the list of sources ----------------------------------------------------------------------


def _classify(location: str) -> tuple[str, str]:
    """(kind, stored location) for an http(s) URL or an existing folder; SourceError otherwise."""
    if not location:
        raise SourceError("give an http(s) URL or a folder")
    parsed = urlparse(location)
    if parsed.scheme in ("http", "https"):
        if not parsed.hostname:
            raise SourceError(f"{location!r} is not a complete URL (no host)")
        return "url", location
    if len(parsed.scheme) > 1:  # a one-letter scheme is a Windows drive, i.e. a path
        raise SourceError(f"{parsed.scheme}: sources are not supported; give an http(s) URL or a folder")
    try:
        folder = Path(location).expanduser().resolve()
        is_folder = folder.is_dir()
    except (OSError, ValueError, RuntimeError):  # unreadable, NUL byte, symlink loop
        is_folder = False
    if not is_folder:
        raise SourceError(f"{location!r} is neither an http(s) URL nor an existing folder")
    return "folder", str(folder)


async def add_source(db: Database, location: str | None) -> Source:
    kind, location = _classify((location or "").strip())
    # checked inside the write transaction so two concurrent adds cannot both pass the check
    async with db.transaction() as conn:
        async with conn.execute("SELECT 1 FROM sources WHERE location = ?", (location,)) as cursor:
            if await cursor.fetchone():
                raise SourceError(f"{location} is already a source")
        cursor = await conn.execute("INSERT INTO sources (location, kind) VALUES (?, ?)", (location, kind))
        source_id = cursor.lastrowid
    return (await _load(db, "id = ?", source_id))[0]


async def list_sources(db: Database) -> list[Source]:
    return await _load(db, "1 = 1")


async def remove_source(db: Database, id_or_location: int | str) -> Source:
    """Remove a source by its number (as `sources list` shows) or its location, a folder
    spelled as it was when added (relative or with a trailing slash) included."""
    ref = str(id_or_location).strip()
    source_id = int(ref) if ref.isdigit() else -1
    try:
        resolved = str(Path(ref).expanduser().resolve())
    except (OSError, ValueError, RuntimeError):
        resolved = ref
    found = await _load(db, "id = ? OR location IN (?, ?)", source_id, ref, resolved)
    if not found:
        raise SourceError(f"no source {ref!r}: see `paperbot sources list`")
    await db.execute("DELETE FROM sources WHERE id = ?", (found[0].id,))
    return found[0]


async def _load(db: Database, where: str, *params: object) -> list[Source]:
    # `where` is always one of the fixed clauses above, never input
    rows = await db.fetchall(f"SELECT * FROM sources WHERE {where} ORDER BY id", params)
    return [Source(**dict(row)) for row in rows]


# --- fetching ---------------------------------------------------------------------------------


@dataclass
class _Fetched:
    """A successful fetch: the report line, and the validators to send next time."""

    report: str
    etag: str | None = None
    last_modified: str | None = None


def _summary(reports: list[FileReport]) -> str:
    parts = [
        f"{r.name}: {r.error}" if r.error else f"{r.name}: {r.new} new, {r.updated} updated"
        for r in reports
        if r.error or not r.already_ingested
    ]
    return "; ".join(parts) or "no changes"


def _download_name(url: str) -> str:
    """The name a downloaded digest is recorded under: the URL's last path segment, or its host."""
    parsed = urlparse(url)
    return PurePosixPath(unquote(parsed.path)).name or parsed.hostname or url


async def _read_limited(response: aiohttp.ClientResponse, max_bytes: int) -> bytes:
    """The body, refused as soon as it passes `max_bytes`: Content-Length may be absent (chunked),
    wrong, or describe a compressed body that inflates far beyond it."""
    if response.content_length is not None and response.content_length > max_bytes:
        raise SourceError(f"the digest is {response.content_length:,} bytes; the limit is {max_bytes:,}")
    chunks, size = [], 0
    async for chunk in response.content.iter_chunked(READ_CHUNK):
        size += len(chunk)
        if size > max_bytes:
            raise SourceError(f"the digest is larger than the limit of {max_bytes:,} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


async def _fetch_url(
    db: Database, source: Source, session: aiohttp.ClientSession, timeout_s: float, max_bytes: int
) -> _Fetched:
    # set on the request, not the session, so that a session the caller passes in sends it too
    headers = {"User-Agent": USER_AGENT}
    if source.etag:
        headers["If-None-Match"] = source.etag
    if source.last_modified:
        headers["If-Modified-Since"] = source.last_modified
    # `total` covers connecting, waiting and reading the body, so a server that trickles is cut off too
    timeout = aiohttp.ClientTimeout(total=timeout_s)
    async with session.get(source.location, headers=headers, timeout=timeout) as response:
        if response.status == 304:
            return _Fetched("not modified", source.etag, source.last_modified)
        if not 200 <= response.status < 300:
            raise SourceError(f"HTTP {response.status} {response.reason or ''}".strip())
        data = await _read_limited(response, max_bytes)
        etag, last_modified = response.headers.get("ETag"), response.headers.get("Last-Modified")
    name = _download_name(source.location)
    report = await ingest_bytes(db, data, name, source.location)
    if report.error:
        raise SourceError(f"{name}: {report.error}")
    return _Fetched(_summary([report]), etag, last_modified)


async def _fetch_folder(db: Database, source: Source) -> _Fetched:
    folder = Path(source.location)
    if not folder.is_dir():
        raise SourceError(f"the folder {folder} no longer exists")
    reports = [await ingest_file(db, path) for path in digest_files([folder])]
    if any(r.error for r in reports):
        # the readable files are ingested all the same; the line names both
        raise SourceError(_summary(reports))
    return _Fetched(_summary(reports))


def _error_line(exc: BaseException, timeout_s: float) -> str:
    if isinstance(exc, TimeoutError):  # includes aiohttp's ServerTimeoutError
        message = f"no answer within {timeout_s:g} s"
    elif isinstance(exc, aiohttp.ClientConnectorError):
        message = f"cannot connect to {exc.host}:{exc.port} ({exc.os_error.strerror or exc.os_error})"
    elif isinstance(exc, SourceError):
        message = str(exc)
    else:
        message = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    message = " ".join(message.split())  # one line, whatever the library put in it
    return message if len(message) <= MAX_ERROR_CHARS else message[: MAX_ERROR_CHARS - 1] + "…"


async def fetch_source(
    db: Database,
    source: Source,
    session: aiohttp.ClientSession,
    *,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> SourceResult:
    """Fetch and ingest one source and record the outcome on its row. Never raises for a bad
    source: what went wrong becomes its `last_error`, so the others and the roundups still run.
    A failure keeps the stored validators, so the next fetch retries with the same condition."""
    try:
        if source.kind == "url":
            fetched = await _fetch_url(db, source, session, timeout_s, max_bytes)
        else:
            fetched = await _fetch_folder(db, source)
    except Exception as exc:  # noqa: BLE001 - one source must never stop the others
        if not isinstance(exc, (SourceError, aiohttp.ClientError, TimeoutError, OSError)):
            log.exception("unexpected error fetching digest source %s", source.location)
        message, now = _error_line(exc, timeout_s), now_iso()
        await db.execute(
            "UPDATE sources SET last_checked_at = ?, last_error = ?, last_error_at = ? WHERE id = ?",
            (now, message, now, source.id),
        )
        return SourceResult(source.location, False, message)
    # validators are written only now, after the content is safely ingested
    now = now_iso()
    await db.execute(
        "UPDATE sources SET etag = ?, last_modified = ?, last_checked_at = ?, last_success_at = ?, "
        "last_report = ? WHERE id = ?",
        (fetched.etag, fetched.last_modified, now, now, fetched.report, source.id),
    )
    return SourceResult(source.location, True, fetched.report)


async def fetch_all(
    db: Database,
    *,
    session: aiohttp.ClientSession | None = None,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> list[SourceResult]:
    """Fetch every source, in the order they were added, and return what each did.

    Sequential on purpose: ingestion has a single writer anyway, a handful of daily files does
    not need parallel downloads, and a fixed order keeps the merged papers the same from run to
    run (the first abstract seen is the one kept). The worst case is bounded: `timeout_s` per
    source."""
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


async def fetch_sources(
    library: Library,
    *,
    session: aiohttp.ClientSession | None = None,
    embedding: BackgroundEmbedding | None = None,
) -> list[SourceResult]:
    """What the bot runs hourly and before the roundups, and `paperbot sources fetch` runs once:
    every source fetched and ingested, then the new texts embedded so that search by meaning
    finds the fetched papers: in `embedding`'s background task when given (the bot: a roundup
    must not wait minutes for vectors it does not use), else before returning."""
    settings = library.settings
    results = await fetch_all(
        library.db, session=session, timeout_s=settings.sources_timeout_s, max_bytes=settings.sources_max_bytes
    )
    if any(result.ok for result in results):
        if embedding is not None:
            embedding.request()
        else:
            await embed_new(library)
    return results
