"""Figures about the whole library that searches consult, kept until the library grows.

At 100,000 papers, counting the papers that match a common word takes a few milliseconds and
counting the papers with Korean text tens of milliseconds, yet both change only when papers or
summaries are added. The figures steer a search (how to narrow a query, how much keywords
count) and never decide which papers match, so one a little stale after an abstract is
replaced does no harm.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Hashable
from typing import Any

from bot.store import Database

MAX_ENTRIES = 10_000


class LibraryCache:
    def __init__(self, db: Database):
        self.db = db
        self._generation: tuple[Any, Any] | None = None
        self._values: dict[Hashable, Any] = {}

    async def refresh(self) -> None:
        """Forget every figure if papers or summaries were added since the last refresh
        (by this process or another): new rows get higher ids, so two index lookups tell."""
        row = await self.db.fetchone("SELECT (SELECT max(id) FROM papers), (SELECT max(id) FROM summaries)")
        generation = (row[0], row[1])
        if generation != self._generation:
            self._generation = generation
            self._values.clear()

    async def get(self, key: Hashable, compute: Callable[[], Awaitable[Any]]) -> Any:
        if key not in self._values:
            if len(self._values) >= MAX_ENTRIES:
                self._values.clear()
            self._values[key] = await compute()
        return self._values[key]
