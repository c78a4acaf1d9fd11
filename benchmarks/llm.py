"""LLM features against the scripted OpenAI-compatible server with 1 s of latency per request.

1. 50 concurrent `ask` calls with a concurrency limit of 16 (target: all done within 5 s).
2. Prompt tokens of one answer and of a 10-paper roundup, and the share of them that is
   instructions rather than paper text (target: under 25%).

Run: python benchmarks/llm.py   (uses the real corpus in ../shared/corpus; no network)
"""

from __future__ import annotations

import asyncio
import logging
import re
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.services.ingest import ingest_paths  # noqa: E402
from bot.llm.tokens import count_message_tokens, count_tokens  # noqa: E402
from bot.services import qa  # noqa: E402
from bot.services.library import Library  # noqa: E402
from bot.services.roundup import build_roundup  # noqa: E402
from bot.settings import Settings  # noqa: E402
from tests.support.openai_server import OpenAIServer  # noqa: E402

MODEL = "gpt-4o-mini"
FENCED = re.compile(r"<<<DATA [0-9a-f]+>>>\n(.*)\n<<</DATA [0-9a-f]+>>>", re.DOTALL)
QUESTIONS = [
    "segment anything for pathology", "knowledge distillation", "video diffusion models",
    "large language model evaluation", "retrieval augmented generation", "medical image segmentation",
    "3D texture generation", "speech and audio language models", "graph neural networks", "robot manipulation",
]


def paper_text_share(request_json: dict) -> tuple[int, int]:
    """(prompt tokens, tokens of the fenced paper text) of one recorded request."""
    total = count_message_tokens(request_json["messages"], MODEL)
    fenced = FENCED.search(request_json["messages"][-1]["content"])
    return total, count_tokens(fenced.group(1), MODEL) if fenced else 0


def numbered(body: dict) -> str:
    count = len(re.findall(r"^\[(\d+)\] ", body["messages"][-1]["content"], re.MULTILINE))
    return "\n".join(f"[{n}] A short summary of paper {n}." for n in range(1, count + 1))


def start_server_in_thread() -> tuple[OpenAIServer, asyncio.AbstractEventLoop]:
    """The stand-in server on its own thread and event loop, as a real endpoint would be a
    separate process: its own work (parsing, token counting) does not slow the client."""
    server = OpenAIServer()
    loop = asyncio.new_event_loop()
    threading.Thread(target=loop.run_forever, daemon=True).start()
    asyncio.run_coroutine_threadsafe(server.start(), loop).result()
    return server, loop


async def main() -> None:
    logging.basicConfig(level=logging.ERROR)
    server, server_loop = start_server_in_thread()
    db_path = Path(tempfile.mkdtemp()) / "bench.db"
    settings = Settings(
        PAPERBOT_DB=db_path, PAPERBOT_EMBEDDINGS="off", OPENAI_API_KEY="sk-bench",
        OPENAI_BASE_URL=server.base_url, PAPERBOT_MODEL=MODEL, PAPERBOT_LLM_CONCURRENCY=16,
    )
    async with await Library.open(settings) as library:
        await ingest_paths(library.db, [ROOT.parent / "shared" / "corpus"])
        await library.warm_up()  # as the bot does at start-up: the tokenizer is loaded once

        server.latency_s = 1.0
        server.responder = lambda body: "An answer citing [arXiv:2407.12773]."
        started, started_mono = time.perf_counter(), time.monotonic()
        answers = await asyncio.gather(*(qa.ask(library, QUESTIONS[i % len(QUESTIONS)]) for i in range(50)))
        elapsed = time.perf_counter() - started
        arrivals = sorted(r.at for r in server.chat_requests())
        waves = [f"{arrivals[i] - arrivals[0]:.2f}" for i in range(0, len(arrivals), 16)]
        print(f"  first request after {arrivals[0] - started_mono:.2f} s; waves start at +{', +'.join(waves)} s")
        print(f"50 concurrent asks, limit 16, 1 s latency: {elapsed:.2f} s "
              f"(target <= 5 s; {len(answers)} answers; at most {server.max_in_flight} requests in flight)")

        server.requests.clear()
        server.latency_s = 0.0
        await qa.ask(library, "What do the papers say about knowledge distillation with self-supervised teachers?")
        total, paper = paper_text_share(server.chat_requests()[-1].json)
        print(f"one answer: {total:,} prompt tokens, {paper:,} of them paper text; "
              f"instructions {100 * (total - paper) / total:.1f}% (target < 25%)")

        server.requests.clear()
        server.responder = numbered
        await build_roundup(library, day="2024-07-17", lang="ko", limit=10)
        shares = [paper_text_share(r.json) for r in server.chat_requests()]
        total, paper = sum(s[0] for s in shares), sum(s[1] for s in shares)
        print(f"10-paper roundup: {len(shares)} requests, {total:,} prompt tokens, {paper:,} of them paper text; "
              f"instructions {100 * (total - paper) / total:.1f}% (target < 25%)")
    asyncio.run_coroutine_threadsafe(server.stop(), server_loop).result()


if __name__ == "__main__":
    asyncio.run(main())
