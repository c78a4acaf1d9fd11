"""The LLM client: any OpenAI-compatible chat endpoint, with budgets, retries and a ledger.

- `openai.AsyncOpenAI` with a per-request timeout fit for chat (60 s, not the SDK's 10 minutes)
  and `max_retries=0`: `bot.llm.retry` is the only retry layer.
- Every request is checked to fit the context window minus the output budget before it is
  sent; callers pack their context with `bot.llm.tokens.pack` so this never trips.
- Concurrency is bounded by a semaphore; every call, failed or not, lands in the ledger.
- Daily token budgets, global and per guild, refuse new calls with a message saying when
  they reset.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import openai

from bot.llm.errors import BudgetExceeded, ContextTooLong, LLMError, LLMNotConfigured
from bot.llm.ledger import Prices, record_call, tokens_spent_today
from bot.llm.retry import user_message, with_retries
from bot.llm.tokens import count_message_tokens, count_tokens
from bot.settings import Settings
from bot.store import Database

log = logging.getLogger(__name__)
# Local servers (Ollama, vLLM, llama.cpp) accept any key, but the SDK insists on one.
PLACEHOLDER_KEY = "not-needed-for-local-servers"
PACKING_MARGIN = 32  # tokens


TextCallback = Callable[[str], Awaitable[None]]


@dataclass(frozen=True)
class Completion:
    text: str
    prompt_tokens: int
    completion_tokens: int
    model: str


@dataclass
class Usage:
    """Tokens spent by one command, over all its LLM calls."""

    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0

    def add(self, completion: Completion) -> None:
        self.calls += 1
        self.prompt_tokens += completion.prompt_tokens
        self.completion_tokens += completion.completion_tokens

    def to_json(self) -> dict:
        return {
            "calls": self.calls,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
        }


@dataclass(frozen=True)
class Caller:
    """Who a call is for: the ledger and the per-guild budget use it."""

    feature: str
    guild_id: str | None = None
    user_id: str | None = None


class LLMClient:
    def __init__(self, settings: Settings, db: Database, api: openai.AsyncOpenAI):
        self.settings = settings
        self.db = db
        self.api = api
        self.model = settings.model
        self.endpoint = str(api.base_url).rstrip("/")
        self.prices = Prices(settings.price_prompt_per_mtok, settings.price_completion_per_mtok)
        self._slots = asyncio.Semaphore(settings.llm_concurrency)

    @classmethod
    def from_settings(cls, settings: Settings, db: Database) -> "LLMClient":
        key = settings.openai_api_key.get_secret_value() if settings.openai_api_key else None
        if not key and not settings.openai_base_url:
            raise LLMNotConfigured()
        api = openai.AsyncOpenAI(
            api_key=key or PLACEHOLDER_KEY,
            base_url=settings.openai_base_url,
            timeout=settings.llm_timeout_s,
            max_retries=0,
        )
        return cls(settings, db, api)

    def prompt_budget(self, output_tokens: int | None = None) -> int:
        """Tokens a packed prompt may use: the context window minus the output budget, minus a
        margin because text cut and joined at token boundaries can count a few tokens more."""
        window = self.settings.context_window
        output_tokens = output_tokens or self.settings.max_output_tokens
        return window - output_tokens - max(PACKING_MARGIN, window // 100)

    async def _check_budgets(self, caller: Caller) -> None:
        limit = self.settings.daily_token_budget
        if limit is not None and await tokens_spent_today(self.db) >= limit:
            raise BudgetExceeded(
                f"today's LLM token budget ({limit:,} tokens) is spent; it resets at midnight UTC"
            )
        guild_limit = self.settings.guild_daily_token_budget
        if caller.guild_id and guild_limit is not None:
            if await tokens_spent_today(self.db, caller.guild_id) >= guild_limit:
                raise BudgetExceeded(
                    f"this server's daily LLM token budget ({guild_limit:,} tokens) is spent; "
                    "it resets at midnight UTC"
                )

    def _check_fits(self, messages: list[dict[str, str]], max_tokens: int) -> int:
        prompt_tokens = count_message_tokens(messages, self.model)
        if prompt_tokens + max_tokens > self.settings.context_window:
            raise ContextTooLong(
                f"the request needs {prompt_tokens + max_tokens:,} tokens, more than the "
                f"{self.settings.context_window:,}-token context window"
            )
        return prompt_tokens

    async def _record(self, caller: Caller, started: float, outcome: str, prompt: int, completion: int) -> None:
        await record_call(
            self.db,
            feature=caller.feature,
            model=self.model,
            prompt_tokens=prompt,
            completion_tokens=completion,
            latency_ms=int((time.monotonic() - started) * 1000),
            outcome=outcome,
            prices=self.prices,
            guild_id=caller.guild_id,
            user_id=caller.user_id,
        )

    async def complete(
        self,
        messages: list[dict[str, str]],
        caller: Caller,
        *,
        max_tokens: int | None = None,
        on_text: TextCallback | None = None,
    ) -> Completion:
        """One chat completion. With `on_text`, the answer is streamed and `on_text` gets the
        text so far as it arrives. Opening a stream is retried; a failure mid-stream is not
        (the reader has seen part of the answer): it raises LLMError."""
        max_tokens = max_tokens or self.settings.max_output_tokens
        # counting a long prompt takes milliseconds: tiktoken releases the GIL, so a worker
        # thread keeps the event loop free
        prompt_estimate = await asyncio.to_thread(self._check_fits, messages, max_tokens)
        await self._check_budgets(caller)
        started = time.monotonic()
        async with self._slots:
            try:
                if on_text is None:
                    text, usage = await self._request(messages, max_tokens)
                else:
                    text, usage = await self._request_streaming(messages, max_tokens, on_text)
            except LLMError as exc:
                await self._record(caller, started, type(exc).__name__, prompt_estimate, 0)
                raise
        prompt = usage.prompt_tokens if usage else prompt_estimate
        completion = usage.completion_tokens if usage else count_tokens(text, self.model)
        await self._record(caller, started, "ok", prompt, completion)
        return Completion(text=text, prompt_tokens=prompt, completion_tokens=completion, model=self.model)

    async def _request(self, messages: list[dict[str, str]], max_tokens: int) -> tuple[str, object]:
        response = await with_retries(
            lambda: self.api.chat.completions.create(
                model=self.model, messages=messages, max_tokens=max_tokens
            ),
            attempts=self.settings.llm_max_attempts,
            deadline_s=self.settings.llm_deadline_s,
            endpoint=self.endpoint,
        )
        try:
            return response.choices[0].message.content or "", response.usage
        except (AttributeError, IndexError, TypeError) as exc:  # a body without choices
            raise user_message(ValueError(str(exc)), self.endpoint) from exc

    async def _request_streaming(
        self, messages: list[dict[str, str]], max_tokens: int, on_text: TextCallback
    ) -> tuple[str, object]:
        stream = await with_retries(
            lambda: self.api.chat.completions.create(
                model=self.model,
                messages=messages,
                max_tokens=max_tokens,
                stream=True,
                stream_options={"include_usage": True},
            ),
            attempts=self.settings.llm_max_attempts,
            deadline_s=self.settings.llm_deadline_s,
            endpoint=self.endpoint,
        )
        text, usage = "", None
        try:
            async with asyncio.timeout(self.settings.llm_deadline_s):
                async for chunk in stream:
                    usage = chunk.usage or usage
                    if chunk.choices and chunk.choices[0].delta.content:
                        text += chunk.choices[0].delta.content
                        await on_text(text)
        except Exception as exc:  # mid-stream: connection dropped, bad chunk, deadline
            raise user_message(exc, self.endpoint) from exc
        return text, usage
