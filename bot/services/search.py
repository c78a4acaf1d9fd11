"""Finding papers as every front end offers it: a search, and the papers near one paper.

The defaults live here once, so the CLI, the console and Discord give the same answer to the
same request; front ends only parse options and render the results.
"""

from __future__ import annotations

from bot.errors import PaperbotError
from bot.retrieval.search import MODES, SearchResult, describe_hits
from bot.services.library import Library
from bot.services.papers import PaperDetail, paper_detail, resolve_paper

SEARCH_LIMIT = 8  # papers per search: one Discord embed, one screen
RELATED_LIMIT = 5  # papers shown beside one paper


class BadLimit(PaperbotError, ValueError):
    """A result count below one."""


def _check_limit(limit: int) -> None:
    if limit < 1:
        raise BadLimit(f"the limit must be at least 1 (got {limit})")


async def search_papers(
    library: Library, query: str, *, limit: int = SEARCH_LIMIT, mode: str = "hybrid"
) -> list[SearchResult]:
    """The papers best matching `query`, best first."""
    _check_limit(limit)
    if mode not in MODES:
        raise PaperbotError(f"unknown search mode {mode!r}; choose one of {', '.join(MODES)}")
    hits = await library.retriever.search(query, limit=limit, mode=mode)
    return await describe_hits(library.db, hits)


async def similar_papers(library: Library, ref: str, *, limit: int = RELATED_LIMIT) -> list[SearchResult]:
    """The papers nearest to the paper `ref` names (an id in any form or a title)."""
    _check_limit(limit)
    paper_id = await resolve_paper(library.db, ref)
    return await describe_hits(library.db, await library.retriever.similar(paper_id, limit))


async def paper_with_related(library: Library, ref: str) -> tuple[PaperDetail, list[SearchResult]]:
    """One paper, everything known about it, and the papers nearest to it: /paper."""
    paper_id = await resolve_paper(library.db, ref)
    related = await describe_hits(library.db, await library.retriever.similar(paper_id, RELATED_LIMIT))
    return await paper_detail(library.db, paper_id), related
