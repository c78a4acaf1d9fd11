"""One SQLite database file, opened through aiosqlite.

Two connections: a writer, used only inside `transaction()` and serialized by a lock (SQLite has
one writer at a time; queuing writers here beats them spinning on `busy_timeout`), and a reader
for queries, which in WAL mode never waits for the writer. Every query is parameterized.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Iterable, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from importlib import resources
from pathlib import Path
from typing import Any

import aiosqlite

from bot.errors import PaperbotError

BUSY_TIMEOUT_MS = 5000

# SQLite's primary result codes for a file the user can fix (permissions, a full disk, another
# program holding the lock); any other error (a malformed query, a constraint) is a bug.
USER_FIXABLE_CODES = {
    sqlite3.SQLITE_READONLY: "the database is read-only",
    sqlite3.SQLITE_PERM: "no permission to write the database",
    sqlite3.SQLITE_FULL: "the disk is full",
    sqlite3.SQLITE_IOERR: "a disk I/O error",
    sqlite3.SQLITE_BUSY: "the database is locked by another program",
    sqlite3.SQLITE_LOCKED: "the database is locked",
    sqlite3.SQLITE_CANTOPEN: "the file cannot be opened",
}


class DatabaseError(PaperbotError):
    """The database cannot be used (newer schema, not a database, unwritable); says why in one line."""


@contextmanager
def user_fixable(path: Path) -> Iterator[None]:
    """SQLite errors the user can fix become one-line DatabaseErrors naming the file."""
    try:
        yield
    except sqlite3.Error as exc:
        problem = USER_FIXABLE_CODES.get(getattr(exc, "sqlite_errorcode", -1) & 0xFF)
        if problem is None:
            raise
        raise DatabaseError(f"{path}: {problem} ({exc})") from exc


def migrations() -> list[tuple[int, str, str]]:
    """Numbered migration files `NNNN_name.sql` shipped with the package, in order."""
    found = []
    for entry in resources.files("bot.store").joinpath("migrations").iterdir():
        name = entry.name
        if name.endswith(".sql") and name[:4].isdigit():
            found.append((int(name[:4]), name, entry.read_text(encoding="utf-8")))
    return sorted(found)


def schema_version() -> int:
    """The schema version this paperbot writes: the number of its newest migration."""
    return migrations()[-1][0]


class Database:
    def __init__(self, path: Path | str):
        self.path = Path(path)
        self._writer: aiosqlite.Connection | None = None
        self._reader: aiosqlite.Connection | None = None
        self._write_lock = asyncio.Lock()

    @classmethod
    async def open(cls, path: Path | str) -> "Database":
        db = cls(path)
        try:
            await db._connect()
        except BaseException:
            await db.close()
            raise
        return db

    async def _connect(self) -> None:
        if self.path.parent and not self.path.parent.exists():
            self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._writer = await self._new_connection()
            await self._writer.execute("PRAGMA journal_mode=WAL")
            await self._migrate()
            self._reader = await self._new_connection()
        except sqlite3.DatabaseError as exc:
            raise DatabaseError(f"{self.path}: cannot open the database ({exc})") from exc

    async def _new_connection(self) -> aiosqlite.Connection:
        conn = await aiosqlite.connect(self.path, isolation_level=None)
        conn.row_factory = aiosqlite.Row
        try:
            await conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            await conn.execute("PRAGMA foreign_keys=ON")
            await conn.execute("PRAGMA synchronous=NORMAL")
            # fails here, not later, when the file is not a database
            async with conn.execute("SELECT count(*) FROM sqlite_master") as cursor:
                await cursor.fetchall()
        except BaseException:
            await conn.close()  # its worker thread would otherwise keep the process alive
            raise
        return conn

    async def _migrate(self) -> None:
        assert self._writer is not None
        async with self._writer.execute("PRAGMA user_version") as cursor:
            current = (await cursor.fetchone())[0]
        newest = schema_version()
        if current > newest:
            raise DatabaseError(
                f"{self.path} was written by a newer paperbot (schema {current}, this one knows "
                f"up to {newest}); upgrade paperbot instead of opening it with this version"
            )
        for number, name, sql in migrations():
            if number <= current:
                continue
            # One transaction per migration: a failed migration leaves the previous version intact.
            try:
                await self._writer.executescript(
                    f"BEGIN IMMEDIATE;\n{sql}\nPRAGMA user_version={number};\nCOMMIT;"
                )
            except sqlite3.Error as exc:
                if self._writer.in_transaction:
                    await self._writer.rollback()
                raise DatabaseError(f"{self.path}: migration {name} failed ({exc})") from exc

    async def close(self) -> None:
        for conn in (self._reader, self._writer):
            if conn is not None:
                await conn.close()
        self._reader = self._writer = None

    async def __aenter__(self) -> "Database":
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        """The writer connection inside BEGIN IMMEDIATE ... COMMIT (ROLLBACK on any error)."""
        assert self._writer is not None, "database is closed"
        async with self._write_lock:
            with user_fixable(self.path):
                await self._writer.execute("BEGIN IMMEDIATE")
                try:
                    yield self._writer
                except BaseException:
                    await self._writer.rollback()
                    raise
                else:
                    await self._writer.commit()

    async def fetchall(self, sql: str, params: Sequence[Any] | dict = ()) -> list[aiosqlite.Row]:
        assert self._reader is not None, "database is closed"
        with user_fixable(self.path):
            async with self._reader.execute(sql, params) as cursor:
                return list(await cursor.fetchall())

    async def fetchone(self, sql: str, params: Sequence[Any] | dict = ()) -> aiosqlite.Row | None:
        assert self._reader is not None, "database is closed"
        with user_fixable(self.path):
            async with self._reader.execute(sql, params) as cursor:
                return await cursor.fetchone()

    async def fetchval(self, sql: str, params: Sequence[Any] | dict = (), default: Any = None) -> Any:
        row = await self.fetchone(sql, params)
        return default if row is None else row[0]

    async def execute(self, sql: str, params: Sequence[Any] | dict = ()) -> None:
        """One write statement in its own transaction."""
        async with self.transaction() as conn:
            await conn.execute(sql, params)

    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        async with self.transaction() as conn:
            await conn.executemany(sql, rows)

    async def backup(self, target: Path | str) -> None:
        """Copy the live database with SQLite's online backup API (safe while others write)."""
        assert self._writer is not None, "database is closed"
        target = Path(target)
        if target.exists():
            raise DatabaseError(f"{target} already exists; choose a new file for the backup")
        if not target.parent.is_dir():
            raise DatabaseError(f"{target.parent} is not a folder; create it first or choose another place")
        async with self._write_lock:
            with user_fixable(target):
                async with aiosqlite.connect(target) as dest:
                    await self._writer.backup(dest)
