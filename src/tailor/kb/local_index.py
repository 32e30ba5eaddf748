"""In-memory search structures for one committed version of a local knowledge base.

A version is a tuple of segments (index_segment.py) shared with the versions before it, plus which of
their rows are still live: `advance` derives the next version from a delta in time proportional to the
delta (new rows become a segment, removed rows are tombstoned, BM25 statistics are updated), and
`compacted` merges the live rows into one segment when enough have changed. Dense search is exact (one
matrix-vector product per segment) below `AnnSettings.min_chunks`; above it the first segment has a faiss
IVF index and the rows appended since are searched exactly. BM25 is scored at query time (lexical.py).
Every search applies the caller's filter, and the tombstones, inside the search (a mask before the top-k,
or a faiss ID selector), so a restricted caller still gets k hits when k visible chunks exist, and nothing
outside its groups ever enters the ranking.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cached_property, lru_cache
from typing import Any

import faiss
import numpy as np

from tailor.kb.index_segment import Segment
from tailor.kb.lexical import Bm25Stats, Vocabulary, bm25_tokenize
from tailor.kb.store import ChunkMatch, SearchFilter

__all__ = ["AnnSettings", "IndexDelta", "IndexedDocument", "LocalIndex", "bm25_tokenize"]

COMPACT_MIN_ROWS = 1_000  # appended or dead rows tolerated beside the first segment before compacting


@dataclass(frozen=True)
class AnnSettings:
    min_chunks: int = 50_000  # below this, exact search is fast enough (docs/decisions/0001)
    nprobe: int = 32  # IVF lists scanned per query: higher is more exact and slower
    exact_below_visible: int = 50_000  # a caller who sees fewer chunks than this is searched exactly


@dataclass(frozen=True)
class _Visibility:
    mask: np.ndarray  # live and visible, per row
    count: int
    first_count: int  # of them in the first segment, the one the IVF index covers
    selector_bits: np.ndarray  # the first segment's mask packed for faiss.IDSelectorBitmap


@dataclass
class IndexedDocument:
    id: str
    groups: tuple[str, ...]
    metadata: dict[str, Any]


@dataclass
class IndexDelta:
    """What the versions after an index's own changed: read from SQLite in one snapshot (local_store.py)."""

    version: int
    documents: list[IndexedDocument]  # written since (new rows point at these)
    rowids: np.ndarray  # the chunks added since, in rowid order, with their fields
    chunk_ids: list[str]
    doc_ids: list[str]
    index_texts: list[str]
    vectors: np.ndarray
    removed: np.ndarray  # rowids of chunks removed since


