"""The `paperbot` command line: every feature, for a terminal and for scripts.

Human output goes through rich; `--json` output is plain JSON on stdout, stable and documented
in the README. Anything a user can get wrong ends in one line on stderr and a non-zero exit,
never a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

from rich.console import Console
from rich.live import Live
from rich.markdown import Markdown
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.rule import Rule
from rich.table import Table
from rich.text import Text

from bot.cli_reading import add_commands as add_reading_commands
from bot.console import PaperConsole
from bot.discord.bot import run_bot
from bot.errors import ConfigurationError, PaperbotError
from bot.llm.errors import LLMError
from bot.retrieval.search import MODES
from bot.retrieval.vectors import count_missing
from bot.services import qa
from bot.services.ingest import FileReport, embed_new, ingest
from bot.services.library import Library
from bot.services.papers import library_overview, paper_detail, resolve_paper
from bot.services.roundup import ROUNDUP_LIMIT, build_roundup
from bot.services.search import RELATED_LIMIT, SEARCH_LIMIT, search_papers, similar_papers
from bot.services.sources import add_source, fetch_sources, list_sources, remove_source
from bot.services.summaries import STYLES, summarize
from bot.settings import Settings, load_settings

out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)


def print_json(data) -> None:
    sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2) + "\n")


# --- ingest --------------------------------------------------------------------------------


def _report_line(report: FileReport) -> str:
    name = escape(report.name)  # file names and messages are text, not rich markup
    if report.error:
        return f"[red]✗[/] {name}: {escape(report.error)}"
    if report.already_ingested:
        return f"[dim]= {name}: already ingested ({report.format}), nothing changed[/]"
    return (
        f"[green]✓[/] {name} [dim]({report.format}, {report.digest_date or 'undated'})[/]: "
        f"{report.papers} papers: {report.new} new, {report.updated} updated, "
        f"{report.unchanged} unchanged; {report.summaries_added} summaries added"
        + (f"; [yellow]{len(report.problems)} warnings[/]" if report.problems else "")
    )


EMBED_REPORT_EVERY = 200  # texts between two progress lines when stderr is not a terminal


class EmbedProgress:
    """Where embedding is: a bar on a terminal, else one line per EMBED_REPORT_EVERY texts
    (a log file or a pipe shows that long work is moving too)."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.bar = Progress(
            TextColumn("[progress.description]{task.description}"), BarColumn(), MofNCompleteColumn(),
            TimeElapsedColumn(), console=err, transient=True, disable=not err.is_terminal,
        )
        self.task = self.bar.add_task(label, total=None)
        self.reported = 0

    def __call__(self, done: int, total: int) -> None:
        self.bar.update(self.task, completed=done, total=total)
        if not err.is_terminal and total and (done - self.reported >= EMBED_REPORT_EVERY or done == total > self.reported):
            err.print(f"{self.label}: {done}/{total} texts", highlight=False)
            self.reported = done

    def __enter__(self) -> "EmbedProgress":
        self.bar.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.bar.stop()


def _print_report(report: FileReport, *, details: bool) -> None:
    err.print(_report_line(report), highlight=False)
    for problem in report.problems if details else ():
        err.print(f"    [yellow]line {problem.line}[/]: {escape(problem.message)}", highlight=False)


def _embedder_label(lib: Library) -> str:
    embedder = lib.retriever.embedder
    return f"embedding with {embedder.name}" if embedder else "embedding"


def _report_embedded(count: int) -> None:
    if count:
        err.print(f"Embedded {count} texts (titles, abstracts, summaries) for search by meaning.")


async def ingest_and_report(lib: Library, paths: list[Path], *, embed: bool, as_json: bool) -> list[FileReport]:
    """One line per file as it is read (warnings listed unless the report goes out as JSON),
    then the embedding's progress."""
    with EmbedProgress(_embedder_label(lib)) as progress:
        reports, embedded = await ingest(
            lib, paths, embed=embed, on_file=lambda r: _print_report(r, details=not as_json), on_embed=progress
        )
    _report_embedded(embedded)
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


async def cmd_ingest(args, lib: Library) -> int:
    reports = await ingest_and_report(lib, args.paths, embed=not args.no_embed, as_json=args.json)
    if args.json:
        print_json([_report_json(r) for r in reports])
    if not reports:
        raise PaperbotError("no digest files found in " + ", ".join(map(str, args.paths)))
    return 1 if any(r.error for r in reports) else 0  # a folder with one bad file is a failure too


