"""The table of loaders, keyed by file extension (lower case, with the dot)."""

from __future__ import annotations

from pathlib import Path

from tailor.kb.loaders.base import FunctionLoader, Loader
from tailor.kb.loaders.html import load_html
from tailor.kb.loaders.jsonl import load_jsonl
from tailor.kb.loaders.markdown import load_markdown
from tailor.kb.loaders.pdf import load_pdf
from tailor.kb.loaders.txt import load_txt
from tailor.kb.loaders.word import load_docx

BUILTIN: tuple[Loader, ...] = (
    FunctionLoader("txt", (".txt", ".text"), load_txt),
    FunctionLoader("md", (".md", ".markdown"), load_markdown),
    FunctionLoader("html", (".html", ".htm"), load_html),
    FunctionLoader("pdf", (".pdf",), load_pdf),
    FunctionLoader("docx", (".docx",), load_docx),
    FunctionLoader("jsonl", (".jsonl",), load_jsonl),
)

LOADERS: dict[str, Loader] = {ext: loader for loader in BUILTIN for ext in loader.extensions}


def register(loader: Loader) -> None:
    """Add (or replace) the loader for each of `loader.extensions`."""
    for ext in loader.extensions:
        LOADERS[ext.lower()] = loader


def loader_for(path: Path) -> Loader | None:
    return LOADERS.get(path.suffix.lower())
