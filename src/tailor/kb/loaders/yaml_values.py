"""YAML from documents (markdown front matter, the sidecar), read within the bounds every YAML and JSON
file gets (`tailor.bounded`: size, depth, values with aliases expanded), a refusal as a LoadFailure."""

from __future__ import annotations

from typing import Any

from tailor.bounded import MAX_VALUES, DataBoundError, check_shape, parse_yaml
from tailor.kb.loaders.base import LoadFailure

MAX_YAML_VALUES = MAX_VALUES


def expanded_size(value: Any, limit: int = MAX_YAML_VALUES) -> int:
    """Values in `value` with every shared value counted where it appears; a LoadFailure past `limit`."""
    try:
        return check_shape(value, limit)
    except DataBoundError as exc:
        raise LoadFailure(str(exc)) from None


def load_yaml(text: str, limit: int = MAX_YAML_VALUES) -> Any:
    """`yaml.safe_load(text)`, refused (LoadFailure) past the bounds."""
    try:
        return parse_yaml(text, limit)
    except DataBoundError as exc:
        raise LoadFailure(str(exc)) from None
