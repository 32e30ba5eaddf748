"""JSON Lines read one way everywhere: lines split on `\\n` only, each decoded and parsed on its own.

`str.splitlines()` also splits on U+2028, U+2029, U+0085 and others, which JSON allows raw inside a
string, so it cuts a valid line in two; decoding the whole file at once lets one bad byte refuse every
line; a UTF-8 byte-order mark glued to the first `{` makes it invalid JSON. Here a line is bytes up to
`\\n` (a `\\r` before it is dropped), the BOM is stripped, and a line that is not UTF-8 or not JSON, or that
passes the bounds of `tailor.bounded` (a 200,000-deep nest), is an error for that line alone:
`path:line: reason`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tailor.bounded import parse_json

BOM = b"\xef\xbb\xbf"


class JsonlError(ValueError):
    """A line of a JSON Lines file that cannot be read; the message is `path:line: reason`."""


@dataclass(frozen=True)
class JsonlLine:
    """One non-blank line: its value, or why it has none. `where` is `path:line`."""

    where: str
    number: int
    value: Any = None
    error: str | None = None


def json_value(line: str | bytes) -> Any:
    """The JSON value on `line`; a ValueError ("not JSON: ...") or, past the bounds, a DataBoundError
    ("nested too deeply ..."). Callers add the file and line number."""
    try:
        return parse_json(line)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not JSON: {exc.msg} (column {exc.colno})") from None


def json_object(line: str | bytes) -> dict[str, Any]:
    """The object on `line`; a ValueError ("not JSON: ...", "expected a JSON object, got list") otherwise."""
    value = json_value(line)
    if not isinstance(value, dict):
        raise ValueError(f"expected a JSON object, got {type(value).__name__}")
    return value


def split_lines(text: str) -> Iterator[tuple[int, str]]:
    """(number, line) for each non-blank line of already decoded text, split on `\\n` only."""
    for number, line in enumerate(text.removeprefix("\ufeff").split("\n"), start=1):
        if line.strip():
            yield number, line.removesuffix("\r")


def jsonl_lines(path: Path | str, objects: bool = True) -> Iterator[JsonlLine]:
    """Each non-blank line of a JSON Lines file with its value (an object when `objects`) or its error.
    A file that cannot be opened (missing, a folder) is a JsonlError before the first line."""
    try:
        handle = open(path, "rb")  # closed by the `with` below; only the open is guarded
    except OSError as exc:
        reason = "file not found" if isinstance(exc, FileNotFoundError) else f"cannot read: {exc.strerror or exc}"
        raise JsonlError(f"{path}: {reason}") from None
    with handle:
        for number, raw in enumerate(handle, start=1):
            raw = raw.removeprefix(BOM) if number == 1 else raw
            if not raw.strip():
                continue
            where = f"{path}:{number}"
            try:
                text = raw.removesuffix(b"\n").removesuffix(b"\r").decode("utf-8")
            except UnicodeDecodeError as exc:
                yield JsonlLine(where, number, error=f"not UTF-8: byte 0x{raw[exc.start]:02x} at column {exc.start + 1}")
                continue
            try:
                yield JsonlLine(where, number, json_object(text) if objects else json_value(text))
            except ValueError as exc:
                yield JsonlLine(where, number, error=str(exc))


def read_jsonl(path: Path | str) -> list[dict[str, Any]]:
    """Every line's object, for files Tailor wrote itself; the first bad line raises a JsonlError."""
    rows = []
    for line in jsonl_lines(path):
        if line.error is not None:
            raise JsonlError(f"{line.where}: {line.error}")
        rows.append(line.value)
    return rows
