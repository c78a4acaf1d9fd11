"""The SQLite store: connection, schema migrations, backup."""

from bot.store.db import Database, DatabaseError

__all__ = ["Database", "DatabaseError"]
