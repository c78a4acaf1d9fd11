"""The layers the README describes hold: every `bot` module's imports, read with `ast`, form no
cycle and never reach up the layer order

    corpus (parsers) -> store -> retrieval | llm -> services -> discord | console -> cli

(a module may import its own layer and any layer to its left; retrieval and llm are
independent of each other, as are discord and console). `bot.errors` and `bot.settings` may be
imported by all.
"""

from __future__ import annotations

import ast
from pathlib import Path

import bot

PACKAGE = Path(bot.__file__).resolve().parent
ANYWHERE = {"bot.errors", "bot.settings"}
# layer name -> rank; a layer imports only layers of a lower rank (and itself)
RANKS = {"corpus": 0, "store": 1, "retrieval": 2, "llm": 2, "services": 3, "discord": 4, "console": 4, "cli": 5, "main": 6}
LAYER_OF_TOP_MODULE = {"console_reading": "console", "cli_reading": "cli", "__main__": "main"}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(path): path for path in PACKAGE.rglob("*.py")}


def imported_from(node: ast.ImportFrom, package: str) -> str:
    """The absolute name of what `from ... import` reads from, in a module of `package`:
    `from ..store import db` in bot.services.qa reads from bot.store."""
    if node.level == 0:
        return node.module or ""
    base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def imports_of(path: Path, known: set[str]) -> set[str]:
    """Every bot module `path` imports, anywhere in the file (a deferred import inside a
    function still ties the two modules together), relative imports included."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            source = imported_from(node, package)
            # `from bot.services import qa` imports the module bot.services.qa
            found |= {f"{source}.{a.name}" if f"{source}.{a.name}" in known else source for a in node.names}
    return {name for name in found if name in known}


def layer(module: str) -> str | None:
    parts = module.split(".")
    if len(parts) < 2 or module in ANYWHERE:
        return None
    return LAYER_OF_TOP_MODULE.get(parts[1], parts[1])


def graph() -> dict[str, set[str]]:
    found = modules()
    return {name: imports_of(path, set(found)) - {name} for name, path in found.items()}


def test_every_module_belongs_to_a_layer():
    unplaced = sorted({layer(m) for m in modules()} - set(RANKS) - {None})
    assert unplaced == [], f"add these to RANKS (and to the README's layer order): {unplaced}"


def test_no_import_reaches_up_or_across_the_layers():
    wrong = []
    for module, targets in graph().items():
        for target in targets:
            source_layer, target_layer = layer(module), layer(target)
            if None in (source_layer, target_layer) or source_layer == target_layer:
                continue
            if RANKS[target_layer] >= RANKS[source_layer]:
                wrong.append(f"{module} imports {target}")
    assert sorted(wrong) == []


def find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """One import cycle, as the list of modules around it, or None (depth-first search)."""
    state: dict[str, int] = {}  # 1: on the current path, 2: finished
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for target in sorted(edges.get(node, ())):
            if state.get(target) == 1:
                return path[path.index(target):] + [target]
            if target not in state and (cycle := visit(target)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for start in sorted(edges):
        if start not in state and (cycle := visit(start)):
            return cycle
    return None


def test_no_import_cycle():
    assert find_cycle(graph()) is None


def test_the_checks_see_what_they_look_for():
    # the readers above must find real edges, or the two tests above pass vacuously
    edges = graph()
    assert "bot.store.db" in edges["bot.store"] and "bot.services.qa" in edges["bot.cli"]
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]


def test_relative_imports_are_read_as_the_modules_they_name():
    def read(source: str, package: str) -> str:
        return imported_from(ast.parse(source).body[0], package)

    assert read("from . import qa", "bot.services") == "bot.services"
    assert read("from .qa import answer", "bot.services") == "bot.services.qa"
    assert read("from ..discord import bot", "bot.services") == "bot.discord"
    assert read("from ...cli import main", "bot.corpus.parsers") == "bot.cli"
