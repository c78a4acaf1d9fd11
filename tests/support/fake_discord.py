"""A strict fake Discord on 127.0.0.1, for driving the real discord.py stack in tests.

It speaks the parts of Discord's protocols that paperbot uses, and rejects what Discord rejects:
- the gateway websocket: HELLO, IDENTIFY -> READY and one GUILD_CREATE per guild the shard
  holds (guild id >> 22 % shard count), heartbeats acknowledged, events dispatched on cue.
  An IDENTIFY asking for a privileged intent the application has not enabled is closed with
  4014, as Discord does; without the message-content intent, MESSAGE_CREATE carries no text
  unless the bot is mentioned.
- the REST API (v10), one handler per route (see `routes`): messages over 2,000 characters or
  with embeds over their limits are refused (400, code 50035); channel posts and message edits
  are rate limited (5 per 5 s per channel or interaction, with Discord's headers, and 429 with
  `retry_after` past that).
- threads (POST channels/{id}/threads, THREAD_CREATE), reactions (MESSAGE_REACTION_ADD and
  _REMOVE on cue), DMs (POST users/@me/channels; a member whose DMs are closed gets 403 50007),
  and message components: a button click is a component interaction (type 3) on the message
  that carries the button, answered like a command.
- interactions: slash commands are dispatched only when Discord would show them (synced, allowed
  in that context, `default_member_permissions` held); the first response must come within 3 s
  and only once (40060 for a second); the first follow-up after a deferred response becomes that
  response, with the defer's visibility (its own ephemeral flag is ignored); the token expires 15
  minutes after the interaction; autocomplete answers hold at most 25 choices of 1-100 characters.
  Each callback type has its own handler (see `callback_handlers`), to be extended.

discord.py is pointed at it through its own API base URL setting (`Route.BASE`, for the bot's
HTTP client and for webhooks), and finds the gateway URL through `GET /gateway/bot`.

Every REST request is recorded with its time, every refusal with its reason, and every message
created or edited is kept, so tests assert on what Discord would have received.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import time
from collections.abc import Awaitable, Callable
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone

import discord.gateway
import discord.http
import discord.webhook.async_
import pytest
import yarl
from aiohttp import web

DISCORD_EPOCH_MS = 1420070400000
VIEW, SEND, EMBED, ATTACH, HISTORY, SLASH = 0x400, 0x800, 0x4000, 0x8000, 0x10000, 0x80000000
EVERYONE_PERMISSIONS = VIEW | SEND | EMBED | ATTACH | HISTORY | SLASH
MANAGE_GUILD = 0x20
EPHEMERAL, LOADING = 64, 128
PRIVILEGED_INTENTS = {1 << 1: "GUILD_MEMBERS", 1 << 8: "GUILD_PRESENCES", 1 << 15: "MESSAGE_CONTENT"}
MESSAGE_CONTENT_INTENT = 1 << 15

# Discord's documented limits
CONTENT_LIMIT = 2000
EMBEDS_PER_MESSAGE = 10
EMBED_LIMITS = {"title": 256, "description": 4096, "footer": 2048, "author": 256, "field_name": 256, "field_value": 1024}
EMBED_FIELDS = 25
EMBED_TOTAL = 6000
CHOICES_LIMIT = 25
CHOICE_LENGTH = 100
RESPONSE_DEADLINE_S = 3.0
TOKEN_LIFETIME_S = 15 * 60


@dataclass
class Recorded:
    method: str
    path: str
    json: dict | list | None
    at: float
    query: dict = field(default_factory=dict)


@dataclass
class Rejection:
    """Why the fake refused a request, as Discord would have."""

    method: str
    path: str
    status: int
    code: int
    message: str


class Refused(Exception):
    """Raised by a handler: the fake answers with Discord's error body."""

    def __init__(self, status: int, code: int, message: str, **extra):
        super().__init__(message)
        self.status, self.code, self.message, self.extra = status, code, message, extra


class CommandUnavailable(AssertionError):
    """Discord would not have shown this command to this member here, so no interaction exists."""


@dataclass
class Interaction:
    """What the fake knows of one interaction, by token."""

    token: str
    kind: int  # 2 application command, 4 autocomplete, 3 component ...
    created_ms: int  # from the snowflake: the token lives 15 minutes from here
    dispatched_at: float
    response_type: int | None = None
    original: dict | None = None  # the response message (a deferred one is LOADING until filled)
    choices: list[dict] | None = None  # an autocomplete answer


def invalid_form(field_name: str, problem: str) -> Refused:
    return Refused(400, 50035, "Invalid Form Body", errors={field_name: {"_errors": [{"code": "BASE_TYPE_MAX_LENGTH", "message": problem}]}})


