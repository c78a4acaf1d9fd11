"""A digest server on 127.0.0.1 for the source fetcher: serves files by name, honours
conditional requests, and changes, fails, hangs or bloats on cue."""

from __future__ import annotations

import asyncio
import hashlib
from collections import Counter
from email.utils import formatdate

import pytest
from aiohttp import web


class DigestServer:
    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.modified: dict[str, str] = {}
        self.failures: dict[str, int] = {}  # name -> HTTP status to answer with
        self.hang_s: dict[str, float] = {}
        self.hits: Counter[str] = Counter()
        self.conditional: Counter[str] = Counter()  # requests that carried If-None-Match
        self.base_url = ""
        self._runner: web.AppRunner | None = None

    def put(self, name: str, data: bytes) -> None:
        self.files[name] = data
        self.modified[name] = formatdate(usegmt=True)

    def url(self, name: str) -> str:
        return f"{self.base_url}/{name}"

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/{name}", self._serve)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.base_url = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"

    async def stop(self) -> None:
        if self._runner:
            await self._runner.cleanup()

    async def _serve(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        self.hits[name] += 1
        if name in self.hang_s:
            await asyncio.sleep(self.hang_s[name])
        if name in self.failures:
            return web.Response(status=self.failures[name], text="failing on cue")
        if name not in self.files:
            return web.Response(status=404, text="no such digest")
        data = self.files[name]
        etag = '"' + hashlib.sha256(data).hexdigest()[:16] + '"'
        if request.headers.get("If-None-Match"):
            self.conditional[name] += 1
            if request.headers["If-None-Match"] == etag:
                return web.Response(status=304, headers={"ETag": etag})
        headers = {"ETag": etag, "Last-Modified": self.modified[name]}
        return web.Response(body=data, headers=headers, content_type="text/markdown")


@pytest.fixture
async def digest_server():
    server = DigestServer()
    await server.start()
    try:
        yield server
    finally:
        await server.stop()
