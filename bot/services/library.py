"""The running parts of paperbot, opened once and shared by the CLI, the console and the bot.

Services take a `Library` instead of reaching for globals: it holds the settings, the database,
the retriever and, created when first needed, the LLM client.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from bot.llm.client import LLMClient
from bot.llm.embeddings import OpenAIEmbedder
from bot.llm.errors import LLMNotConfigured
from bot.llm.tokens import encoding_for
from bot.retrieval.embedders import Embedder, LocalE5Embedder, LocalUseEmbedder
from bot.retrieval.search import Retriever
from bot.services.language import language_identifier
from bot.settings import Settings
from bot.store import Database


def make_embedder(settings: Settings) -> Embedder | None:
    """The embedder PAPERBOT_EMBEDDINGS asks for, or None when search by meaning is off.
    Chosen here, where the application is assembled, so retrieval and the LLM layer need not
    know each other."""
    if settings.embeddings == "off":
        return None
    if settings.embeddings == "openai":
        return OpenAIEmbedder.from_settings(settings)
    return LocalE5Embedder()


def make_reranker(settings: Settings) -> Embedder | None:
    """The second model PAPERBOT_RERANKER asks for (none when search by meaning is off)."""
    if settings.embeddings == "off" or settings.reranker == "off":
        return None
    return LocalUseEmbedder()


@dataclass
class Library:
    settings: Settings
    db: Database
    retriever: Retriever
    _llm: LLMClient | None = None
    # one embedding run at a time in this process: two would embed the same texts twice
    embedding_lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    def llm(self) -> LLMClient:
        """The LLM client, created on first use; LLMNotConfigured says how to set one up."""
        if self._llm is None:
            self._llm = LLMClient.from_settings(self.settings, self.db)
        return self._llm

    @classmethod
    async def open(cls, settings: Settings) -> "Library":
        embedder = make_embedder(settings)  # first: a configuration error leaves nothing open
        db = await Database.open(settings.db_path)
        return cls(settings=settings, db=db, retriever=Retriever(db, embedder, make_reranker(settings)))

    async def warm_up(self) -> None:
        """Load now what the first question would otherwise wait for: the vector index, the
        local embedding model, the LLM's tokenizer and the output-language identifier. The bot
        does this once at start-up."""
        await self.retriever.warm_up()
        await asyncio.to_thread(language_identifier)
        try:
            model = self.llm().model
        except LLMNotConfigured:
            return
        await asyncio.to_thread(encoding_for, model)

    async def close(self) -> None:
        if self._llm is not None:
            await self._llm.close()
            self._llm = None
        embedder_close = getattr(self.retriever.embedder, "close", None)
        if embedder_close is not None:
            await embedder_close()
        await self.db.close()

    async def __aenter__(self) -> "Library":
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()
