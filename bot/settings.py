"""All configuration, read once from the environment and `.env` into one object.

Everything that can be configured lives here so that a newcomer has one place to look;
code receives a `Settings` instance and never reads `os.environ` itself.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from bot.errors import ConfigurationError


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", populate_by_name=True
    )

    # Storage
    db_path: Path = Field(Path("paperbot.db"), alias="PAPERBOT_DB")

    # Search by meaning
    embeddings: Literal["local", "openai", "off"] = Field("local", alias="PAPERBOT_EMBEDDINGS")
    embeddings_base_url: str | None = Field(None, alias="PAPERBOT_EMBEDDINGS_BASE_URL")
    embeddings_model: str = Field("text-embedding-3-small", alias="PAPERBOT_EMBEDDINGS_MODEL")
    # a second local model rescoring the best candidates of search by meaning, and scoring new
    # papers for watches beside the search model (README, "Measured")
    reranker: Literal["local", "off"] = Field("local", alias="PAPERBOT_RERANKER")

    # LLM (any OpenAI-compatible endpoint)
    openai_api_key: SecretStr | None = Field(None, alias="OPENAI_API_KEY")
    openai_base_url: str | None = Field(None, alias="OPENAI_BASE_URL")
    model: str = Field("gpt-4o-mini", alias="PAPERBOT_MODEL")
    # the wait for the first token (a local model reads the whole prompt first), then for the
    # whole answer: a slow but working server is not cut off after the first minute
    llm_timeout_s: float = Field(60.0, alias="PAPERBOT_LLM_TIMEOUT", gt=0)
    llm_deadline_s: float = Field(600.0, alias="PAPERBOT_LLM_DEADLINE", gt=0)
    llm_max_attempts: int = Field(4, alias="PAPERBOT_LLM_MAX_ATTEMPTS", ge=1, le=20)
    llm_concurrency: int = Field(4, alias="PAPERBOT_LLM_CONCURRENCY", ge=1, le=256)
    context_window: int = Field(16000, alias="PAPERBOT_CONTEXT_WINDOW", ge=128)
    max_output_tokens: int = Field(1024, alias="PAPERBOT_MAX_OUTPUT_TOKENS", ge=16)
    price_prompt_per_mtok: float = Field(0.15, alias="PAPERBOT_PRICE_PROMPT_PER_MTOK")
    price_completion_per_mtok: float = Field(0.60, alias="PAPERBOT_PRICE_COMPLETION_PER_MTOK")
    daily_token_budget: int | None = Field(None, alias="PAPERBOT_DAILY_TOKEN_BUDGET")
    guild_daily_token_budget: int | None = Field(None, alias="PAPERBOT_GUILD_DAILY_TOKEN_BUDGET")

    # Discord
    discord_token: SecretStr | None = Field(None, alias="DISCORD_TOKEN")
    max_attachment_bytes: int = Field(5_000_000, alias="PAPERBOT_MAX_ATTACHMENT_BYTES")
    command_prefix: str = Field("!pb ", alias="PAPERBOT_PREFIX")
    # Reading message text for prefix commands is a privileged intent: enable it in the
    # developer portal first. Without it, prefix commands work when the bot is mentioned.
    message_content_intent: bool = Field(False, alias="PAPERBOT_MESSAGE_CONTENT_INTENT")
    llm_cooldown_s: float = Field(15.0, alias="PAPERBOT_LLM_COOLDOWN")
    scheduler_tick_s: float = Field(30.0, alias="PAPERBOT_SCHEDULER_TICK")
    # A roundup that fails for a reason that may pass (Discord or the network) is tried again
    # after PAPERBOT_ROUNDUP_RETRY seconds, doubling each time, up to PAPERBOT_ROUNDUP_ATTEMPTS tries.
    roundup_attempts: int = Field(5, alias="PAPERBOT_ROUNDUP_ATTEMPTS")
    roundup_retry_s: float = Field(30.0, alias="PAPERBOT_ROUNDUP_RETRY")
    roundup_cooldown_s: float = Field(60.0, alias="PAPERBOT_ROUNDUP_COOLDOWN")
    # Shards in separate processes: each runs PAPERBOT_SHARD_IDS (a JSON list, e.g. [0,1]) of
    # PAPERBOT_SHARD_COUNT, and posts roundups only for the servers on those shards.
    shard_count: int | None = Field(None, alias="PAPERBOT_SHARD_COUNT")
    shard_ids: list[int] | None = Field(None, alias="PAPERBOT_SHARD_IDS")

    # The reading room: papers a member's watches may bring them per day
    watch_daily_cap: int = Field(5, alias="PAPERBOT_WATCH_DAILY_CAP", ge=1)
    watch_interval_s: float = Field(600.0, alias="PAPERBOT_WATCH_INTERVAL", gt=0)

    # Digest sources (paperbot sources add ...)
    sources_interval_min: float = Field(60.0, alias="PAPERBOT_SOURCES_INTERVAL")
    sources_timeout_s: float = Field(30.0, alias="PAPERBOT_SOURCES_TIMEOUT")
    sources_max_bytes: int = Field(20_000_000, alias="PAPERBOT_SOURCES_MAX_BYTES")

    # Corpus
    default_corpus_dir: Path = Field(Path("../shared/corpus"), alias="PAPERBOT_CORPUS_DIR")

    @field_validator("model")
    @classmethod
    def _model_named(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must name the model, e.g. gpt-4o-mini or the name your local server uses")
        return value.strip()

    @field_validator("openai_api_key", "discord_token")
    @classmethod
    def _secret(cls, value: SecretStr | None) -> SecretStr | None:
        # `DISCORD_TOKEN=` left blank in .env means not set: the main command opens the console
        return value if value is not None and value.get_secret_value().strip() else None

    @field_validator("openai_base_url", "embeddings_base_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None  # empty means not set
        value = value.strip()
        if not value.startswith(("http://", "https://")):
            raise ValueError(f"must be an http(s) URL such as http://127.0.0.1:11434/v1, not {value!r}")
        return value

    @model_validator(mode="after")
    def _output_fits_window(self) -> "Settings":
        if self.max_output_tokens > self.context_window // 2:
            raise ValueError(
                f"PAPERBOT_MAX_OUTPUT_TOKENS ({self.max_output_tokens}) must be at most half of "
                f"PAPERBOT_CONTEXT_WINDOW ({self.context_window}), to leave room for the papers"
            )
        return self


def load_settings(**overrides) -> Settings:
    """Settings from the environment and `.env`, with explicit overrides (CLI flags) on top.

    An invalid value is a ConfigurationError naming the setting, in one line."""
    try:
        return Settings(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as exc:
        problem = exc.errors()[0]
        message = problem["msg"].removeprefix("Value error, ")
        if not problem["loc"]:  # a rule between settings: the message names them
            raise ConfigurationError(f"invalid settings: {message}") from None
        raise ConfigurationError(f"setting {problem['loc'][0]} is invalid: {message}") from None
