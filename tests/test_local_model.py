"""The LLM features against a real small model at its real window: SmolLM2-135M-Instruct behind
llama.cpp's server, 2,048 tokens (tests/support/local_model.py). Its tokenizer counts up to
twice what tiktoken does for Korean and Chinese, and a 135M model often answers in the wrong
language: what must hold is that nothing overflows (no HTTP 400), every command succeeds, and
what paperbot stores or labels is true to the text."""

from __future__ import annotations

import asyncio
import json

import pytest

from bot.cli import main
from bot.services import qa
from bot.services.language import written_in
from bot.services.library import Library
from bot.services.roundup import build_roundup
from bot.services.summaries import summarize
from bot.settings import Settings

pytestmark = pytest.mark.local_model
WINDOW = 2048
OUTPUT = 160  # short answers keep the run to minutes on two cores


def local_settings(corpus_db, local_model) -> dict:
    return {
        "PAPERBOT_DB": str(corpus_db),
        "PAPERBOT_EMBEDDINGS": "off",
        "OPENAI_BASE_URL": local_model.base_url,
        "PAPERBOT_MODEL": local_model.model,
        "PAPERBOT_CONTEXT_WINDOW": str(WINDOW),
        "PAPERBOT_MAX_OUTPUT_TOKENS": str(OUTPUT),
        "PAPERBOT_LLM_TIMEOUT": "600",  # a busy two-core machine reads 2,000 tokens slowly
        "PAPERBOT_LLM_DEADLINE": "900",
    }


@pytest.fixture
async def library(corpus_db, local_model):
    async with await Library.open(Settings(_env_file=None, **local_settings(corpus_db, local_model))) as opened:
        yield opened


async def calls(library: Library) -> list[dict]:
    return [dict(r) for r in await library.db.fetchall("SELECT * FROM llm_calls ORDER BY id")]


def assert_all_fit(rows: list[dict]) -> None:
    assert rows and all(r["outcome"] == "ok" for r in rows), [r["outcome"] for r in rows]  # no 400, no timeout
    assert all(r["usage_estimated"] == 0 for r in rows)  # llama.cpp reports usage
    assert all(r["prompt_tokens"] + r["completion_tokens"] <= WINDOW for r in rows)


@pytest.mark.parametrize(
    "question, lang",
    [
        ("What is new in knowledge distillation?", "en"),
        ("知识蒸馏有哪些新方法？", "zh"),
        ("병리 슬라이드에서 세포 분열을 찾는 방법은?", "ko"),
    ],
    ids=["en", "zh", "ko"],
)
async def test_ask_in_three_languages_fits_the_real_window(library, question, lang):
    answer = await qa.ask(library, question)
    assert answer.question.lang == lang and answer.text
    rows = await calls(library)
    assert_all_fit(rows)
    asked = [r for r in rows if r["feature"] == "ask"]
    assert max(r["prompt_tokens"] for r in asked) > WINDOW // 2  # the window is really used
    # whatever the model wrote, the answer does not pass for the language it is not in
    if answer.note is None:
        assert written_in(answer.text, lang).ok
    else:
        assert "not in" in answer.note or "cut off" in answer.note


async def run_cli(argv: list[str], corpus_db, local_model, monkeypatch, capsys) -> dict:
    """`paperbot ARGV --json` against the local model: its exit code must be 0."""
    for name, value in local_settings(corpus_db, local_model).items():
        monkeypatch.setenv(name, value)
    code = await asyncio.to_thread(main, [*argv, "--json"])
    output = capsys.readouterr()
    assert code == 0, output.err
    return json.loads(output.out)


async def test_summarize_korean_exits_zero_and_stores_only_korean(corpus_db, local_model, monkeypatch, capsys):
    result = await run_cli(["summarize", "2407.12772", "--lang", "ko"], corpus_db, local_model, monkeypatch, capsys)
    async with await Library.open(Settings(_env_file=None, **local_settings(corpus_db, local_model))) as library:
        assert_all_fit(await calls(library))
        stored = await library.db.fetchall("SELECT lang, text FROM summaries WHERE model IS NOT NULL")
    if result["complete"]:
        assert result["lang"] == "ko" and [tuple(r) for r in stored] == [("ko", result["summary"])]
        assert written_in(result["summary"], "ko").ok  # a summary stored as Korean is Korean
    else:
        assert stored == [] and result["note"]  # cut off or not Korean: said, and not kept
        assert result["lang"] != "ko" or "cut off" in result["note"]


async def test_roundup_in_german_exits_zero_and_says_why_any_entry_is_untranslated(
    corpus_db, local_model, monkeypatch, capsys
):
    argv = ["roundup", "--date", "2024-07-17", "--lang", "de", "--limit", "3"]
    roundup = await run_cli(argv, corpus_db, local_model, monkeypatch, capsys)
    assert len(roundup["papers"]) == 3
    for entry in roundup["papers"]:
        assert entry["translated"] or entry["reason"]  # an untranslated entry always has its reason
    async with await Library.open(Settings(_env_file=None, **local_settings(corpus_db, local_model))) as library:
        rows = await calls(library)
        assert_all_fit(rows)
        written = await library.db.fetchall("SELECT text FROM summaries WHERE kind = 'roundup_blurb'")
        assert all(written_in(row[0], "de").ok for row in written)  # kept only when German
        again = await build_roundup(library, day="2024-07-17", lang="de", limit=3)
        assert len(await calls(library)) == len(rows)  # nothing paid twice the same day
    assert [e.reason for e in again.entries] == [e["reason"] for e in roundup["papers"]]