def check_embed(embed: dict, where: str) -> int:
    """Refuse an embed over any of Discord's limits; returns its counted length."""
    parts = {
        "title": embed.get("title") or "",
        "description": embed.get("description") or "",
        "footer": (embed.get("footer") or {}).get("text") or "",
        "author": (embed.get("author") or {}).get("name") or "",
    }
    for name, text in parts.items():
        if len(text) > EMBED_LIMITS[name]:
            raise invalid_form(f"{where}.{name}", f"Must be {EMBED_LIMITS[name]} or fewer in length.")
    fields = embed.get("fields") or []
    if len(fields) > EMBED_FIELDS:
        raise invalid_form(f"{where}.fields", f"Must be {EMBED_FIELDS} or fewer in length.")
    total = sum(map(len, parts.values()))
    for n, item in enumerate(fields):
        name, value = item.get("name") or "", item.get("value") or ""
        if not name or not value:
            raise invalid_form(f"{where}.fields.{n}", "This field is required")
        if len(name) > EMBED_LIMITS["field_name"]:
            raise invalid_form(f"{where}.fields.{n}.name", "Must be 256 or fewer in length.")
        if len(value) > EMBED_LIMITS["field_value"]:
            raise invalid_form(f"{where}.fields.{n}.value", "Must be 1024 or fewer in length.")
        total += len(name) + len(value)
    return total


def check_message(body: dict | None, *, creating: bool) -> None:
    """Refuse a message body Discord would refuse (content, embeds; empty when creating)."""
    body = body or {}
    content = body.get("content")
    if content is not None and len(content) > CONTENT_LIMIT:
        raise invalid_form("content", f"Must be {CONTENT_LIMIT} or fewer in length.")
    embeds = body.get("embeds") or []
    if len(embeds) > EMBEDS_PER_MESSAGE:
        raise invalid_form("embeds", f"Must be {EMBEDS_PER_MESSAGE} or fewer in length.")
    total = sum(check_embed(embed, f"embeds.{n}") for n, embed in enumerate(embeds))
    if total > EMBED_TOTAL:
        raise invalid_form("embeds", f"Embed size exceeds maximum size of {EMBED_TOTAL}")
    if creating and not content and not embeds and not body.get("attachments") and not body.get("components"):
        raise Refused(400, 50006, "Cannot send an empty message")


def check_choices(choices: list[dict]) -> None:
    if len(choices) > CHOICES_LIMIT:
        raise invalid_form("data.choices", f"Must be {CHOICES_LIMIT} or fewer in length.")
    for n, choice in enumerate(choices):
        if not 1 <= len(choice.get("name") or "") <= CHOICE_LENGTH:
            raise invalid_form(f"data.choices.{n}.name", "Must be between 1 and 100 in length.")
        if isinstance(choice.get("value"), str) and len(choice["value"]) > CHOICE_LENGTH:
            raise invalid_form(f"data.choices.{n}.value", "Must be 100 or fewer in length.")


class RateLimiter:
    """Discord's per-route buckets: `limit` requests per `window_s` for each key (a channel, an
    interaction token). Answers carry the X-RateLimit headers discord.py reads."""

    def __init__(self, limit: int = 5, window_s: float = 5.0):
        self.limit, self.window_s = limit, window_s
        self.seen: dict[str, list[float]] = {}

    def take(self, key: str) -> dict[str, str]:
        now = time.monotonic()
        recent = [t for t in self.seen.get(key, []) if now - t < self.window_s]
        if len(recent) >= self.limit:
            retry_after = round(recent[0] + self.window_s - now, 3)
            self.seen[key] = recent
            raise Refused(429, 0, "You are being rate limited.", retry_after=retry_after, **{"global": False})
        recent.append(now)
        self.seen[key] = recent
        reset_after = recent[0] + self.window_s - now
        return {"X-RateLimit-Limit": str(self.limit), "X-RateLimit-Remaining": str(self.limit - len(recent)),
                "X-RateLimit-Reset-After": f"{reset_after:.3f}", "X-RateLimit-Bucket": key}


Handler = Callable[..., Awaitable[web.Response]]


def iso_now() -> str:
    return datetime.now(timezone.utc).isoformat()


