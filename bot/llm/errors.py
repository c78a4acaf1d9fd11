"""What can go wrong with an LLM call, each as one line a user can act on."""

from __future__ import annotations

from bot.errors import ConfigurationError, PaperbotError


class LLMError(PaperbotError):
    """An LLM call failed; str() is a one-line message for the user.

    `billable` is False when the server refused the call before the model read anything
    (connection refused, a 4xx): such a call costs nothing in the ledger and the budgets."""

    billable = True

    def __init__(self, message: str, *, billable: bool | None = None) -> None:
        super().__init__(message)
        if billable is not None:
            self.billable = billable


class LLMNotConfigured(LLMError, ConfigurationError):
    """No endpoint or key: a setting to change before any LLM feature works (exit code 2)."""

    billable = False

    def __init__(self) -> None:
        super().__init__(
            "no LLM is configured: set OPENAI_API_KEY (and OPENAI_BASE_URL for Ollama, vLLM or "
            "llama.cpp's server) in the environment or .env; see .env.example"
        )


class BudgetExceeded(LLMError):
    """The daily token budget (global or this server's) is spent."""

    billable = False


class ContextTooLong(LLMError):
    """A request does not fit the model's context window. Raised before sending when paperbot's
    count says so, or when the server refuses it (then `prompt_tokens` and `window` carry the
    server's figures, when it gave them)."""

    billable = False

    def __init__(self, message: str, *, prompt_tokens: int | None = None, window: int | None = None) -> None:
        super().__init__(message)
        self.prompt_tokens = prompt_tokens
        self.window = window


class EmbeddingsNotConfigured(ConfigurationError):
    """PAPERBOT_EMBEDDINGS=openai without an endpoint or key: says how to configure it."""
