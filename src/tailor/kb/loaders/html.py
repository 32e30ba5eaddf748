"""HTML to plain text: noise dropped, blocks on their own lines, h1-h6 as sections."""

from __future__ import annotations

import re
from pathlib import Path

from bs4 import BeautifulSoup, NavigableString, Tag
from bs4.element import Comment, Declaration, ProcessingInstruction

from tailor.kb.loaders.base import Loaded, collapse, normalise_newlines, read_bytes, sections_from_headings
from tailor.records import LoadError

NOISE = ("script", "style", "noscript", "nav", "header", "footer", "aside", "form", "svg", "template")
HEADINGS = {f"h{n}": n for n in range(1, 7)}
BLOCKS = frozenset(
    "address article blockquote body caption dd details div dl dt fieldset figcaption figure hr "
    "html li main ol p section summary table tbody tfoot thead ul".split()
)
_SKIPPED_STRINGS = (Comment, Declaration, ProcessingInstruction)


class _TextBuilder:
    """Gathers inline text into blocks; a block's kind is 'p', 'li', 'row', 'pre' or a heading level."""

    def __init__(self) -> None:
        self.blocks: list[tuple[str | int, str]] = []
        self.kinds: list[str | int] = ["p"]
        self.buffer: list[str] = []

    def add(self, text: str) -> None:
        self.buffer.append(text)

    def flush(self) -> None:
        lines = (collapse(line) for line in "".join(self.buffer).split("\n"))
        text = "\n".join(line for line in lines if line)
        self.buffer = []
        if text:
            self.blocks.append((self.kinds[-1], text))

    def block(self, kind: str, text: str) -> None:
        self.flush()
        if text.strip():
            self.blocks.append((kind, text))

    def render(self) -> tuple[str, list[tuple[int, int, str]]]:
        """(text, headings as (offset, level, heading)); list items and table rows stay on adjacent lines."""
        parts: list[str] = []
        headings: list[tuple[int, int, str]] = []
        offset, previous = 0, None
        for kind, text in self.blocks:
            if parts:
                sep = "\n" if kind == previous and kind in ("li", "row") else "\n\n"
                parts.append(sep)
                offset += len(sep)
            if isinstance(kind, int):
                headings.append((offset, kind, text))
            text = f"- {text}" if kind == "li" else text
            parts.append(text)
            offset += len(text)
            previous = kind
        return "".join(parts), headings


def collapse_spaces(text: str) -> str:
    """Source whitespace, newlines included, is a single space; only <br> breaks a line."""
    return re.sub(r"\s+", " ", text)


def _walk(node: Tag, out: _TextBuilder) -> None:
    for child in node.children:
        if isinstance(child, _SKIPPED_STRINGS):
            continue
        if isinstance(child, NavigableString):
            out.add(collapse_spaces(str(child)))
        elif not isinstance(child, Tag):
            continue
        elif child.name == "br":
            out.add("\n")
        elif child.name == "pre":
            out.block("pre", normalise_newlines(child.get_text()).strip("\n").rstrip())
        elif child.name == "tr":
            cells = [collapse(c.get_text(" ")) for c in child.find_all(["td", "th"], recursive=False)]
            out.block("row", " | ".join(cells))
        elif child.name in HEADINGS or child.name == "li":
            out.flush()
            out.kinds.append(HEADINGS.get(child.name, "li"))
            _walk(child, out)
            out.flush()
            out.kinds.pop()
        elif child.name in BLOCKS:
            out.flush()
            _walk(child, out)
            out.flush()
        else:
            _walk(child, out)


def html_to_text(markup: bytes | str) -> tuple[str, str, list[tuple[int, int, str]]]:
    """(title or '', text, headings) of an HTML page."""
    soup = BeautifulSoup(markup, "lxml")
    for tag in soup.find_all(NOISE):
        if not tag.decomposed:  # a nested noise tag goes with its parent
            tag.decompose()
    root = soup.find("main") or soup.find("article") or soup.body or soup
    out = _TextBuilder()
    _walk(root, out)
    out.flush()
    text, headings = out.render()
    title_tag = soup.find("title")
    title = collapse(title_tag.get_text()) if title_tag else ""
    if not title:
        title = next((h for _, level, h in headings if level == 1), "")
    return title, text, headings


def load_html(path: Path) -> list[Loaded | LoadError]:
    title, text, headings = html_to_text(read_bytes(path))
    return [Loaded(text=text, title=title or path.stem, sections=sections_from_headings(headings, len(text)))]
