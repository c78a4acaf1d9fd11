"""Digest sources against a real HTTP server on 127.0.0.1 serving the real corpus files, with a
real SQLite file: add/list/remove, conditional fetches, changes, failures, limits, folders."""

from __future__ import annotations

import re
import shutil
import socket

import aiohttp
import pytest

from bot.services.sources import (
    SourceError,
    add_source,
    fetch_all,
    fetch_source,
    list_sources,
    remove_source,
)
from tests.conftest import corpus_file

ISO_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


async def count(db, table: str) -> int:
    return await db.fetchval(f"SELECT count(*) FROM {table}")


async def source_named(db, name: str):
    [source] = [s for s in await list_sources(db) if s.location.rstrip("/").endswith("/" + name)]
    return source


def closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- the list ---------------------------------------------------------------------------------


async def test_sources_are_added_listed_and_removed(db, tmp_path, monkeypatch):
    (tmp_path / "inbox").mkdir()
    monkeypatch.chdir(tmp_path)
    url = await add_source(db, "  https://example.org/digests/today.md ")
    folder = await add_source(db, "inbox")  # relative: stored absolute
    assert (url.kind, url.location) == ("url", "https://example.org/digests/today.md")
    assert (folder.kind, folder.location) == ("folder", str((tmp_path / "inbox").resolve()))
    assert ISO_UTC.match(url.added_at) and url.last_checked_at is None
    columns = {row["name"] for row in await db.fetchall("PRAGMA table_info(sources)")}
    assert set(url.to_json()) == columns
    assert await list_sources(db) == [url, folder]

    assert await remove_source(db, url.id) == url  # by number, as an int ...
    assert await remove_source(db, "inbox/") == folder  # ... or by the folder as it was spelled
    assert await list_sources(db) == []
    await add_source(db, url.location)
    assert (await remove_source(db, url.location)).location == url.location  # ... or by location


@pytest.mark.parametrize(
    ("location", "message"),
    [
        ("file:///etc/passwd", "file: sources are not supported"),
        ("ftp://example.org/x.md", "ftp: sources are not supported"),
        ("http://", "not a complete URL"),
        ("", "give an http(s) URL or a folder"),
        ("missing-folder", "neither an http(s) URL nor an existing folder"),
        ("digest.txt", "neither an http(s) URL nor an existing folder"),  # a file, not a folder
    ],
)
async def test_bad_locations_are_refused_in_one_line(db, tmp_path, monkeypatch, location, message):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "digest.txt").write_text("not a folder")
    with pytest.raises(SourceError, match=re.escape(message)) as caught:
        await add_source(db, location)
    assert "\n" not in str(caught.value)
    assert await list_sources(db) == []


async def test_duplicates_and_unknown_sources_are_refused(db, tmp_path):
    await add_source(db, "https://example.org/today.md")
    await add_source(db, str(tmp_path))
    with pytest.raises(SourceError, match="already a source"):
        await add_source(db, "https://example.org/today.md")
    with pytest.raises(SourceError, match="already a source"):
        await add_source(db, str(tmp_path) + "/.")  # the same folder, spelled differently
    with pytest.raises(SourceError, match="no source '42'"):
        await remove_source(db, 42)
    with pytest.raises(SourceError, match="no source"):
        await remove_source(db, "https://example.org/other.md")
    assert len(await list_sources(db)) == 2


# --- URLs -------------------------------------------------------------------------------------


async def test_url_is_ingested_then_fetched_conditionally(db, digest_server):
    name = corpus_file("003").name
    await add_source(db, digest_server.url(name))
    [first] = await fetch_all(db)

    papers = await count(db, "papers")
    assert papers > 0
    assert first.ok and first.report == f"{name}: {papers} new, 0 updated"
    digest = await db.fetchone("SELECT name, path FROM digests")
    assert (digest["name"], digest["path"]) == (name, digest_server.url(name))
    source = await source_named(db, name)
    assert source.etag == digest_server.etag(name) and source.last_modified
    assert ISO_UTC.match(source.last_success_at) and source.last_checked_at == source.last_success_at
    assert (source.last_report, source.last_error) == (first.report, None)
    [request] = digest_server.seen(name)
    assert request.headers["User-Agent"] == "paperbot" and "If-None-Match" not in request.headers

    # the caller's own session works too, and still sends the User-Agent
    async with aiohttp.ClientSession() as session:
        second = await fetch_source(db, source, session, timeout_s=5)
    assert second.ok and second.report == "not modified"
    request = digest_server.seen(name)[-1]
    assert request.status == 304 and request.headers["User-Agent"] == "paperbot"
    assert request.headers["If-None-Match"] == source.etag
    assert request.headers["If-Modified-Since"] == source.last_modified
    assert (await count(db, "digests"), await count(db, "papers")) == (1, papers)
    again = await source_named(db, name)
    assert again.last_report == "not modified" and again.etag == source.etag
    assert again.last_success_at >= source.last_success_at


async def test_changed_content_is_fetched_and_ingested_again(db, digest_server):
    digest_server.replace("daily.txt", corpus_file("001").read_bytes())
    await add_source(db, digest_server.url("daily.txt"))
    [first] = await fetch_all(db)
    old_etag = (await source_named(db, "daily.txt")).etag
    papers = await count(db, "papers")
    assert first.ok and first.report.startswith("daily.txt: ") and papers > 0

    digest_server.replace("daily.txt", corpus_file("004").read_bytes())  # the pipeline rewrote it
    [second] = await fetch_all(db)
    added = await count(db, "papers") - papers
    assert second.ok and added > 0 and second.report.startswith(f"daily.txt: {added} new, ")
    request = digest_server.seen("daily.txt")[-1]
    assert request.headers["If-None-Match"] == old_etag and request.status == 200
    assert await count(db, "digests") == 2
    assert (await source_named(db, "daily.txt")).etag == digest_server.etag("daily.txt") != old_etag


