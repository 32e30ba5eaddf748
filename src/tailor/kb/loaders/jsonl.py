"""JSON Lines corpora (BEIR style): one document per line; a bad line is reported, the rest load.

A record is keyed by its `id` alone, never by its line: every line must have one (a line without is a
load error), and no line number is stored with the document, so deleting or inserting a line leaves the
other records unchanged (nothing re-embedded) and `ingest --sync` drops exactly the ids that are gone.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tailor.bounded import DataBoundError
from tailor.jsonl import json_value, split_lines
from tailor.kb.loaders.base import Loaded, LoadFailure, as_groups, normalise_newlines, read_text, trim
from tailor.records import LoadError


def parse_line(record: Any) -> Loaded:
    """One decoded line as a document; a LoadFailure says what is wrong with it."""
    if not isinstance(record, dict):
        raise LoadFailure("expected a JSON object")
    doc_id = record.get("id", record.get("_id"))
    if doc_id is None:
        raise LoadFailure("missing id ('id' or '_id')")
    if not isinstance(doc_id, str) or not doc_id.strip():
        raise LoadFailure(f"id must be a non-empty string, got {doc_id!r}")
    text = record.get("text")
    if not isinstance(text, str) or not text.strip():
        raise LoadFailure("missing or empty text")
    title = record.get("title") or ""
    if not isinstance(title, str):
        raise LoadFailure(f"title must be a string, got {title!r}")
    metadata = record.get("metadata") or {}
    if not isinstance(metadata, dict):
        raise LoadFailure(f"metadata must be an object, got {metadata!r}")
    groups = as_groups(record["groups"]) if record.get("groups") is not None else None
    return Loaded(
        text=trim(normalise_newlines(text)),
        title=title.strip() or doc_id,
        metadata=dict(metadata),
        id=doc_id,
        groups=groups,
    )


def load_jsonl(path: Path) -> list[Loaded | LoadError]:
    results: list[Loaded | LoadError] = []
    first_line_of: dict[str, int] = {}
    for number, line in split_lines(read_text(path)):
        try:
            try:
                record = json_value(line)
            except DataBoundError as exc:
                raise LoadFailure(str(exc)) from None
            except ValueError as exc:
                raise LoadFailure("invalid JSON: " + str(exc).removeprefix("not JSON: ")) from None
            loaded = parse_line(record)
            if loaded.id in first_line_of:
                raise LoadFailure(f"duplicate id {loaded.id!r} (first on line {first_line_of[loaded.id]})")
        except LoadFailure as exc:
            results.append(LoadError(str(path), f"line {number}: {exc}"))
            continue
        first_line_of[loaded.id] = number
        results.append(loaded)
    return results
