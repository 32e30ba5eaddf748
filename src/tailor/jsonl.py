"""One line of a JSON Lines file as a JSON object, with an error that says what is wrong with it."""

from __future__ import annotations

import json
from typing import Any


def json_object(line: str) -> dict[str, Any]:
    """The object on `line`; a ValueError ("not JSON: ...", "expected a JSON object, got list") otherwise.
    Callers add the file and line number."""
    try:
        value = json.loads(line)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not JSON: {exc.msg} (column {exc.colno})") from None
    if not isinstance(value, dict):
        raise ValueError(f"expected a JSON object, got {type(value).__name__}")
    return value
