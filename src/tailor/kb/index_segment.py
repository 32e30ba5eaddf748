"""A segment: chunk rows of a local index, in SQLite rowid order, written once and never changed.

A commit appends one segment holding its new chunks; a compaction merges the live rows of all segments
into one. Versions share segments, so a commit costs what it adds, and a reader of an older version
never sees a row change under it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tailor.kb.lexical import TermCounts, Vocabulary


@dataclass(frozen=True)
class Segment:
    rowids: np.ndarray  # the chunks' SQLite rowids, ascending
    chunk_ids: list[str]
    doc_pos: np.ndarray  # each chunk's position in the index's document table
    vectors: np.ndarray  # float32, one row per chunk
    terms: TermCounts

    @classmethod
    def build(
        cls, rowids: np.ndarray, chunk_ids: list[str], doc_pos: np.ndarray, vectors: np.ndarray,
        index_texts: list[str], vocabulary: Vocabulary,
    ) -> Segment:
        return cls(rowids, chunk_ids, doc_pos, vectors, TermCounts.count(index_texts, vocabulary))

    def __len__(self) -> int:
        return len(self.rowids)

    def positions(self, rowids: np.ndarray) -> np.ndarray:
        """Positions in this segment of those of `rowids` it holds."""
        found = np.searchsorted(self.rowids, rowids)
        inside = found < len(self.rowids)
        found = found[inside]
        return found[self.rowids[found] == rowids[inside]]

    @classmethod
    def merge(cls, segments: list[Segment], keep: list[np.ndarray], doc_pos: np.ndarray, n_terms: int) -> Segment:
        """The rows of `segments` that `keep` (a mask per segment) marks, as one segment, with `doc_pos`
        (the kept rows' positions in a new document table)."""
        if len(segments) == 1 and keep[0].all():
            only = segments[0]
            return cls(only.rowids, only.chunk_ids, doc_pos, only.vectors, only.terms)
        return cls(
            np.concatenate([s.rowids[k] for s, k in zip(segments, keep, strict=True)]),
            [c for s, k in zip(segments, keep, strict=True) for c, kept in zip(s.chunk_ids, k.tolist(), strict=True) if kept],
            doc_pos,
            np.concatenate([s.vectors[k] for s, k in zip(segments, keep, strict=True)]),
            TermCounts.stack([s.terms for s in segments], keep, n_terms),
        )
