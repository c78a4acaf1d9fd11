"""What a small local model does to paperbot, played by the scripted server: a tokenizer that
counts more than tiktoken, a hard window, answers cut off or in the wrong language, replies in
the wrong shape, refused calls. Each through the real openai client and a real SQLite file."""

from __future__ import annotations

import re

import pytest

from bot.errors import ConfigurationError
from bot.llm.client import Caller, LLMClient
from bot.llm.errors import ContextTooLong, LLMError
from bot.services import qa
from bot.services.context import filter_citations
from bot.services.language import UnknownLanguage, language_name, normalize_tag, written_in
from bot.services.roundup import build_roundup
from bot.services.summaries import summarize
from bot.settings import load_settings
from tests.support.openai_server import Reply, auth_error

LOCAL = {"PAPERBOT_MODEL": "smollm2-local", "PAPERBOT_CONTEXT_WINDOW": 2048, "PAPERBOT_MAX_OUTPUT_TOKENS": 256}
KOREAN = "이 논문은 대규모 언어 모델의 지식 증류 방법을 제안하고 그 효과를 여러 실험으로 보여 줍니다."
ENGLISH = "This paper proposes a knowledge distillation method for large language models and tests it."
GERMAN = "Diese Arbeit stellt eine Methode zur Wissensdestillation für große Sprachmodelle vor und prüft sie."


def sizes(server) -> list[int]:
    return [server.prompt_tokens(r.json) for r in server.chat_requests()]


# --- token counts that match the model ---------------------------------------------------


async def test_a_tokenizer_that_counts_more_is_learned_and_remembered(open_library, openai_server, corpus_db):
    """No /tokenize: the first overflow is recovered by re-packing with the server's figures,
    the ratio is stored, and a restarted paperbot packs right the first time."""
    openai_server.token_factor, openai_server.window = 1.9, 2048
    library = await open_library(**LOCAL)
    answer = await qa.ask(library, "knowledge distillation for large language models", lang="en")
    assert answer.text == "OK"
    first = sizes(openai_server)
    assert first[-1] <= 2048 - 256  # the request that was answered fit, by the model's count
    ratio = await library.db.fetchval("SELECT ratio FROM llm_token_calibration WHERE model = 'smollm2-local'")
    assert ratio == pytest.approx(1.9, abs=0.1)
    await library.close()

    restarted = await open_library(**LOCAL)
    before = len(openai_server.chat_requests())
    await qa.ask(restarted, "segment anything for pathology slides", lang="en")
    after = sizes(openai_server)[before:]
    assert len(after) == 1 and after[0] <= 2048 - 256  # no refused request after the restart
    outcomes = [r[0] for r in await restarted.db.fetchall("SELECT outcome FROM llm_calls ORDER BY id")]
    assert outcomes.count("ContextTooLong") <= 1 and outcomes[-1] == "ok"


async def test_the_servers_own_tokenizer_is_used_when_offered(open_library, openai_server):
    openai_server.token_factor, openai_server.window, openai_server.tokenize = 1.9, 2048, True
    library = await open_library(**LOCAL)
    await qa.ask(library, "병리 슬라이드에서 세포 분열을 찾는 방법은?", lang="ko")
    await summarize(library, "2407.12772", lang="ko")
    assert all(size <= 2048 - 256 for size in sizes(openai_server))  # never refused, never over
    assert any(r.path == "/tokenize" for r in openai_server.requests)
    rows = await library.db.fetchall("SELECT outcome FROM llm_calls")
    assert {r[0] for r in rows} == {"ok"}


async def test_overflow_is_repacked_smaller_and_retried_once(open_library, openai_server, caplog):
    openai_server.token_factor, openai_server.window = 3.0, 2048  # worse than any margin
    library = await open_library(**LOCAL)
    await qa.ask(library, "large language models evaluation benchmark", lang="en")
    refused, answered = sizes(openai_server)[-2:]
    assert refused > 2048 >= answered
    assert "re-packing" in caplog.text


@pytest.mark.parametrize(
    "body",
    [
        {"error": {"message": "This model's maximum context length is 2048 tokens. However, you requested "
                   "2300 tokens (2100 in the messages, 200 in the completion).", "type": "BadRequestError", "code": 400}},
        {"error": {"message": "request (2100 tokens) exceeds the available context size (2048 tokens), try "
                   "increasing it", "type": "exceed_context_size_error", "n_prompt_tokens": 2100, "n_ctx": 2048}},
        {"error": {"message": "This model's maximum context length is 2048 tokens.", "type": "invalid_request_error",
                   "code": "context_length_exceeded"}},
        {"error": {"message": "input length (2100 tokens) exceeds the model's maximum context length (2048 tokens)",
                   "type": "api_error"}},
    ],
    ids=["vllm", "llama.cpp", "openai", "ollama"],
)
async def test_context_length_errors_of_every_server_are_recognized(db, openai_server, body):
    settings = load_settings(OPENAI_BASE_URL=openai_server.base_url, PAPERBOT_MODEL="m", PAPERBOT_LLM_MAX_ATTEMPTS=3)
    openai_server.script(Reply(status=400, body=body))
    with pytest.raises(ContextTooLong) as raised:
        await LLMClient.from_settings(settings, db).complete([{"role": "user", "content": "hi"}], Caller("ask"))
    assert raised.value.window == 2048 and raised.value.prompt_tokens in (2100, None)
    assert len(openai_server.chat_requests()) == 1  # not retried as it is
    row = await db.fetchone("SELECT prompt_tokens, cost_usd FROM llm_calls")
    assert row["prompt_tokens"] == 0 and row["cost_usd"] == 0  # refused before it was read