async def cmd_embed(args, lib: Library) -> int:
    if lib.retriever.embedder is None:
        raise ConfigurationError("search by meaning is off (PAPERBOT_EMBEDDINGS=off); set it to local or openai")
    with EmbedProgress(_embedder_label(lib)) as progress:
        _report_embedded(await embed_new(lib, rebuild=args.rebuild, progress=progress))
    missing = await count_missing(lib.db, lib.retriever.embedder.name)
    out.print(f"{missing} papers without a vector." if missing else "Every paper has its vector.")
    return 0


# --- search, show, stats -------------------------------------------------------------------


async def cmd_search(args, lib: Library) -> int:
    results = await search_papers(lib, args.query, limit=args.limit, mode=args.mode)
    if args.json:
        print_json([r.to_json() for r in results])
    else:
        _print_results(results, f"No papers match {args.query!r}.")
    return 0


def _print_results(results: list, empty_message: str) -> None:
    if not results:
        out.print(empty_message, highlight=False)
        return
    table = Table(show_lines=False, expand=False)
    table.add_column("#", justify="right", style="dim")
    table.add_column("id", style="cyan", no_wrap=True)
    table.add_column("title")
    table.add_column("date", style="dim", no_wrap=True)
    table.add_column("score", justify="right", style="dim")
    for number, result in enumerate(results, start=1):
        table.add_row(
            str(number), escape(result.key), escape(result.title), result.published or "", f"{result.score:.3f}"
        )
    _print_table(table)


async def cmd_show(args, lib: Library) -> int:
    detail = await paper_detail(lib.db, await resolve_paper(lib.db, args.ref))
    if args.json:
        print_json(detail.to_json())
        return 0
    # paper text is untrusted: escaped wherever it meets rich markup
    out.print(f"[bold]{escape(detail.title)}[/]", highlight=False)
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
        out.print(f"[dim]{label:>9}[/] {escape(value)}", highlight=False)
    if detail.abstract:
        out.print("\n[bold]Abstract[/]")
        out.print(detail.abstract, highlight=False, markup=False)
    for summary in detail.summaries:
        out.print(f"\n[bold]{summary.kind}[/] [dim]({summary.lang}, from {escape(summary.source)})[/]")
        out.print(summary.text, highlight=False, markup=False)
    return 0


async def cmd_stats(args, lib: Library) -> int:
    stats = await library_overview(lib)
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
    if stats["embedder"]:
        table.add_row("papers without vectors", str(stats["papers_without_vectors"]))
    _print_table(table)
    if stats["digest_files"]:
        digests = Table(title="digests")
        for column in ("file", "format", "date", "papers", "with a summary"):
            digests.add_column(column, justify="right" if column in ("papers", "with a summary") else "left")
        for d in stats["digest_files"]:
            digests.add_row(escape(d["name"]), d["format"], d["date"] or "undated", str(d["papers"]), str(d["papers_with_summary"]))
        _print_table(digests)
    _print_usage(stats["llm_usage"])
    return 0


def _print_usage(report: dict) -> None:
    for grouping, title in (("by_feature", "LLM usage by feature (30 days)"), ("by_day", "LLM usage by day")):
        if not report[grouping]:
            continue
        table = Table(title=title)
        for column in ("", "calls", "ok", "prompt tokens", "completion tokens", "est. cost (USD)"):
            table.add_column(column, justify="left" if not column else "right")
        for row in report[grouping]:
            table.add_row(
                str(row["key"]), str(row["calls"]), str(row["ok"]), f"{row['prompt_tokens']:,}",
                f"{row['completion_tokens']:,}", f"{row['cost_usd']:.4f}",
            )
        _print_table(table)


def _print_table(table: Table) -> None:
    """A boxed table on a terminal; piped, tab-separated lines, because rich would cut cells
    to fit 80 columns (`fmt000_2024-08-0…`) and a reader of the output needs them whole."""
    if out.is_terminal:
        out.print(table)
        return
    lines = [str(table.title)] if table.title else []
    if table.show_header:
        lines.append("\t".join(str(column.header) for column in table.columns))
    for row in zip(*(column.cells for column in table.columns)):
        lines.append("\t".join(_tsv_cell(Text.from_markup(cell).plain if isinstance(cell, str) else str(cell)) for cell in row))
    print("\n".join(lines), file=out.file)  # not out.print: rich would turn the tabs into spaces


def _tsv_cell(text: str) -> str:
    # a tab or line break inside a paper title would shift the columns of its line
    return " ".join(text.split())


async def cmd_similar(args, lib: Library) -> int:
    results = await similar_papers(lib, args.ref, limit=args.limit)
    if args.json:
        print_json([r.to_json() for r in results])
    else:
        _print_results(results, f"No papers near {args.ref!r}.")
    return 0


# --- the LLM verbs -------------------------------------------------------------------------


