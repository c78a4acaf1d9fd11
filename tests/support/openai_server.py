"""A scripted OpenAI-compatible server on 127.0.0.1, for driving the real `openai` client.

It speaks the wire protocol of POST /v1/chat/completions (JSON, and server-sent events when
`stream` is true, with `usage` in the last chunk when asked) and POST /v1/embeddings. Tests
script replies in order (`server.script(...)`), or set a default responder; every request is
recorded, Authorization value excluded.

It can also act like a small local model behind llama.cpp's server: `token_factor` makes its
tokenizer count that many tokens per tiktoken token (as SmolLM2's does for Korean), `window`
refuses longer prompts with llama.cpp's `exceed_context_size_error`, `tokenize` serves
llama.cpp's POST /tokenize, and `report_usage = False` leaves usage out as some servers do.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pytest
from aiohttp import web

from bot.llm.tokens import count_tokens
from bot.services.library import Library
from bot.settings import Settings


@dataclass
class Reply:
    """One scripted answer. `text` is a chat completion; `status`/`body` an error or raw body."""

    text: str | None = None
    status: int = 200
    body: dict | str | None = None  # raw JSON (dict) or raw text (malformed bodies)
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds before answering (timeouts)
    stream_chunks: list[str] | None = None  # pieces for a streamed answer
    finish_reason: str = "stop"  # "length": the answer was cut off by max_tokens
    chunk_delay: float = 0.01  # seconds between streamed pieces (a slow model)


def rate_limited(retry_after: float) -> Reply:
    return Reply(
        status=429,
        body={"error": {"message": "Rate limit reached", "type": "requests", "code": "rate_limit_exceeded"}},
        headers={"retry-after": str(retry_after)},
    )


def server_error(status: int = 500) -> Reply:
    return Reply(status=status, body={"error": {"message": "The server had an error", "type": "server_error"}})


def context_length_error() -> Reply:
    return Reply(
        status=400,
        body={
            "error": {
                "message": "This model's maximum context length is 8192 tokens.",
                "type": "invalid_request_error",
                "param": "messages",
                "code": "context_length_exceeded",
            }
        },
    )


def auth_error() -> Reply:
    return Reply(
        status=401,
        body={"error": {"message": "Incorrect API key provided", "type": "invalid_request_error", "code": "invalid_api_key"}},
    )


@dataclass
class Recorded:
    path: str
    json: dict
    headers: dict[str, str]
    at: float


class OpenAIServer:
    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self.queue: deque[Reply] = deque()
        self.responder: Callable[[dict], str] = lambda request: "OK"
        self.latency_s = 0.0  # added before every unscripted reply (benchmarks)
        self.embedding_dim = 64
        self.max_embedding_input_chars: int | None = None  # longer input gets a 400 "too long"
        self.token_factor = 1.0
        self.window: int | None = None
        self.tokenize = False
        self.report_usage = True
        self.in_flight = 0
        self.max_in_flight = 0
        self.base_url = ""
        self._runner: web.AppRunner | None = None

    def script(self, *replies: Reply) -> None:
        self.queue.extend(replies)

    def chat_requests(self) -> list[Recorded]:
        return [r for r in self.requests if r.path.endswith("/chat/completions")]

    def count(self, text: str) -> int:
        """This server's tokenizer: tiktoken's count times `token_factor`."""
        return round(count_tokens(text, "gpt-4o-mini") * self.token_factor)

    def prompt_tokens(self, body: dict) -> int:
        return sum(self.count(m.get("content") or "") + 4 for m in body["messages"]) + 3

    async def start(self) -> None:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_post("/v1/chat/completions", self._chat)
        app.router.add_post("/v1/embeddings", self._embeddings)
        app.router.add_post("/tokenize", self._tokenize)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]
        self.base_url = f"http://127.0.0.1:{port}/v1"

    async def stop(self) -> None:
        if self._runner:
            await self._runner.cleanup()

    async def _record(self, request: web.Request) -> dict:
        raw = await request.read()
        body = json.loads(raw) if raw else {}
        headers = {k.lower(): v for k, v in request.headers.items() if k.lower() != "authorization"}
        self.requests.append(Recorded(request.path, body, headers, time.monotonic()))
        return body

    async def _scripted(self, body: dict) -> Reply:
        reply = self.queue.popleft() if self.queue else Reply(text=self.responder(body), delay=self.latency_s)
        if reply.delay:
            await asyncio.sleep(reply.delay)
        return reply

    @staticmethod
    def _raw(reply: Reply) -> web.Response:
        if isinstance(reply.body, str):
            return web.Response(status=reply.status, text=reply.body, headers=reply.headers, content_type="application/json")
        return web.json_response(reply.body or {}, status=reply.status, headers=reply.headers)

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        body = await self._record(request)
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            prompt_tokens = self.prompt_tokens(body)
            if self.window is not None and prompt_tokens > self.window:
                return web.json_response({"error": {
                    "code": 400, "type": "exceed_context_size_error", "n_prompt_tokens": prompt_tokens,
                    "n_ctx": self.window, "message": f"request ({prompt_tokens} tokens) exceeds the "
                    f"available context size ({self.window} tokens), try increasing it"}}, status=400)
            reply = await self._scripted(body)
            if reply.text is None:
                return self._raw(reply)
            completion_tokens = self.count(reply.text)
            usage = {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                     "total_tokens": prompt_tokens + completion_tokens} if self.report_usage else None
            if body.get("stream"):
                return await self._stream(request, body, reply, usage)
            return web.json_response({
                "id": "chatcmpl-test", "object": "chat.completion", "created": int(time.time()),
                "model": body.get("model", "test-model"),
                "choices": [{"index": 0, "message": {"role": "assistant", "content": reply.text},
                             "finish_reason": reply.finish_reason}],
                "usage": usage,
            }, headers=reply.headers)
        finally:
            self.in_flight -= 1

    async def _tokenize(self, request: web.Request) -> web.Response:
        body = await self._record(request)
        if not self.tokenize:
            return web.json_response({"error": {"code": 404, "message": "File Not Found"}}, status=404)
        return web.json_response({"tokens": [0] * self.count(body.get("content", ""))})

    async def _stream(self, request: web.Request, body: dict, reply: Reply, usage: dict | None) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        pieces = reply.stream_chunks or [reply.text[i : i + 8] for i in range(0, len(reply.text), 8)]

        def chunk(delta: dict, finish: str | None = None, with_usage: bool = False) -> bytes:
            data = {"id": "chatcmpl-test", "object": "chat.completion.chunk", "created": int(time.time()),
                    "model": body.get("model", "test-model"),
                    "choices": [] if with_usage else [{"index": 0, "delta": delta, "finish_reason": finish}]}
            if with_usage:
                data["usage"] = usage
            return f"data: {json.dumps(data)}\n\n".encode()

        await response.write(chunk({"role": "assistant", "content": ""}))
        for piece in pieces:
            await response.write(chunk({"content": piece}))
            await asyncio.sleep(reply.chunk_delay)
        await response.write(chunk({}, reply.finish_reason))
        if usage and (body.get("stream_options") or {}).get("include_usage"):
            await response.write(chunk({}, with_usage=True))
        await response.write(b"data: [DONE]\n\n")
        await response.write_eof()
        return response

    def vector(self, text: str) -> list[float]:
        seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")
        return np.random.default_rng(seed).standard_normal(self.embedding_dim).astype(float).tolist()

    async def _embeddings(self, request: web.Request) -> web.Response:
        body = await self._record(request)
        if self.queue:
            reply = await self._scripted(body)
            if reply.text is None:
                return self._raw(reply)
        inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
        if self.max_embedding_input_chars and any(len(t) > self.max_embedding_input_chars for t in inputs):
            return web.json_response(
                {"error": {"message": "This model's maximum input length is exceeded; reduce the input.",
                           "type": "invalid_request_error", "code": "context_length_exceeded"}},
                status=400,
            )
        return web.json_response({
            "object": "list",
            "data": [{"object": "embedding", "index": i, "embedding": self.vector(t)} for i, t in enumerate(inputs)],
            "model": body.get("model", "test-embedder"),
            "usage": {"prompt_tokens": 1, "total_tokens": 1},
        })


@pytest.fixture
async def openai_server():
    server = OpenAIServer()
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


@pytest.fixture
async def open_library(corpus_db, openai_server):
    """Opens a Library on a copy of the ingested corpus; the LLM is the scripted server."""
    libraries: list[Library] = []

    async def make(**overrides) -> Library:
        values = {
            "PAPERBOT_DB": corpus_db,
            "PAPERBOT_EMBEDDINGS": "off",
            "OPENAI_API_KEY": "sk-test",
            "OPENAI_BASE_URL": openai_server.base_url,
            "PAPERBOT_MODEL": "gpt-4o-mini",
            "PAPERBOT_LLM_TIMEOUT": 2.0,
            "PAPERBOT_LLM_MAX_ATTEMPTS": 2,
            **overrides,
        }
        library = await Library.open(Settings(**{k: v for k, v in values.items() if v is not None}))
        libraries.append(library)
        return library

    yield make
    for library in libraries:
        await library.close()
