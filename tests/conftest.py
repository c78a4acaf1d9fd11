"""Shared fixtures: the real corpus beside the project, and a fresh database per test."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.store import Database

pytest_plugins = ["tests.support.openai_server"]

PROJECT_ROOT = Path(__file__).resolve().parent.parent
CORPUS_DIR = PROJECT_ROOT.parent / "shared" / "corpus"
FIXTURES_DIR = Path(__file__).resolve().parent / "fixtures"


def corpus_file(prefix: str) -> Path:
    """The real digest whose name starts with `prefix` (e.g. "000"), read from ../shared/corpus."""
    matches = sorted(CORPUS_DIR.glob(f"{prefix}_*.txt"))
    if not matches:
        raise FileNotFoundError(f"no digest {prefix}_*.txt in {CORPUS_DIR}")
    return matches[0]


@pytest.fixture
def corpus_dir() -> Path:
    assert CORPUS_DIR.is_dir(), f"the shared corpus must be beside the project: {CORPUS_DIR}"
    return CORPUS_DIR


@pytest.fixture
async def db(tmp_path):
    database = await Database.open(tmp_path / "paperbot.db")
    try:
        yield database
    finally:
        await database.close()

