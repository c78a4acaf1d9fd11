"""One ingest path for every caller (CLI, /ingest, the digest sources): what it stores it also
embeds; rebuilding vectors never leaves papers without one; stats show what each digest gave;
long work reports where it is when stderr is not a terminal."""

from __future__ import annotations

import json
import shutil

import pytest

from bot.retrieval.vectors import count_missing
from bot.services.ingest import embed_new, ingest_upload
from bot.services.library import Library
from bot.services.sources import add_source, fetch_sources
from bot.settings import Settings
from tests.conftest import corpus_file
from tests.support.openai_server import Reply, server_error
from tests.test_cli import run

TWO_PAPERS = """\
### LLM
|Publish Date|Title|Authors|Homepage|Code|
| :---: | :---: | :---: | :---: | :---: |
|**2025-01-02**|**A Paper With An Abstract**|A. Author et.al.|[2501.00001v1](http://arxiv.org/abs/2501.00001v1)|null|
|**2025-01-02**|**A Paper Without One**|B. Author et.al.|[2501.00002v1](http://arxiv.org/abs/2501.00002v1)|null|

#### Abstracts
##### **A Paper With An Abstract**
2501.00001v1 by A. Author, B. Author

We study things carefully and find results.

摘要：我们仔细研究并发现结果。
"""


def embedding_settings(server, **values) -> dict:
    return {
        "OPENAI_API_KEY": "sk-test",
        "PAPERBOT_EMBEDDINGS": "openai",
        "PAPERBOT_EMBEDDINGS_BASE_URL": server.base_url,
        "PAPERBOT_LLM_TIMEOUT": "2",
        **values,
    }


@pytest.fixture
async def library(tmp_path, openai_server):
    settings = Settings(PAPERBOT_DB=tmp_path / "w.db", **embedding_settings(openai_server, PAPERBOT_LLM_MAX_ATTEMPTS="1"))
    async with await Library.open(settings) as opened:
        yield opened


def embedding_requests(server) -> list:
    return [r for r in server.requests if r.path.endswith("/embeddings")]


async def test_papers_fetched_from_a_source_are_searchable_by_meaning(library, tmp_path, openai_server):
    folder = tmp_path / "drop"
    folder.mkdir()
    shutil.copy(corpus_file("001"), folder)
    await add_source(library.db, str(folder))
    [result] = await fetch_sources(library)
    assert result.ok, result.report
    assert await library.db.fetchval("SELECT count(*) FROM papers") > 0
    assert await count_missing(library.db, library.retriever.embedder.name) == 0
    assert embedding_requests(openai_server)


async def test_an_uploaded_digest_is_stored_and_embedded_after_the_reply(library):
    missing_at_reply = []

    async def reply(report) -> None:  # what /ingest posts, before the embedding
        missing_at_reply.append(await count_missing(library.db, library.retriever.embedder.name))

    report = await ingest_upload(library, TWO_PAPERS.encode(), "two.md", on_stored=reply)
    assert report.error is None and report.new == 2
    assert missing_at_reply == [2]
    assert await count_missing(library.db, library.retriever.embedder.name) == 0


async def test_an_interrupted_rebuild_keeps_every_paper_searchable(library, openai_server):
    path = corpus_file("004")
    await ingest_upload(library, path.read_bytes(), path.name)
    name = library.retriever.embedder.name
    vectors = await library.db.fetchval("SELECT count(*) FROM paper_vectors WHERE embedder = ?", (name,))
    assert vectors > 16 and await count_missing(library.db, name) == 0
    # the endpoint answers one batch of the rebuild, then fails
    openai_server.script(Reply(text="one batch"), server_error(500))
    with pytest.raises(Exception, match="HTTP 500"):
        await embed_new(library, rebuild=True)
    assert await library.db.fetchval("SELECT count(*) FROM paper_vectors WHERE embedder = ?", (name,)) == vectors
    assert await count_missing(library.db, name) == 0


async def test_stats_show_per_digest_how_many_papers_came_with_a_summary(tmp_path):
    (tmp_path / "two.md").write_text(TWO_PAPERS, encoding="utf-8")
    code, _, err = await run(tmp_path, "ingest", str(tmp_path / "two.md"))
    assert code == 0, err
    code, out, _ = await run(tmp_path, "stats", "--json")
    [digest] = json.loads(out)["digest_files"]
    assert (digest["name"], digest["papers"], digest["papers_with_summary"]) == ("two.md", 2, 1)
    code, out, _ = await run(tmp_path, "stats")
    assert "with a summary" in out


async def test_ingest_reports_each_file_and_the_embedding_as_lines_when_not_a_terminal(tmp_path, openai_server):
    code, _, err = await run(tmp_path, "ingest", str(corpus_file("001")), **embedding_settings(openai_server))
    assert code == 0, err
    lines = err.strip().splitlines()
    assert any(line.startswith("✓ " + corpus_file("001").name) and "new" in line for line in lines)
    progress = [line for line in lines if line.startswith("embedding with openai:")]
    total = int(progress[-1].split("/")[-1].split()[0])
    assert progress[-1].endswith(f"{total}/{total} texts") and len(progress) >= total // 200
    assert f"Embedded {total} texts" in err
