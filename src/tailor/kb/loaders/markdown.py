"""Markdown, kept as written: YAML front matter moves to metadata, ATX headings become sections."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from tailor.kb.loaders.base import Loaded, LoadFailure, plain_data, read_text, sections_from_headings, trim
from tailor.kb.loaders.yaml_values import load_yaml
from tailor.records import LoadError

_FRONT_MATTER = re.compile(r"\A---[ \t]*\n(.*?)^(?:---|\.\.\.)[ \t]*(?:\n|\Z)", re.DOTALL | re.MULTILINE)
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_ATX = re.compile(r"^ {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$")


def split_front_matter(text: str) -> tuple[dict[str, Any], str]:
    """(front matter mapping, rest of the text); ({}, text) when there is none."""
    match = _FRONT_MATTER.match(text)
    if not match:
        return {}, text
    try:
        data = load_yaml(match.group(1))
    except (yaml.YAMLError, LoadFailure) as exc:
        raise LoadFailure(f"malformed front matter: {exc}") from exc
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise LoadFailure("malformed front matter: expected a mapping of keys to values")
    return plain_data(data), text[match.end() :]


def atx_headings(text: str) -> list[tuple[int, int, str]]:
    """(offset, level, heading) for every ATX heading outside fenced code blocks."""
    headings: list[tuple[int, int, str]] = []
    fence: str | None = None
    offset = 0
    for line in text.split("\n"):
        opener = _FENCE.match(line)
        if fence is not None:
            if opener and opener.group(1)[0] == fence[0] and len(opener.group(1)) >= len(fence):
                if not line.strip().strip(fence[0]):
                    fence = None
        elif opener:
            fence = opener.group(1)
        elif (match := _ATX.match(line)) and (heading := (match.group(2) or "").strip()):
            headings.append((offset, len(match.group(1)), heading))
        offset += len(line) + 1
    return headings


def load_markdown(path: Path) -> list[Loaded | LoadError]:
    front, body = split_front_matter(read_text(path))
    text = trim(body)
    headings = atx_headings(text)
    h1 = next((h for _, level, h in headings if level == 1), None)
    title = front.get("title")
    if not isinstance(title, str) or not title.strip():
        title = h1 or path.stem
    return [
        Loaded(
            text=text,
            title=title.strip(),
            sections=sections_from_headings(headings, len(text)),
            metadata=front,
        )
    ]
