"""Copy a knowledge base between stores (embedded folder, Milvus Lite file, Milvus server) with its vectors.

Nothing is re-embedded: documents, chunks, indexed texts and stored vectors go to the destination in
one commit, one new version. The copy is then checked by running the same sample of dense and BM25
queries (each under the sampled document's groups) on both stores and comparing their top-10 lists;
hits tied with the other list's 10th count as shared, since an order among equal scores is arbitrary.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass

import numpy as np

from tailor.kb.knowledge_base import open_store
from tailor.kb.local_index import bm25_tokenize
from tailor.kb.local_store import LocalStore
from tailor.kb.store import ChunkMatch, DocumentWrite, SearchFilter, Store, StoredDocument
from tailor.records import Chunk

IDENTITY_KEYS = ("dim", "embedder", "index_config")  # what makes vectors and chunks comparable


@dataclass
class CopyReport:
    source: str
    destination: str
    source_version: int
    version: int
    documents: int
    chunks: int
    seconds: float
    queries: int
    dense_overlap: float  # mean share of the top 10 that both stores return, dense search
    text_overlap: float  # the same for BM25
    verified: bool

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def copy_store(source_uri: str, destination_uri: str, queries: int = 20, min_overlap: float = 0.9,
               seed: int = 0) -> CopyReport:
    """Copy SOURCE into DESTINATION (which then mirrors it) and compare search results on both."""
    started = time.perf_counter()
    source, destination = open_store(source_uri), open_store(destination_uri)
    try:
        identity = {key: source.get_meta(key) for key in IDENTITY_KEYS}
        for key, value in identity.items():
            theirs = destination.get_meta(key)
            if value is not None and theirs is not None and theirs != value:
                raise ValueError(f"{destination_uri} has {key}={theirs}, {source_uri} has {value}: "
                                 "copy into an empty or matching knowledge base")
        writes = list(export_writes(source))
        for key, value in identity.items():
            if value is not None:
                destination.set_meta(key, value)
        kept = {w.document.id for w in writes}
        stale = [d for d in destination.document_hashes() if d not in kept]
        version = destination.commit(writes, stale, note=f"copy of {source_uri} version {source.version()}")
        dense, text = compare_searches(source, destination, writes, queries, seed)
        return CopyReport(source_uri, destination_uri, source.version(), version, len(writes),
                          sum(len(w.chunks) for w in writes), time.perf_counter() - started, queries,
                          dense, text, min(dense, text) >= min_overlap)
    finally:
        source.close()
        destination.close()


def compare_searches(a: Store, b: Store, writes: list[DocumentWrite], queries: int, seed: int) -> tuple[float, float]:
    """Mean top-10 overlap of dense and BM25 searches on a seeded sample of chunks used as queries."""
    samples = [(w, i) for w in writes for i in range(len(w.chunks))]
    if not samples:
        return 1.0, 1.0
    rng = np.random.default_rng(seed)
    dense, text = [], []
    for pick in rng.choice(len(samples), size=min(queries, len(samples)), replace=False):
        write, i = samples[pick]
        search_filter = SearchFilter(write.document.groups)
        dense.append(_overlap(*(s.dense_search(write.vectors[i], 30, search_filter) for s in (a, b))))
        words = " ".join(write.chunks[i].text.split()[:8])
        if bm25_tokenize([words])[0]:  # not only stopwords, numbers or punctuation
            text.append(_overlap(*(s.text_search(words, 30, search_filter) for s in (a, b))))
    return float(np.mean(dense)), float(np.mean(text)) if text else 1.0


def _overlap(first: list[ChunkMatch], second: list[ChunkMatch], k: int = 10) -> float:
    """Share of each top-k found in the other's top-k, counting hits tied with the other's k-th as found."""
    if not first or not second:
        return float(not first and not second)
    pairs = ((first, second), (second, first))
    return sum(len({m.chunk_id for m in x[:k]} & _with_ties(y, k)) / len(x[:k]) for x, y in pairs) / 2


def _with_ties(matches: list[ChunkMatch], k: int) -> set[str]:
    """The top k ids and every id that scores as well as the k-th (an order among ties is arbitrary)."""
    last = matches[min(k, len(matches)) - 1].score
    return {m.chunk_id for m in matches[:k]} | {m.chunk_id for m in matches[k:] if m.score >= last - 1e-6 * abs(last)}


def export_writes(store: Store) -> Iterator[DocumentWrite]:
    """Every document of the store's current version as the write that would recreate it."""
    exporter = EXPORTERS.get(type(store))
    return exporter(store) if exporter else store.export_writes()  # type: ignore[attr-defined]


def _local_writes(store: LocalStore) -> Iterator[DocumentWrite]:
    """The embedded store's SQLite file, read in one snapshot (its own connection, read-only)."""
    dim = int(store.get_meta("dim") or 0)
    db = sqlite3.connect(f"file:{store.folder / 'kb.sqlite'}?mode=ro", uri=True)
    try:
        db.execute("BEGIN")
        docs = db.execute("SELECT id, title, source, hash, groups, metadata, text, version FROM documents"
                          " ORDER BY id").fetchall()
        rows = db.execute("SELECT doc_id, id, text, start, end, page, heading_path, index_text, vector FROM chunks"
                          " ORDER BY doc_id, rowid").fetchall()
    finally:
        db.close()
    by_doc: dict[str, list[tuple]] = {}
    for row in rows:
        by_doc.setdefault(row[0], []).append(row)
    for doc_id, title, source, hash_, groups, metadata, text, version in docs:
        chunk_rows = by_doc.get(doc_id, [])
        doc = StoredDocument(doc_id, title, source, hash_, tuple(json.loads(groups)), json.loads(metadata), text,
                             version, len(chunk_rows))
        chunks = [Chunk(r[1], r[0], r[2], r[3], r[4], r[5], tuple(json.loads(r[6]))) for r in chunk_rows]
        vectors = np.frombuffer(b"".join(r[8] for r in chunk_rows), dtype=np.float32).reshape(len(chunk_rows), dim)
        yield DocumentWrite(doc, chunks, [r[7] for r in chunk_rows], vectors)


# Stores whose exporter lives here; any other store exports itself (`MilvusStore.export_writes`).
EXPORTERS: dict[type, Callable[..., Iterator[DocumentWrite]]] = {LocalStore: _local_writes}