async def cmd_ask(args, lib: Library) -> int:
    question = await qa.gather(lib, args.question, paper_ref=args.paper, lang=args.lang)
    try:
        if args.json or not out.is_terminal:
            answer = await qa.answer(lib, question)
        else:
            with Live(console=out, transient=True, refresh_per_second=8) as live:

                async def show(text: str) -> None:
                    live.update(Text(text))

                answer = await qa.answer(lib, question, on_text=show)
    except LLMError:
        # the papers that would have been used are still worth knowing
        if args.json:
            print_json({"answer": None, "citations": [], "context": [p.reference() for p in question.papers]})
        elif question.papers:
            err.print("Papers that match the question:")
            for paper in question.papers:
                err.print(f"  {paper.key}  {paper.title}", highlight=False, markup=False)
        raise
    if args.json:
        print_json(answer.to_json())
        return 0
    out.print(Markdown(answer.text))
    if answer.note:
        err.print(f"Note: {answer.note}.", highlight=False, markup=False)
    if answer.citations:
        out.print("\n[bold]Sources[/]")
        for paper in answer.citations:
            out.print(f"  [cyan]{escape(paper.key)}[/] {escape(paper.title)}", highlight=False)
    return 0


async def cmd_summarize(args, lib: Library) -> int:
    result = await summarize(lib, args.ref, lang=args.lang, style=args.style, fresh=args.fresh)
    if args.json:
        print_json(result.to_json())
        return 0
    out.print(f"[bold]{escape(result.paper.title)}[/] [dim]{escape(result.paper.url or result.paper.key)}[/]", highlight=False)
    out.print(Markdown(result.text))
    origin = "stored" if result.cached else "written now"
    out.print(f"[dim]{origin} by {result.model} ({result.prompt_version})[/]", highlight=False)
    if result.note:
        err.print(f"Note: {result.note}.", highlight=False, markup=False)
    return 0


async def cmd_roundup(args, lib: Library) -> int:
    roundup = await build_roundup(lib, day=args.date, lang=args.lang, limit=args.limit, topic=args.topic)
    if args.json:
        print_json(roundup.to_json())
        return 0
    if not roundup.entries:
        out.print(roundup.empty_message, highlight=False)
        return 0
    for number, block in enumerate(roundup.blocks):
        if number:
            out.print(Rule(style="dim"))
        out.print(block, highlight=False, markup=False)
    return 0


async def cmd_sources(args, lib: Library) -> int:
    if args.action == "add":
        source = await add_source(lib.db, args.location)
        result = source.to_json()
        message = f"Added source {source.id}: {source.location} ({source.kind}). `paperbot sources fetch` fetches it now."
    elif args.action == "remove":
        source = await remove_source(lib.db, args.location)
        result = source.to_json()
        message = f"Removed source {source.id}: {source.location}."
    elif args.action == "fetch":
        results = await fetch_sources(lib)
        result = [{"location": r.location, "ok": r.ok, "report": r.report} for r in results]
        message = "\n".join(("✓ " if r.ok else "✗ ") + str(r) for r in results) or "No sources: add one with `paperbot sources add URL|FOLDER`."
    else:
        sources = await list_sources(lib.db)
        result = [source.to_json() for source in sources]
        message = "\n".join(
            f"{s.id}. {s.location} ({s.kind}) · last success: {s.last_success_at or 'never'}"
            + (f" · {s.last_report}" if s.last_report else "")
            + (f" · last error {s.last_error_at}: {s.last_error}" if s.last_error else "")
            for s in sources
        ) or "No sources: add one with `paperbot sources add URL|FOLDER`."
    if args.json:
        print_json(result)
    else:
        out.print(message, highlight=False, markup=False)
    return 0


async def cmd_backup(args, lib: Library) -> int:
    await lib.db.backup(args.file)
    out.print(f"Backed up {lib.settings.db_path} to {args.file}.")
    return 0


async def cmd_start(args, lib: Library) -> int:
    """The main job: ingest the default corpus folder when present, show the library, then
    (see `main`) start the bot, or the console when no Discord token is set."""
    corpus = lib.settings.default_corpus_dir
    if corpus.is_dir():
        out.print(f"Ingesting the digests in {corpus} ...")
        await ingest_and_report(lib, [corpus], embed=True, as_json=False)
    else:
        out.print(f"[dim]No corpus folder at {corpus}; set PAPERBOT_CORPUS_DIR or run `paperbot ingest PATH`.[/]")
    args.json = False
    await cmd_stats(args, lib)
    if lib.settings.discord_token is not None:
        out.print("Starting the Discord bot (DISCORD_TOKEN is set) ...")
    elif sys.stdin.isatty():
        out.print("No DISCORD_TOKEN set: opening the console, which takes the bot's commands.")
        await cmd_console(args, lib)
    else:
        out.print(
            "No DISCORD_TOKEN set. Try [bold]paperbot console[/], [bold]paperbot search 'segment anything'[/] "
            "or [bold]paperbot ask 'what is new in retrieval?'[/]"
        )
    return 0


