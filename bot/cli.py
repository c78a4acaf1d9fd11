"""The `paperbot` command line: every feature, for a terminal and for scripts.

Human output goes through rich; `--json` output is plain JSON on stdout, stable and documented
in the README. Anything a user can get wrong ends in one line on stderr and a non-zero exit,
never a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from bot.corpus.ingest import FileReport, digest_files, ingest_file
from bot.retrieval.search import MODES, describe_hits, search
from bot.services.papers import PaperNotFound, library_stats, paper_detail, resolve_paper
from bot.settings import Settings, load_settings
from bot.store import Database, DatabaseError

out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)


class UserError(Exception):
    """Something the user can fix: printed as one line, exit code 1."""


def print_json(data) -> None:
    sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2) + "\n")


# --- ingest --------------------------------------------------------------------------------


def _report_line(report: FileReport) -> str:
    if report.error:
        return f"[red]✗[/] {report.name}: {report.error}"
    if report.already_ingested:
        return f"[dim]= {report.name}: already ingested ({report.format}), nothing changed[/]"
    return (
        f"[green]✓[/] {report.name} [dim]({report.format}, {report.digest_date or 'undated'})[/]: "
        f"{report.papers} papers: {report.new} new, {report.updated} updated, "
        f"{report.unchanged} unchanged; {report.summaries_added} summaries added"
        + (f"; [yellow]{len(report.problems)} warnings[/]" if report.problems else "")
    )


async def ingest_with_progress(db: Database, paths: list[Path], as_json: bool) -> list[FileReport]:
    files = digest_files(paths)
    missing = [p for p in paths if not p.exists()]
    reports = [FileReport(name=str(p), error="no such file or folder") for p in missing]
    with Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=True,
        disable=as_json,
    ) as progress:
        task = progress.add_task("ingesting", total=len(files))
        for path in files:
            progress.update(task, description=f"ingesting {path.name}")
            report = await ingest_file(db, path)
            reports.append(report)
            progress.advance(task)
            if not as_json:
                progress.console.print(_report_line(report), highlight=False)
                for problem in report.problems:
                    progress.console.print(f"    [yellow]line {problem.line}[/]: {problem.message}")
    return reports


def _report_json(report: FileReport) -> dict:
    return {
        "file": report.name,
        "format": report.format,
        "date": report.digest_date,
        "already_ingested": report.already_ingested,
        "new": report.new,
        "updated": report.updated,
        "unchanged": report.unchanged,
        "summaries_added": report.summaries_added,
        "warnings": [{"line": p.line, "message": p.message} for p in report.problems],
        "error": report.error,
    }


async def cmd_ingest(args, settings: Settings, db: Database) -> int:
    reports = await ingest_with_progress(db, args.paths, args.json)
    if args.json:
        print_json([_report_json(r) for r in reports])
    if not reports:
        raise UserError("no digest files found in " + ", ".join(map(str, args.paths)))
    readable = [r for r in reports if not r.error]
    return 0 if readable else 1


# --- search, show, stats -------------------------------------------------------------------


async def cmd_search(args, settings: Settings, db: Database) -> int:
    hits = await search(db, args.query, limit=args.limit, mode=args.mode)
    results = await describe_hits(db, hits)
    if args.json:
        print_json([r.to_json() for r in results])
        return 0
    if not results:
        out.print(f"No papers match {args.query!r}.")
        return 0
    table = Table(show_lines=False, expand=False)
    table.add_column("#", justify="right", style="dim")
    table.add_column("id", style="cyan", no_wrap=True)
    table.add_column("title")
    table.add_column("date", style="dim", no_wrap=True)
    table.add_column("score", justify="right", style="dim")
    for number, result in enumerate(results, start=1):
        table.add_row(
            str(number), result.key, result.title, result.published or "", f"{result.score:.3f}"
        )
    out.print(table)
    return 0


async def cmd_show(args, settings: Settings, db: Database) -> int:
    try:
        detail = await paper_detail(db, await resolve_paper(db, args.ref))
    except PaperNotFound as exc:
        raise UserError(str(exc)) from None
    if args.json:
        print_json(detail.to_json())
        return 0
    out.print(f"[bold]{detail.title}[/]", highlight=False)
    facts = [
        ("id", detail.key + (detail.arxiv_version or "")),
        ("url", detail.url or "—"),
        ("authors", ", ".join(detail.authors) or "—"),
        ("published", detail.published or "—"),
        ("topics", ", ".join(detail.topics) or "—"),
        ("votes", str(detail.votes) if detail.votes is not None else "—"),
        ("links", " ".join(link["url"] for link in detail.links) or "—"),
        ("digests", ", ".join(f"{d['name']} ({d['date'] or 'undated'})" for d in detail.digests)),
    ]
    for label, value in facts:
        out.print(f"[dim]{label:>9}[/] {value}", highlight=False)
    if detail.abstract:
        out.print("\n[bold]Abstract[/]")
        out.print(detail.abstract, highlight=False)
    for summary in detail.summaries:
        out.print(f"\n[bold]{summary.kind}[/] [dim]({summary.lang}, from {summary.source})[/]")
        out.print(summary.text, highlight=False, markup=False)
    return 0


async def cmd_stats(args, settings: Settings, db: Database) -> int:
    stats = await library_stats(db)
    if args.json:
        print_json(stats)
        return 0
    table = Table(title="paperbot library", show_header=False)
    table.add_column(style="dim")
    table.add_column(justify="right")
    for label in ("papers", "papers_with_arxiv_id", "papers_with_abstract", "summaries", "topics", "digests"):
        table.add_row(label.replace("_", " "), str(stats[label]))
    for lang, count in stats["summaries_by_lang"].items():
        table.add_row(f"summaries in {lang}", str(count))
    out.print(table)
    return 0


async def cmd_backup(args, settings: Settings, db: Database) -> int:
    try:
        await db.backup(args.file)
    except DatabaseError as exc:
        raise UserError(str(exc)) from None
    out.print(f"Backed up {settings.db_path} to {args.file}.")
    return 0


async def cmd_start(args, settings: Settings, db: Database) -> int:
    """The main job: ingest the default corpus folder when present, then show the library."""
    corpus = settings.default_corpus_dir
    if corpus.is_dir():
        out.print(f"Ingesting the digests in {corpus} ...")
        await ingest_with_progress(db, [corpus], as_json=False)
    else:
        out.print(f"[dim]No corpus folder at {corpus}; set PAPERBOT_CORPUS_DIR or run `paperbot ingest PATH`.[/]")
    args.json = False
    await cmd_stats(args, settings, db)
    out.print("Try: [bold]paperbot search 'segment anything'[/], [bold]paperbot show 2408.00874[/]")
    return 0


# --- wiring --------------------------------------------------------------------------------

Handler = Callable[[argparse.Namespace, Settings, Database], Awaitable[int]]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="paperbot", description="A library of daily arXiv paper digests: ingest, search, show."
    )
    parser.add_argument("--db", type=Path, help="database file (default: $PAPERBOT_DB or ./paperbot.db)")
    parser.set_defaults(handler=cmd_start)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("ingest", help="ingest digest files or folders of them")
    p.add_argument("paths", nargs="+", type=Path, metavar="PATH")
    p.add_argument("--json", action="store_true", help="print the per-file report as JSON")
    p.set_defaults(handler=cmd_ingest)

    p = sub.add_parser("search", help="search papers by keywords (any language)")
    p.add_argument("query")
    p.add_argument("--limit", type=int, default=10)
    p.add_argument("--mode", choices=MODES, default="lexical")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_search)

    p = sub.add_parser("show", help="everything known about one paper")
    p.add_argument("ref", metavar="ID_OR_TITLE")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_show)

    p = sub.add_parser("stats", help="what is in the library")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_stats)

    p = sub.add_parser("backup", help="copy the live database to FILE (SQLite online backup)")
    p.add_argument("file", type=Path)
    p.set_defaults(handler=cmd_backup)
    return parser


async def run(args: argparse.Namespace, settings: Settings) -> int:
    db = await Database.open(settings.db_path)
    try:
        return await args.handler(args, settings, db)
    finally:
        await db.close()


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if getattr(args, "limit", 1) is not None and getattr(args, "limit", 1) < 1:
        err.print("paperbot: --limit must be at least 1")
        return 2
    try:
        settings = load_settings(PAPERBOT_DB=args.db)
        return asyncio.run(run(args, settings))
    except (UserError, DatabaseError) as exc:
        err.print(f"paperbot: {exc}", highlight=False, markup=False)
        return 1
    except KeyboardInterrupt:
        err.print("paperbot: interrupted")
        return 130
