"""YAML from documents (markdown front matter, the sidecar), bounded.

`yaml.safe_load` builds nothing dangerous, but anchors and aliases make a graph that shares values: ten lines
(a "billion laughs") stand for 10^9 values, and the first walk over them (copying, JSON, `plain_data`) takes
minutes and every byte of memory. `load_yaml` counts the values as a walk would see them, each alias
expanded, and refuses a document past `MAX_YAML_VALUES` or one that contains itself. Anchors used as
people use them (a group list named once, reused a few times) stay well inside the limit.
"""

from __future__ import annotations

from typing import Any

import yaml

from tailor.kb.loaders.base import LoadFailure

MAX_YAML_VALUES = 100_000


def expanded_size(value: Any, limit: int = MAX_YAML_VALUES) -> int:
    """Values in `value` with every shared value counted where it appears; a LoadFailure past `limit`."""
    sizes: dict[int, int] = {}
    open_ids: set[int] = set()

    def size(item: Any) -> int:
        if not isinstance(item, dict | list):
            return 1
        key = id(item)
        if key in sizes:
            return sizes[key]
        if key in open_ids:
            raise LoadFailure("recursive YAML: an alias refers to a value that contains it")
        open_ids.add(key)
        children = [*item.keys(), *item.values()] if isinstance(item, dict) else item
        total = 1
        for child in children:
            total += size(child)
            if total > limit:
                raise LoadFailure(f"YAML expands to over {limit:,} values through its aliases (a 'billion laughs')")
        open_ids.discard(key)
        sizes[key] = total
        return total

    return size(value)


def load_yaml(text: str, limit: int = MAX_YAML_VALUES) -> Any:
    """`yaml.safe_load(text)`, refused (LoadFailure) when its aliases expand it past `limit` values."""
    data = yaml.safe_load(text)
    expanded_size(data, limit)
    return data
