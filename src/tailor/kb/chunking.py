"""Token-aware, heading-aware splitting of documents into chunks with exact character spans."""

from __future__ import annotations

import bisect
import re
from collections.abc import Callable
from dataclasses import dataclass

from tailor.records import Chunk, Document, Section

TokenOffsets = Callable[[str], list[tuple[int, int]]]

# Preferred split points, strongest first: paragraph, line, sentence, word.
_SEPARATORS = (re.compile(r"\n\s*\n"), re.compile(r"\n"), re.compile(r"[.!?;:](?=\s)"), re.compile(r"\s"))
# A split point must leave the chunk at least this share of the window, so no chunk is a sliver.
_MIN_FILL = 0.35


@dataclass(frozen=True)
class _Tokens:
    starts: list[int]
    ends: list[int]

    def count(self, start: int, end: int) -> int:
        return bisect.bisect_right(self.ends, end) - bisect.bisect_left(self.starts, start)

    def index_at(self, char: int) -> int:
        return bisect.bisect_left(self.starts, char)


class DocumentChunker:
    """Splits a document into chunks of at most `chunk_tokens` tokens of the embedder's tokenizer.

    Chunks never straddle two top-level sections unless whole sections fit together; each chunk
    carries its heading path, page and the exact [start, end) span of the document text.
    """

    def __init__(self, token_offsets: TokenOffsets, chunk_tokens: int = 200, overlap_tokens: int = 32):
        if not 0 <= overlap_tokens < chunk_tokens // 2:
            raise ValueError("overlap_tokens must be >= 0 and less than half of chunk_tokens")
        self.token_offsets = token_offsets
        self.chunk_tokens = chunk_tokens
        self.overlap_tokens = overlap_tokens

    def run(self, document: Document) -> list[Chunk]:
        text = document.text
        offsets = self.token_offsets(text)
        tokens = _Tokens([s for s, _ in offsets], [e for _, e in offsets])
        spans: list[tuple[int, int, tuple[str, ...]]] = []
        for start, end, path in self._packed_regions(document, tokens):
            spans.extend((s, e, path) for s, e in self._windows(text, tokens, start, end))
        chunks = []
        for start, end, path in spans:
            start, end = _strip(text, start, end)
            if end > start:
                chunks.append(
                    Chunk(
                        id=f"{document.id}#{len(chunks)}",
                        doc_id=document.id,
                        text=text[start:end],
                        start=start,
                        end=end,
                        page=_page_at(document, start),
                        heading_path=path,
                    )
                )
        return chunks

    def _packed_regions(self, document: Document, tokens: _Tokens) -> list[tuple[int, int, tuple[str, ...]]]:
        """Sections in order, with consecutive small ones merged while they fit in one chunk."""
        packed: list[tuple[int, int, tuple[str, ...]]] = []
        for section in _covering_sections(document):
            if packed:
                start, end, path = packed[-1]
                fits = tokens.count(start, section.end) <= self.chunk_tokens
                # A heading alone (one line) is no chunk: it travels with the text that follows it.
                heading_only = "\n" not in document.text[start:end].strip()
                if fits or heading_only:
                    packed[-1] = (start, section.end, _common_prefix(path, section.heading_path))
                    continue
            packed.append((section.start, section.end, section.heading_path))
        return packed

    def _windows(self, text: str, tokens: _Tokens, start: int, end: int) -> list[tuple[int, int]]:
        windows = []
        pos = start
        while pos < end:
            first = tokens.index_at(pos)
            limit = first + self.chunk_tokens
            if limit >= len(tokens.starts) or tokens.starts[limit] >= end:
                windows.append((pos, end))
                break
            cut = _split_point(text, pos, tokens.starts[limit])
            windows.append((pos, cut))
            pos = self._next_start(text, tokens, pos, cut)
        return windows

    def _next_start(self, text: str, tokens: _Tokens, pos: int, cut: int) -> int:
        if self.overlap_tokens == 0:
            return cut
        back = max(tokens.index_at(cut) - self.overlap_tokens, 0)
        candidate = tokens.starts[back] if back < len(tokens.starts) else cut
        # Start the overlap on a word boundary so the chunk does not begin mid-word.
        while pos < candidate < cut and not text[candidate - 1].isspace():
            candidate += 1
        return candidate if pos < candidate < cut else cut


def contextualize(chunk: Chunk, title: str) -> str:
    """The text that is embedded and BM25-indexed: title and heading path give the chunk its context."""
    header = " > ".join(part for part in (title, *chunk.heading_path) if part)
    return f"{header}\n{chunk.text}" if header else chunk.text


def _covering_sections(document: Document) -> list[Section]:
    """The document's sections plus the untitled gaps between them, covering the whole text."""
    sections = sorted(document.sections, key=lambda s: s.start)
    covered: list[Section] = []
    cursor = 0
    for section in sections:
        if section.start > cursor:
            covered.append(Section(cursor, section.start, ()))
        start = max(section.start, cursor)
        if section.end > start:
            covered.append(Section(start, section.end, section.heading_path))
            cursor = section.end
    if cursor < len(document.text):
        covered.append(Section(cursor, len(document.text), ()))
    return covered


def _split_point(text: str, start: int, limit: int) -> int:
    """The last strongest separator in text[start:limit], past the minimum fill; else the limit."""
    floor = start + int((limit - start) * _MIN_FILL)
    window = text[floor:limit]
    for separator in _SEPARATORS:
        matches = list(separator.finditer(window))
        if matches:
            return floor + matches[-1].end()
    return limit


def _strip(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def _page_at(document: Document, char: int) -> int | None:
    """The page holding `char`; a character between pages belongs to the page before it."""
    number = None
    for page in document.pages:
        if page.start > char:
            break
        number = page.number
    return number


def _common_prefix(a: tuple[str, ...], b: tuple[str, ...]) -> tuple[str, ...]:
    prefix = []
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        prefix.append(x)
    return tuple(prefix)