async def test_last_modified_alone_makes_the_request_conditional(db, digest_server):
    name = corpus_file("004").name
    digest_server.omit_etag(name)
    await add_source(db, digest_server.url(name))
    await fetch_all(db)
    source = await source_named(db, name)
    assert source.etag is None and source.last_modified

    [second] = await fetch_all(db)
    assert second.report == "not modified"
    request = digest_server.seen(name)[-1]
    assert request.status == 304 and "If-None-Match" not in request.headers
    assert request.headers["If-Modified-Since"] == source.last_modified


async def test_failing_sources_are_recorded_and_do_not_stop_the_others(db, digest_server):
    good = corpus_file("004").name
    digest_server.fail("broken.txt", 500)
    digest_server.hang("slow.txt", 30)
    for location in (
        digest_server.url("broken.txt"),
        digest_server.url("slow.txt"),
        f"http://127.0.0.1:{closed_port()}/refused.txt",
        digest_server.url("missing.txt"),
        digest_server.url(good),
    ):
        await add_source(db, location)

    results = {r.location.rsplit("/", 1)[1]: r for r in await fetch_all(db, timeout_s=0.3)}

    assert [r.ok for r in results.values()] == [False, False, False, False, True]
    assert results["broken.txt"].report == "HTTP 500 Internal Server Error"
    assert results["slow.txt"].report == "no answer within 0.3 s"
    assert results["refused.txt"].report.startswith("cannot connect to 127.0.0.1:")
    assert results["missing.txt"].report == "HTTP 404 Not Found"
    assert await count(db, "papers") > 0
    for name, result in results.items():
        source = await source_named(db, name)
        if result.ok:
            assert source.last_error is None and source.last_success_at
        else:
            assert source.last_error == result.report and "\n" not in source.last_error
            assert ISO_UTC.match(source.last_error_at) and source.last_checked_at == source.last_error_at
            assert source.last_success_at is None and source.etag is None

    # a source that worked and then fails keeps its last success and its validators
    before = await source_named(db, good)
    digest_server.fail(good, 503)
    await fetch_all(db, timeout_s=0.3)
    after = await source_named(db, good)
    assert after.last_error == "HTTP 503 Service Unavailable"
    assert (after.etag, after.last_success_at, after.last_report) == (
        before.etag, before.last_success_at, before.last_report
    )


async def test_bodies_over_the_limit_are_refused_and_nothing_is_ingested(db, digest_server):
    digest_server.replace("declared.txt", corpus_file("000").read_bytes())  # has a Content-Length
    digest_server.oversize("streamed.txt", 200_000_000)  # chunked: no Content-Length to trust
    await add_source(db, digest_server.url("declared.txt"))
    await add_source(db, digest_server.url("streamed.txt"))

    declared, streamed = await fetch_all(db, max_bytes=10_000, timeout_s=5)

    size = len(corpus_file("000").read_bytes())
    assert not declared.ok and declared.report == f"the digest is {size:,} bytes; the limit is 10,000"
    assert not streamed.ok and streamed.report == "the digest is larger than the limit of 10,000 bytes"
    # the fetcher hung up soon after the limit rather than reading all 200 MB
    assert 10_000 < digest_server.bytes_sent["streamed.txt"] < 50_000_000
    assert (await count(db, "digests"), await count(db, "papers")) == (0, 0)
    assert all(s.etag is None and s.last_success_at is None for s in await list_sources(db))


async def test_unreadable_digests_record_the_ingest_error(db, digest_server):
    digest_server.replace("garbage.bin", bytes(range(256)) * 10)
    digest_server.replace("notes.txt", b"Shopping list\n- milk\n- eggs\n")
    await add_source(db, digest_server.url("garbage.bin"))
    await add_source(db, digest_server.url("notes.txt"))

    garbage, notes = await fetch_all(db)

    assert not garbage.ok and garbage.report == "garbage.bin: not text (binary data)"
    assert not notes.ok and notes.report.startswith("notes.txt: unknown digest format")
    assert (await count(db, "digests"), await count(db, "papers")) == (0, 0)
    # no validators kept: the next fetch downloads it again instead of trusting a 304
    assert all(s.etag is None and s.last_error for s in await list_sources(db))
    await fetch_all(db)
    assert "If-None-Match" not in digest_server.seen("garbage.bin")[-1].headers


# --- folders ----------------------------------------------------------------------------------


async def test_folder_source_ingests_what_another_job_writes(db, tmp_path):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    await add_source(db, str(inbox))
    [empty] = await fetch_all(db)
    assert empty.ok and empty.report == "no changes"

    shutil.copy(corpus_file("001"), inbox / "today.txt")
    (inbox / "README.md").write_text("# Not a digest\n")  # skipped, as in the corpus folder
    [result] = await fetch_all(db)
    papers = await count(db, "papers")
    assert result.ok and result.report == f"today.txt: {papers} new, 0 updated" and papers > 0
    [again] = await fetch_all(db)
    assert again.ok and again.report == "no changes"
    assert await count(db, "digests") == 1

    (inbox / "broken.txt").write_bytes(b"\xff\xfe not utf-8")
    [bad] = await fetch_all(db)
    assert not bad.ok and bad.report.startswith("broken.txt: not UTF-8 text")
    source = (await list_sources(db))[0]
    assert source.last_error == bad.report and source.last_report == "no changes"

    shutil.rmtree(inbox)
    [gone] = await fetch_all(db)
    assert not gone.ok and gone.report == f"the folder {inbox.resolve()} no longer exists"
