"""Plain text: decoded with a binary check; the title is the first non-empty line."""

from __future__ import annotations

from pathlib import Path

from tailor.kb.loaders.base import Loaded, first_line, read_text, trim
from tailor.records import LoadError


def load_txt(path: Path) -> list[Loaded | LoadError]:
    text = trim(read_text(path))
    return [Loaded(text=text, title=first_line(text) or path.stem)]
