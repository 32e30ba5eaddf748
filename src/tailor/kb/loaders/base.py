"""What every format loader shares: the `Loaded` result, the `Loader` protocol and text helpers."""

from __future__ import annotations

import datetime as dt
import os
import re
import stat
import zipfile
from collections.abc import Callable, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from tailor.records import LoadError, Page, Section

SNIFF_BYTES = 8192
MAX_FILE_BYTES = 20 * 1024 * 1024  # a bigger file is skipped by name, checked (stat) before it is read
MAX_UNZIPPED_BYTES = 200 * 1024 * 1024  # zip-based formats (docx): the declared sizes of all entries, summed
MAX_ZIP_ENTRIES = 10_000
MAX_COMPRESSION_RATIO = 200  # of one zip entry, file_size / compress_size ...
RATIO_MIN_BYTES = 1024 * 1024  # ... for entries above this size (a small entry cannot be a bomb)
# The limit of the file being loaded, when the caller chose one (load_file sets it around each loader).
file_limit: ContextVar[int | None] = ContextVar("file_limit", default=None)
TITLE_MAX = 120
BINARY = "binary file: not text in UTF-8, Latin-1 or UTF-16 with a byte-order mark"
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
        raise LoadFailure(BINARY)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = data.decode("latin-1")
    return normalise_newlines(text)


def size_text(n: int) -> str:
    """Bytes in the unit a person reads: '52,428,800 bytes (50.0 MB)'."""
    return f"{n:,} bytes ({n / 1024 / 1024:.1f} MB)"


def too_large(size: int, limit: int) -> str:
    return f"file too large: {size_text(size)}, over the limit of {size_text(limit)}"


def read_bytes(path: Path, limit: int | None = None) -> bytes:
    """The bytes of a regular file, at most `limit` of them, else a LoadFailure.

    The default limit is the one `load_file` was given, else `MAX_FILE_BYTES`.

    Opened without blocking and checked to be a regular file, so a FIFO swapped in is never waited on; the
    limit holds even for a file that grew after it was listed.
    """
    limit = limit if limit is not None else file_limit.get() or MAX_FILE_BYTES
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise LoadFailure(f"not a regular file ({file_kind(info.st_mode)})")
        if info.st_size > limit:
            raise LoadFailure(too_large(info.st_size, limit))
        data = handle.read(limit + 1)
    if len(data) > limit:
        raise LoadFailure(too_large(len(data), limit))
    return data


def read_text(path: Path) -> str:
    return decode(read_bytes(path))


def file_kind(mode: int) -> str:
    """What a non-regular file is, in words."""
    for test, name in (
        (stat.S_ISDIR, "a folder"),
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
    ):
        if test(mode):
            return name
    return "a special file"


def check_zip(
    path: Path,
    fmt: str = "zip",
    max_unzipped: int | None = None,
    max_entries: int | None = None,
    max_ratio: float | None = None,
) -> None:
    """Refuse a zip-based file (docx, ...) before any parser sees it: not a zip, too many entries, too much
    declared content, or an entry compressed more than `max_ratio` to one. Reads the central directory only.

    The declared sizes bound what is inflated: Python's zipfile stops each entry at its `file_size`.
    """
    max_unzipped = MAX_UNZIPPED_BYTES if max_unzipped is None else max_unzipped
    max_entries = MAX_ZIP_ENTRIES if max_entries is None else max_entries
    max_ratio = MAX_COMPRESSION_RATIO if max_ratio is None else max_ratio
    try:
        with zipfile.ZipFile(path) as archive:
            entries = archive.infolist()
    except zipfile.BadZipFile as exc:
        raise LoadFailure(f"invalid {fmt}: not a zip archive or truncated ({exc})") from exc
    except (EOFError, ValueError, NotImplementedError) as exc:
        raise LoadFailure(f"invalid {fmt}: unreadable zip archive ({exc or type(exc).__name__})") from exc
    if len(entries) > max_entries:
        raise LoadFailure(f"refused {fmt}: {len(entries):,} zip entries, over the limit of {max_entries:,}")
    total = sum(entry.file_size for entry in entries)
    if total > max_unzipped:
        raise LoadFailure(
            f"refused {fmt}: unzips to {size_text(total)}, over the limit of {size_text(max_unzipped)}"
        )
    for entry in entries:
        if entry.file_size > RATIO_MIN_BYTES and entry.file_size > max_ratio * max(entry.compress_size, 1):
            ratio = entry.file_size / max(entry.compress_size, 1)
            raise LoadFailure(
                f"refused {fmt}: entry {entry.filename!r} is compressed {ratio:,.0f} to 1 "
                f"({size_text(entry.file_size)}), over the limit of {max_ratio:g} to 1"
            )


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
