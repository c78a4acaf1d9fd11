"""`paperbot console`: the bot's commands in a terminal, printing what the bot would post.

It is how a new user tries paperbot before creating a Discord application. Commands are typed
as in chat (`/search ...`, `/ask ...`), with history and tab completion; options use the CLI's
spelling (`/ask what is new? --lang ko`). Every command goes through the same service layer and
the same message rendering as the bot.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import shlex
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TextIO

from prompt_toolkit import PromptSession
from prompt_toolkit.completion import WordCompleter
from prompt_toolkit.history import FileHistory
from rich.console import Console
from rich.rule import Rule

from bot.console_reading import HELP as READING_HELP
from bot.console_reading import ReadingRoom
from bot.console_reading import parsers as reading_parsers
from bot.errors import PaperbotError
from bot.retrieval.search import MODES
from bot.services import qa
from bot.services.library import Library
from bot.services.messages import answer_messages, paper_messages, search_messages, summary_messages
from bot.services.roundup import ROUNDUP_LIMIT, build_roundup
from bot.services.search import SEARCH_LIMIT, paper_with_related, search_papers
from bot.services.summaries import summarize

log = logging.getLogger(__name__)
HELP = """Commands (as in Discord):
  /search QUERY [--limit N] [--mode hybrid|lexical|semantic]
  /paper ID_OR_TITLE
  /ask QUESTION [--paper ID] [--lang L]
  /summarize ID [--lang L] [--style brief|structured] [--fresh]
  /roundup [--date YYYY-MM-DD] [--lang L] [--limit N] [--topic T]
  /help, /quit
""" + READING_HELP


class ConsoleUsageError(Exception):
    """A command typed wrong: the message says how to type it."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # argparse would exit the process
        raise ConsoleUsageError(message)


def _parser(name: str, text_name: str | None, options: dict[str, dict], *, optional: bool = False) -> _Parser:
    parser = _Parser(prog=f"/{name}", add_help=False)
    if text_name:
        parser.add_argument(text_name, nargs="*" if optional else "+")
    for option, kwargs in options.items():
        parser.add_argument(option, **kwargs)
    return parser


PARSERS = {
    "search": _parser("search", "query", {"--limit": {"type": int, "default": SEARCH_LIMIT}, "--mode": {"default": "hybrid", "choices": MODES}}),
    "paper": _parser("paper", "ref", {}),
    "ask": _parser("ask", "question", {"--paper": {}, "--lang": {}}),
    "summarize": _parser("summarize", "ref", {"--lang": {"default": "en"}, "--style": {"default": "brief", "choices": ("brief", "structured")}, "--fresh": {"action": "store_true"}}),
    "roundup": _parser("roundup", None, {"--date": {}, "--lang": {"default": "en"}, "--limit": {"type": int, "default": ROUNDUP_LIMIT}, "--topic": {}}),
    **reading_parsers(_parser),
}


class PaperConsole:
    def __init__(self, library: Library, out: Console):
        self.library = library
        self.out = out
        self.handlers: dict[str, Callable[[argparse.Namespace], Awaitable[list[str]]]] = {
            "search": self.search,
            "paper": self.paper,
            "ask": self.ask,
            "summarize": self.summarize,
            "roundup": self.roundup,
        }
        self.reading = ReadingRoom(library)
        self.handlers.update(self.reading.handlers)

    async def search(self, args) -> list[str]:
        query = " ".join(args.query)
        return search_messages(query, await search_papers(self.library, query, limit=args.limit, mode=args.mode))

    async def paper(self, args) -> list[str]:
        return paper_messages(*await paper_with_related(self.library, " ".join(args.ref)))

    async def ask(self, args) -> list[str]:
        answer = await qa.ask(self.library, " ".join(args.question), paper_ref=args.paper, lang=args.lang)
        return answer_messages(answer)

    async def summarize(self, args) -> list[str]:
        result = await summarize(self.library, " ".join(args.ref), lang=args.lang, style=args.style, fresh=args.fresh)
        return summary_messages(result)

    async def roundup(self, args) -> list[str]:
        result = await build_roundup(self.library, day=args.date, lang=args.lang, limit=args.limit, topic=args.topic)
        return result.blocks or [result.empty_message]

    async def execute(self, line: str) -> list[str]:
        """The messages the bot would post for one typed command line."""
        line = line.strip()
        if not line:
            return []
        if self.reading.discussing is not None and not line.startswith("/"):
            return await self._guarded(self.reading.question(line), line)  # a question about the paper
        try:
            words = shlex.split(line)
        except ValueError as exc:
            return [f"Cannot read that line ({exc}); check the quotes."]
        name = words[0].lstrip("/").lower()
        if name in ("help", "?"):
            return [HELP]
        if name not in self.handlers:
            return [f"Unknown command {words[0]!r}. Type /help for the list."]
        try:
            args = PARSERS[name].parse_args(words[1:])
        except ConsoleUsageError as exc:
            return [f"{exc}\n{PARSERS[name].format_usage().strip()}"]
        return await self._guarded(self.handlers[name](args), line)

    @staticmethod
    async def _guarded(work: Awaitable[list[str]], line: str) -> list[str]:
        try:
            return await work
        except PaperbotError as exc:
            return [str(exc)]
        except Exception:  # a bug: logged in full, and the session goes on
            log.exception("console command failed: %s", line)
            return ["Something went wrong on paperbot's side; the error was logged."]

    def show(self, messages: list[str]) -> None:
        for number, message in enumerate(messages):
            if number:
                self.out.print(Rule(style="dim"))
            self.out.print(message, markup=False, highlight=False)

    @staticmethod
    def _is_quit(line: str) -> bool:
        return line.strip().lower() in ("/quit", "/exit", "quit", "exit")

    async def loop(self, history_file: Path, *, session: PromptSession | None = None) -> None:
        """Prompt with history and tab completion until /quit or end of input."""
        session = session or PromptSession(history=FileHistory(str(history_file)))
        session.completer = WordCompleter([f"/{n}" for n in self.handlers] + ["/help", "/quit"], sentence=True)
        self.out.print("paperbot console: the bot's commands, here. /help lists them, /quit leaves.")
        while True:
            try:
                line = await session.prompt_async("paperbot> ")
            except (EOFError, KeyboardInterrupt):
                return
            if self._is_quit(line):
                return
            self.show(await self.execute(line))

    async def run_script(self, stream: TextIO) -> None:
        """Commands read from a pipe or a file, one per line, for scripts: no prompt, no history."""
        while line := await asyncio.to_thread(stream.readline):
            if self._is_quit(line):
                return
            self.show(await self.execute(line))
