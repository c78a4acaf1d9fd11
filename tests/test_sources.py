"""Digest sources against a real HTTP server on 127.0.0.1 serving the real corpus files."""

from __future__ import annotations

import shutil

import pytest

from bot.services.sources import SourceError, add_source, fetch_all, list_sources, remove_source
from tests.conftest import corpus_file
from tests.support.digest_server import digest_server  # noqa: F401 - fixture


async def paper_count(db) -> int:
    return await db.fetchval("SELECT count(*) FROM papers")


async def test_sources_are_added_listed_and_removed_with_clear_errors(db, tmp_path):
    url = await add_source(db, "https://example.org/digests/today.md")
    folder = await add_source(db, str(tmp_path))
    assert (url.kind, folder.kind) == ("url", "folder")
    assert [s.location for s in await list_sources(db)] == [url.location, str(tmp_path.resolve())]
    with pytest.raises(SourceError, match="already"):
        await add_source(db, url.location)
    with pytest.raises(SourceError, match="ftp"):
        await add_source(db, "ftp://example.org/x.md")
    with pytest.raises(SourceError, match="neither"):
        await add_source(db, str(tmp_path / "missing"))
    assert (await remove_source(db, str(url.id))).location == url.location
    with pytest.raises(SourceError, match="no source"):
        await remove_source(db, "42")
    assert len(await list_sources(db)) == 1


async def test_url_is_ingested_then_fetched_conditionally(db, digest_server):
    digest = corpus_file("003").read_bytes()
    digest_server.put("daily.md", digest)
    await add_source(db, digest_server.url("daily.md"))
    [first] = await fetch_all(db)
    assert first.ok and "100 new" in first.report
    assert await paper_count(db) == 100
    [source] = await list_sources(db)
    assert source.etag and source.last_success_at and source.last_error is None

    [second] = await fetch_all(db)
    assert second.ok and second.report == "not modified"
    assert digest_server.conditional["daily.md"] == 1

    # the pipeline rewrites the file: new content is fetched and ingested
    digest_server.put("daily.md", corpus_file("002").read_bytes())
    [third] = await fetch_all(db)
    assert third.ok and "new" in third.report
    assert await paper_count(db) > 100


async def test_failing_sources_are_recorded_and_do_not_stop_the_others(db, digest_server):
    digest_server.put("good.md", corpus_file("004").read_bytes())
    digest_server.put("broken.md", b"x")
    digest_server.failures["broken.md"] = 500
    digest_server.put("slow.md", b"x")
    digest_server.hang_s["slow.md"] = 3
    for name in ("broken.md", "slow.md", "good.md"):
        await add_source(db, digest_server.url(name))
    results = {r.location.rsplit("/", 1)[1]: r for r in await fetch_all(db, timeout_s=0.5)}
    assert not results["broken.md"].ok and "HTTP 500" in results["broken.md"].report
    assert not results["slow.md"].ok and "within 0.5 s" in results["slow.md"].report
    assert results["good.md"].ok and await paper_count(db) == 9
    errors = {s.location.rsplit("/", 1)[1]: s.last_error for s in await list_sources(db)}
    assert errors == {"broken.md": "HTTP 500 Internal Server Error", "slow.md": "no answer within 0.5 s", "good.md": None}


async def test_oversized_and_unreadable_digests_ingest_nothing(db, digest_server):
    digest_server.put("huge.md", b"# digest\n" + b"a" * 50_000)
    digest_server.put("garbage.md", bytes(range(256)) * 10)
    await add_source(db, digest_server.url("huge.md"))
    await add_source(db, digest_server.url("garbage.md"))
    huge, garbage = await fetch_all(db, max_bytes=10_000)
    assert not huge.ok and "10,000" in huge.report
    assert not garbage.ok and "garbage" not in garbage.report
    assert await paper_count(db) == 0
    assert all(s.etag is None for s in await list_sources(db))  # nothing to be conditional about


async def test_folder_source_ingests_what_another_job_writes(db, tmp_path):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    await add_source(db, str(inbox))
    [empty] = await fetch_all(db)
    assert empty.ok and empty.report == "no changes"
    shutil.copy(corpus_file("001"), inbox / "today.txt")
    [result] = await fetch_all(db)
    assert result.ok and "today.txt: 8 new" in result.report
    [again] = await fetch_all(db)
    assert again.report == "no changes"
