"""The LLM client against a real HTTP server on 127.0.0.1, through the real openai client."""

import asyncio
import time

import pytest

from bot.llm.client import Caller, LLMClient
from bot.llm.errors import BudgetExceeded, ContextTooLong, LLMError, LLMNotConfigured
from bot.llm.ledger import usage_report
from bot.llm.tokens import count_message_tokens
from bot.settings import Settings
from tests.support.openai_server import (
    Reply,
    auth_error,
    context_length_error,
    rate_limited,
    server_error,
)

ASK = Caller("ask", guild_id="g1", user_id="u1")
MESSAGES = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hello?"}]


def settings_for(server, **overrides) -> Settings:
    values = {
        "OPENAI_API_KEY": "sk-test-secret",
        "OPENAI_BASE_URL": server.base_url,
        "PAPERBOT_MODEL": "gpt-4o-mini",
        "PAPERBOT_LLM_TIMEOUT": 2.0,
        "PAPERBOT_LLM_DEADLINE": 20.0,
        "PAPERBOT_LLM_MAX_ATTEMPTS": 3,
        **overrides,
    }
    return Settings(**values)


@pytest.fixture
def client_for(db, openai_server):
    def make(**overrides) -> LLMClient:
        return LLMClient.from_settings(settings_for(openai_server, **overrides), db)

    return make


async def ledger_rows(db):
    return [dict(r) for r in await db.fetchall("SELECT * FROM llm_calls ORDER BY id")]


async def test_completion_is_recorded_with_tokens(client_for, openai_server, db):
    openai_server.responder = lambda request: "Hi there."
    completion = await client_for().complete(MESSAGES, ASK)
    assert completion.text == "Hi there."
    rows = await ledger_rows(db)
    assert len(rows) == 1 and rows[0]["outcome"] == "ok" and rows[0]["feature"] == "ask"
    assert rows[0]["prompt_tokens"] == completion.prompt_tokens > 0
    assert rows[0]["completion_tokens"] == completion.completion_tokens > 0
    assert rows[0]["guild_id"] == "g1" and rows[0]["cost_usd"] > 0
    # the key travels to the server but is never recorded by paperbot
    assert "sk-test-secret" not in str(rows)


async def test_rate_limit_honours_retry_after_then_succeeds(client_for, openai_server):
    # 2 s is twice the longest first wait the backoff picks by itself (0.5 s + up to 0.5 s of
    # jitter): a retry layer that ignored Retry-After could never wait this long by chance.
    openai_server.script(rate_limited(2.0), Reply(text="after the wait"))
    completion = await client_for().complete(MESSAGES, ASK)
    assert completion.text == "after the wait"
    requests = openai_server.chat_requests()
    assert len(requests) == 2
    assert requests[1].at - requests[0].at >= 1.95


async def test_server_errors_are_retried(client_for, openai_server):
    openai_server.script(server_error(500), server_error(503), Reply(text="third time"))
    assert (await client_for().complete(MESSAGES, ASK)).text == "third time"
    assert len(openai_server.chat_requests()) == 3


async def test_bad_key_is_not_retried_and_says_what_to_fix(client_for, openai_server, db):
    openai_server.script(auth_error())
    with pytest.raises(LLMError, match="OPENAI_API_KEY"):
        await client_for().complete(MESSAGES, ASK)
    assert len(openai_server.chat_requests()) == 1
    assert (await ledger_rows(db))[0]["outcome"] == "LLMError"


async def test_context_length_error_is_not_retried(client_for, openai_server):
    openai_server.script(context_length_error())
    with pytest.raises(ContextTooLong):
        await client_for().complete(MESSAGES, ASK)
    assert len(openai_server.chat_requests()) == 1


async def test_slow_first_token_times_out_once_and_is_not_retried(client_for, openai_server):
    # a server that is still reading the prompt would only queue a second copy behind the first
    openai_server.script(Reply(text="late", delay=3), Reply(text="late", delay=3))
    started = time.monotonic()
    with pytest.raises(LLMError, match="sent nothing within 0.5 s .PAPERBOT_LLM_TIMEOUT"):
        await client_for(PAPERBOT_LLM_TIMEOUT=0.5, PAPERBOT_LLM_MAX_ATTEMPTS=3).complete(MESSAGES, ASK)
    assert len(openai_server.chat_requests()) == 1
    assert time.monotonic() - started < 2.5


