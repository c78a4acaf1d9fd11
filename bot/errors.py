"""The one base for everything a user can cause or fix.

Services raise a subclass whose message is one line written for the user; each front end (the
CLI, the console, the Discord bot) catches `PaperbotError` once and shows that line. Anything
else is a bug: logged with its traceback, and shown as a generic apology.
"""

from __future__ import annotations


class PaperbotError(Exception):
    """Something the user can fix; str() is one line that says what and, where it helps, how.

    `exit_code` is what the CLI exits with (documented in the README): 1 for bad input or a
    failed operation, 2 for configuration the user must change before anything can work.
    """

    exit_code = 1


class ConfigurationError(PaperbotError):
    """A setting is missing or invalid (a token, an endpoint, a number out of range)."""

    exit_code = 2
