"""Shared fixtures: the real corpus beside the project, a fresh database per test, settings
sealed from the developer's own, and (as plugins) the support servers of tests/support/.
See tests/README.md."""

from __future__ import annotations

import asyncio
import os
import shutil
from pathlib import Path

import pytest

from bot.services.ingest import ingest_paths
from bot.settings import Settings
from bot.store import Database

# The one way fixtures are shared: each support module's fixtures, for every test, by name.
pytest_plugins = [
    "tests.support.openai_server", "tests.support.fake_discord", "tests.support.digest_server",
    "tests.support.watch_library", "tests.support.local_model",
]
SEALED_PREFIXES = ("OPENAI_", "PAPERBOT_", "DISCORD_")

PROJECT_ROOT = Path(__file__).resolve().parent.parent
CORPUS_DIR = PROJECT_ROOT.parent / "shared" / "corpus"
FIXTURES_DIR = Path(__file__).resolve().parent / "fixtures"


def corpus_file(prefix: str) -> Path:
    """The real digest whose name starts with `prefix` (e.g. "000"), read from ../shared/corpus."""
    matches = sorted(CORPUS_DIR.glob(f"{prefix}_*.txt"))
    if not matches:
        raise FileNotFoundError(f"no digest {prefix}_*.txt in {CORPUS_DIR}")
    return matches[0]


@pytest.fixture(autouse=True)
def sealed_settings(monkeypatch) -> None:
    """Every `Settings` a test builds holds only what the test passes: nothing from the
    developer's shell (a real OPENAI_API_KEY would spend money) and no `.env` file. Processes
    a test starts inherit the cleaned environment."""
    for name in list(os.environ):
        if name.startswith(SEALED_PREFIXES):
            monkeypatch.delenv(name)
    monkeypatch.setitem(Settings.model_config, "env_file", None)


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


@pytest.fixture(scope="session")
def corpus_db_file(tmp_path_factory) -> Path:
    """A database holding the whole real corpus, ingested once per test session.
    Copy it (see `corpus_db`) before writing to it."""
    path = tmp_path_factory.mktemp("corpus") / "corpus.db"

    async def build() -> None:
        async with await Database.open(path) as database:
            reports = await ingest_paths(database, [CORPUS_DIR])
            assert all(r.error is None for r in reports), [r.error for r in reports]

    asyncio.run(build())
    return path


@pytest.fixture
def corpus_db(corpus_db_file, tmp_path) -> Path:
    """A private copy of the ingested corpus database for one test."""
    path = tmp_path / "paperbot.db"
    shutil.copyfile(corpus_db_file, path)
    return path
