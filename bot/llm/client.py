"""The LLM client: any OpenAI-compatible chat endpoint, with budgets, retries and a ledger.

- `openai.AsyncOpenAI` with `max_retries=0`: `bot.llm.retry` is the only retry layer.
- Every call is streamed, so that two waits can be told apart: the first token must come within
  PAPERBOT_LLM_TIMEOUT (a local model reads the whole prompt first), the whole answer within
  PAPERBOT_LLM_DEADLINE. The last chunk says why the answer ended (`finish_reason`): "length"
  means it was cut off, and callers do not treat it as complete.
- Every request is counted with the model's own tokens (`bot.llm.counting`) and refused before
  sending when it would not fit the window; a server that refuses it anyway raises
  ContextTooLong with its figures, which also recalibrate the count.
- Concurrency is bounded by a semaphore; every call, failed or not, lands in the ledger with
  what it cost: the server-reported usage, else an estimate marked as one, and nothing for a
  call refused before the model read anything.
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

from bot.llm.counting import TokenCount, TokenCounter
from bot.llm.errors import BudgetExceeded, ContextTooLong, LLMError, LLMNotConfigured
from bot.llm.ledger import Prices, record_call, tokens_spent_today
from bot.llm.retry import user_message, with_retries
from bot.llm.tokens import count_tokens
from bot.settings import Settings
from bot.store import Database

log = logging.getLogger(__name__)
# Local servers (Ollama, vLLM, llama.cpp) accept any key, but the SDK insists on one.
PLACEHOLDER_KEY = "not-needed-for-local-servers"
PACKING_MARGIN = 32  # tokens
DEADLINE_EDGE_S = 0.05


TextCallback = Callable[[str], Awaitable[None]]


@dataclass(frozen=True)
class Completion:
    text: str
    prompt_tokens: int
    completion_tokens: int
    model: str
    finish_reason: str | None = None  # "stop", "length" (cut off), ...
    usage_estimated: bool = False  # the server reported no usage: the counts are paperbot's

    @property
    def cut_off(self) -> bool:
        return self.finish_reason == "length"


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
    """Who a call is for: the ledger and the per-guild budget use it. `guild_id` names whose
    budget it spends (a server's, or a member's own in direct messages), `budget_name` how the
    reader is told that budget is spent."""

    feature: str
    guild_id: str | None = None
    user_id: str | None = None
    budget_name: str = "this server's daily LLM token budget"


@dataclass
class _Streamed:
    text: str = ""
    usage: object | None = None
    finish_reason: str | None = None


class LLMClient:
    def __init__(self, settings: Settings, db: Database, api: openai.AsyncOpenAI):
        self.settings = settings
        self.db = db
        self.api = api
        self.model = settings.model
        self.endpoint = str(api.base_url).rstrip("/")
        self.prices = Prices(settings.price_prompt_per_mtok, settings.price_completion_per_mtok)
        self.tokens = TokenCounter(db, api, self.model)
        self._slots = asyncio.Semaphore(settings.llm_concurrency)

    @classmethod
    def from_settings(cls, settings: Settings, db: Database) -> "LLMClient":
        key = settings.openai_api_key.get_secret_value() if settings.openai_api_key else None
        if not key and not settings.openai_base_url:
            raise LLMNotConfigured()
        api = openai.AsyncOpenAI(
            api_key=key or PLACEHOLDER_KEY,
            base_url=settings.openai_base_url,
            # paperbot times the first token and the whole answer itself (see _stream_once)
            timeout=settings.llm_deadline_s,
            max_retries=0,
        )
        return cls(settings, db, api)

    async def close(self) -> None:
        await self.api.close()

    def prompt_budget(self, output_tokens: int | None = None) -> int:
        """Tokens (the model's) a prompt may use: the context window minus the output budget,
        minus a margin for the chat template's own tokens."""
        window = self.settings.context_window
        output_tokens = output_tokens or self.settings.max_output_tokens
        return window - output_tokens - max(PACKING_MARGIN, window // 100)

    async def count(self, messages: list[dict[str, str]]) -> TokenCount:
        return await self.tokens.count(messages)

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
                    f"{caller.budget_name} ({guild_limit:,} tokens) is spent; it resets at midnight UTC"
                )

    async def _record(
        self, caller: Caller, started: float, outcome: str, prompt: int, completion: int, estimated: bool
    ) -> None:
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
            estimated=estimated,
        )

    async def complete(
        self,
        messages: list[dict[str, str]],
        caller: Caller,
        *,
        max_tokens: int | None = None,
        on_text: TextCallback | None = None,
    ) -> Completion:
        """One chat completion; `on_text`, when given, gets the text so far as it arrives.
        Opening the stream is retried; a failure once text has arrived is not (the reader has
        seen part of the answer): it raises LLMError."""
        max_tokens = max_tokens or self.settings.max_output_tokens
        counted = await self.count(messages)
        if counted.tokens + max_tokens > self.settings.context_window:
            raise ContextTooLong(
                f"the request needs {counted.tokens + max_tokens:,} tokens, more than the "
                f"{self.settings.context_window:,}-token context window"
            )
        await self._check_budgets(caller)
        started = time.monotonic()
        async with self._slots:
            # every attempt ends by the command's deadline, just before the retry layer's own
            # timer, so that the reader learns which wait ran out
            deadline = asyncio.get_running_loop().time() + self.settings.llm_deadline_s - DEADLINE_EDGE_S
            try:
                streamed = await with_retries(
                    lambda: self._stream_once(messages, max_tokens, on_text, deadline),
                    attempts=self.settings.llm_max_attempts,
                    deadline_s=self.settings.llm_deadline_s,
                    endpoint=self.endpoint,
                )
            except LLMError as exc:
                if isinstance(exc, ContextTooLong) and exc.prompt_tokens:
                    await self.tokens.observe(counted.local, exc.prompt_tokens)
                spent = counted.tokens if exc.billable else 0
                await self._record(caller, started, type(exc).__name__, spent, 0, exc.billable)
                raise
        usage = streamed.usage
        estimated = usage is None or not getattr(usage, "prompt_tokens", None)
        prompt = counted.tokens if estimated else usage.prompt_tokens
        completion = count_tokens(streamed.text, self.model) if estimated else (usage.completion_tokens or 0)
        if not estimated and not counted.exact:
            await self.tokens.observe(counted.local, usage.prompt_tokens)
        await self._record(caller, started, "ok", prompt, completion, estimated)
        return Completion(streamed.text, prompt, completion, self.model, streamed.finish_reason, estimated)

    async def _stream_once(
        self, messages: list[dict[str, str]], max_tokens: int, on_text: TextCallback | None, deadline: float
    ) -> _Streamed:
        """One streamed request: the first token within the timeout, all of it by `deadline`
        (the event loop's clock)."""
        first_token_by = asyncio.get_running_loop().time() + self.settings.llm_timeout_s
        result = _Streamed()
        waiting_for_first = True
        try:
            async with asyncio.timeout_at(min(first_token_by, deadline)) as limit:
                stream = await self.api.chat.completions.create(
                    model=self.model,
                    messages=messages,
                    max_tokens=max_tokens,
                    stream=True,
                    stream_options={"include_usage": True},
                )
                try:
                    async for chunk in stream:
                        if waiting_for_first:
                            waiting_for_first = False
                            limit.reschedule(deadline)
                        result.usage = chunk.usage or result.usage
                        if not chunk.choices:
                            continue
                        choice = chunk.choices[0]
                        result.finish_reason = choice.finish_reason or result.finish_reason
                        if choice.delta and choice.delta.content:
                            result.text += choice.delta.content
                            if on_text is not None:
                                await on_text(result.text)
                except Exception as exc:  # mid-stream: dropped connection, bad chunk
                    raise user_message(exc, self.endpoint) from exc
        except TimeoutError:
            if waiting_for_first and first_token_by <= deadline:
                raise LLMError(
                    f"the LLM endpoint {self.endpoint} sent nothing within {self.settings.llm_timeout_s:g} s "
                    "(PAPERBOT_LLM_TIMEOUT); a local model may still be reading the prompt: "
                    "try again later or raise the timeout"
                ) from None
            raise LLMError(
                f"the LLM endpoint {self.endpoint} did not finish its answer within "
                f"{self.settings.llm_deadline_s:g} s (PAPERBOT_LLM_DEADLINE)"
            ) from None
        if result.finish_reason is None and not result.text:
            raise LLMError(f"the LLM endpoint {self.endpoint} sent a response paperbot cannot read")
        return result
