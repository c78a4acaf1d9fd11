"""Prompts are data: one Markdown file per task in `bot/prompts/`, with a version and named
placeholders, shipped inside the package (so `pip install .` and a wheel carry them) and read
with `importlib.resources`.

A prompt file looks like:

    ---
    task: ask
    version: 1
    ---
    ## system
    ... {language} ...
    ## user
    ... {question} ... {fence_open} {context} {fence_close}

Each task declares the placeholders its code fills (`TASKS`): a prompt that names another one,
or misses one, or puts a piece of untrusted text outside the fence, is refused when it loads.
The version (with the model) is part of every cache key, so editing a prompt and bumping its
version regenerates what it wrote. Corpus text is untrusted: it is always placed between a fence
whose markers carry a random nonce, so text inside cannot close the fence or forge a new one.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from functools import cache
from importlib import resources

_SECTION = re.compile(r"^## (system|user)\s*$", re.MULTILINE)
_PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")
FENCE_MARKERS = frozenset({"fence_open", "fence_close"})

# task -> (every placeholder the code fills, those that carry untrusted text and must be fenced)
TASKS: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    "ask": (frozenset({"language", "question", "context"}), frozenset({"context"})),
    "rewrite_query": (frozenset({"question"}), frozenset({"question"})),
    "discuss": (frozenset({"language", "question", "context", "exchange"}), frozenset({"context", "exchange"})),
    "roundup_blurbs": (frozenset({"language", "papers"}), frozenset({"papers"})),
    "summarize_brief": (frozenset({"language", "title", "source"}), frozenset({"title", "source"})),
    "summarize_structured": (frozenset({"language", "title", "source"}), frozenset({"title", "source"})),
}


class PromptError(Exception):
    """A prompt file is missing or malformed (a bug in the install, not in user input)."""


@dataclass(frozen=True)
class Prompt:
    task: str
    version: int
    system: str
    user: str

    @property
    def placeholders(self) -> set[str]:
        return set(_PLACEHOLDER.findall(self.system + self.user))

    @property
    def cache_tag(self) -> str:
        return f"{self.task}@v{self.version}"

    def render(self, *, firm_language: bool = False, **values: str) -> list[dict[str, str]]:
        """Chat messages with every placeholder filled; a fresh fence for each rendering.

        `firm_language` repeats the language rule at the end of the user message, where small
        models heed it most (used when a first answer came back in the wrong language)."""
        fence = new_fence()
        values = {"fence_open": fence.open, "fence_close": fence.close, **values}
        missing = self.placeholders - values.keys()
        if missing:
            raise PromptError(f"prompt {self.task} needs {', '.join(sorted(missing))}")

        def fill(template: str) -> str:
            def value(match: re.Match) -> str:
                name = match.group(1)
                text = str(values[name])
                return text if name in FENCE_MARKERS else fence.scrub(text)

            # one pass: a value that itself contains "{question}" stays literal text
            return _PLACEHOLDER.sub(value, template)

        user = fill(self.user).strip()
        if firm_language and "language" in values:
            user += f"\n\nWrite your reply in {values['language']} only, not in any other language."
        return [
            {"role": "system", "content": fill(self.system).strip()},
            {"role": "user", "content": user},
        ]


@dataclass(frozen=True)
class Fence:
    open: str
    close: str

    def scrub(self, text: str) -> str:
        """Text with anything that looks like one of our fence markers defused."""
        return re.sub(r"<{3,}\s*(/?)\s*(PAPERS|DATA)", r"‹‹‹\1\2", text, flags=re.IGNORECASE)


def new_fence() -> Fence:
    nonce = secrets.token_hex(6)
    return Fence(open=f"<<<DATA {nonce}>>>", close=f"<<</DATA {nonce}>>>")


def parse_prompt(task: str, raw: str, origin: str) -> Prompt:
    """A prompt from its file's text, checked against what the task's code fills."""
    header = re.match(r"^---\n(.*?)\n---\n", raw, re.DOTALL)
    if not header:
        raise PromptError(f"{origin}: missing the --- header with task and version")
    meta = dict(line.split(":", 1) for line in header.group(1).splitlines() if ":" in line)
    parts = _SECTION.split(raw[header.end() :])
    sections = dict(zip(parts[1::2], parts[2::2]))
    if set(sections) != {"system", "user"}:
        raise PromptError(f"{origin}: needs exactly a '## system' and a '## user' section")
    prompt = Prompt(
        task=meta.get("task", task).strip(),
        version=int(meta.get("version", "0")),
        system=sections["system"],
        user=sections["user"],
    )
    check_placeholders(prompt, origin)
    return prompt


def check_placeholders(prompt: Prompt, origin: str) -> None:
    expected, fenced = TASKS.get(prompt.task, (None, frozenset()))
    if expected is None:
        raise PromptError(f"{origin}: unknown task {prompt.task!r}")
    found = prompt.placeholders - FENCE_MARKERS
    if found != expected:
        extra, missing = sorted(found - expected), sorted(expected - found)
        raise PromptError(f"{origin}: placeholders differ from the code's (unknown {extra}, missing {missing})")
    inside = re.search(r"\{fence_open\}(.*?)\{fence_close\}", prompt.user, re.DOTALL)
    fenced_here = set(_PLACEHOLDER.findall(inside.group(1))) if inside else set()
    outside = sorted(name for name in fenced if name not in fenced_here)
    if outside:
        raise PromptError(f"{origin}: untrusted text {outside} must sit between {{fence_open}} and {{fence_close}} in the user section")


@cache
def load_prompt(task: str) -> Prompt:
    """The prompt of `task`, from the package's `prompts` folder."""
    origin = f"bot/prompts/{task}.md"
    try:
        raw = (resources.files("bot") / "prompts" / f"{task}.md").read_text(encoding="utf-8")
    except OSError as exc:
        raise PromptError(f"prompt file {origin} cannot be read ({exc.strerror or exc}); reinstall paperbot") from None
    return parse_prompt(task, raw, origin)