def snowflake_ms(snowflake: str) -> int:
    return (int(snowflake) >> 22) + DISCORD_EPOCH_MS


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
        self.rejections: list[Rejection] = []
        self.messages: dict[str, list[dict]] = {}  # channel id -> messages, oldest first
        self.followups: dict[str, list[dict]] = {}  # interaction token -> visible response messages
        self.deleted: list[dict] = []  # messages deleted through the API
        self.callbacks: dict[str, dict] = {}  # interaction token -> {type, data, delay}
        self.interactions: dict[str, Interaction] = {}
        self.commands: dict[str, list[dict]] = {}  # "global" or guild id -> synced commands
        self.attachments: dict[str, bytes] = {}  # attachment id -> content, served like Discord's CDN
        self.downloads: list[str] = []  # attachment file names fetched
        self.dms: dict[str, str] = {}  # user id -> their DM channel with the bot
        self.closed_dms: set[str] = set()  # users who accept no DMs from the bot
        self.no_threads: set[str] = set()  # channels where the bot lacks Create Public Threads
        self.heartbeats = 0
        self.token = "fake-token"  # the bot token the REST API accepts
        self.enabled_intents = 0  # privileged intents enabled in the "developer portal"
        self.shard_count = 1
        self.gateway_silent = False  # the gateway accepts connections and never says HELLO
        self.post_delay_s = 0.0  # how long a channel message takes to be accepted
        self.response_delay_s = 0.0  # how long an interaction follow-up or edit takes to be accepted
        self.posts_in_flight = 0
        self.channel_posts = RateLimiter()
        self.message_edits = RateLimiter()
        self.identified = asyncio.Event()
        self._sockets: dict[web.WebSocketResponse, dict] = {}  # socket -> its IDENTIFY
        self._seq = 0
        self._runner: web.AppRunner | None = None
        self.base_url = ""
        self.routes: list[tuple[str, re.Pattern, Handler]] = []
        for method, pattern, handler in [
            ("GET", "users/@me", self._me),
            ("GET", "gateway/bot", self._gateway_bot),
            ("GET", "oauth2/applications/@me", self._application),
            ("GET", "applications/{app}/commands", self._get_commands),
            ("PUT", "applications/{app}/commands", self._put_commands),
            ("GET", "applications/{app}/guilds/{guild}/commands", self._get_commands),
            ("PUT", "applications/{app}/guilds/{guild}/commands", self._put_commands),
            ("POST", "interactions/{id}/{token}/callback", self._callback),
            ("POST", "webhooks/{app}/{token}", self._followup),
            ("GET", "webhooks/{app}/{token}/messages/{message}", self._get_response),
            ("PATCH", "webhooks/{app}/{token}/messages/{message}", self._edit_response),
            ("DELETE", "webhooks/{app}/{token}/messages/{message}", self._delete_response),
            ("GET", "channels/{channel}", self._get_channel),
            ("POST", "channels/{channel}/typing", self._typing),
            ("POST", "channels/{channel}/messages", self._post_message),
            ("GET", "channels/{channel}/messages", self._history),
            ("PATCH", "channels/{channel}/messages/{message}", self._edit_message),
            ("POST", "channels/{channel}/threads", self._create_thread),
            ("POST", "users/@me/channels", self._open_dm),
        ]:
            self.route(method, pattern, handler)
        # interaction callback type -> handler(interaction, body); extend for components, modals
        self.callback_handlers: dict[int, Callable[[Interaction, dict], Awaitable[dict]]] = {
            4: self._respond_with_message,
            5: self._respond_deferred,
            8: self._respond_with_choices,
        }

    def route(self, method: str, pattern: str, handler: Handler) -> None:
        """Serve `method pattern` (`{name}` matches one path segment, passed to the handler)."""
        regex = re.compile("^" + re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", pattern) + "$")
        self.routes.append((method, regex, handler))

    # --- the world ---------------------------------------------------------------------------

    def snowflake(self, *, age_s: float = 0.0) -> str:
        """A time-based id, as Discord's: discord.py turns datetimes into ids for history."""
        millis = int((time.time() - age_s) * 1000) - DISCORD_EPOCH_MS
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

    def dm_channel(self, user: dict) -> str:
        channel = {"id": self.snowflake(), "type": 1, "recipients": [user], "last_message_id": None}
        self.channels[channel["id"]] = channel
        return channel["id"]

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

    async def deny_send(self, channel_id: str) -> None:
        """Take Send Messages from the bot in a channel (an overwrite, as a moderator would)."""
        channel = self.channels[channel_id]
        channel["permission_overwrites"] = [{"id": self.bot_user["id"], "type": 1, "allow": "0", "deny": str(SEND)}]
        self.forbidden.add(channel_id)
        await self.dispatch("CHANNEL_UPDATE", channel)

    async def remove_guild(self, guild_id: str) -> None:
        """The bot is kicked (or the server deleted): GUILD_DELETE without `unavailable`."""
        self.guilds.pop(guild_id)
        await self.dispatch("GUILD_DELETE", {"id": guild_id})

    def message(self, channel_id: str, author: dict, body: dict) -> dict:
        return {
            "id": self.snowflake(), "channel_id": channel_id, "type": 0, "content": body.get("content") or "",
            "author": author, "attachments": [], "embeds": body.get("embeds") or [], "mentions": [],
            "mention_roles": [], "mention_everyone": False, "pinned": False, "tts": False,
            "timestamp": iso_now(), "edited_timestamp": None, "flags": body.get("flags") or 0,
            "components": body.get("components") or [],
            "allowed_mentions": body.get("allowed_mentions"), "guild_id": self.channels.get(channel_id, {}).get("guild_id"),
        }

    def install_commands(self, commands: list[dict], guild_id: str | None = None) -> None:
        """Commands as if synced earlier (not a request the bot makes), so they can be invoked."""
        self.commands[guild_id or "global"] = [
            {**command, "id": self.snowflake(), "application_id": self.application_id, "version": "1"}
            for command in commands
        ]

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
        """discord.py's API base URL (bot client and webhooks) and its default gateway (used
        when the shard count is configured rather than asked for) pointed at this fake."""
        gateway = discord.gateway.DiscordWebSocket
        saved = discord.http.Route.BASE, discord.webhook.async_.Route.BASE, gateway.DEFAULT_GATEWAY
        discord.http.Route.BASE = discord.webhook.async_.Route.BASE = f"{self.base_url}/api/v10"
        gateway.DEFAULT_GATEWAY = yarl.URL(f"{self.base_url.replace('http', 'ws')}/gateway")
        try:
            yield self
        finally:
            discord.http.Route.BASE, discord.webhook.async_.Route.BASE, gateway.DEFAULT_GATEWAY = saved

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
        if self.gateway_silent:
            await ws.receive()  # until the client gives up
            return ws
        await self._send(ws, 10, {"heartbeat_interval": self.heartbeat_interval_ms})
        try:
            async for frame in ws:
                message = json.loads(frame.data)
                if message["op"] == 1:
                    self.heartbeats += 1
                    await self._send(ws, 11, None)
                elif message["op"] in (2, 6):  # IDENTIFY, or RESUME answered with a new session
                    refused = [name for bit, name in PRIVILEGED_INTENTS.items()
                               if message["d"].get("intents", 0) & bit and not self.enabled_intents & bit]
                    if refused:
                        await ws.close(code=4014, message=b"Disallowed intent(s).")
                        break
                    self._sockets[ws] = message["d"]
                    await self._ready(ws, message["d"])
        finally:
            self._sockets.pop(ws, None)
        return ws

    def shard_of(self, guild_id: str) -> int:
        return (int(guild_id) >> 22) % self.shard_count

    def _holds(self, identify: dict, guild_id: str) -> bool:
        shard_id, count = identify.get("shard", [0, 1])
        return (int(guild_id) >> 22) % count == shard_id

    async def _ready(self, ws: web.WebSocketResponse, identify: dict) -> None:
        held = [g for g in self.guilds.values() if self._holds(identify, g["id"])]
        await self._send(ws, 0, {
            "v": 10, "user": self.bot_user, "guilds": [{"id": g["id"], "unavailable": True} for g in held],
            "session_id": "fake-session", "resume_gateway_url": f"{self.base_url.replace('http', 'ws')}/gateway",
            "shard": identify.get("shard", [0, 1]), "application": {"id": self.application_id, "flags": 0},
            "private_channels": [], "relationships": [],
        }, "READY")
        for guild in held:
            await self._send(ws, 0, {**guild, "channels": [c for c in guild["channels"] if c["id"] in self.channels]},
                             "GUILD_CREATE")
        self.identified.set()

    async def dispatch(self, event: str, data: dict, *, guild_id: str | None = None) -> None:
        """Send an event to every session, or only to the shard holding `guild_id`."""
        guild_id = guild_id or data.get("guild_id")
        for ws, identify in list(self._sockets.items()):
            if guild_id is None or guild_id not in self.guilds or self._holds(identify, guild_id):
                await self._send(ws, 0, data, event)

    def _command(self, guild: dict | None, name: str) -> dict:
        """The synced command a member would see, or CommandUnavailable."""
        scopes = ([guild["id"]] if guild else []) + ["global"]
        for scope in scopes:
            for command in self.commands.get(scope, []):
                if command["name"] == name:
                    return command
        raise CommandUnavailable(f"/{name} is not synced where it was used")

    def _check_visible(self, command: dict, guild: dict | None, permissions: int) -> None:
        if guild is None:
            contexts = command.get("contexts")
            if command.get("dm_permission") is False or (contexts is not None and 1 not in contexts):
                raise CommandUnavailable(f"/{command['name']} is not offered in direct messages")
            return
        required = int(command.get("default_member_permissions") or 0)
        if permissions & required != required:
            raise CommandUnavailable(f"/{command['name']} is hidden from members without permissions {required:#x}")

    def _check_options(self, definition: dict, given: list[dict], path: str) -> None:
        known = {option["name"]: option for option in definition.get("options") or []}
        for option in given:
            if option["name"] not in known:
                raise CommandUnavailable(f"{path} has no option {option['name']!r}")
            if option.get("type") in (1, 2):
                self._check_options(known[option["name"]], option.get("options") or [], f"{path} {option['name']}")
        if not any(option.get("type") in (1, 2) for option in given):
            missing = [n for n, o in known.items() if o.get("required") and o["type"] not in (1, 2)
                       and n not in {g["name"] for g in given}]
            if missing and not any(option.get("focused") for option in given):
                raise CommandUnavailable(f"{path} needs option(s) {missing}")

    async def _interact(self, kind: int, guild: dict | None, channel_id: str, name: str, options: list[dict],
                        *, user: dict | None, admin: bool, resolved: dict | None, age_s: float) -> str:
        user = user or self.user("member")
        permissions = EVERYONE_PERMISSIONS | (MANAGE_GUILD if admin else 0)
        command = self._command(guild, name)
        self._check_visible(command, guild, permissions)
        self._check_options(command, options, f"/{name}")
        interaction_id = self.snowflake(age_s=age_s)
        token = f"token-{interaction_id}"
        payload = {
            "id": interaction_id, "application_id": self.application_id, "type": kind, "token": token, "version": 1,
            "channel_id": channel_id, "channel": self.channels.get(channel_id),
            "data": {"id": command["id"], "name": name, "type": 1, "options": options,
                     **({"resolved": resolved} if resolved else {})},
            "app_permissions": str(EVERYONE_PERMISSIONS), "locale": "en-US",
            "entitlements": [], "attachment_size_limit": 8 * 1024 * 1024,
        }
        if guild is not None:
            roles = [guild["admin_role_id"]] if admin else []
            payload |= {"guild_id": guild["id"], "guild_locale": "en-US", "context": 0,
                        "member": {**self.member(user, roles), "permissions": str(permissions)},
                        "authorizing_integration_owners": {"0": guild["id"]}}
        else:
            payload |= {"user": user, "context": 1, "authorizing_integration_owners": {"0": self.owner["id"]}}
        self.interactions[token] = Interaction(token, kind, snowflake_ms(interaction_id), time.monotonic())
        await self.dispatch("INTERACTION_CREATE", payload, guild_id=guild["id"] if guild else None)
        return token

    async def send_slash_command(self, guild: dict | None, channel_id: str, name: str, options: list[dict] | None = None,
                                 *, user: dict | None = None, admin: bool = False, resolved: dict | None = None,
                                 age_s: float = 0.0) -> str:
        """Dispatch INTERACTION_CREATE for a slash command (guild None: in a DM); returns the
        interaction token. `age_s` backdates the interaction, as if the token were that old."""
        return await self._interact(2, guild, channel_id, name, options or [], user=user, admin=admin,
                                    resolved=resolved, age_s=age_s)

    async def click(self, guild: dict | None, channel_id: str, message: dict, custom_id: str,
                    *, user: dict | None = None, locale: str = "en-US") -> str:
        """A member clicks the button `custom_id` on `message` (one the bot sent): a component
        interaction, answered like a command; returns its token."""
        if not any(c.get("custom_id") == custom_id for row in message.get("components") or []
                   for c in row.get("components") or []):
            raise CommandUnavailable(f"no button {custom_id!r} on that message")
        user = user or self.user("member")
        interaction_id = self.snowflake()
        token = f"token-{interaction_id}"
        payload = {
            "id": interaction_id, "application_id": self.application_id, "type": 3, "token": token, "version": 1,
            "channel_id": channel_id, "channel": self.channels.get(channel_id), "message": message,
            "data": {"custom_id": custom_id, "component_type": 2},
            "app_permissions": str(EVERYONE_PERMISSIONS), "locale": locale, "entitlements": [],
            "attachment_size_limit": 8 * 1024 * 1024,
        }
        if guild is not None:
            payload |= {"guild_id": guild["id"], "guild_locale": "en-US", "context": 0,
                        "member": {**self.member(user, []), "permissions": str(EVERYONE_PERMISSIONS)},
                        "authorizing_integration_owners": {"0": guild["id"]}}
        else:
            payload |= {"user": user, "context": 1, "authorizing_integration_owners": {"0": self.owner["id"]}}
        self.interactions[token] = Interaction(token, 3, snowflake_ms(interaction_id), time.monotonic())
        await self.dispatch("INTERACTION_CREATE", payload, guild_id=guild["id"] if guild else None)
        return token

    async def react(self, guild: dict, channel_id: str, message_id: str, emoji: str, user: dict,
                    *, added: bool = True) -> None:
        """A member adds (or removes) a unicode-emoji reaction on a message."""
        data = {"user_id": user["id"], "channel_id": channel_id, "message_id": message_id, "guild_id": guild["id"],
                "emoji": {"id": None, "name": emoji}, "burst": False, "type": 0}
        if added:
            data |= {"member": self.member(user, []), "message_author_id": self.bot_user["id"], "burst_colors": []}
        await self.dispatch("MESSAGE_REACTION_ADD" if added else "MESSAGE_REACTION_REMOVE", data)

    def messages_to(self, user: dict) -> list[dict]:
        """The DMs the bot sent to a user."""
        return self.messages.get(self.dms.get(user["id"], ""), [])

    async def send_autocomplete(self, guild: dict | None, channel_id: str, name: str, options: list[dict],
                                *, admin: bool = False) -> str:
        """An autocomplete interaction: `options` holds one with `"focused": True`."""
        return await self._interact(4, guild, channel_id, name, options, user=None, admin=admin, resolved=None, age_s=0.0)

    async def send_message(self, guild: dict, channel_id: str, content: str, *, user: dict | None = None) -> None:
        """A member's message, for prefix commands (MESSAGE_CREATE). Sessions without the
        message-content intent get it without text unless it mentions the bot."""
        author = user or self.user("member")
        message = self.message(channel_id, author, {"content": content})
        message["member"] = self.member(author, [])
        mentioned = f"<@{self.bot_user['id']}>" in content or f"<@!{self.bot_user['id']}>" in content
        if mentioned:
            message["mentions"] = [self.bot_user]
        for ws, identify in list(self._sockets.items()):
            if not self._holds(identify, guild["id"]):
                continue
            sees_text = mentioned or identify.get("intents", 0) & MESSAGE_CONTENT_INTENT
            await self._send(ws, 0, message if sees_text else {**message, "content": "", "embeds": []}, "MESSAGE_CREATE")

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
        tail = path.strip("/")
        try:
            # webhooks and interaction callbacks carry their own token in the URL
            if tail.split("/")[0] not in ("webhooks", "interactions") and request.headers.get("Authorization") != f"Bot {self.token}":
                raise Refused(401, 0, "401: Unauthorized")
            for method, regex, handler in self.routes:
                match = regex.match(tail)
                if match and method == request.method:
                    return await handler(request, body, **match.groupdict())
            raise Refused(404, 0, f"404: Not Found ({request.method} {path})")
        except Refused as refusal:
            self.rejections.append(Rejection(request.method, path, refusal.status, refusal.code, refusal.message))
            headers = {"Via": "1.1 google"} if refusal.status == 429 else {}  # discord.py retries only then
            return await self._json({"code": refusal.code, "message": refusal.message, **refusal.extra},
                                    refusal.status, headers)

    async def _json(self, data, status: int = 200, headers: dict | None = None) -> web.Response:
        # discord.py parses a body as JSON only when the content type is exactly this
        return web.Response(body=json.dumps(data).encode(), status=status,
                            headers={"Content-Type": "application/json", **(headers or {})})

    async def _me(self, request, body) -> web.Response:
        return await self._json(self.bot_user)

    async def _gateway_bot(self, request, body) -> web.Response:
        return await self._json({
            "url": f"{self.base_url.replace('http', 'ws')}/gateway", "shards": self.shard_count,
            "session_start_limit": {"total": 1000, "remaining": 1000, "reset_after": 0, "max_concurrency": 1}})

    async def _application(self, request, body) -> web.Response:
        return await self._json({
            "id": self.application_id, "name": "paperbot", "icon": None, "description": "", "summary": "",
            "bot_public": True, "bot_require_code_grant": False, "owner": self.owner, "verify_key": "",
            "flags": 0, "team": None})

    async def _get_commands(self, request, body, app, guild="global") -> web.Response:
        return await self._json(self.commands.get(guild, []))

    async def _put_commands(self, request, body, app, guild="global") -> web.Response:
        self.install_commands(body, None if guild == "global" else guild)
        if guild != "global":
            self.commands[guild] = [{**command, "guild_id": guild} for command in self.commands[guild]]
        return await self._json(self.commands[guild])

    # --- interactions ------------------------------------------------------------------------

    def _live(self, token: str) -> Interaction:
        interaction = self.interactions.get(token)
        if interaction is None:
            raise Refused(404, 10062, "Unknown interaction")
        if time.time() * 1000 - interaction.created_ms > TOKEN_LIFETIME_S * 1000:
            raise Refused(401, 50027, "Invalid Webhook Token")
        return interaction

    async def _callback(self, request, body, id, token) -> web.Response:
        interaction = self._live(token)
        delay = time.monotonic() - interaction.dispatched_at
        if interaction.response_type is not None:
            raise Refused(400, 40060, "Interaction has already been acknowledged.")
        if delay > RESPONSE_DEADLINE_S:
            raise Refused(404, 10062, "Unknown interaction")
        handler = self.callback_handlers.get(body["type"])
        if handler is None:
            raise Refused(400, 50035, f"Invalid Form Body (callback type {body['type']})")
        resource = await handler(interaction, body.get("data") or {})
        interaction.response_type = body["type"]
        self.callbacks[token] = {"type": body["type"], "data": body.get("data") or {}, "delay": delay}
        data = body.get("data") or {}
        return await self._json({
            "interaction": {"id": id, "type": interaction.kind, "response_message_loading": body["type"] == 5,
                            "response_message_ephemeral": bool(data.get("flags", 0) & EPHEMERAL),
                            **({"response_message_id": resource["message"]["id"]} if "message" in resource else {})},
            "resource": {"type": body["type"], **resource}})

    async def _respond_with_message(self, interaction: Interaction, data: dict) -> dict:
        check_message(data, creating=True)
        interaction.original = self.message("0", self.bot_user, data)
        self.followups.setdefault(interaction.token, []).append(interaction.original)
        return {"message": interaction.original}

    async def _respond_deferred(self, interaction: Interaction, data: dict) -> dict:
        # "paperbot is thinking...": visible (or ephemeral) now, filled by the first follow-up
        interaction.original = self.message("0", self.bot_user, {"flags": LOADING | (data.get("flags", 0) & EPHEMERAL)})
        return {"message": interaction.original}

    async def _respond_with_choices(self, interaction: Interaction, data: dict) -> dict:
        if interaction.kind != 4:
            raise Refused(400, 50035, "Invalid Form Body (choices answer a command that is not autocomplete)")
        check_choices(data.get("choices") or [])
        interaction.choices = data.get("choices") or []
        return {}

    def _fill(self, interaction: Interaction, body: dict) -> dict:
        """The deferred response becomes this message; it keeps the defer's visibility."""
        original = interaction.original
        original.update({k: v for k, v in body.items() if k in ("content", "embeds", "allowed_mentions", "components")})
        original["flags"] = original["flags"] & EPHEMERAL
        self.followups.setdefault(interaction.token, []).append(original)
        return original

    def _loading(self, interaction: Interaction) -> bool:
        return interaction.original is not None and bool(interaction.original["flags"] & LOADING)

    async def _followup(self, request, body, app, token) -> web.Response:
        interaction = self._live(token)
        if interaction.response_type is None:
            raise Refused(404, 10015, "Unknown Webhook")  # no follow-ups before a response
        check_message(body, creating=True)
        await asyncio.sleep(self.response_delay_s)
        if self._loading(interaction):
            return await self._json(self._fill(interaction, body))
        message = self.message("0", self.bot_user, body)
        message["flags"] = (body.get("flags") or 0) & EPHEMERAL
        self.followups.setdefault(token, []).append(message)
        return await self._json(message)

    def _response_message(self, interaction: Interaction, message: str) -> dict:
        if message == "@original":
            if interaction.original is None:
                raise Refused(404, 10008, "Unknown Message")
            return interaction.original
        found = next((m for m in self.followups.get(interaction.token, []) if m["id"] == message), None)
        if found is None:
            raise Refused(404, 10008, "Unknown Message")
        return found

    async def _get_response(self, request, body, app, token, message) -> web.Response:
        return await self._json(self._response_message(self._live(token), message))

    async def _edit_response(self, request, body, app, token, message) -> web.Response:
        interaction = self._live(token)
        found = self._response_message(interaction, message)
        check_message(body, creating=False)
        headers = self.message_edits.take(token)
        await asyncio.sleep(self.response_delay_s)
        if found is interaction.original and self._loading(interaction):
            found = self._fill(interaction, body)
        else:
            found.update({k: v for k, v in body.items() if k in ("content", "embeds", "allowed_mentions", "components")})
        found["edits"] = found.get("edits", 0) + 1
        found["edited_timestamp"] = iso_now()
        return await self._json(found, headers=headers)

    async def _delete_response(self, request, body, app, token, message) -> web.Response:
        interaction = self._live(token)
        found = self._response_message(interaction, message)
        self.deleted.append(found)
        if found is interaction.original:
            interaction.original = None  # follow-ups are new messages from now on
        visible = self.followups.get(token, [])
        if found in visible:
            visible.remove(found)
        return web.Response(status=204)

    # --- channels ----------------------------------------------------------------------------

    def _channel_or_refuse(self, channel: str) -> dict:
        if channel not in self.channels:
            raise Refused(404, 10003, "Unknown Channel")
        return self.channels[channel]

    async def _get_channel(self, request, body, channel) -> web.Response:
        return await self._json(self._channel_or_refuse(channel))

    async def _typing(self, request, body, channel) -> web.Response:
        self._channel_or_refuse(channel)
        return web.Response(status=204)

    async def _post_message(self, request, body, channel) -> web.Response:
        target = self._channel_or_refuse(channel)
        if channel in self.forbidden:
            raise Refused(403, 50013, "Missing Permissions")
        if target["type"] == 1 and target["recipients"][0]["id"] in self.closed_dms:
            raise Refused(403, 50007, "Cannot send messages to this user")
        check_message(body, creating=True)
        headers = self.channel_posts.take(channel)
        self.posts_in_flight += 1
        try:
            await asyncio.sleep(self.post_delay_s)
        finally:
            self.posts_in_flight -= 1
        message = self.message(channel, self.bot_user, body)
        self.messages.setdefault(channel, []).append(message)
        return await self._json(message, headers=headers)

    async def _edit_message(self, request, body, channel, message) -> web.Response:
        self._channel_or_refuse(channel)
        found = next((m for m in self.messages.get(channel, []) if m["id"] == message), None)
        if found is None:
            raise Refused(404, 10008, "Unknown Message")
        if found["author"]["id"] != self.bot_user["id"]:
            raise Refused(403, 50005, "Cannot edit a message authored by another user")
        check_message(body, creating=False)
        headers = self.message_edits.take(f"{channel}/{message}")
        found.update({k: v for k, v in body.items() if k in ("content", "embeds", "allowed_mentions", "components")})
        found["edited_timestamp"] = iso_now()
        return await self._json(found, headers=headers)

    async def _create_thread(self, request, body, channel) -> web.Response:
        """A thread without a starter message (type 11 public, 12 private)."""
        parent = self._channel_or_refuse(channel)
        if channel in self.no_threads:
            raise Refused(403, 50013, "Missing Permissions")
        if parent["type"] != 0:
            raise Refused(400, 50024, "Cannot execute action on this channel type")
        if not 1 <= len(body.get("name") or "") <= 100:
            raise invalid_form("name", "Must be between 1 and 100 in length.")
        thread = {
            "id": self.snowflake(), "type": body.get("type", 11), "guild_id": parent["guild_id"], "name": body["name"],
            "parent_id": channel, "owner_id": self.bot_user["id"], "last_message_id": None, "member_count": 1,
            "message_count": 0, "rate_limit_per_user": 0, "flags": 0, "total_message_sent": 0,
            "thread_metadata": {"archived": False, "auto_archive_duration": body.get("auto_archive_duration", 1440),
                                "archive_timestamp": iso_now(), "locked": False},
        }
        self.channels[thread["id"]] = thread
        await self.dispatch("THREAD_CREATE", {**thread, "newly_created": True})
        return await self._json(thread, 201)

    async def _open_dm(self, request, body) -> web.Response:
        recipient = str(body["recipient_id"])  # discord.py sends it as a number
        if recipient not in self.dms:
            self.dms[recipient] = self.dm_channel({"id": recipient, "username": "member", "discriminator": "0",
                                                   "global_name": None, "avatar": None, "public_flags": 0})
        return await self._json(self.channels[self.dms[recipient]])

    async def _history(self, request, body, channel) -> web.Response:
        self._channel_or_refuse(channel)
        limit = int(request.query.get("limit", 50))
        if not 1 <= limit <= 100:
            raise invalid_form("limit", "int value should be less than or equal to 100.")
        history = self.messages.get(channel, [])
        if "after" in request.query:
            after = int(request.query["after"])
            newer = [m for m in history if int(m["id"]) > after][:limit]
            return await self._json(list(reversed(newer)))
        if "before" in request.query:
            before = int(request.query["before"])
            history = [m for m in history if int(m["id"]) < before]
        return await self._json(list(reversed(history))[:limit])

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