async def cmd_console(args, lib: Library) -> int:
    console = PaperConsole(lib, out)
    if sys.stdin.isatty():
        await console.loop(Path.home() / ".paperbot_history")
    else:
        await console.run_script(sys.stdin)
    return 0


# --- wiring --------------------------------------------------------------------------------

Handler = Callable[[argparse.Namespace, Library], Awaitable[int]]


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
    p.add_argument("--no-embed", action="store_true", help="skip embedding the new papers")
    p.set_defaults(handler=cmd_ingest)

    p = sub.add_parser("embed", help="embed papers that have no vector yet, for search by meaning")
    p.add_argument("--rebuild", action="store_true", help="re-embed every paper")
    p.set_defaults(handler=cmd_embed)

    p = sub.add_parser("search", help="search papers by meaning and keywords, in any language")
    p.add_argument("query")
    p.add_argument("--limit", type=int, default=SEARCH_LIMIT)
    p.add_argument("--mode", choices=MODES, default="hybrid")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_search)

    p = sub.add_parser("similar", help="papers nearest to one paper")
    p.add_argument("ref", metavar="ID_OR_TITLE")
    p.add_argument("--limit", type=int, default=RELATED_LIMIT)
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_similar)

    p = sub.add_parser("show", help="everything known about one paper")
    p.add_argument("ref", metavar="ID_OR_TITLE")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_show)

    p = sub.add_parser("stats", help="what is in the library")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_stats)

    p = sub.add_parser("ask", help="ask a question; the answer cites the papers it comes from")
    p.add_argument("question")
    p.add_argument("--paper", metavar="ID_OR_TITLE", help="answer from this paper's full stored text")
    p.add_argument("--lang", help="answer in this language (default: the question's)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_ask)

    p = sub.add_parser("summarize", help="a fresh summary of one paper in any language")
    p.add_argument("ref", metavar="ID_OR_TITLE")
    p.add_argument("--lang", default="en", help="BCP-47 tag: en, zh, zh-Hant, ko, ja, de, ...")
    p.add_argument("--style", choices=tuple(STYLES), default="brief")
    p.add_argument("--fresh", action="store_true", help="write a new one even if one is stored")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_summarize)

    p = sub.add_parser("roundup", help="the papers of one digest date, with short summaries")
    p.add_argument("--date", help="digest date YYYY-MM-DD (default: the latest)")
    p.add_argument("--lang", default="en")
    p.add_argument("--limit", type=int, default=ROUNDUP_LIMIT)
    p.add_argument("--topic", help="only papers under a topic containing this text")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_roundup)

    p = sub.add_parser("sources", help="digest sources fetched daily: add URL|FOLDER, list, remove, fetch")
    p.add_argument("action", choices=("list", "add", "remove", "fetch"), nargs="?", default="list")
    p.add_argument("location", nargs="?", help="URL or folder (add); number or location (remove)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_sources)

    add_reading_commands(sub)

    p = sub.add_parser("console", help="type the bot's commands in a terminal (no Discord needed)")
    p.set_defaults(handler=cmd_console)

    p = sub.add_parser("run", help="run the Discord bot (needs DISCORD_TOKEN)")
    p.set_defaults(handler=None)

    p = sub.add_parser("backup", help="copy the live database to FILE (SQLite online backup)")
    p.add_argument("file", type=Path)
    p.set_defaults(handler=cmd_backup)
    return parser


async def run(args: argparse.Namespace, settings: Settings) -> int:
    async with await Library.open(settings) as lib:
        return await args.handler(args, lib)


def configure_logging(command: str | None) -> None:
    """Terminal commands log warnings only; the bot logs what it does, with times."""
    if command == "run":
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        logging.getLogger("discord.gateway").setLevel(logging.WARNING)
    else:
        logging.basicConfig(level=logging.WARNING, format="paperbot: %(levelname)s: %(message)s")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    configure_logging(args.command)
    try:
        settings = load_settings(PAPERBOT_DB=args.db)
        if args.command == "run":
            return run_bot(settings)
        code = asyncio.run(run(args, settings))
        if args.command is None and code == 0 and settings.discord_token is not None:
            return run_bot(settings)
        return code
    except PaperbotError as exc:
        err.print(f"paperbot: {exc}", highlight=False, markup=False)
        return exc.exit_code
    except KeyboardInterrupt:
        err.print("paperbot: interrupted")
        return 130
