"""Word .docx: paragraphs and tables in body order; Heading N styles become sections."""

from __future__ import annotations

import re
import zipfile
from pathlib import Path

import docx
from docx.opc.exceptions import PackageNotFoundError
from docx.table import Table
from docx.text.paragraph import Paragraph

from tailor.kb.loaders.base import (
    Loaded,
    LoadFailure,
    check_zip,
    collapse,
    normalise_newlines,
    sections_from_headings,
)
from tailor.records import LoadError

_HEADING_STYLE = re.compile(r"Heading (\d)$")


def _heading_level(paragraph: Paragraph) -> int | None:
    """1..9 for 'Heading N' styles, 0 for 'Title', None for body text."""
    name = paragraph.style.name if paragraph.style is not None else ""
    if name == "Title":
        return 0
    match = _HEADING_STYLE.match(name or "")
    return int(match.group(1)) if match else None


def _table_rows(table: Table) -> str:
    rows = []
    for row in table.rows:
        cells, seen = [], set()
        for cell in row.cells:  # a merged cell repeats across the columns it spans
            if id(cell._tc) not in seen:
                seen.add(id(cell._tc))
                cells.append(collapse(cell.text))
        if any(cells):
            rows.append(" | ".join(cells))
    return "\n".join(rows)


def load_docx(path: Path) -> list[Loaded | LoadError]:
    check_zip(path, "docx")  # bounds before python-docx inflates anything
    try:
        document = docx.Document(str(path))
    except (PackageNotFoundError, zipfile.BadZipFile, KeyError, ValueError) as exc:
        raise LoadFailure(f"invalid docx: {exc or type(exc).__name__}") from exc
    blocks: list[str] = []
    headings: list[tuple[int, int, str]] = []
    first_heading = ""
    offset = 0
    for item in document.iter_inner_content():
        if isinstance(item, Table):
            text, level = _table_rows(item), None
        else:
            text, level = normalise_newlines(item.text).strip(), _heading_level(item)
        if not text:
            continue
        offset += 2 if blocks else 0
        if level is not None:
            first_heading = first_heading or collapse(text)
            if level > 0:
                headings.append((offset, level, collapse(text)))
        blocks.append(text)
        offset += len(text)
    text = "\n\n".join(blocks)
    title = (document.core_properties.title or "").strip() or first_heading or path.stem
    return [Loaded(text=text, title=title, sections=sections_from_headings(headings, len(text)))]