# --- costs are what was spent ------------------------------------------------------------


async def test_refused_calls_cost_nothing_and_estimates_say_so(db, openai_server):
    settings = load_settings(OPENAI_BASE_URL=openai_server.base_url, OPENAI_API_KEY="sk-x", PAPERBOT_LLM_MAX_ATTEMPTS=1)
    client = LLMClient.from_settings(settings, db)
    messages = [{"role": "user", "content": "paper text " * 50}]
    openai_server.script(auth_error())
    with pytest.raises(LLMError):
        await client.complete(messages, Caller("ask"))
    down = LLMClient.from_settings(load_settings(OPENAI_BASE_URL="http://127.0.0.1:9/v1", PAPERBOT_LLM_MAX_ATTEMPTS=1), db)
    with pytest.raises(LLMError, match="cannot reach"):
        await down.complete(messages, Caller("ask"))
    openai_server.report_usage = False
    await client.complete(messages, Caller("ask"))
    openai_server.report_usage = True
    await client.complete(messages, Caller("ask"))
    rows = [tuple(r) for r in await db.fetchall("SELECT outcome, prompt_tokens, usage_estimated FROM llm_calls ORDER BY id")]
    assert rows[0] == ("LLMError", 0, 0) and rows[1] == ("LLMError", 0, 0)
    assert rows[2][0] == "ok" and rows[2][1] > 100 and rows[2][2] == 1  # no usage reported: estimated
    assert rows[3][0] == "ok" and rows[3][2] == 0  # the server's own figures


# --- truncated output is not a result ----------------------------------------------------


async def test_a_cut_off_summary_is_retried_with_room_and_never_cached_as_complete(open_library, openai_server):
    library = await open_library(**LOCAL)
    openai_server.script(Reply(text=KOREAN[:30], finish_reason="length"), Reply(text=KOREAN[:40], finish_reason="length"))
    cut = await summarize(library, "2407.12772", lang="ko")
    first, second = openai_server.chat_requests()
    assert second.json["max_tokens"] == 2 * first.json["max_tokens"]  # asked again with more room
    assert not cut.complete and "cut off" in cut.note and cut.to_json()["complete"] is False
    openai_server.responder = lambda body: KOREAN
    whole = await summarize(library, "2407.12772", lang="ko")
    assert not whole.cached and whole.complete and whole.text == KOREAN  # the cut one was not kept
    again = await summarize(library, "2407.12772", lang="ko")
    assert again.cached and again.text == KOREAN


async def test_a_cut_off_answer_says_it_was(open_library, openai_server):
    library = await open_library()
    openai_server.script(Reply(text="The papers show that", finish_reason="length"))
    answer = await qa.ask(library, "knowledge distillation", lang="en")
    assert "cut off" in answer.note and answer.to_json()["complete"] is False


# --- the language asked for is the language delivered -------------------------------------


async def test_a_summary_in_the_wrong_language_is_retried_then_not_stored_as_that_language(open_library, openai_server):
    library = await open_library()
    openai_server.responder = lambda body: ENGLISH
    result = await summarize(library, "2407.12772", lang="ko")
    first, retry = openai_server.chat_requests()
    assert "Korean only" in retry.json["messages"][-1]["content"]  # a firmer instruction
    assert result.lang == "en" and "not in Korean" in result.note  # labelled as what it is
    assert await library.db.fetchval("SELECT count(*) FROM summaries WHERE model IS NOT NULL") == 0

    openai_server.script(Reply(text=ENGLISH), Reply(text=KOREAN))
    fixed = await summarize(library, "2407.12772", lang="ko")
    assert fixed.complete and fixed.lang == "ko" and fixed.text == KOREAN
    stored = await library.db.fetchall("SELECT lang, text FROM summaries WHERE model IS NOT NULL")
    assert [tuple(r) for r in stored] == [("ko", KOREAN)]


def test_language_checks_by_script_and_by_latin_language_model():
    assert written_in(KOREAN, "ko").ok and not written_in(ENGLISH, "ko").ok
    assert written_in(GERMAN, "de").ok and not written_in(ENGLISH, "de").ok
    assert written_in("本文提出了一种用于大型语言模型的知识蒸馏方法，并通过实验验证了其有效性。", "zh").ok
    assert not written_in(KOREAN, "zh").ok and not written_in(KOREAN, "ja").ok
    assert written_in("OK [arXiv:2407.12773]", "ko").ok  # too short to judge
    assert written_in(("x" * 99 + " ") * 20, "en").ok  # no language at all: no verdict either


