"""Token counts that match the model, not just tiktoken's guess.

A local model's tokenizer can count 9-87% more tokens than tiktoken for the same text (Korean
and Chinese the most), so a prompt packed by tiktoken alone overflows its window. In order:

1. The server's own tokenizer, when it offers one: llama.cpp and vLLM answer `POST /tokenize`.
   Asked once whether it exists; then every request is counted exactly.
2. Otherwise a per-model ratio of server tokens to tiktoken tokens, learned from the
   `usage.prompt_tokens` the server reports (and from the figures in an overflow error), kept in
   SQLite so a restart does not overflow again. It moves up at once and down slowly, so one
   English prompt does not undo what a Korean one taught.
3. Until a model is calibrated, a safety margin: tiktoken's count times UNCALIBRATED_MARGIN
   (unless tiktoken knows the model, as for OpenAI's own).

Packing uses tiktoken (fast, offline) scaled by `ratio`; the packed request is then counted
again with the best count there is before it is sent.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

import openai
import tiktoken

from bot.llm.tokens import MESSAGE_OVERHEAD, REQUEST_OVERHEAD, count_message_tokens
from bot.store import Database

log = logging.getLogger(__name__)

UNCALIBRATED_MARGIN = 1.5
CALIBRATED_MARGIN = 1.05
DECAY = 0.2  # weight of a new, lower observation
TOKENIZE_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class TokenCount:
    tokens: int
    exact: bool  # counted by the model's own tokenizer
    local: int  # tiktoken's count, for calibration


def knows_model(model: str) -> bool:
    try:
        tiktoken.encoding_name_for_model(model)
    except KeyError:
        return False
    return True


def server_root(base_url: str) -> str:
    """`http://host:port` of an OpenAI-style base URL (`.../v1`): where /tokenize lives."""
    root = base_url.rstrip("/")
    return root[: -len("/v1")] if root.endswith("/v1") else root


class TokenCounter:
    """Counts chat requests for one model at one endpoint."""

    def __init__(self, db: Database, api: openai.AsyncOpenAI, model: str):
        self.db = db
        self.api = api
        self.model = model
        self.endpoint = str(api.base_url).rstrip("/")
        self._tokenize_url = server_root(self.endpoint) + "/tokenize"
        self._has_tokenize: bool | None = None  # unknown until asked
        self._ratio: float | None = None  # None until loaded from the store
        self._samples = 0
        self._lock = asyncio.Lock()

    async def _load(self) -> None:
        if self._ratio is not None:
            return
        row = await self.db.fetchone(
            "SELECT ratio, samples FROM llm_token_calibration WHERE endpoint = ? AND model = ?",
            (self.endpoint, self.model),
        )
        self._ratio, self._samples = (row["ratio"], row["samples"]) if row else (1.0, 0)

    @property
    def calibrated(self) -> bool:
        return self._samples > 0 or knows_model(self.model)

    async def scale(self) -> float:
        """Model tokens per tiktoken token, with the margin packing should assume."""
        await self._load()
        if self._has_tokenize:
            return self._ratio  # the request is counted exactly before sending anyway
        margin = CALIBRATED_MARGIN if self._samples else 1.0 if knows_model(self.model) else UNCALIBRATED_MARGIN
        return self._ratio * margin

    async def _tokenize(self, text: str) -> int | None:
        """The server's count of `text`, or None when it has no tokenizer endpoint."""
        if self._has_tokenize is False:
            return None
        if not text:
            return 0
        try:
            # llama.cpp reads `content`, vLLM `prompt` (and answers `count`)
            reply = await self.api.post(
                self._tokenize_url,
                body={"content": text, "prompt": text, "model": self.model, "add_special": False},
                cast_to=object,
                options={"timeout": TOKENIZE_TIMEOUT_S, "max_retries": 0},
            )
            count = reply.get("count") if isinstance(reply, dict) else None
            count = count if count is not None else len(reply["tokens"])
        except (openai.APIError, KeyError, TypeError, AttributeError) as exc:
            if self._has_tokenize is None:
                log.info("%s offers no /tokenize (%s): counting with calibrated tiktoken", self.endpoint, type(exc).__name__)
            self._has_tokenize = False
            return None
        if self._has_tokenize is None:
            log.info("counting tokens with the server's own tokenizer at %s", self._tokenize_url)
        self._has_tokenize = True
        return int(count)

    async def count(self, messages: list[dict[str, str]]) -> TokenCount:
        local = await asyncio.to_thread(count_message_tokens, messages, self.model)
        exact = 0
        for message in messages:
            tokens = await self._tokenize(message.get("content") or "")
            if tokens is None:
                return TokenCount(round(local * await self.scale()), False, local)
            exact += tokens + MESSAGE_OVERHEAD
        exact += REQUEST_OVERHEAD
        await self._load()
        self._ratio = max(self._ratio or 1.0, exact / max(local, 1))  # packing's guess, this session
        return TokenCount(exact, True, local)

    async def observe(self, local: int, reported: int) -> None:
        """Learn from a server's count of a request tiktoken counted as `local` tokens."""
        if local < 16 or reported <= 0 or self._has_tokenize:
            return  # tiny requests are all overhead; exact counting needs no calibration
        observed = reported / local
        async with self._lock:
            await self._load()
            old = self._ratio if self._samples else observed
            self._ratio = max(observed, (1 - DECAY) * old + DECAY * observed)
            self._samples += 1
            await self.db.execute(
                "INSERT INTO llm_token_calibration (endpoint, model, ratio, samples) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (endpoint, model) DO UPDATE SET ratio = excluded.ratio, samples = excluded.samples, "
                "updated = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')",
                (self.endpoint, self.model, self._ratio, self._samples),
            )
        if abs(observed - 1) > 0.05:
            log.info("%s counts %.2f tokens per tiktoken token (calibration %.2f after %d calls)",
                     self.model, observed, self._ratio, self._samples)
