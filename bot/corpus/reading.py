"""Reading a digest: bytes to text, the parser picked by content, entries merged per paper.

Pure CPU and no database, so ingestion runs it in a worker thread while it writes the
previous digest.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import PurePath

from bot.corpus.merge import merge_entries
from bot.corpus.model import DigestError, ParsedDigest, ParsedPaper, Problem
from bot.corpus.parsers import detect_parser, generic
from bot.corpus.text import clean_text

# Larger files are refused before reading: no real digest comes near it.
MAX_DIGEST_BYTES = 20_000_000
ARXIV_FIRST_DAY = date(1991, 8, 1)
# a date in a file's name or path: 2024-08-01.md, fmt000_20240801_x.md, paper_logs/2023/11/20.md
_PATH_DATE = re.compile(r"(?<!\d)(?P<y>(?:19|20)\d\d)(?P<sep>[-_./]?)(?P<m>[01]\d)(?P=sep)(?P<d>[0-3]\d)(?!\d)")


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
    if not digest.papers and parser is not generic and generic.detect(text):
        # it looked like a known layout but was not one: the arXiv ids still name its papers
        parser, problems = generic, digest.problems
        digest = generic.parse(text)
        digest.problems = problems + digest.problems
    for paper in digest.papers:
        paper.authors_source_rank = parser.AUTHORS_RANK
    if not digest.papers:
        reasons = "; ".join(f"line {p.line}: {p.message}" for p in digest.problems[:3])
        raise DigestError("no paper could be read" + (f" ({reasons})" if reasons else ""))
    return digest


def date_in_file_name(name_or_path: str) -> str | None:
    """The date a digest's file name (else its folders) carries, as YYYY-MM-DD: pipelines that
    write one file a day often put the date only there. The last valid date wins, the file
    name's before its folders'."""
    path = PurePath(name_or_path.replace("\\", "/"))
    for text in (path.name, path.as_posix()):
        for match in reversed(list(_PATH_DATE.finditer(text))):
            try:
                return date(int(match["y"]), int(match["m"]), int(match["d"])).isoformat()
            except ValueError:  # 2024-02-31 is not a day
                continue
    return None


def check_date(digest_date: str | None, today: date) -> None:
    """Refuse a digest dated after tomorrow (one server's upload must never become every
    server's "latest digest") or before arXiv existed. `today` is the UTC date; one day of
    slack covers digests written in time zones ahead of UTC."""
    if digest_date is None:
        return
    day = date.fromisoformat(digest_date)
    if day > today + timedelta(days=1):
        raise DigestError(f"dated {digest_date}, more than a day after today ({today.isoformat()})")
    if day < ARXIV_FIRST_DAY:
        raise DigestError(f"dated {digest_date}, before arXiv existed ({ARXIV_FIRST_DAY.isoformat()})")


@dataclass
class PreparedDigest:
    """A digest read and parsed, not yet written: the CPU half of ingesting it."""

    report: FileReport
    sha: str
    path: str | None
    digest: ParsedDigest | None = None
    papers: list[ParsedPaper] = field(default_factory=list)


def prepare_digest(data: bytes, name: str, path: str | None = None, today: date | None = None) -> PreparedDigest:
    """Decode, parse and merge a digest; a digest that cannot be read, or whose date is not
    sane, gets `report.error`. `today` defaults to the UTC date now (tests pass their own)."""
    prepared = PreparedDigest(FileReport(name=name), hashlib.sha256(data).hexdigest(), path)
    try:
        prepared.digest = parse_digest(decode_digest(data))
        # the digest's own date wins; the file name's is the same claim, so it is checked too
        prepared.digest.digest_date = prepared.digest.digest_date or date_in_file_name(path or name)
        check_date(prepared.digest.digest_date, today or datetime.now(UTC).date())
    except DigestError as exc:
        prepared.report.error = str(exc)
        return prepared
    prepared.report.format, prepared.report.digest_date = prepared.digest.format, prepared.digest.digest_date
    prepared.report.problems = list(prepared.digest.problems)
    prepared.papers = merge_entries(prepared.digest.papers)
    return prepared
