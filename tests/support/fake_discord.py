"""A small fake Discord on 127.0.0.1, for driving the real discord.py stack in tests.

It speaks the parts of Discord's protocols that paperbot uses:
- the gateway websocket: HELLO, IDENTIFY -> READY and one GUILD_CREATE per guild, heartbeats
  acknowledged, and events dispatched on cue (MESSAGE_CREATE, INTERACTION_CREATE);
- the REST API (v10): login, gateway discovery, application info, command sync, interaction
  callbacks, follow-up webhooks and their edits, channel messages and history.
discord.py is pointed at it through its own API base URL setting (`Route.BASE`, for the bot's
HTTP client and for webhooks), and finds the gateway URL through `GET /gateway/bot`.

Every REST request is recorded with its time, and every message created or edited is kept,
so tests assert on what Discord would have received.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone

import discord.http
import discord.webhook.async_
import pytest
from aiohttp import web

DISCORD_EPOCH_MS = 1420070400000
EVERYONE_PERMISSIONS = 0x400 | 0x800 | 0x4000 | 0x8000 | 0x10000 | 0x80000000  # view, send, embed, attach, history, slash
MANAGE_GUILD = 0x20


@dataclass
class Recorded:
    method: str
    path: str
    json: dict | list | None
    at: float
    query: dict = field(default_factory=dict)


def iso_now() -> str:
    return datetime.now(timezone.utc).isoformat()


class FakeDiscord:
    def __init__(self, *, heartbeat_interval_ms: int = 1000):
        self.heartbeat_interval_ms = heartbeat_interval_ms
        self._ids = itertools.count(1)
        self.bot_user = self.user("paperbot", bot=True)
        self.owner = self.user("owner")
        self.application_id = self.snowflake()
        self.guilds: dict[str, dict] = {}
        self.channels: dict[str, dict] = {}
        self.forbidden: set[str] = set()
        self.requests: list[Recorded] = []
        self.messages: dict[str, list[dict]] = {}  # channel id -> messages, oldest first
        self.followups: dict[str, list[dict]] = {}  # interaction token -> messages
        self.callbacks: dict[str, dict] = {}  # interaction token -> {type, data, delay}
        self.commands: dict[str, list[dict]] = {}  # "global" or guild id -> synced commands
        self.attachments: dict[str, bytes] = {}  # attachment id -> content, served like Discord's CDN
        self.downloads: list[str] = []  # attachment file names fetched
        self.heartbeats = 0
        self.token = "fake-token"  # the bot token the REST API accepts
        self.post_delay_s = 0.0  # how long a channel message takes to be accepted
        self.posts_in_flight = 0
        self.identified = asyncio.Event()
        self._dispatched_at: dict[str, float] = {}
        self._sockets: list[web.WebSocketResponse] = []
        self._seq = 0
        self._runner: web.AppRunner | None = None
        self.base_url = ""

    # --- the world ---------------------------------------------------------------------------

    def snowflake(self) -> str:
        """A time-based id, as Discord's: discord.py turns datetimes into ids for history."""
        millis = int(time.time() * 1000) - DISCORD_EPOCH_MS
        return str((millis << 22) | (next(self._ids) & 0x3FFFFF))

    def user(self, name: str, *, bot: bool = False) -> dict:
        return {"id": self.snowflake(), "username": name, "discriminator": "0", "global_name": name,
                "avatar": None, "bot": bot, "public_flags": 0}

    def add_guild(self, name: str, channel_names: list[str]) -> dict:
        guild_id = self.snowflake()
        admin_role = {"id": self.snowflake(), "name": "admins", "permissions": str(EVERYONE_PERMISSIONS | MANAGE_GUILD),
                      "position": 1, "color": 0, "hoist": False, "managed": False, "mentionable": False, "flags": 0}
        everyone = {"id": guild_id, "name": "@everyone", "permissions": str(EVERYONE_PERMISSIONS), "position": 0,
                    "color": 0, "hoist": False, "managed": False, "mentionable": False, "flags": 0}
        guild = {
            "id": guild_id, "name": name, "owner_id": self.owner["id"], "icon": None, "splash": None,
            "discovery_splash": None, "features": [], "verification_level": 0, "default_message_notifications": 0,
            "explicit_content_filter": 0, "mfa_level": 0, "nsfw_level": 0, "premium_tier": 0,
            "preferred_locale": "en-US", "roles": [everyone, admin_role], "emojis": [], "stickers": [],
            "channels": [], "members": [self.member(self.bot_user, [])], "member_count": 2, "large": False,
            "unavailable": False, "joined_at": iso_now(), "voice_states": [], "presences": [], "threads": [],
            "stage_instances": [], "guild_scheduled_events": [], "system_channel_flags": 0, "afk_timeout": 300,
            "premium_subscription_count": 0, "admin_role_id": admin_role["id"],
        }
        for position, channel_name in enumerate(channel_names):
            channel = {"id": self.snowflake(), "type": 0, "guild_id": guild_id, "name": channel_name,
                       "position": position, "permission_overwrites": [], "nsfw": False, "parent_id": None,
                       "topic": None, "last_message_id": None, "rate_limit_per_user": 0}
            guild["channels"].append(channel)
            self.channels[channel["id"]] = channel
        self.guilds[guild_id] = guild
        return guild

    def member(self, user: dict, roles: list[str]) -> dict:
        return {"user": user, "roles": roles, "joined_at": iso_now(), "deaf": False, "mute": False, "flags": 0,
                "nick": None, "avatar": None, "premium_since": None, "pending": False}

    def attachment(self, name: str, filename: str, data: bytes) -> tuple[dict, dict]:
        """An attachment option and the `resolved` data an interaction carries with it."""
        attachment_id = self.snowflake()
        self.attachments[attachment_id] = data
        url = f"{self.base_url}/attachments/{attachment_id}/{filename}"
        resolved = {"attachments": {attachment_id: {
            "id": attachment_id, "filename": filename, "size": len(data), "url": url, "proxy_url": url,
            "content_type": "text/markdown; charset=utf-8"}}}
        return {"name": name, "type": 11, "value": attachment_id}, resolved

    def delete_channel(self, channel_id: str) -> None:
        self.channels.pop(channel_id, None)

    def message(self, channel_id: str, author: dict, body: dict) -> dict:
        return {
            "id": self.snowflake(), "channel_id": channel_id, "type": 0, "content": body.get("content") or "",
            "author": author, "attachments": [], "embeds": body.get("embeds") or [], "mentions": [],
            "mention_roles": [], "mention_everyone": False, "pinned": False, "tts": False,
            "timestamp": iso_now(), "edited_timestamp": None, "flags": body.get("flags") or 0, "components": [],
            "allowed_mentions": body.get("allowed_mentions"), "guild_id": self.channels.get(channel_id, {}).get("guild_id"),
        }

    # --- server ------------------------------------------------------------------------------

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/gateway", self._gateway)
        app.router.add_get("/attachments/{id}/{filename}", self._attachment)
        app.router.add_route("*", "/api/v10/{tail:.*}", self._rest)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.base_url = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"

    async def stop(self) -> None:
        for ws in list(self._sockets):
            await ws.close()
        if self._runner:
            await self._runner.cleanup()

    @contextmanager
    def pointed_at(self):
        """discord.py's API base URL (bot client and webhooks) pointed at this fake."""
        saved = discord.http.Route.BASE, discord.webhook.async_.Route.BASE
        discord.http.Route.BASE = discord.webhook.async_.Route.BASE = f"{self.base_url}/api/v10"
        try:
            yield self
        finally:
            discord.http.Route.BASE, discord.webhook.async_.Route.BASE = saved

    # --- gateway -----------------------------------------------------------------------------

    async def _send(self, ws: web.WebSocketResponse, op: int, data, event: str | None = None) -> None:
        payload = {"op": op, "d": data, "s": None, "t": event}
        if op == 0:
            self._seq += 1
            payload["s"] = self._seq
        await ws.send_str(json.dumps(payload))

    async def _gateway(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self._sockets.append(ws)
        await self._send(ws, 10, {"heartbeat_interval": self.heartbeat_interval_ms})
        try:
            async for frame in ws:
                message = json.loads(frame.data)
                if message["op"] == 1:
                    self.heartbeats += 1
                    await self._send(ws, 11, None)
                elif message["op"] in (2, 6):  # IDENTIFY, or RESUME answered with a new session
                    await self._ready(ws, message["d"])
        finally:
            self._sockets.remove(ws)
        return ws

    async def _ready(self, ws: web.WebSocketResponse, identify: dict) -> None:
        await self._send(ws, 0, {
            "v": 10, "user": self.bot_user, "guilds": [{"id": g, "unavailable": True} for g in self.guilds],
            "session_id": "fake-session", "resume_gateway_url": f"{self.base_url.replace('http', 'ws')}/gateway",
            "shard": identify.get("shard", [0, 1]), "application": {"id": self.application_id, "flags": 0},
            "private_channels": [], "relationships": [],
        }, "READY")
        for guild in self.guilds.values():
            await self._send(ws, 0, {**guild, "channels": [c for c in guild["channels"] if c["id"] in self.channels]},
                             "GUILD_CREATE")
        self.identified.set()

    async def dispatch(self, event: str, data: dict) -> None:
        for ws in self._sockets:
            await self._send(ws, 0, data, event)

    async def send_slash_command(self, guild: dict, channel_id: str, name: str, options: list[dict] | None = None,
                                 *, user: dict | None = None, admin: bool = False, resolved: dict | None = None) -> str:
        """Dispatch INTERACTION_CREATE for a slash command; returns the interaction token."""
        user = user or self.user("member")
        roles = [guild["admin_role_id"]] if admin else []
        token = f"token-{self.snowflake()}"
        interaction = {
            "id": self.snowflake(), "application_id": self.application_id, "type": 2, "token": token, "version": 1,
            "guild_id": guild["id"], "channel_id": channel_id, "channel": self.channels.get(channel_id),
            "member": {**self.member(user, roles), "permissions": str(EVERYONE_PERMISSIONS | (MANAGE_GUILD if admin else 0))},
            "data": {"id": self.snowflake(), "name": name, "type": 1, "options": options or [],
                     **({"resolved": resolved} if resolved else {})},
            "app_permissions": str(EVERYONE_PERMISSIONS), "locale": "en-US", "guild_locale": "en-US",
            "entitlements": [], "authorizing_integration_owners": {"0": guild["id"]}, "context": 0,
            "attachment_size_limit": 8 * 1024 * 1024,
        }
        self._dispatched_at[token] = time.monotonic()
        await self.dispatch("INTERACTION_CREATE", interaction)
        return token

    async def send_message(self, guild: dict, channel_id: str, content: str, *, user: dict | None = None) -> None:
        """A member's message, for prefix commands (MESSAGE_CREATE)."""
        author = user or self.user("member")
        message = self.message(channel_id, author, {"content": content})
        message["member"] = self.member(author, [])
        await self.dispatch("MESSAGE_CREATE", message)

    # --- REST --------------------------------------------------------------------------------

    async def _attachment(self, request: web.Request) -> web.Response:
        data = self.attachments.get(request.match_info["id"])
        self.downloads.append(request.match_info["filename"])
        return web.Response(body=data) if data is not None else web.Response(status=404)

    async def _rest(self, request: web.Request) -> web.Response:
        path = "/" + request.match_info["tail"]
        body = None
        if request.can_read_body:
            if request.content_type.startswith("multipart/"):
                form = await request.post()
                body = json.loads(form["payload_json"]) if "payload_json" in form else {}
            else:
                raw = await request.read()
                body = json.loads(raw) if raw else None
        self.requests.append(Recorded(request.method, path, body, time.monotonic(), dict(request.query)))
        parts = path.strip("/").split("/")
        # webhooks and interaction callbacks carry their own token in the URL
        if parts[0] not in ("webhooks", "interactions") and request.headers.get("Authorization") != f"Bot {self.token}":
            return await self._json({"code": 0, "message": "401: Unauthorized"}, 401)
        route = self._route(request.method, parts)
        if route is None:
            return await self._json({"code": 0, "message": f"404: Not Found ({request.method} {path})"}, 404)
        return await route(request, parts, body)

    def _route(self, method: str, parts: list[str]) -> Callable | None:
        routes = {
            ("GET", "users/@me"): lambda r, p, b: self._json(self.bot_user),
            ("GET", "gateway/bot"): lambda r, p, b: self._json({
                "url": f"{self.base_url.replace('http', 'ws')}/gateway", "shards": 1,
                "session_start_limit": {"total": 1000, "remaining": 1000, "reset_after": 0, "max_concurrency": 1}}),
            ("GET", "oauth2/applications/@me"): lambda r, p, b: self._json({
                "id": self.application_id, "name": "paperbot", "icon": None, "description": "", "summary": "",
                "bot_public": True, "bot_require_code_grant": False, "owner": self.owner, "verify_key": "",
                "flags": 0, "team": None}),
        }
        key = "/".join(parts)
        if (method, key) in routes:
            return routes[(method, key)]
        head = parts[0]
        if head == "applications" and parts[-1] == "commands" and method in ("PUT", "GET"):
            return self._sync_commands
        if head == "interactions" and parts[-1] == "callback":
            return self._callback
        if head == "webhooks":
            return self._webhook
        if head == "channels":
            return self._channel
        return None

    async def _json(self, data, status: int = 200) -> web.Response:
        # discord.py parses a body as JSON only when the content type is exactly this
        return web.Response(body=json.dumps(data).encode(), status=status, headers={"Content-Type": "application/json"})

    async def _sync_commands(self, request, parts, body) -> web.Response:
        scope = parts[3] if parts[2] == "guilds" else "global"
        if request.method == "PUT":
            self.commands[scope] = [
                {**command, "id": self.snowflake(), "application_id": self.application_id, "version": "1",
                 **({"guild_id": scope} if scope != "global" else {})}
                for command in body
            ]
        return await self._json(self.commands.get(scope, []))

    async def _callback(self, request, parts, body) -> web.Response:
        token = parts[2]
        self.callbacks[token] = {"type": body["type"], "data": body.get("data") or {},
                                 "delay": time.monotonic() - self._dispatched_at.get(token, time.monotonic())}
        interaction = {"id": parts[1], "type": 2, "response_message_loading": body["type"] == 5,
                       "response_message_ephemeral": bool((body.get("data") or {}).get("flags", 0) & 64)}
        resource = {"type": body["type"]}
        if body["type"] == 4:
            message = self.message("0", self.bot_user, body["data"])
            self.followups.setdefault(token, []).append(message)
            resource["message"] = message
            interaction["response_message_id"] = message["id"]
        return await self._json({"interaction": interaction, "resource": resource})

    async def _webhook(self, request, parts, body) -> web.Response:
        token = parts[2]
        messages = self.followups.setdefault(token, [])
        if len(parts) == 3 and request.method == "POST":  # a follow-up message
            message = self.message("0", self.bot_user, body)
            messages.append(message)
            return await self._json(message)
        target = parts[4] if len(parts) > 4 else "@original"
        found = messages[0] if target == "@original" and messages else next((m for m in messages if m["id"] == target), None)
        if found is None and target == "@original" and request.method == "PATCH":
            found = self.message("0", self.bot_user, {})
            messages.append(found)
        if found is None:
            return await self._json({"code": 10008, "message": "Unknown Message"}, 404)
        if request.method == "PATCH":
            found.update({k: v for k, v in body.items() if k in ("content", "embeds", "allowed_mentions", "flags")})
            found["edits"] = found.get("edits", 0) + 1
            found["edited_timestamp"] = iso_now()
        return await self._json(found)

    async def _channel(self, request, parts, body) -> web.Response:
        channel_id = parts[1]
        if channel_id not in self.channels:
            return await self._json({"code": 10003, "message": "Unknown Channel"}, 404)
        if len(parts) == 2:
            return await self._json(self.channels[channel_id])
        if parts[2] == "typing":
            return web.Response(status=204)
        if parts[2] == "messages" and request.method == "POST":
            if channel_id in self.forbidden:
                return await self._json({"code": 50013, "message": "Missing Permissions"}, 403)
            self.posts_in_flight += 1
            try:
                await asyncio.sleep(self.post_delay_s)
            finally:
                self.posts_in_flight -= 1
            message = self.message(channel_id, self.bot_user, body)
            self.messages.setdefault(channel_id, []).append(message)
            return await self._json(message)
        if parts[2] == "messages" and request.method == "GET":
            limit = int(request.query.get("limit", 50))
            history = self.messages.get(channel_id, [])
            if "after" in request.query:
                after = int(request.query["after"])
                newer = [m for m in history if int(m["id"]) > after][:limit]
                return await self._json(list(reversed(newer)))
            return await self._json(list(reversed(history))[:limit])
        return await self._json({"code": 0, "message": "404: Not Found"}, 404)

    # --- waiting -----------------------------------------------------------------------------

    async def wait_for(self, predicate: Callable[[], object], timeout: float = 10.0) -> object:
        """Poll until `predicate()` is truthy; fail the test instead of hanging."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            result = predicate()
            if result:
                return result
            await asyncio.sleep(0.02)
        raise AssertionError("the fake Discord never saw what the test waited for")


@pytest.fixture
async def fake_discord():
    fake = FakeDiscord()
    await fake.start()
    try:
        with fake.pointed_at():
            yield fake
    finally:
        await fake.stop()
