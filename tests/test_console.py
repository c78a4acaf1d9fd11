"""`paperbot console`: typed commands through prompt_toolkit, and commands piped from a script."""

from __future__ import annotations

import asyncio
import io

from prompt_toolkit import PromptSession
from prompt_toolkit.history import FileHistory
from prompt_toolkit.input import create_pipe_input
from prompt_toolkit.output import DummyOutput
from rich.console import Console

from bot.console import PaperConsole
from bot.services.library import Library
from bot.settings import Settings
from tests.test_cli import PAPERBOT, environment


async def test_tab_completes_commands_and_history_is_kept(corpus_db, tmp_path):
    out = Console(file=io.StringIO(), width=200)
    history = tmp_path / "history"
    settings = Settings(PAPERBOT_DB=corpus_db, PAPERBOT_EMBEDDINGS="off")
    async with await Library.open(settings) as library:
        with create_pipe_input() as keys:
            session = PromptSession(input=keys, output=DummyOutput(), history=FileHistory(str(history)))
            console = asyncio.create_task(PaperConsole(library, out).loop(history, session=session))
            for typed in ("/sea", "\t", " medical segment anything video\r", "/paper 9999.99999\r", "/quit\r"):
                keys.send_text(typed)  # with pauses, as a person types: completions arrive in the background
                await asyncio.sleep(0.5)
            await asyncio.wait_for(console, 30)
    shown = out.file.getvalue()
    assert "Medical SAM 2" in shown
    assert "no paper with arXiv id 9999.99999" in shown and "Traceback" not in shown
    assert "/search medical segment anything video" in history.read_text(encoding="utf-8")


async def test_piped_commands_print_what_the_bot_would_post(tmp_path, corpus_db_file):
    (tmp_path / "cli.db").write_bytes(corpus_db_file.read_bytes())
    script = "/search 蒸馏\n/roundup --limit 3\n/frobnicate\n/quit\n/search never reached\n"
    process = await asyncio.create_subprocess_exec(
        *PAPERBOT, "console", cwd=tmp_path, env=environment(tmp_path),
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(script.encode()), 120)
    out = out.decode()
    assert process.returncode == 0, err.decode()
    assert "蒸馏" in out or "istill" in out  # a distillation paper, by its Chinese text or its title
    assert "Paper roundup" in out
    assert "Unknown command '/frobnicate'" in out
    assert "never reached" not in out
