"""What can go wrong with an LLM call, each as one line a user can act on."""

from __future__ import annotations

from bot.errors import ConfigurationError, PaperbotError


class LLMError(PaperbotError):
    """An LLM call failed; str() is a one-line message for the user."""


class LLMNotConfigured(LLMError, ConfigurationError):
    """No endpoint or key: a setting to change before any LLM feature works (exit code 2)."""

    def __init__(self) -> None:
        super().__init__(
            "no LLM is configured: set OPENAI_API_KEY (and OPENAI_BASE_URL for Ollama, vLLM or "
            "llama.cpp's server) in the environment or .env; see .env.example"
        )


class BudgetExceeded(LLMError):
    """The daily token budget (global or this server's) is spent."""


class ContextTooLong(LLMError):
    """A request would not fit the model's context window; callers pack context to avoid it."""


class EmbeddingsNotConfigured(ConfigurationError):
    """PAPERBOT_EMBEDDINGS=openai without an endpoint or key: says how to configure it."""
