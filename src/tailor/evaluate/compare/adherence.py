"""Format and style adherence: does an answer take the form the user declared (FormatSpec)?"""

from __future__ import annotations

import json
import re
from collections.abc import Callable

from tailor.evaluate.compare.config import FormatSpec
from tailor.generate.citations import MARKER, answer_sentences

Check = Callable[[str, FormatSpec], str | None]
"""One rule of the spec: None when the answer holds it, else why not."""


def _regex(text: str, spec: FormatSpec) -> str | None:
    if spec.regex and not re.fullmatch(spec.regex, text.strip(), flags=re.DOTALL):
        return f"does not match {spec.regex!r}"
    return None


def _json_schema(text: str, spec: FormatSpec) -> str | None:
    if spec.json_schema is None:
        return None
    import jsonschema
    from referencing import Registry
    from referencing.exceptions import Unresolvable

    try:
        answer = json.loads(text)
    except json.JSONDecodeError:
        return "not JSON"
    # An empty registry: a `$ref` resolves inside the schema only, never by fetching a URL (jsonschema's default)
    kind = jsonschema.validators.validator_for(spec.json_schema)
    kind.check_schema(spec.json_schema)  # as jsonschema.validate does
    validator = kind(spec.json_schema, registry=Registry())
    try:
        validator.validate(answer)
    except jsonschema.ValidationError as exc:
        return f"JSON schema: {exc.message}"
    except Unresolvable as exc:
        return f"JSON schema: $ref {exc.ref!r} is not inside the schema"
    return None


def _length(text: str, spec: FormatSpec) -> str | None:
    words = len(MARKER.sub("", text).split())
    if spec.min_words is not None and words < spec.min_words:
        return f"{words} words < {spec.min_words}"
    if spec.max_words is not None and words > spec.max_words:
        return f"{words} words > {spec.max_words}"
    if spec.max_sentences is not None and len(answer_sentences(text)) > spec.max_sentences:
        return f"more than {spec.max_sentences} sentences"
    return None


def _phrases(text: str, spec: FormatSpec) -> str | None:
    lowered = text.lower()
    missing = [p for p in spec.required_phrases if p.lower() not in lowered]
    if missing:
        return f"missing {missing}"
    present = [p for p in spec.forbidden_phrases if p.lower() in lowered]
    if present:
        return f"forbidden {present}"
    return None


CHECKS: tuple[Check, ...] = (_regex, _json_schema, _length, _phrases)


def violations(text: str, spec: FormatSpec) -> list[str]:
    """Every rule of the spec the answer breaks (empty: it adheres)."""
    return [reason for check in CHECKS if (reason := check(text, spec))]
