"""paperbot's LLM commands on a real small model at its real window: SmolLM2-135M-Instruct
behind llama.cpp's server (xllamacpp), 2,048 tokens, two threads, as in the tests.

For each command (ask in English, Chinese and Korean; summarize in Korean; a 5-paper roundup in
German): wall time, and per LLM call the prompt tokens the server counted, tiktoken's count of
the same request, and the answer's tokens. Then the same commands again with the server's
/tokenize hidden, so paperbot has to calibrate: its estimate before each call against the
server's count, and whether any request overflowed.

Run: python benchmarks/local_model.py   (downloads the model once, like the tests; no network
beyond the package registry)
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.services.ingest import ingest_paths  # noqa: E402
from bot.llm.tokens import count_message_tokens  # noqa: E402
from bot.services import qa  # noqa: E402
from bot.services.library import Library  # noqa: E402
from bot.services.roundup import build_roundup  # noqa: E402
from bot.services.summaries import summarize  # noqa: E402
from bot.settings import Settings  # noqa: E402
from tests.support.local_model import WINDOW, LocalModel  # noqa: E402

COMMANDS = [
    ("ask en", lambda lib: qa.ask(lib, "What is new in knowledge distillation?")),
    ("ask zh", lambda lib: qa.ask(lib, "知识蒸馏有哪些新方法？")),
    ("ask ko", lambda lib: qa.ask(lib, "병리 슬라이드에서 세포 분열을 찾는 방법은?")),
    ("summarize --lang ko", lambda lib: summarize(lib, "2407.12772", lang="ko", fresh=True)),
    ("roundup --lang de --limit 5", lambda lib: build_roundup(lib, day="2024-07-17", lang="de", limit=5)),
]


def record_estimates(library: Library, calls: list[dict]) -> None:
    """Wrap the client's `complete` to note paperbot's count before each call and the server's after."""
    llm = library.llm()
    complete = llm.complete

    async def noting(messages, caller, **kwargs):
        estimate = await llm.count(messages)
        entry = {"feature": caller.feature, "estimate": estimate.tokens, "exact": estimate.exact,
                 "tiktoken": count_message_tokens(messages, llm.model)}
        calls.append(entry)
        completion = await complete(messages, caller, **kwargs)
        entry.update(server=completion.prompt_tokens, answer=completion.completion_tokens, cut=completion.cut_off)
        return completion

    llm.complete = noting


async def run_pass(db: Path, model: LocalModel, *, hide_tokenize: bool) -> None:
    settings = Settings(
        _env_file=None, PAPERBOT_DB=db, PAPERBOT_EMBEDDINGS="off", OPENAI_BASE_URL=model.base_url,
        PAPERBOT_MODEL=model.model, PAPERBOT_CONTEXT_WINDOW=WINDOW, PAPERBOT_MAX_OUTPUT_TOKENS=160,
        PAPERBOT_LLM_TIMEOUT=600, PAPERBOT_LLM_DEADLINE=900,
    )
    async with await Library.open(settings) as library:
        await library.warm_up()
        if hide_tokenize:
            library.llm().tokens._has_tokenize = False  # as if the server had no /tokenize
        for name, command in COMMANDS:
            calls: list[dict] = []
            record_estimates(library, calls)
            started = time.perf_counter()
            await command(library)
            elapsed = time.perf_counter() - started
            print(f"{name}: {elapsed:.1f} s, {len(calls)} LLM calls")
            for c in calls:
                server = c.get("server")
                print(f"   {c['feature']:<14} server {server or 'refused':>5} prompt tokens, tiktoken {c['tiktoken']:>5} "
                      f"({server / c['tiktoken'] if server else 0:.2f}x), paperbot's count {c['estimate']:>5} "
                      f"({'exact' if c['exact'] else 'calibrated'}), answer {c.get('answer', 0)} tokens"
                      f"{' (cut off)' if c.get('cut') else ''}")
        outcomes = await library.db.fetchall("SELECT outcome, count(*) FROM llm_calls GROUP BY outcome")
        print("   outcomes:", ", ".join(f"{row[0]} {row[1]}" for row in outcomes))


async def main() -> None:
    logging.basicConfig(level=logging.WARNING)
    workdir = Path(tempfile.mkdtemp())
    corpus = workdir / "corpus.db"
    settings = Settings(_env_file=None, PAPERBOT_DB=corpus, PAPERBOT_EMBEDDINGS="off")
    async with await Library.open(settings) as library:
        await ingest_paths(library.db, [ROOT.parent / "shared" / "corpus"])
    model = LocalModel()
    model.start()
    try:
        for hide in (False, True):
            label = "without /tokenize: calibrating from reported usage" if hide else "with the server's /tokenize"
            print(f"\n== {label} ==")
            db = workdir / f"pass-{int(hide)}.db"
            shutil.copyfile(corpus, db)
            await run_pass(db, model, hide_tokenize=hide)
    finally:
        model.stop()


if __name__ == "__main__":
    asyncio.run(main())
