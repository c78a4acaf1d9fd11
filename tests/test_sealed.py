"""The suite is sealed from the developer's own settings: with an API key and an endpoint in the
shell and in a `.env` file, the tests that need no LLM still pass and nothing reaches that
endpoint (with a real key, it would spend money)."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parent
# Tests whose outcome depends on there being no LLM and no embeddings endpoint configured.
NEED_NO_LLM = [
    "test_intelligence.py::test_without_an_llm_the_papers_are_still_found",
    "test_intelligence.py::test_roundup_without_llm_uses_stored_summaries_and_flags_the_rest",
    "test_llm_client.py::test_missing_key_and_endpoint_is_one_clear_line",
    "test_cli.py::test_ask_without_an_llm_explains_and_lists_the_papers",
]


async def test_the_developers_key_and_endpoint_are_never_used(tmp_path, openai_server):
    developer = {
        "OPENAI_API_KEY": "sk-the-developers-own",
        "OPENAI_BASE_URL": openai_server.base_url,
        "PAPERBOT_EMBEDDINGS": "openai",
        "PAPERBOT_EMBEDDINGS_BASE_URL": openai_server.base_url,
    }
    (tmp_path / ".env").write_text("".join(f"{k}={v}\n" for k, v in developer.items()))
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *(str(TESTS / t) for t in NEED_NO_LLM),
        cwd=tmp_path, env={**os.environ, **developer},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(process.communicate(), 300)
    assert process.returncode == 0, output.decode()[-3000:]
    assert openai_server.requests == []
