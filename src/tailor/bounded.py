"""YAML and JSON read with bounds: size, nesting depth, and values counted with every alias expanded.

`yaml.safe_load` builds nothing dangerous, but anchors and aliases make a graph that shares values: ten lines
(a "billion laughs") stand for 10^9 values; parsing them takes a millisecond, and the first walk over them
(validation, copying, JSON) takes minutes and every byte of memory. A line nested 200,000 deep stops the
parser with a RecursionError. `parse_yaml` and `parse_json` refuse both, in well under a second, with a
`DataBoundError` that names the field where the bound was passed ("arms.0.retrieval: ..."); callers add the
file. Anchors used as people use them (a group list named once, reused a few times) stay far inside.
"""

from __future__ import annotations

import json
import re
from typing import Any

import yaml

MAX_BYTES = 16 * 2**20  # a settings file or one jsonl line; a question or a document is far smaller
MAX_VALUES = 100_000
MAX_DEPTH = 64
PARSER_DEPTH = 900  # deeper than this, the parsers recurse past Python's stack limit: refused before parsing
_BRACKETS = re.compile(r"[\[\]{}]")


class DataBoundError(ValueError):
    """Data past a bound (size, depth, expanded values) or that contains itself; the message names the field."""


def _field(path: list[str | int]) -> str:
    shown = [str(part) for part in path[:8]]
    return ".".join(shown) + (f"... ({len(path)} levels)" if len(path) > 8 else "") or "top level"


def check_shape(value: Any, max_values: int = MAX_VALUES, max_depth: int = MAX_DEPTH) -> int:
    """Values in `value`, a shared value counted wherever it appears; a DataBoundError past either bound."""
    sizes: dict[int, int] = {}
    open_ids: set[int] = set()
    path: list[str | int] = []

    def size(item: Any) -> int:
        if not isinstance(item, dict | list):
            return 1
        if len(path) >= max_depth:
            raise DataBoundError(f"{_field(path)}: nested too deeply (over {max_depth} levels)")
        key = id(item)
        if key in sizes:
            return sizes[key]
        if key in open_ids:
            raise DataBoundError(f"{_field(path)}: recursive YAML: an alias refers to a value that contains it")
        open_ids.add(key)
        pairs = list(item.items()) if isinstance(item, dict) else list(enumerate(item))
        total = 1
        for name, child in pairs:
            path.append(name)
            total += size(child) + isinstance(item, dict)  # a key is one value
            if total > max_values:
                raise DataBoundError(
                    f"{_field(path)}: expands to over {max_values:,} values through its aliases (a 'billion laughs')")
            path.pop()
        open_ids.discard(key)
        sizes[key] = total
        return total

    return size(value)


def _check_size(text: str | bytes, max_bytes: int) -> None:
    if len(text) > max_bytes:
        raise DataBoundError(f"{len(text):,} bytes, over the {max_bytes:,} a file or line may hold")


def _flow_deeper_than(text: str, limit: int) -> bool:
    """Whether `[` and `{` open more than `limit` levels: PyYAML takes seconds to fail on 200,000 of them,
    this takes microseconds. Brackets inside strings count too, which only matters past `limit`."""
    depth = 0
    for match in _BRACKETS.finditer(text):
        depth += 1 if match.group() in "[{" else -1
        if depth > limit:
            return True
    return False


def parse_yaml(text: str, max_values: int = MAX_VALUES, max_bytes: int = MAX_BYTES) -> Any:
    """`yaml.safe_load(text)` within the bounds; yaml.YAMLError for YAML that does not parse."""
    _check_size(text, max_bytes)
    if _flow_deeper_than(text, PARSER_DEPTH):
        raise DataBoundError(f"nested too deeply (over {MAX_DEPTH} levels)")
    try:
        data = yaml.safe_load(text)
    except RecursionError:
        raise DataBoundError(f"nested too deeply (over {MAX_DEPTH} levels)") from None
    check_shape(data, max_values)
    return data


def parse_json(text: str | bytes, max_values: int = MAX_VALUES, max_bytes: int = MAX_BYTES) -> Any:
    """`json.loads(text)` within the bounds; json.JSONDecodeError for JSON that does not parse."""
    _check_size(text, max_bytes)
    try:
        data = json.loads(text)
    except RecursionError:
        raise DataBoundError(f"nested too deeply (over {MAX_DEPTH} levels)") from None
    check_shape(data, max_values)
    return data
