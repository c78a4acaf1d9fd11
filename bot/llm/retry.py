"""The one retry layer for every call to an OpenAI-compatible endpoint (chat and embeddings).

The openai client is created with `max_retries=0`: retrying in two layers would multiply the
attempts. Here, with tenacity: rate limits (honouring Retry-After), connection errors and 5xx
are retried with exponential backoff and jitter, bounded in attempts and in total time;
400/401/403/404/422 and context-length errors are not retried, and neither is a timeout: a local
server that is slow is usually still working on the request, and a second copy would only queue
behind it. Failures become `LLMError`s with one line a user can act on, marked not billable when
the server refused the call before the model read anything.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable
from typing import TypeVar

import openai
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_after_attempt,
    stop_after_delay,
    wait_exponential_jitter,
)

from bot.llm.errors import ContextTooLong, LLMError

log = logging.getLogger(__name__)
T = TypeVar("T")

MAX_RETRY_AFTER_S = 30.0
_backoff = wait_exponential_jitter(multiplier=0.5, max=10.0, jitter=0.5)


# How OpenAI, vLLM, llama.cpp and Ollama say a request is longer than the context window.
_OVERFLOW_CODES = {"context_length_exceeded", "exceed_context_size_error", "string_above_max_length"}
_OVERFLOW_TEXT = re.compile(
    r"context[ _](?:length|size|window)|maximum context|exceed_context_size|prompt is too long|too many tokens",
    re.IGNORECASE,
)
# The figures some servers put in the message: (window, prompt tokens) patterns
_WINDOW_FIGURE = re.compile(r"(?:maximum context length is|context size \(|maximum context length \()\s*(\d+)", re.IGNORECASE)
_PROMPT_FIGURE = re.compile(r"request \((\d+) tokens\)|(\d+) in the messages|has (\d+) input tokens|input length \((\d+) tokens\)", re.IGNORECASE)


def _error_body(exc: openai.APIStatusError) -> dict:
    body = exc.body if isinstance(exc.body, dict) else {}
    return body.get("error") if isinstance(body.get("error"), dict) else body


def is_context_length_error(exc: BaseException) -> bool:
    if not isinstance(exc, openai.APIStatusError) or exc.status_code not in (400, 413, 422, 500):
        return False
    body = _error_body(exc)
    if body.get("code") in _OVERFLOW_CODES or body.get("type") in _OVERFLOW_CODES:
        return True
    return bool(_OVERFLOW_TEXT.search(str(body.get("message") or exc)))


def overflow_error(exc: openai.APIStatusError) -> ContextTooLong:
    """The server's refusal as ContextTooLong, with its figures when it gave them."""
    body = _error_body(exc)
    message = str(body.get("message") or exc)
    window, prompt = body.get("n_ctx"), body.get("n_prompt_tokens")
    if window is None and (match := _WINDOW_FIGURE.search(message)):
        window = int(match.group(1))
    if prompt is None and (match := _PROMPT_FIGURE.search(message)):
        prompt = int(next(group for group in match.groups() if group))
    return ContextTooLong(
        "the request is longer than the model's context window (check PAPERBOT_CONTEXT_WINDOW)",
        prompt_tokens=int(prompt) if prompt is not None else None,
        window=int(window) if window is not None else None,
    )


def is_retryable(exc: BaseException) -> bool:
    if isinstance(exc, openai.APITimeoutError):
        return False  # the server may still be working on it: see the module's docstring
    if isinstance(exc, (openai.APIConnectionError, openai.RateLimitError)):
        return True
    return isinstance(exc, openai.APIStatusError) and exc.status_code >= 500 and not is_context_length_error(exc)


def retry_after_seconds(exc: BaseException | None) -> float | None:
    """The server's requested wait, from `retry-after-ms` or `retry-after` (seconds)."""
    response = getattr(exc, "response", None)
    if response is None:
        return None
    headers = response.headers
    try:
        if "retry-after-ms" in headers:
            return float(headers["retry-after-ms"]) / 1000
        if "retry-after" in headers:
            return float(headers["retry-after"])
    except ValueError:
        return None  # an HTTP date: fall back to backoff
    return None


def _wait(state: RetryCallState) -> float:
    requested = retry_after_seconds(state.outcome.exception() if state.outcome else None)
    if requested is not None:
        return min(max(requested, 0.0), MAX_RETRY_AFTER_S)
    return _backoff(state)


def user_message(exc: BaseException, endpoint: str) -> LLMError:
    """The one-line error a user sees for a failed call."""
    if isinstance(exc, LLMError):
        return exc
    # refused before the model read anything: costs nothing
    if isinstance(exc, openai.AuthenticationError):
        return LLMError(f"the LLM endpoint {endpoint} rejected the API key (check OPENAI_API_KEY)", billable=False)
    if isinstance(exc, openai.PermissionDeniedError):
        return LLMError(f"the API key has no access to this model at {endpoint} (403)", billable=False)
    if isinstance(exc, openai.NotFoundError):
        return LLMError(
            f"the model is unknown at {endpoint} (check PAPERBOT_MODEL and OPENAI_BASE_URL)", billable=False
        )
    if is_context_length_error(exc):
        return overflow_error(exc)
    if isinstance(exc, openai.RateLimitError):
        return LLMError(f"the LLM endpoint {endpoint} is rate limiting us; try again in a minute", billable=False)
    if isinstance(exc, (openai.APITimeoutError, asyncio.TimeoutError, TimeoutError)):
        return LLMError(
            f"the LLM endpoint {endpoint} did not answer in time (PAPERBOT_LLM_TIMEOUT); "
            "a local model may still be working: try again later or raise the timeout"
        )
    if isinstance(exc, openai.APIConnectionError):
        return LLMError(
            f"cannot reach the LLM endpoint {endpoint} (is it running? check OPENAI_BASE_URL)", billable=False
        )
    if isinstance(exc, openai.APIStatusError):
        return LLMError(f"the LLM endpoint {endpoint} failed (HTTP {exc.status_code})", billable=exc.status_code >= 500)
    if isinstance(exc, openai.APIResponseValidationError | ValueError | KeyError | TypeError):
        return LLMError(f"the LLM endpoint {endpoint} sent a response paperbot cannot read")
    return LLMError(f"the LLM call failed ({type(exc).__name__})")


async def with_retries(
    call: Callable[[], Awaitable[T]], *, attempts: int, deadline_s: float, endpoint: str
) -> T:
    """Run `call` with retries; raises LLMError when it finally fails or the deadline passes."""
    try:
        async with asyncio.timeout(deadline_s):
            async for attempt in AsyncRetrying(
                stop=stop_after_attempt(attempts) | stop_after_delay(deadline_s),
                wait=_wait,
                retry=retry_if_exception(is_retryable),
                reraise=True,
                before_sleep=lambda s: log.warning(
                    "LLM call failed (%s), retry %d", type(s.outcome.exception()).__name__, s.attempt_number
                ),
            ):
                with attempt:
                    return await call()
    except Exception as exc:  # every failure becomes one user-facing line
        raise user_message(exc, endpoint) from exc
    raise AssertionError("unreachable: tenacity either returns or raises")
