"""Ingest: load files, find what changed, chunk and embed it, and commit one new version."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tailor.kb.chunking import DocumentChunker, contextualize
from tailor.kb.embedding import Embedder
from tailor.kb.embedding_cache import EmbeddingCache
from tailor.kb.loaders import load_documents
from tailor.kb.store import DocumentWrite, SearchFilter, Store, StoredDocument
from tailor.records import Document, LoadError

ProgressCallback = Callable[[str, int, int], None]  # (phase, done, total)


@dataclass
class IngestReport:
    version: int | None
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: int = 0
    chunks: int = 0
    errors: list[LoadError] = field(default_factory=list)
    seconds: float = 0.0
    embed_seconds: float = 0.0

    @property
    def partial(self) -> bool:
        return bool(self.errors)

    def to_dict(self) -> dict[str, object]:
        return {
            "version": self.version,
            "added": self.added,
            "updated": self.updated,
            "removed": self.removed,
            "unchanged": self.unchanged,
            "chunks": self.chunks,
            "errors": [{"path": e.path, "reason": e.reason} for e in self.errors],
            "partial": self.partial,
            "seconds": round(self.seconds, 3),
            "embed_seconds": round(self.embed_seconds, 3),
        }


def fingerprint(document: Document) -> str:
    """What decides re-indexing: the text and everything a search filters or shows."""
    payload = json.dumps(
        [document.text, document.title, sorted(document.groups), document.metadata], sort_keys=True, default=str
    )
    return hashlib.sha256(payload.encode()).hexdigest()


class Ingestor:
    """Commits each run as one version; vectors are cached every `embed_batch` texts, so a killed run
    resumes without re-embedding what it had finished."""

    def __init__(
        self, store: Store, embedder: Embedder, chunker: DocumentChunker, cache: EmbeddingCache, embed_batch: int = 256
    ):
        self.store = store
        self.embedder = embedder
        self.chunker = chunker
        self.cache = cache
        self.embed_batch = embed_batch

    def run(
        self,
        paths: Sequence[Path],
        groups: tuple[str, ...] | None = None,
        sync: bool = False,
        on_progress: ProgressCallback | None = None,
    ) -> IngestReport:
        started = time.perf_counter()
        read: set[Path] = set()
        documents, errors = load_documents([Path(p) for p in paths], default_groups=groups, read=read)
        deletes = self._gone(paths, documents, read) if sync else []
        report = self.run_documents(documents, on_progress=on_progress, deletes=deletes)
        report.errors = errors + report.errors
        report.seconds = time.perf_counter() - started
        return report

    def run_documents(
        self,
        documents: Sequence[Document],
        deletes: Sequence[str] = (),
        on_progress: ProgressCallback | None = None,
        note: str = "ingest",
    ) -> IngestReport:
        started = time.perf_counter()
        known = self.store.document_hashes()
        changed = [d for d in documents if known.get(d.id) != fingerprint(d)]
        report = IngestReport(version=None, unchanged=len(documents) - len(changed))
        chunked = [(doc, self.chunker.run(doc)) for doc in changed]
        report.errors = [LoadError(doc.source, "no text to index after chunking") for doc, ch in chunked if not ch]
        chunked = [(doc, chunks) for doc, chunks in chunked if chunks]
        texts = [contextualize(c, doc.title) for doc, chunks in chunked for c in chunks]

        embed_started = time.perf_counter()
        done = 0

        def advance(n: int) -> None:
            nonlocal done
            done += n
            if on_progress:
                on_progress("embed", done, len(texts))

        vectors = self.cache.embed(texts, self.embedder.embed_documents, batch_size=self.embed_batch, on_batch=advance)
        report.embed_seconds = time.perf_counter() - embed_started

        writes, offset = [], 0
        for doc, chunks in chunked:
            n = len(chunks)
            writes.append(DocumentWrite(_stored(doc), chunks, texts[offset : offset + n], vectors[offset : offset + n]))
            offset += n
        if writes or deletes:
            report.version = self.store.commit(writes, list(deletes), note=note)
        report.added = [w.document.id for w in writes if w.document.id not in known]
        report.updated = [w.document.id for w in writes if w.document.id in known]
        report.removed = [d for d in deletes if d in known]
        report.chunks = offset
        report.seconds = time.perf_counter() - started
        return report

    def _gone(self, paths: Sequence[Path], documents: Sequence[Document], read: set[Path]) -> list[str]:
        """Stored documents no file holds any more: those whose source lies under one of `paths` and no
        longer exists, and those whose source was read this run but did not yield them (a deleted or
        failing jsonl line, an id that changed). A file that could not be read keeps its documents; an
        id loaded from another file this run is kept (the write moves it there)."""
        roots = [Path(p).resolve() for p in paths]
        loaded = {d.id for d in documents}
        gone = []
        for doc in self.store.list_documents(SearchFilter.unrestricted()):
            if doc.id in loaded:
                continue
            source = Path(doc.source).resolve()
            if source in read or (any(source.is_relative_to(root) for root in roots) and not source.exists()):
                gone.append(doc.id)
        return gone


def _stored(doc: Document) -> StoredDocument:
    return StoredDocument(
        id=doc.id,
        title=doc.title,
        source=doc.source,
        hash=fingerprint(doc),
        groups=tuple(doc.groups),
        metadata=doc.metadata,
        text=doc.text,
    )

