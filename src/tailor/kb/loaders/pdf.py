"""PDF text layer, page by page; pages are kept as character spans."""

from __future__ import annotations

from pathlib import Path

from pypdf import PasswordType, PdfReader
from pypdf.errors import DependencyError, LimitReachedError, PdfReadError, PyPdfError

from tailor.kb.loaders.base import Loaded, LoadFailure, first_line, normalise_newlines
from tailor.records import LoadError, Page

PAGE_SEPARATOR = "\n\n"


def _open(path: Path) -> PdfReader:
    try:
        reader = PdfReader(path)
        if reader.is_encrypted and reader.decrypt("") == PasswordType.NOT_DECRYPTED:
            raise LoadFailure("encrypted pdf")
    except DependencyError as exc:  # AES needs the optional 'cryptography' package
        raise LoadFailure(f"encrypted pdf ({exc})") from exc
    except PdfReadError as exc:
        raise LoadFailure(f"invalid pdf: {exc}") from exc
    return reader


def _metadata_title(reader: PdfReader) -> str:
    try:
        title = reader.metadata.title if reader.metadata else None
    except PdfReadError:
        return ""
    return title.strip() if isinstance(title, str) else ""


def _page_texts(reader: PdfReader) -> list[str]:
    """The text layer of every page, in order; a broken page tree or stream is a LoadFailure."""
    try:
        return [normalise_newlines(page.extract_text() or "").strip() for page in reader.pages]
    except LimitReachedError as exc:  # pypdf's bound on decompressed streams: a flate bomb
        raise LoadFailure(f"refused pdf: a stream decompresses past pypdf's limit ({exc})") from exc
    except PyPdfError as exc:
        raise LoadFailure(f"invalid pdf: {exc}") from exc


def load_pdf(path: Path) -> list[Loaded | LoadError]:
    reader = _open(path)
    parts: list[str] = []
    pages: list[Page] = []
    offset = 0
    texts = _page_texts(reader)
    for number, text in enumerate(texts, start=1):
        if not text:
            continue  # a blank page has no span; the numbers of the others stay right
        if parts:
            parts.append(PAGE_SEPARATOR)
            offset += len(PAGE_SEPARATOR)
        parts.append(text)
        pages.append(Page(number, offset, offset + len(text)))
        offset += len(text)
    if not pages:
        raise LoadFailure("no text layer (scanned pdf?)")
    text = "".join(parts)
    title = _metadata_title(reader) or first_line(text) or path.stem
    return [Loaded(text=text, title=title, pages=pages, metadata={"page_count": len(texts)})]
