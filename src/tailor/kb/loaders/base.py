"""What every format loader shares: the `Loaded` result, the `Loader` protocol and text helpers."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from tailor.records import LoadError, Page, Section

SNIFF_BYTES = 8192
TITLE_MAX = 120
_TEXT_CONTROLS = frozenset(b"\t\n\r\f\b\x1b")


class LoadFailure(Exception):
    """Raised by a loader when a whole file cannot be loaded; the message is the reason."""


@dataclass
class Loaded:
    """One document's content as a loader sees it, before ids, groups and sidecar metadata."""

    text: str
    title: str
    sections: list[Section] = field(default_factory=list)
    pages: list[Page] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)
    id: str | None = None  # set by multi-document formats (jsonl); else the id comes from the path
    groups: tuple[str, ...] | None = None  # per-document groups (jsonl); beat every other source


class Loader(Protocol):
    """A file format: the extensions it claims and how to read one file of it."""

    format: str
    extensions: tuple[str, ...]

    def load(self, path: Path) -> list[Loaded | LoadError]: ...


@dataclass(frozen=True)
class FunctionLoader:
    """A `Loader` made from a plain function; every built-in format is one of these."""

    format: str
    extensions: tuple[str, ...]
    read: Callable[[Path], list[Loaded | LoadError]]

    def load(self, path: Path) -> list[Loaded | LoadError]:
        return self.read(path)


def normalise_newlines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


def collapse(text: str) -> str:
    """Collapse runs of whitespace to single spaces."""
    return " ".join(text.split())


def trim(text: str) -> str:
    """Drop leading blank lines and trailing whitespace (indentation of the first line is kept)."""
    return re.sub(r"\A(?:[ \t]*\n)+", "", text).rstrip()


def first_line(text: str, limit: int = TITLE_MAX) -> str:
    for line in text.split("\n"):
        if line.strip():
            return collapse(line)[:limit]
    return ""


def is_binary(data: bytes) -> bool:
    """A NUL byte, or more than 30% control bytes, in the first 8 KB."""
    head = data[:SNIFF_BYTES]
    if b"\x00" in head:
        return True
    controls = sum(1 for b in head if (b < 32 and b not in _TEXT_CONTROLS) or b == 127)
    return bool(head) and controls / len(head) > 0.30


def decode(data: bytes) -> str:
    """UTF-8 (with or without BOM), UTF-16 with a BOM, else latin-1; newlines normalised."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return normalise_newlines(data.decode("utf-16"))
    if is_binary(data):
        raise LoadFailure("binary file")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = data.decode("latin-1")
    return normalise_newlines(text)


def read_text(path: Path) -> str:
    return decode(path.read_bytes())


def sections_from_headings(headings: Sequence[tuple[int, int, str]], text_len: int) -> list[Section]:
    """Sections from (offset, level, heading) triples in text order.

    Each section runs from its heading to the next heading of any level (the last to the end of the
    text); its path is the chain of enclosing headings, ending with its own.
    """
    sections: list[Section] = []
    stack: list[tuple[int, str]] = []
    for i, (start, level, heading) in enumerate(headings):
        while stack and stack[-1][0] >= level:
            stack.pop()
        stack.append((level, heading))
        end = headings[i + 1][0] if i + 1 < len(headings) else text_len
        sections.append(Section(start, end, tuple(h for _, h in stack)))
    return sections


def plain_data(value: Any) -> Any:
    """YAML values made JSON-friendly: dates become ISO strings, tuples lists, recursively."""
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): plain_data(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain_data(v) for v in value]
    return value


def as_groups(value: Any) -> tuple[str, ...]:
    """A non-empty list of non-empty strings, as a tuple; anything else is a LoadFailure."""
    if not isinstance(value, list) or not value or not all(isinstance(g, str) and g.strip() for g in value):
        raise LoadFailure(f"groups must be a non-empty list of strings, got {value!r}")
    return tuple(g.strip() for g in value)
