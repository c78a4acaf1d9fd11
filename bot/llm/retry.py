"""The one retry layer for every call to an OpenAI-compatible endpoint (chat and embeddings).

The openai client is created with `max_retries=0`: retrying in two layers would multiply the
attempts. Here, with tenacity: rate limits (honouring Retry-After), timeouts, connection errors
and 5xx are retried with exponential backoff and jitter, bounded in attempts and in total time;
400/401/403/404/422 and context-length errors are not retried. Failures become `LLMError`s
with one line a user can act on.
"""

from __future__ import annotations

import asyncio
import logging
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


def is_context_length_error(exc: BaseException) -> bool:
    if not isinstance(exc, openai.BadRequestError):
        return False
    body = exc.body if isinstance(exc.body, dict) else {}
    code = body.get("code") or (body.get("error") or {}).get("code") if isinstance(body, dict) else None
    return code == "context_length_exceeded" or "context length" in str(exc).lower()


def is_retryable(exc: BaseException) -> bool:
    if isinstance(exc, (openai.APITimeoutError, openai.APIConnectionError, openai.RateLimitError)):
        return True
    return isinstance(exc, openai.APIStatusError) and exc.status_code >= 500


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
    if isinstance(exc, openai.AuthenticationError):
        return LLMError(f"the LLM endpoint {endpoint} rejected the API key (check OPENAI_API_KEY)")
    if isinstance(exc, openai.PermissionDeniedError):
        return LLMError(f"the API key has no access to this model at {endpoint} (403)")
    if isinstance(exc, openai.NotFoundError):
        return LLMError(f"the model is unknown at {endpoint} (check PAPERBOT_MODEL and OPENAI_BASE_URL)")
    if is_context_length_error(exc):
        return ContextTooLong("the request is longer than the model's context window")
    if isinstance(exc, openai.RateLimitError):
        return LLMError(f"the LLM endpoint {endpoint} is rate limiting us; try again in a minute")
    if isinstance(exc, (openai.APITimeoutError, asyncio.TimeoutError, TimeoutError)):
        return LLMError(f"the LLM endpoint {endpoint} did not answer in time")
    if isinstance(exc, openai.APIConnectionError):
        return LLMError(f"cannot reach the LLM endpoint {endpoint} (is it running? check OPENAI_BASE_URL)")
    if isinstance(exc, openai.APIStatusError):
        return LLMError(f"the LLM endpoint {endpoint} failed (HTTP {exc.status_code})")
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