def test_language_tags_are_real_bcp47_and_names_work():
    assert [normalize_tag(t) for t in ("ko", "zh_hant", "PT-br", "Korean", "한국어", "Deutsch")] == [
        "ko", "zh-Hant", "pt-BR", "ko", "ko", "de",
    ]
    for bad in ("zz-invalid", "xx", "und", "not a language", ""):
        with pytest.raises(UnknownLanguage):
            normalize_tag(bad)
    assert language_name("sw") == "Swahili" and language_name("zh-TW") == "Traditional Chinese"


# --- output in the wrong shape degrades visibly --------------------------------------------


def blurb_reply(body: dict) -> str:
    """Five papers asked: two good German lines, one English, one unnumbered, one missing."""
    return f"[1] {GERMAN}\n2. {GERMAN}\n[3] {ENGLISH}\nEine Zeile ohne Nummer über Modelle und Daten.\n"


async def test_roundup_keeps_what_parses_explains_the_rest_and_does_not_pay_again(open_library, openai_server):
    library = await open_library()
    openai_server.responder = blurb_reply
    roundup = await build_roundup(library, day="2024-07-17", lang="de", limit=5)
    assert len(openai_server.chat_requests()) == 2  # one retry, firmer, for the unusable three
    translated = [e.translated for e in roundup.entries]
    assert translated == [True, True, False, False, False]
    reasons = [e.reason for e in roundup.entries]
    assert "wrote in English" in reasons[2]
    assert "no usable line" in reasons[3] and reasons[3] == reasons[4]
    assert all(r for r, ok in zip(reasons, translated) if not ok)  # every untranslated entry says why
    assert "English" in roundup.note and "no usable line" in roundup.note
    assert roundup.to_json()["papers"][2]["reason"] == reasons[2]

    again = await build_roundup(library, day="2024-07-17", lang="de", limit=5)
    assert len(openai_server.chat_requests()) == 2  # the same papers are not paid for again today
    assert [e.reason for e in again.entries] == reasons and again.note == roundup.note


# --- the query rewrite and citations are checked ------------------------------------------


@pytest.mark.parametrize(
    "reply",
    ["병리 슬라이드에서 세포 분열을 찾는 방법은?", "<<<DATA 1a2b3c4d5e6f>>> mitotic figures", "word " * 40, ""],
    ids=["echo", "fence", "long", "empty"],
)
async def test_a_bad_query_rewrite_is_not_searched(open_library, openai_server, reply):
    library = await open_library()
    openai_server.script(Reply(text=reply))
    question = await qa.gather(library, "병리 슬라이드에서 세포 분열을 찾는 방법은?")
    assert question.rewritten_query is None and question.usage.calls == 1


def test_bare_arxiv_citations_are_checked_and_removals_leave_clean_punctuation():
    class Paper:
        def __init__(self, pid: int):
            self.id = pid

    known = {"2407.12773": Paper(1)}
    text, cited, removed = filter_citations("Shown before (arXiv:1111.11111), and arXiv:2407.12773 agrees.", known)
    assert text == "Shown before, and arXiv:2407.12773 agrees." and [p.id for p in cited] == [1]
    assert removed == ["arXiv:1111.11111"]
    text, _, _ = filter_citations("Two claims (arXiv:1111.11111, [arXiv:2407.12773]) hold [arXiv:2222.22222].", known)
    assert text == "Two claims ([arXiv:2407.12773]) hold."


async def test_streamed_previews_never_show_an_unchecked_citation(open_library, openai_server):
    library = await open_library()
    chunks = ["Distillation helps [arX", "iv:1111.11", "111] a lot ", "(arXiv:2222.2", "2222)."]
    openai_server.script(Reply(text="".join(chunks), stream_chunks=chunks))
    seen: list[str] = []

    async def show(text: str) -> None:
        seen.append(text)

    answer = await qa.ask(library, "knowledge distillation", lang="en", on_text=show)
    assert seen and not any(re.search(r"1111|2222|\[arX|\(arX", text) for text in seen)
    assert answer.text == "Distillation helps a lot."


# --- settings validated at start -----------------------------------------------------------


@pytest.mark.parametrize(
    "setting, value, named",
    [
        ("PAPERBOT_LLM_CONCURRENCY", "0", "PAPERBOT_LLM_CONCURRENCY"),
        ("PAPERBOT_MODEL", " ", "PAPERBOT_MODEL"),
        ("OPENAI_BASE_URL", "localhost:11434", "OPENAI_BASE_URL"),
        ("PAPERBOT_LLM_TIMEOUT", "0", "PAPERBOT_LLM_TIMEOUT"),
        ("PAPERBOT_MAX_OUTPUT_TOKENS", "1500", "PAPERBOT_MAX_OUTPUT_TOKENS"),
    ],
)
def test_invalid_settings_are_one_line_naming_the_setting(setting, value, named):
    with pytest.raises(ConfigurationError) as raised:
        load_settings(**{setting: value, "PAPERBOT_CONTEXT_WINDOW": "2048"})
    message = str(raised.value)
    assert named in message and "\n" not in message and raised.value.exit_code == 2
