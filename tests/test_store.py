"""The SQLite store: pragmas, versioned migrations, refusal of newer schemas, online backup."""

import sqlite3

import pytest

from bot.store import Database, DatabaseError
from bot.store.db import schema_version


async def test_new_database_is_migrated_with_wal_and_foreign_keys(tmp_path):
    async with await Database.open(tmp_path / "lib.db") as db:
        assert await db.fetchval("PRAGMA user_version") == schema_version()
        assert await db.fetchval("PRAGMA journal_mode") == "wal"
        assert await db.fetchval("PRAGMA foreign_keys") == 1
        assert await db.fetchval("PRAGMA busy_timeout") > 0
        tables = {r[0] for r in await db.fetchall("SELECT name FROM sqlite_master WHERE type='table'")}
        assert {"papers", "summaries", "digests", "paper_topics", "papers_fts"} <= tables


async def test_reopening_applies_nothing_twice(tmp_path):
    path = tmp_path / "lib.db"
    async with await Database.open(path) as db:
        await db.execute("INSERT INTO papers (title, title_hash) VALUES (?, ?)", ("A", "h"))
    async with await Database.open(path) as db:
        assert await db.fetchval("SELECT count(*) FROM papers") == 1


async def test_database_from_a_newer_paperbot_is_refused_not_downgraded(tmp_path):
    path = tmp_path / "future.db"
    async with await Database.open(path):
        pass
    with sqlite3.connect(path) as conn:
        conn.execute(f"PRAGMA user_version = {schema_version() + 5}")
    with pytest.raises(DatabaseError, match="newer paperbot"):
        await Database.open(path)
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == schema_version() + 5


async def test_a_file_that_is_not_a_database_gets_a_clear_error(tmp_path):
    path = tmp_path / "notes.db"
    path.write_text("these are my notes, not a database " * 200)
    with pytest.raises(DatabaseError, match="cannot open"):
        await Database.open(path)


async def test_failed_transaction_leaves_nothing_written(db):
    with pytest.raises(sqlite3.IntegrityError):
        async with db.transaction() as conn:
            await conn.execute("INSERT INTO papers (title, title_hash) VALUES ('A', 'h')")
            await conn.execute("INSERT INTO paper_topics (paper_id, topic) VALUES (9999, 'x')")
    assert await db.fetchval("SELECT count(*) FROM papers") == 0


async def test_online_backup_copies_a_live_database(db, tmp_path):
    await db.execute("INSERT INTO papers (title, title_hash) VALUES (?, ?)", ("Kept", "h1"))
    target = tmp_path / "backup.db"
    await db.backup(target)
    with sqlite3.connect(target) as conn:
        assert conn.execute("SELECT title FROM papers").fetchall() == [("Kept",)]
    with pytest.raises(DatabaseError, match="already exists"):
        await db.backup(target)