async def test_first_token_wait_and_whole_answer_deadline_are_separate(client_for, openai_server):
    # a slow local model: the first piece at once, then one piece every 0.3 s for 1.5 s in all
    slow = Reply(text="one two three four five", stream_chunks=["one ", "two ", "three ", "four ", "five"], chunk_delay=0.3)
    openai_server.script(slow)
    completion = await client_for(PAPERBOT_LLM_TIMEOUT=0.5, PAPERBOT_LLM_DEADLINE=5).complete(MESSAGES, ASK)
    assert completion.text == "one two three four five"  # longer than the first-token wait: fine
    openai_server.script(slow)
    with pytest.raises(LLMError, match="did not finish its answer within 1 s .PAPERBOT_LLM_DEADLINE"):
        await client_for(PAPERBOT_LLM_TIMEOUT=0.5, PAPERBOT_LLM_DEADLINE=1).complete(MESSAGES, ASK)
    assert len(openai_server.chat_requests()) == 2  # neither retried


async def test_malformed_body_is_a_clear_error(client_for, openai_server):
    openai_server.script(Reply(status=200, body="{this is not json"))
    with pytest.raises(LLMError, match="sent a response paperbot cannot read$"):
        await client_for(PAPERBOT_LLM_MAX_ATTEMPTS=1).complete(MESSAGES, ASK)


async def test_endpoint_down_is_a_clear_error(db):
    settings = Settings(OPENAI_API_KEY="x", OPENAI_BASE_URL="http://127.0.0.1:9/v1", PAPERBOT_LLM_MAX_ATTEMPTS=2)
    with pytest.raises(LLMError, match="cannot reach"):
        await LLMClient.from_settings(settings, db).complete(MESSAGES, ASK)


async def test_streaming_yields_pieces_and_records_usage(client_for, openai_server, db):
    openai_server.script(Reply(text="one two three four five", stream_chunks=["one ", "two ", "three ", "four ", "five"]))
    seen: list[str] = []

    async def show(text: str) -> None:
        seen.append(text)

    completion = await client_for().complete(MESSAGES, ASK, on_text=show)
    assert seen == ["one ", "one two ", "one two three ", "one two three four ", "one two three four five"]
    assert completion.text == "one two three four five"
    assert openai_server.chat_requests()[0].json["stream"] is True
    row = (await ledger_rows(db))[0]
    assert row["outcome"] == "ok" and row["completion_tokens"] > 0


async def test_daily_budget_refuses_with_when_it_resets(client_for, openai_server):
    client = client_for(PAPERBOT_GUILD_DAILY_TOKEN_BUDGET=10)
    await client.complete(MESSAGES, ASK)  # spends more than 10 tokens
    with pytest.raises(BudgetExceeded, match="midnight UTC"):
        await client.complete(MESSAGES, ASK)
    # another guild still has its budget
    await client.complete(MESSAGES, Caller("ask", guild_id="g2"))
    assert len(openai_server.chat_requests()) == 2


async def test_oversized_request_is_refused_before_sending(client_for, openai_server):
    client = client_for(PAPERBOT_CONTEXT_WINDOW=200, PAPERBOT_MAX_OUTPUT_TOKENS=50)
    with pytest.raises(ContextTooLong):
        await client.complete([{"role": "user", "content": "word " * 400}], ASK)
    assert openai_server.chat_requests() == []


async def test_concurrency_is_bounded(client_for, openai_server):
    client = client_for(PAPERBOT_LLM_CONCURRENCY=3)
    openai_server.script(*[Reply(text="ok", delay=0.2) for _ in range(9)])
    await asyncio.gather(*(client.complete(MESSAGES, ASK) for _ in range(9)))
    assert openai_server.max_in_flight == 3


async def test_recorded_requests_fit_the_budget(client_for, openai_server):
    client = client_for(PAPERBOT_CONTEXT_WINDOW=500, PAPERBOT_MAX_OUTPUT_TOKENS=100)
    await client.complete([{"role": "user", "content": "paper text " * 100}], ASK)
    for request in openai_server.chat_requests():
        assert count_message_tokens(request.json["messages"], "gpt-4o-mini") + request.json["max_tokens"] <= 500


async def test_usage_report_groups_by_feature_and_day(client_for, db):
    client = client_for()
    await client.complete(MESSAGES, ASK)
    await client.complete(MESSAGES, Caller("summarize"))
    report = await usage_report(db)
    assert {row["key"] for row in report["by_feature"]} == {"ask", "summarize"}
    assert report["by_day"][0]["calls"] == 2


def test_missing_key_and_endpoint_is_one_clear_line(tmp_path):
    settings = Settings()
    with pytest.raises(LLMNotConfigured, match="OPENAI_API_KEY"):
        LLMClient.from_settings(settings, db=None)
