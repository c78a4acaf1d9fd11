"""Prompts are data: one Markdown file per task in `prompts/`, with a version and named placeholders.

A prompt file looks like:

    ---
    task: ask
    version: 1
    ---
    ## system
    ... {language} ...
    ## user
    ... {question} ... {fence_open} {context} {fence_close}

The version (with the model) is part of every cache key, so editing a prompt and bumping its
version regenerates what it wrote. Corpus text is untrusted: it is always placed between a fence
whose markers carry a random nonce, so text inside cannot close the fence or forge a new one.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from functools import cache
from pathlib import Path

PROMPTS_DIR = Path(__file__).resolve().parent.parent.parent / "prompts"
_SECTION = re.compile(r"^## (system|user)\s*$", re.MULTILINE)
_PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")


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

    def render(self, **values: str) -> list[dict[str, str]]:
        """Chat messages with every placeholder filled; a fresh fence for each rendering."""
        fence = new_fence()
        values = {"fence_open": fence.open, "fence_close": fence.close, **values}
        missing = self.placeholders - values.keys()
        if missing:
            raise PromptError(f"prompt {self.task} needs {', '.join(sorted(missing))}")

        def fill(template: str) -> str:
            def value(match: re.Match) -> str:
                name = match.group(1)
                text = str(values[name])
                return text if name in ("fence_open", "fence_close") else fence.scrub(text)

            # one pass: a value that itself contains "{question}" stays literal text
            return _PLACEHOLDER.sub(value, template)

        return [
            {"role": "system", "content": fill(self.system).strip()},
            {"role": "user", "content": fill(self.user).strip()},
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


@cache
def load_prompt(task: str, directory: Path = PROMPTS_DIR) -> Prompt:
    path = directory / f"{task}.md"
    try:
        raw = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise PromptError(f"prompt file {path} cannot be read ({exc.strerror})") from None
    header = re.match(r"^---\n(.*?)\n---\n", raw, re.DOTALL)
    if not header:
        raise PromptError(f"{path}: missing the --- header with task and version")
    meta = dict(line.split(":", 1) for line in header.group(1).splitlines() if ":" in line)
    parts = _SECTION.split(raw[header.end() :])
    sections = dict(zip(parts[1::2], parts[2::2]))
    if set(sections) != {"system", "user"}:
        raise PromptError(f"{path}: needs exactly a '## system' and a '## user' section")
    return Prompt(
        task=meta.get("task", task).strip(),
        version=int(meta.get("version", "0")),
        system=sections["system"],
        user=sections["user"],
    )
