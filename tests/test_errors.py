"""One error path: whatever a user gets wrong ends in one line and a documented exit code,
within seconds, in the CLI and in the console alike."""

from __future__ import annotations

import asyncio
import io
import json
import shutil

import pytest
from rich.console import Console

from bot.console import PaperConsole
from bot.services.library import Library
from bot.services.sources import add_source
from bot.settings import Settings
from bot.store import Database, DatabaseError
from tests.conftest import corpus_file
from tests.test_cli import PAPERBOT, environment, run


def one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("paperbot: "), err
    return lines[0]


@pytest.mark.parametrize(
    ("args", "code", "says"),
    [
        (("ask", "   "), 1, "ask a question"),
        (("sources", "add"), 1, "give an http(s) URL or a folder"),
        (("backup", "/missing/dir/x.db"), 1, "/missing/dir is not a folder"),
        (("search", "x", "--limit", "0"), 1, "the limit must be at least 1"),
    ],
)
async def test_bad_input_is_one_line_and_an_exit_code(tmp_path, args, code, says):
    returned, _, err = await run(tmp_path, *args)
    assert returned == code and says in one_line(err)


async def test_embeddings_endpoint_missing_ends_at_once_with_the_configuration_code(tmp_path):
    # the database used to be opened first and never closed: the process printed and then hung
    returned, _, err = await asyncio.wait_for(run(tmp_path, "stats", PAPERBOT_EMBEDDINGS="openai"), 20)
    assert returned == 2 and "PAPERBOT_EMBEDDINGS=openai needs an endpoint" in one_line(err)


async def test_an_invalid_setting_names_itself(tmp_path):
    returned, _, err = await run(tmp_path, "stats", PAPERBOT_CONTEXT_WINDOW="lots")
    assert returned == 2 and "PAPERBOT_CONTEXT_WINDOW is invalid" in one_line(err)


async def test_a_write_to_a_read_only_database_is_a_database_error(tmp_path):
    async with await Database.open(tmp_path / "ro.db") as db:
        await db._writer.execute("PRAGMA query_only=1")  # as a read-only file behaves, even for root
        with pytest.raises(DatabaseError, match="the database is read-only"):
            await add_source(db, str(tmp_path))
        assert await db.fetchval("SELECT count(*) FROM sources") == 0


async def test_a_console_session_survives_bad_commands(tmp_path):
    out = Console(file=io.StringIO(), width=200)
    settings = Settings(PAPERBOT_DB=tmp_path / "c.db", PAPERBOT_EMBEDDINGS="off")
    async with await Library.open(settings) as library:
        console = PaperConsole(library, out)
        assert await console.execute('/ask " "') == [
            'ask a question, e.g. paperbot ask "what is new in retrieval-augmented generation?"'
        ]
        assert "at least 1" in (await console.execute("/search x --limit -3"))[0]


async def test_piped_console_goes_on_after_an_error(tmp_path):
    process = await asyncio.create_subprocess_exec(
        *PAPERBOT, "console", cwd=tmp_path, env=environment(tmp_path),
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(b'/ask " "\n/help\n'), 60)
    assert process.returncode == 0 and "ask a question" in out.decode() and "/roundup" in out.decode()
    assert "Traceback" not in err.decode()


async def test_ingest_of_a_folder_with_one_bad_file_fails_and_keeps_the_good_one(tmp_path):
    folder = tmp_path / "digests"
    folder.mkdir()
    shutil.copy(corpus_file("004"), folder)
    (folder / "broken.md").write_text("nothing a parser knows\n")
    returned, out, _ = await run(tmp_path, "ingest", str(folder), "--json")
    reports = {r["file"]: r for r in json.loads(out)}
    assert returned == 1 and reports["broken.md"]["error"]
    assert reports[corpus_file("004").name]["new"] > 0


async def test_a_digest_starting_with_rich_markup_is_reported_as_text(tmp_path):
    (tmp_path / "odd.md").write_text("[/] not a digest at all\n")
    returned, _, err = await run(tmp_path, "ingest", str(tmp_path / "odd.md"))
    assert returned == 1 and "Traceback" not in err
    # the parser quotes the file's opening, which rich would have taken for a closing tag
    assert any(line.startswith("✗ odd.md: ") and "[/]" in line for line in err.splitlines())


MARKUP_TITLE = "Closing [/] and [bold]opening[/bold] brackets in a title"
MARKUP_DIGEST = f"""\
### LLM
|Publish Date|Title|Authors|Homepage|Code|
| :---: | :---: | :---: | :---: | :---: |
|**2025-01-02**|**{MARKUP_TITLE}**|A. Author et.al.|[2501.00003v1](http://arxiv.org/abs/2501.00003v1)|null|

#### Abstracts
##### **{MARKUP_TITLE}**
2501.00003v1 by A. Author

An abstract that closes [/] a tag it never opened.
"""


async def test_paper_text_that_looks_like_rich_markup_is_printed_as_it_is(tmp_path):
    (tmp_path / "markup.md").write_text(MARKUP_DIGEST, encoding="utf-8")
    assert (await run(tmp_path, "ingest", str(tmp_path / "markup.md")))[0] == 0
    for args in (("search", "brackets", "--mode", "lexical"), ("show", "2501.00003")):
        returned, out, err = await run(tmp_path, *args, COLUMNS="300")
        assert returned == 0 and "Traceback" not in err, err
        assert MARKUP_TITLE in out