class LocalIndex:
    """Vectors, BM25 and access-group masks over the live chunks of one version."""

    def __init__(
        self,
        version: int,
        watermark: int,
        segments: tuple[Segment, ...],
        live: np.ndarray,
        documents: list[IndexedDocument],
        stats: Bm25Stats,
        ann: faiss.Index | None = None,
        ann_settings: AnnSettings = AnnSettings(),
    ):
        self.version = version
        self.watermark = watermark  # the highest chunk rowid this version has seen: later rows are new
        self.segments = segments
        self.live = live
        self.documents = documents
        self.stats = stats
        self.ann = ann
        self.ann_settings = ann_settings
        self.offsets = np.cumsum([0, *(len(s) for s in segments)])
        self.n_live = int(live.sum())
        self._mask = lru_cache(maxsize=256)(self._compute_mask)

    @classmethod
    def empty(cls, ann_settings: AnnSettings = AnnSettings()) -> LocalIndex:
        vocabulary = Vocabulary()
        return cls(0, 0, (), np.zeros(0, dtype=bool), [], Bm25Stats.empty(vocabulary), None, ann_settings)

    def __len__(self) -> int:
        return self.n_live

    @property
    def n_rows(self) -> int:
        return int(self.offsets[-1])

    # -- new versions ----------------------------------------------------------------------
    def advance(self, delta: IndexDelta) -> LocalIndex:
        """The version `delta` leads to: its removed rows tombstoned, its new rows one more segment."""
        live, stats = self.live.copy(), self.stats
        for segment, start in zip(self.segments, self.offsets.tolist(), strict=False):
            rows = segment.positions(delta.removed)
            rows = rows[live[start + rows]]
            if len(rows):
                live[start + rows] = False
                stats = stats.removed(segment.terms, rows)
        segments, watermark = self.segments, self.watermark
        if len(delta.rowids):
            first = len(self.documents)
            position = {d.id: first + i for i, d in enumerate(delta.documents)}
            doc_pos = np.array([position[d] for d in delta.doc_ids], dtype=np.int32)
            segment = Segment.build(delta.rowids, delta.chunk_ids, doc_pos, delta.vectors, delta.index_texts,
                                    stats.vocabulary)
            stats = stats.added(segment.terms)
            segments += (segment,)
            live = np.concatenate([live, np.ones(len(segment), dtype=bool)])
            watermark = max(watermark, int(delta.rowids[-1]))
        return LocalIndex(delta.version, watermark, segments, live, self.documents + delta.documents, stats,
                          self.ann, self.ann_settings)

    def compaction_due(self) -> bool:
        """Whether enough rows were appended or removed since the first segment to merge them, or the
        index has grown past the size where it wants an IVF index."""
        first = len(self.segments[0]) if self.segments else 0
        churn = (self.n_rows - first) + (self.n_rows - self.n_live)
        wants_ann = self.ann is None and self.n_live >= self.ann_settings.min_chunks
        return wants_ann or churn > max(COMPACT_MIN_ROWS, self.n_live // 8)

    def compacted(self) -> LocalIndex:
        """The same version as one segment of its live rows (and of the documents they use), with an IVF
        index over them when there are enough. Searches give the same results, up to the IVF's approximation."""
        if not self.n_live:
            return LocalIndex(self.version, self.watermark, (), np.zeros(0, dtype=bool), [], self.stats, None,
                              self.ann_settings)
        keep = [self.live[a:b] for a, b in zip(self.offsets[:-1], self.offsets[1:], strict=True)]
        used, doc_pos = np.unique(self.doc_pos[self.live], return_inverse=True)
        merged = Segment.merge(list(self.segments), keep, doc_pos.astype(np.int32), self.stats.n_terms)
        ann = None
        if len(merged) >= self.ann_settings.min_chunks:
            # The IVF index covers the first segment: when none of its rows died, they keep their positions.
            covered = len(self.segments[0]) if self.ann is not None and keep[0].all() else 0
            ann = _ivf(merged.vectors, self.ann, covered)
        return LocalIndex(self.version, self.watermark, (merged,), np.ones(len(merged), dtype=bool),
                          [self.documents[i] for i in used.tolist()], self.stats, ann, self.ann_settings)

    # -- rows --------------------------------------------------------------------------------
    @cached_property
    def doc_pos(self) -> np.ndarray:
        return np.concatenate([s.doc_pos for s in self.segments] or [np.zeros(0, dtype=np.int32)])

    @property
    def vectors(self) -> np.ndarray:
        """Every row's vector as one matrix (a copy when there are several segments)."""
        if len(self.segments) == 1:
            return self.segments[0].vectors
        return np.concatenate([s.vectors for s in self.segments])

    def chunk_ids(self, positions: np.ndarray) -> list[str]:
        segment_of = np.searchsorted(self.offsets, positions, side="right") - 1
        return [self.segments[s].chunk_ids[p - self.offsets[s]]
                for s, p in zip(segment_of.tolist(), positions.tolist(), strict=True)]

    # -- filters -------------------------------------------------------------------------------
    def visibility(self, search_filter: SearchFilter) -> _Visibility | None:
        """Which live chunks the filter lets through, or None when every row is live and visible."""
        key = (search_filter.groups, json.dumps(search_filter.metadata, sort_keys=True, default=str))
        return self._mask(key)

    def mask(self, search_filter: SearchFilter) -> np.ndarray | None:
        visibility = self.visibility(search_filter)
        return None if visibility is None else visibility.mask

    @cached_property
    def _doc_groups(self) -> tuple[list[str], np.ndarray]:
        names = sorted({g for d in self.documents for g in d.groups})
        column = {g: i for i, g in enumerate(names)}
        table = np.zeros((len(self.documents), len(names)), dtype=bool)
        for row, doc in enumerate(self.documents):
            table[row, [column[g] for g in doc.groups]] = True
        return names, table

    def _compute_mask(self, key: tuple[tuple[str, ...] | None, str]) -> _Visibility | None:
        groups, metadata_json = key
        metadata = json.loads(metadata_json)
        if groups is None and not metadata and self.n_live == self.n_rows:
            return None
        visible = np.ones(len(self.documents), dtype=bool)
        if groups is not None:
            names, table = self._doc_groups
            visible &= table[:, [names.index(g) for g in groups if g in names]].any(axis=1)
        for field_name, wanted in metadata.items():
            visible &= np.array([d.metadata.get(field_name) == wanted for d in self.documents], dtype=bool)
        mask = visible[self.doc_pos] & self.live
        first = mask[: int(self.offsets[1])] if self.segments else mask
        return _Visibility(mask, int(mask.sum()), int(first.sum()), np.packbits(first, bitorder="little"))

    # -- searches ------------------------------------------------------------------------------
    def dense(self, vector: np.ndarray, k: int, search_filter: SearchFilter) -> list[ChunkMatch]:
        if not self.n_live:
            return []
        vector = np.ascontiguousarray(vector, dtype=np.float32)
        visibility = self.visibility(search_filter)
        visible = self.n_live if visibility is None else visibility.count
        mask = None if visibility is None else visibility.mask
        if self.ann is not None and visible >= self.ann_settings.exact_below_visible:
            first = self._ann_search(vector, k, visibility)
            first_visible = len(self.segments[0]) if visibility is None else visibility.first_count
            if len(first) >= min(k, first_visible):
                start = int(self.offsets[1])
                rest = self._top_k(self._dense_scores(vector, 1), k, None if mask is None else mask[start:], start)
                return sorted(first + rest, key=lambda m: -m.score)[:k]
        return self._top_k(self._dense_scores(vector, 0), k, mask)

    def _dense_scores(self, vector: np.ndarray, first_segment: int) -> np.ndarray:
        parts = [s.vectors @ vector for s in self.segments[first_segment:]]
        return np.concatenate(parts) if parts else np.zeros(0, dtype=np.float32)

    def _ann_search(self, vector: np.ndarray, k: int, visibility: _Visibility | None) -> list[ChunkMatch]:
        selector = None
        if visibility is not None:
            bits = visibility.selector_bits
            selector = faiss.IDSelectorBitmap(len(bits), faiss.swig_ptr(bits))
        params = faiss.SearchParametersIVF(sel=selector, nprobe=self.ann_settings.nprobe)
        scores, positions = self.ann.search(vector[None, :], k, params=params)
        found = positions[0] >= 0
        ids = self.chunk_ids(positions[0][found])
        return [ChunkMatch(c, s) for c, s in zip(ids, scores[0][found].tolist(), strict=True)]

    def text(self, query: str, k: int, search_filter: SearchFilter) -> list[ChunkMatch]:
        terms = self.stats.query_terms(query)
        if not len(terms):  # a query of stopwords only, or of terms no live chunk holds
            return []
        scores = self.stats.scores(terms, [s.terms for s in self.segments], self.n_rows)
        mask = self.mask(search_filter)
        # BM25 scores of zero mean no query term matched: such chunks are not hits.
        matched = scores > 0 if mask is None else mask & (scores > 0)
        return self._top_k(scores, k, matched)

    def _top_k(self, scores: np.ndarray, k: int, mask: np.ndarray | None, offset: int = 0) -> list[ChunkMatch]:
        if mask is not None:
            candidates = np.flatnonzero(mask)
            if candidates.size == 0:
                return []
            scores = scores[candidates]
        else:
            candidates = None
        k = min(k, scores.size)
        if k == 0:
            return []
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.argsort(-scores[top], kind="stable")]
        positions = top if candidates is None else candidates[top]
        ids = self.chunk_ids(positions + offset)
        return [ChunkMatch(c, s) for c, s in zip(ids, scores[top].tolist(), strict=True)]


def _ivf(vectors: np.ndarray, previous: faiss.Index | None, covered: int) -> faiss.Index:
    """IVF-Flat over inner product with about 4 * sqrt(n) lists. The previous index is reused when its list
    count is within a factor of two of that: copied and extended when it holds the first `covered` rows of
    `vectors` as they are, else its centroids for a new one; otherwise the lists are trained on a seeded sample."""
    n, dim = vectors.shape
    n_lists = int(4 * np.sqrt(n))
    if previous is not None and n_lists / 2 <= previous.nlist <= n_lists * 2:
        if covered:
            index = faiss.clone_index(previous)
            index.add(np.ascontiguousarray(vectors[covered:]))
            return index
        index = faiss.IndexIVFFlat(faiss.clone_index(previous.quantizer), dim, previous.nlist,
                                   faiss.METRIC_INNER_PRODUCT)
    else:
        sample = np.random.default_rng(0).choice(n, size=min(n, 40 * n_lists), replace=False)
        index = faiss.IndexIVFFlat(faiss.IndexFlatIP(dim), dim, n_lists, faiss.METRIC_INNER_PRODUCT)
        index.train(np.ascontiguousarray(vectors[np.sort(sample)]))
    index.add(np.ascontiguousarray(vectors))
    return index
