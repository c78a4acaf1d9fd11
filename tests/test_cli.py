"""The `paperbot` command as a user runs it: a real process, real files, one-line errors."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import sys

import pytest

from tests.conftest import CORPUS_DIR

PAPERBOT = [sys.executable, "-m", "bot"]


def environment(tmp_path, **extra) -> dict:
    env = dict(os.environ)  # already without OPENAI_*, PAPERBOT_*, DISCORD_* (conftest.sealed_settings)
    env.update({"PAPERBOT_DB": str(tmp_path / "cli.db"), "PAPERBOT_EMBEDDINGS": "off", **extra})
    env["PYTHONPATH"] = os.pathsep.join([os.getcwd(), env.get("PYTHONPATH", "")])
    return env


async def run(tmp_path, *args, **extra) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        *PAPERBOT, *args, cwd=tmp_path, env=environment(tmp_path, **extra),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, stdin=asyncio.subprocess.DEVNULL,
    )
    out, err = await asyncio.wait_for(process.communicate(), 120)
    return process.returncode, out.decode(), err.decode()


@pytest.fixture
def ingested(tmp_path, corpus_db_file):
    shutil.copyfile(corpus_db_file, tmp_path / "cli.db")
    return tmp_path


async def test_ingest_reports_per_file_and_is_a_no_op_the_second_time(tmp_path, corpus_dir):
    code, out, _ = await run(tmp_path, "ingest", str(corpus_dir), "--json")
    reports = json.loads(out)
    assert code == 0 and len(reports) == 5 and sum(r["new"] for r in reports) == 371
    code, out, _ = await run(tmp_path, "ingest", str(corpus_dir), "--json")
    assert code == 0 and all(r["already_ingested"] for r in json.loads(out))


async def test_unreadable_input_is_one_line_and_a_non_zero_exit(tmp_path):
    (tmp_path / "empty.md").write_text("")
    code, _, err = await run(tmp_path, "ingest", str(tmp_path / "empty.md"))
    assert code == 1 and "empty.md" in err and "Traceback" not in err
    code, _, err = await run(tmp_path, "show", "9999.99999")
    assert code == 1 and err.strip() == "paperbot: no paper with arXiv id 9999.99999 in the library"


async def test_stats_piped_names_every_digest_file_whole(tmp_path):
    digests = CORPUS_DIR.parent / "digests"
    code, _, _ = await run(tmp_path, "ingest", str(digests))
    assert code == 0
    code, out, _ = await run(tmp_path, "stats")
    rows = {line.split("\t")[0]: line.split("\t")[1:] for line in out.splitlines() if line.startswith("fmt")}
    assert code == 0 and set(rows) == {path.name for path in digests.glob("fmt*.md")}
    assert rows["fmt000_2024-08-01_dailay_paper_info.md"][:2] == ["structured-summaries", "2024-08-01"]


LONG_TITLE = ("A deliberately long title about distillation of segmentation models, written out in full so that "
              "no terminal of eighty columns could show it whole")
LONG_TITLE_DIGEST = f"""\
### LLM
|Publish Date|Title|Authors|Homepage|Code|
| :---: | :---: | :---: | :---: | :---: |
|**2025-01-02**|**{LONG_TITLE}**|A. Author et.al.|[2501.00004v1](http://arxiv.org/abs/2501.00004v1)|null|
|**2025-01-02**|**Distillation\tacross a tab**|B. Author et.al.|[2501.00005v1](http://arxiv.org/abs/2501.00005v1)|null|
"""


async def test_search_and_similar_piped_print_whole_titles_in_tab_separated_lines(tmp_path):
    (tmp_path / "long.md").write_text(LONG_TITLE_DIGEST, encoding="utf-8")
    assert (await run(tmp_path, "ingest", str(tmp_path / "long.md")))[0] == 0
    code, out, _ = await run(tmp_path, "search", "distillation", "--mode", "lexical")
    header, *rows = out.splitlines()
    assert code == 0 and header.split("\t") == ["#", "id", "title", "date", "score"]
    cells = {row.split("\t")[1]: row.split("\t") for row in rows}
    assert set(cells) == {"2501.00004", "2501.00005"} and all(len(row) == 5 for row in cells.values())
    assert cells["2501.00004"][2:4] == [LONG_TITLE, "2025-01-02"]
    assert cells["2501.00005"][2] == "Distillation across a tab"
    code, out, _ = await run(tmp_path, "similar", "2501.00005")
    assert code == 0 and out.splitlines()[1].split("\t")[1:3] == ["2501.00004", LONG_TITLE]


async def test_ask_without_an_llm_explains_and_lists_the_papers(ingested):
    code, _, err = await run(ingested, "ask", "segment anything for mitotic figures")
    assert code == 2 and "2407.12773" in err
    assert err.strip().splitlines()[-1].startswith("paperbot: no LLM is configured: set OPENAI_API_KEY")
    assert "Traceback" not in err


async def test_roundup_without_an_llm_still_works(ingested):
    code, out, _ = await run(ingested, "roundup", "--date", "2024-07-17", "--lang", "zh", "--limit", "5", "--json")
    data = json.loads(out)
    assert code == 0 and data["date"] == "2024-07-17" and len(data["papers"]) == 5
    assert all(len(block) <= 2000 for block in data["blocks"])
    assert {"arxiv_id", "title", "summary", "translated"} <= set(data["papers"][0])


async def test_summarize_through_an_openai_compatible_endpoint(ingested, openai_server):
    openai_server.responder = lambda body: "Ein kurzer Überblick."
    env = {"OPENAI_API_KEY": "sk-test", "OPENAI_BASE_URL": openai_server.base_url}
    code, out, err = await run(ingested, "summarize", "2407.12772", "--lang", "de", "--json", **env)
    assert code == 0, err
    assert json.loads(out)["summary"] == "Ein kurzer Überblick." and not json.loads(out)["cached"]
    code, out, _ = await run(ingested, "summarize", "2407.12772", "--lang", "de", "--json", **env)
    assert json.loads(out)["cached"] and len(openai_server.chat_requests()) == 1
    code, out, _ = await run(ingested, "stats", "--json")
    usage = json.loads(out)["llm_usage"]["by_feature"]
    assert [(row["key"], row["calls"]) for row in usage] == [("summarize", 1)]


async def test_llm_endpoint_down_is_one_line(ingested):
    env = {"OPENAI_API_KEY": "sk-test", "OPENAI_BASE_URL": "http://127.0.0.1:9/v1", "PAPERBOT_LLM_MAX_ATTEMPTS": "1"}
    code, _, err = await run(ingested, "summarize", "2407.12772", **env)
    assert code == 1 and err.strip().splitlines()[-1].startswith("paperbot: cannot reach the LLM endpoint")


async def test_bot_without_a_token_says_how_to_set_one(tmp_path):
    code, out, err = await run(tmp_path, "run")
    assert code == 2 and "DISCORD_TOKEN" in out + err and "Traceback" not in out + err


async def test_a_blank_token_counts_as_no_token(tmp_path):
    # as left by `DISCORD_TOKEN=` in a .env copied from .env.example: the console, not the bot
    code, out, err = await run(tmp_path, DISCORD_TOKEN="  ", PAPERBOT_CORPUS_DIR=str(tmp_path / "none"))
    assert code == 0, err
    assert "No DISCORD_TOKEN set" in out and "Starting the Discord bot" not in out


async def test_backup_copies_the_live_database(ingested):
    code, _, _ = await run(ingested, "backup", str(ingested / "copy.db"))
    assert code == 0
    code, out, _ = await run(ingested, "--db", str(ingested / "copy.db"), "stats", "--json")
    assert json.loads(out)["papers"] == 371
