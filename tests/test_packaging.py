"""paperbot as a user gets it from a wheel (`pip install .`, pipx), not from this checkout: the
prompts travel inside the package and load from there."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bot.llm.prompts import TASKS, PromptError, load_prompt, parse_prompt

PROJECT = Path(__file__).resolve().parent.parent


def test_every_prompt_loads_and_fences_its_untrusted_text():
    for task in TASKS:
        prompt = load_prompt(task)
        assert prompt.version >= 1 and prompt.placeholders >= TASKS[task][0]


@pytest.mark.parametrize(
    "user, complaint",
    [
        ("{fence_open}\n{title}\n{source}\n{fence_close}\n{extra}", "unknown \\['extra'\\]"),
        ("{fence_open}\n{source}\n{fence_close}", "missing \\['title'\\]"),
        ("Title: {title}\n{fence_open}\n{source}\n{fence_close}", "untrusted text \\['title'\\]"),
    ],
    ids=["unknown placeholder", "missing placeholder", "title outside the fence"],
)
def test_a_prompt_that_differs_from_its_code_is_refused_when_it_loads(user, complaint):
    raw = f"---\ntask: summarize_brief\nversion: 3\n---\n## system\nWrite in {{language}}.\n## user\n{user}\n"
    with pytest.raises(PromptError, match=complaint):
        parse_prompt("summarize_brief", raw, "test.md")


@pytest.fixture(scope="module")
def built_wheel(tmp_path_factory) -> Path:
    """paperbot's wheel, built from a copy of the sources (a build leaves files behind)."""
    source = tmp_path_factory.mktemp("source")
    shutil.copy(PROJECT / "pyproject.toml", source)
    shutil.copy(PROJECT / "README.md", source)
    shutil.copytree(PROJECT / "bot", source / "bot", ignore=shutil.ignore_patterns("__pycache__"))
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(out), str(source)],
        check=True, capture_output=True, timeout=300,
    )
    return next(out.glob("paperbot-*.whl"))


async def test_an_installed_wheel_summarizes_from_outside_the_checkout(built_wheel, tmp_path, corpus_db, openai_server):
    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target), str(built_wheel)],
        check=True, capture_output=True, timeout=300,
    )
    assert (target / "bot" / "prompts" / "summarize_brief.md").is_file()
    # the installed copy first on the path; the dependencies from this test environment
    run = (
        "import sys; sys.path.insert(0, sys.argv[1]); import bot; "
        "assert bot.__file__.startswith(sys.argv[1]), bot.__file__; "
        "from bot.cli import main; sys.exit(main(sys.argv[2:]))"
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    openai_server.responder = lambda body: "A short summary of the paper."
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", run, str(target), "--db", str(corpus_db), "summarize", "2407.12772", "--json",
        cwd=elsewhere,
        env={"PATH": "/usr/bin:/bin", "OPENAI_BASE_URL": openai_server.base_url, "PAPERBOT_EMBEDDINGS": "off",
             "HOME": str(tmp_path)},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=120)
    assert process.returncode == 0, stderr.decode()
    result = json.loads(stdout)
    assert result["summary"] == "A short summary of the paper." and result["prompt_version"] == "summarize_brief@v2"
    assert len(openai_server.chat_requests()) == 1
