"""Text hygiene and identifiers shared by every parser and by search.

Digest text is untrusted: invisible characters (zero-width spaces, bidi overrides, BOMs) break
search and can hide instructions from a human reader, so they are removed before anything is
stored. Everything is stored as Unicode NFC.
"""

from __future__ import annotations

import hashlib
import re
import sys
import unicodedata

from markdown_it import MarkdownIt


def _invisible_ranges() -> str:
    """A regex character class of every Cc, Cf, Co and Cs code point except newline and tab."""
    ranges, start, previous = [], None, None
    for code in range(sys.maxunicode + 1):
        ch = chr(code)
        hidden = ch not in "\n\t" and unicodedata.category(ch) in ("Cc", "Cf", "Co", "Cs")
        if hidden and start is None:
            start = code
        if not hidden and start is not None:
            ranges.append(f"\\U{start:08x}-\\U{previous:08x}")
            start = None
        previous = code
    if start is not None:
        ranges.append(f"\\U{start:08x}-\\U{previous:08x}")
    return "[" + "".join(ranges) + "\ufffd]"


# Built once from the Unicode database so that cleaning runs at regex speed, not per character.
_INVISIBLE = re.compile(_invisible_ranges())


def clean_text(text: str) -> str:
    """NFC-normalize and drop invisible/control characters; CRLF and CR become LF.

    U+FFFD goes too: in these digests it marks a multi-byte character that an upstream
    pipeline cut in half, never content.
    """
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return _INVISIBLE.sub("", unicodedata.normalize("NFC", text))


def squash_spaces(text: str) -> str:
    """Collapse runs of whitespace (including newlines) to single spaces."""
    return re.sub(r"\s+", " ", text).strip()


def join_hard_wrapped(lines: list[str]) -> str:
    """Join the hard-wrapped lines of one paragraph into one line.

    A line ending in a hyphen after a letter joins the next without a space, so a compound split
    at the wrap ("multi-" / "modal") comes back as "multi-modal", not "multi- modal".
    """
    parts: list[str] = []
    for line in (line.strip() for line in lines):
        if not line:
            continue
        if parts and _SPLIT_COMPOUND.search(parts[-1]):
            parts[-1] += line
        else:
            parts.append(line)
    return squash_spaces(" ".join(parts))


_SPLIT_COMPOUND = re.compile(r"[^\W\d_]-$")


_ARXIV_NEW = r"(?P<new>\d{4}\.\d{4,5})"
_ARXIV_OLD = r"(?P<old>[a-z][a-z\-]*(?:\.[A-Z]{2})?/\d{7})"
_ARXIV_RE = re.compile(
    r"(?:arxiv\s*:\s*|arxiv\.org/(?:abs|pdf|html)/)?"
    rf"(?:{_ARXIV_NEW}|{_ARXIV_OLD})(?P<version>v\d+)?(?:\.pdf)?",
    re.IGNORECASE,
)


def parse_arxiv_id(text: str) -> tuple[str, str | None] | None:
    """The arXiv id and version in any written form, or None.

    Accepts `2407.12773`, `2407.12773v1`, `arXiv:2407.12773`, `https://arxiv.org/abs/2407.12773v2`,
    `http://arxiv.org/pdf/2408.00874.pdf`, and old-style ids such as `hep-th/9901001v3`.
    The version ("v1") is returned separately: it is a property of the paper, not another paper.
    """
    match = _ARXIV_RE.search(text.strip())
    if not match:
        return None
    arxiv_id = match.group("new") or match.group("old").lower()
    version = match.group("version")
    return arxiv_id, version.lower() if version else None


_ARXIV_PREFIX_RE = re.compile(
    r"^(?:(?:https?://)?(?:www\.|export\.)?arxiv\.org/(?:abs|pdf|html)/|arxiv\s*:\s*)", re.IGNORECASE
)
_ARXIV_WHOLE_RE = re.compile(
    rf"^(?:{_ARXIV_NEW}|{_ARXIV_OLD})(?P<version>v\d+)?(?:\.pdf)?/?$", re.IGNORECASE
)


def parse_arxiv_id_exact(text: str) -> tuple[str, str | None] | None:
    """Like parse_arxiv_id, but only when the whole string is an id or an arXiv URL.

    Used to tell "look this paper up" from a search query that merely contains numbers.
    """
    stripped = _ARXIV_PREFIX_RE.sub("", text.strip().split("?")[0].split("#")[0])
    match = _ARXIV_WHOLE_RE.match(stripped)
    if not match:
        return None
    version = match.group("version")
    return match.group("new") or match.group("old").lower(), version.lower() if version else None


def title_key(title: str) -> str:
    """A title reduced to what identifies it: case, punctuation, spacing and width ignored."""
    folded = unicodedata.normalize("NFKC", title).casefold()
    return re.sub(r"[\W_]+", "", folded)


def title_hash(title: str) -> str:
    """Short stable hash of a title's key: the identity of a paper known only by its title."""
    return hashlib.sha1(title_key(title).encode("utf-8")).hexdigest()[:12]


def paper_key(arxiv_id: str | None, title_hash_value: str) -> str:
    """The public identity of a paper: its arXiv id, or `t-<title hash>` when it has none."""
    return arxiv_id or f"t-{title_hash_value}"


def text_sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


_MARKDOWN = MarkdownIt("commonmark").enable("table")
_HTML_TAG = re.compile(r"<[^>]+>")
# inline tokens whose text is kept: everything else (images, html tags, emphasis markers) goes
_INLINE_TEXT = {"text", "code_inline"}
_LINE_ENDS = {"paragraph_close", "heading_close", "tr_close", "html_block", "code_block", "fence"}


def markdown_to_text(text: str, *, headings: bool = True) -> str:
    """Markdown as plain prose: emphasis, links, images, HTML tags and heading marks removed,
    one line per paragraph, list item or table row (cells joined by " | "). Without
    `headings`, heading lines are left out: a structured summary's section names
    ("### 研究方法") are labels, not prose."""
    lines: list[str] = []
    line: list[str] = []
    in_heading = False
    for token in _MARKDOWN.parse(text):
        if token.type == "heading_open":
            in_heading = True
        elif token.type == "heading_close":
            in_heading = False
        elif token.type in ("td_open", "th_open") and line:
            line.append(" | ")
        elif token.type == "html_block":
            line.append(_HTML_TAG.sub("", token.content).strip())
        elif token.type in ("code_block", "fence"):
            line.append(token.content.strip())
        elif token.type == "inline" and (headings or not in_heading):
            for child in token.children or []:
                if child.type in _INLINE_TEXT:
                    line.append(child.content)
                elif child.type in ("softbreak", "hardbreak"):
                    line.append(" ")
        if token.type in _LINE_ENDS:
            joined = squash_spaces("".join(line))
            if joined:
                lines.append(joined)
            line = []
    return "\n".join(lines)
