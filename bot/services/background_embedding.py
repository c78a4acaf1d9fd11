"""Embedding new texts off the caller's path.

The bot fetches its digest sources just before the roundups. Embedding what a large digest
brought takes minutes on a small CPU (1-3 texts/s), and the roundup does not need the vectors
(it is built from the digest), so the fetch only asks for a run, which happens here in a
background task:
- one run at a time (`Library.embedding_lock` keeps it apart from /ingest's embedding too);
- bounded: a request during a run is remembered once and served by one more run after it, so
  requests never pile up;
- an error is logged, and the next request tries again;
- `close` cancels a run at shutdown: the batches already written stay, and the next run
  embeds the rest (embedding is incremental).
"""

from __future__ import annotations

import asyncio
import logging

from bot.services.ingest import embed_new
from bot.services.library import Library

log = logging.getLogger(__name__)


class BackgroundEmbedding:
    def __init__(self, library: Library) -> None:
        self.library = library
        self._task: asyncio.Task | None = None
        self._owed = False  # a request arrived during the current run

    def request(self) -> None:
        """Embed the texts that have no vector yet, soon; returns at once."""
        if self._task is not None and not self._task.done():
            self._owed = True
        else:
            self._task = asyncio.create_task(self._run(), name="embedding")

    async def _run(self) -> None:
        while True:
            self._owed = False
            try:
                embedded = await embed_new(self.library)
            except Exception:  # the vectors are late, not lost: the next request tries again
                log.exception("embedding the new papers failed")
            else:
                log.info("embedded %d new texts in the background", embedded)
            if not self._owed:
                return

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
