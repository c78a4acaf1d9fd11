"""A digest server on 127.0.0.1 for the source fetcher.

It serves the files of a folder by name (the real corpus, read where it lies), answers
conditional requests as a static file server does (ETag / If-None-Match first, else
Last-Modified / If-Modified-Since, RFC 9110 §13.2.2), records every request, and on cue
replaces a file's content, fails with a status, hangs, or streams a body of any size
without a Content-Length. Nothing is ever written to the folder.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from email.utils import formatdate, parsedate_to_datetime
from pathlib import Path

import pytest
from aiohttp import web


@dataclass
class Seen:
    """One request as the server saw it."""

    name: str
    headers: dict[str, str]
    status: int


class DigestServer:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.hits: Counter[str] = Counter()  # requests per name
        self.requests: list[Seen] = []
        self.bytes_sent: Counter[str] = Counter()  # body bytes written, per name
        self.base_url = ""
        self._content: dict[str, bytes] = {}  # replaced or added files, instead of the folder's
        self._mtime: dict[str, int] = {}  # their Last-Modified, whole seconds since the epoch
        self._failures: dict[str, int] = {}
        self._hangs: dict[str, float] = {}
        self._oversize: dict[str, int] = {}
        self._no_etag: set[str] = set()
        self._stopping = asyncio.Event()
        self._runner: web.AppRunner | None = None

    # --- cues -----------------------------------------------------------------------------

    def url(self, name: str) -> str:
        return f"{self.base_url}/{name}"

    def replace(self, name: str, data: bytes) -> None:
        """Serve `data` under `name` from now on: a new ETag, and a Last-Modified strictly later
        than the previous one (HTTP dates have whole seconds; a real rewrite could land in the
        same second, but then clients that compare dates would miss it)."""
        previous = self._last_modified(name) if self._exists(name) else 0
        self._content[name] = data
        self._mtime[name] = max(int(time.time()), previous + 1)

    def fail(self, name: str, status: int) -> None:
        self._failures[name] = status

    def hang(self, name: str, seconds: float) -> None:
        """Wait this long before answering (cut short when the server stops)."""
        self._hangs[name] = seconds

    def oversize(self, name: str, size: int) -> None:
        """Stream `size` bytes of digest-looking text, chunked, with no Content-Length."""
        self._oversize[name] = size

    def omit_etag(self, name: str) -> None:
        """Answer without an ETag, so that only Last-Modified can make a request conditional."""
        self._no_etag.add(name)

    def clear(self, name: str) -> None:
        """Stop failing, hanging and oversizing `name`."""
        self._failures.pop(name, None)
        self._hangs.pop(name, None)
        self._oversize.pop(name, None)

    def etag(self, name: str) -> str:
        return '"' + hashlib.sha256(self._body(name)).hexdigest()[:32] + '"'

    def seen(self, name: str) -> list[Seen]:
        return [r for r in self.requests if r.name == name]

    # --- lifecycle ------------------------------------------------------------------------

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/{name}", self._handle)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.base_url = f"http://127.0.0.1:{port}"

    async def stop(self) -> None:
        self._stopping.set()  # hanging handlers return at once instead of holding up cleanup
        if self._runner:
            await self._runner.cleanup()

    # --- serving --------------------------------------------------------------------------

    def _exists(self, name: str) -> bool:
        return name in self._content or (self.folder / name).is_file()

    def _body(self, name: str) -> bytes:
        return self._content[name] if name in self._content else (self.folder / name).read_bytes()

    def _last_modified(self, name: str) -> int:
        return self._mtime[name] if name in self._mtime else int((self.folder / name).stat().st_mtime)

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        self.hits[name] += 1
        response = await self._respond(name, request)
        self.requests.append(Seen(name, dict(request.headers), response.status))
        return response

    async def _respond(self, name: str, request: web.Request) -> web.StreamResponse:
        if name in self._hangs:
            try:
                await asyncio.wait_for(self._stopping.wait(), self._hangs[name])
            except TimeoutError:
                pass
        if name in self._failures:
            return web.Response(status=self._failures[name], text="failing on cue")
        if name in self._oversize:
            return await self._stream(name, self._oversize[name], request)
        if "/" in name or not self._exists(name):
            return web.Response(status=404, text="no such digest")
        validators = {"Last-Modified": formatdate(self._last_modified(name), usegmt=True)}
        if name not in self._no_etag:
            validators["ETag"] = self.etag(name)
        if self._not_modified(name, request):
            return web.Response(status=304, headers=validators)
        body = self._body(name)
        self.bytes_sent[name] += len(body)
        return web.Response(body=body, headers=validators, content_type="text/plain", charset="utf-8")

    def _not_modified(self, name: str, request: web.Request) -> bool:
        if_none_match = request.headers.get("If-None-Match")
        if if_none_match is not None:  # when present, If-Modified-Since is ignored
            if name in self._no_etag:
                return False
            tags = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
            return "*" in tags or self.etag(name) in tags
        if_modified_since = request.headers.get("If-Modified-Since")
        if if_modified_since is None:
            return False
        try:
            since = parsedate_to_datetime(if_modified_since).timestamp()
        except (TypeError, ValueError):
            return False  # an invalid date is ignored
        return self._last_modified(name) <= since

    async def _stream(self, name: str, size: int, request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/plain; charset=utf-8"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        chunk = b"# Daily papers\n" + b"a paper title that goes on and on\n" * 2000
        sent = 0
        try:
            while sent < size:
                piece = chunk[: size - sent]
                await response.write(piece)
                sent += len(piece)
                self.bytes_sent[name] += len(piece)
            await response.write_eof()
        except ConnectionError:  # the client hung up, as it should once past its limit
            pass
        return response


@pytest.fixture
async def digest_server(corpus_dir: Path) -> AsyncIterator[DigestServer]:
    """A started server over the real corpus folder, stopped after the test."""
    server = DigestServer(corpus_dir)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()
