"""`paperbot top|readinglist|watch`: the reading room for scripts (`--json`) and terminals.

Without `--guild` and `--member` these act for the console's member (`paperbot console`);
with them, for a member of a Discord server (ids as Discord shows them).
"""

from __future__ import annotations

import argparse
import json
import sys

from rich.console import Console

from bot.services import votes, watches
from bot.services.library import Library
from bot.services.members import CONSOLE_MEMBER, Member
from bot.services.reading_messages import reading_list_messages, saved_message, top_messages, watches_and_news_messages

out = Console(soft_wrap=True)


def _print_json(data) -> None:
    sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2) + "\n")


def _print_messages(messages: list[str]) -> None:
    for message in messages:
        out.print(message, markup=False, highlight=False)


def _member(args) -> Member:
    return Member(args.guild or CONSOLE_MEMBER.guild_id, args.member or CONSOLE_MEMBER.user_id)


async def cmd_top(args, lib: Library) -> int:
    papers = await votes.top(lib.db, _member(args).guild_id, days=args.days, topic=args.topic, limit=args.limit)
    if args.json:
        _print_json([paper.to_json() for paper in papers])
    else:
        _print_messages(top_messages(papers, args.days, args.topic))
    return 0


async def cmd_readinglist(args, lib: Library) -> int:
    member = _member(args)
    if args.action in ("add", "remove"):
        if not args.ref:
            raise votes.ReadingError(f"name the paper: paperbot readinglist {args.action} ID_OR_TITLE")
        change = votes.save if args.action == "add" else votes.unsave
        paper, changed = await change(lib.db, member, args.ref)
        if args.json:
            _print_json({**paper.reference(), "saved": args.action == "add", "changed": changed})
        else:
            _print_messages([saved_message(paper, args.action == "add", changed)])
        return 0
    saved = await votes.reading_list(lib.db, member)
    if args.json:
        _print_json([item.to_json() for item in saved])
    else:
        _print_messages(reading_list_messages(saved))
    return 0


async def cmd_watch(args, lib: Library) -> int:
    member = _member(args)
    if args.action == "add":
        watch = await watches.add_watch(lib, member, args.text or "")
        result, message = watch.to_json(), f"Watching “{watch.query}”."
    elif args.action == "remove":
        watch = await watches.remove_watch(lib.db, member, args.text or "")
        result, message = watch.to_json(), f"No longer watching “{watch.query}”."
    else:
        # only the console's member is told here; a Discord member hears from the bot
        deliveries = (
            await watches.deliver_pending(lib, watches.CollectingNotifier(), [member.guild_id])
            if member == CONSOLE_MEMBER else []
        )
        listed = await watches.list_watches(lib.db, member)
        result = {
            "watches": [watch.to_json() for watch in listed],
            "new_matches": [
                {**paper.reference(), "watch": query} for delivery in deliveries for paper, query in delivery.papers
            ],
        }
        message = "\n\n".join(watches_and_news_messages(listed, deliveries))
    if args.json:
        _print_json(result)
    else:
        _print_messages([message])
    return 0


def _member_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--guild", help="a Discord server id (default: the console's)")
    parser.add_argument("--member", help="a Discord user id (default: the console's member)")
    parser.add_argument("--json", action="store_true")


def add_commands(sub) -> None:
    p = sub.add_parser("top", help="papers the group voted for (👍) in the last days")
    p.add_argument("--days", type=int, default=votes.TOP_DAYS)
    p.add_argument("--topic", help="only papers whose topic or title contains this text")
    p.add_argument("--limit", type=int, default=votes.TOP_LIMIT)
    _member_options(p)
    p.set_defaults(handler=cmd_top)

    p = sub.add_parser("readinglist", help="a member's saved papers: list, add ID, remove ID")
    p.add_argument("action", choices=("list", "add", "remove"), nargs="?", default="list")
    p.add_argument("ref", nargs="?", metavar="ID_OR_TITLE")
    _member_options(p)
    p.set_defaults(handler=cmd_readinglist)

    p = sub.add_parser("watch", help="topics and authors to hear about: list, add TEXT, remove N|TEXT")
    p.add_argument("action", choices=("list", "add", "remove"), nargs="?", default="list")
    p.add_argument("text", nargs="?", metavar="TOPIC_OR_AUTHOR")
    _member_options(p)
    p.set_defaults(handler=cmd_watch)
