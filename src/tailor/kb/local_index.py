"""In-memory search structures for one committed version of a local knowledge base.

Dense search is exact (one matrix-vector product) and BM25 runs on bm25s; both apply the
caller's filter as a mask before the top-k is taken, so a restricted caller still gets k hits
when k visible chunks exist, and nothing outside its groups ever enters the ranking.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import bm25s
import numpy as np
import Stemmer

from tailor.kb.store import ChunkMatch, SearchFilter

_STEMMER = Stemmer.Stemmer("english")


def bm25_tokenize(texts: list[str]) -> list[list[str]]:
    return bm25s.tokenize(texts, stopwords="en", stemmer=_STEMMER, return_ids=False, show_progress=False)


@dataclass
class IndexedDocument:
    id: str
    groups: tuple[str, ...]
    metadata: dict[str, Any]


class LocalIndex:
    """Vectors, BM25 and access-group masks over the chunks of one version."""

    def __init__(
        self,
        version: int,
        chunk_ids: list[str],
        vectors: np.ndarray,
        doc_pos: np.ndarray,
        documents: list[IndexedDocument],
        bm25: bm25s.BM25 | None,
    ):
        self.version = version
        self.chunk_ids = chunk_ids
        self.vectors = vectors
        self.doc_pos = doc_pos
        self.documents = documents
        self.bm25 = bm25
        self.group_names = sorted({g for d in documents for g in d.groups})
        column = {g: i for i, g in enumerate(self.group_names)}
        self.doc_groups = np.zeros((len(documents), len(self.group_names)), dtype=bool)
        for row, doc in enumerate(documents):
            self.doc_groups[row, [column[g] for g in doc.groups]] = True
        self._mask = lru_cache(maxsize=256)(self._compute_mask)

    @classmethod
    def build(
        cls,
        version: int,
        chunk_ids: list[str],
        index_texts: list[str],
        vectors: np.ndarray,
        doc_pos: np.ndarray,
        documents: list[IndexedDocument],
    ) -> LocalIndex:
        bm25 = None
        if chunk_ids:
            bm25 = bm25s.BM25()
            bm25.index(bm25_tokenize(index_texts), show_progress=False)
        return cls(version, chunk_ids, vectors, doc_pos, documents, bm25)

    def __len__(self) -> int:
        return len(self.chunk_ids)

    def mask(self, search_filter: SearchFilter) -> np.ndarray | None:
        """Boolean mask of visible chunks, or None when every chunk is visible."""
        key = (search_filter.groups, json.dumps(search_filter.metadata, sort_keys=True, default=str))
        return self._mask(key)

    def _compute_mask(self, key: tuple[tuple[str, ...] | None, str]) -> np.ndarray | None:
        groups, metadata_json = key
        metadata = json.loads(metadata_json)
        if groups is None and not metadata:
            return None
        visible = np.ones(len(self.documents), dtype=bool)
        if groups is not None:
            columns = [self.group_names.index(g) for g in groups if g in self.group_names]
            visible &= self.doc_groups[:, columns].any(axis=1)
        for field_name, wanted in metadata.items():
            visible &= np.array([d.metadata.get(field_name) == wanted for d in self.documents], dtype=bool)
        return visible[self.doc_pos]

    def dense(self, vector: np.ndarray, k: int, search_filter: SearchFilter) -> list[ChunkMatch]:
        if not len(self):
            return []
        scores = self.vectors @ vector.astype(np.float32, copy=False)
        return self._top_k(scores, k, self.mask(search_filter))

    def text(self, query: str, k: int, search_filter: SearchFilter) -> list[ChunkMatch]:
        if self.bm25 is None:
            return []
        scores = self.bm25.get_scores(bm25_tokenize([query])[0])
        mask = self.mask(search_filter)
        # BM25 scores of zero mean no query term matched: such chunks are not hits.
        matched = scores > 0 if mask is None else mask & (scores > 0)
        return self._top_k(scores, k, matched)

    def _top_k(self, scores: np.ndarray, k: int, mask: np.ndarray | None) -> list[ChunkMatch]:
        if mask is not None:
            candidates = np.flatnonzero(mask)
            if candidates.size == 0:
                return []
            scores = scores[candidates]
        else:
            candidates = None
        k = min(k, scores.size)
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.argsort(-scores[top], kind="stable")]
        positions = top if candidates is None else candidates[top]
        return [ChunkMatch(self.chunk_ids[p], float(s)) for p, s in zip(positions, scores[top], strict=True)]

    def save(self, folder: Path) -> None:
        """Write to `folder` atomically: a temporary sibling is renamed into place."""
        tmp = folder.with_name(folder.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        np.save(tmp / "vectors.npy", self.vectors)
        np.save(tmp / "doc_pos.npy", self.doc_pos)
        meta = {
            "version": self.version,
            "chunk_ids": self.chunk_ids,
            "documents": [[d.id, list(d.groups), d.metadata] for d in self.documents],
        }
        (tmp / "index.json").write_text(json.dumps(meta))
        if self.bm25 is not None:
            self.bm25.save(str(tmp / "bm25"))
        _fsync_tree(tmp)
        shutil.rmtree(folder, ignore_errors=True)
        os.replace(tmp, folder)

    @classmethod
    def load(cls, folder: Path) -> LocalIndex:
        meta = json.loads((folder / "index.json").read_text())
        documents = [IndexedDocument(i, tuple(g), m) for i, g, m in meta["documents"]]
        bm25 = bm25s.BM25.load(str(folder / "bm25"), mmap=True) if (folder / "bm25").exists() else None
        return cls(
            meta["version"],
            meta["chunk_ids"],
            np.load(folder / "vectors.npy", mmap_mode="r"),
            np.load(folder / "doc_pos.npy"),
            documents,
            bm25,
        )


def _fsync_tree(folder: Path) -> None:
    for path in folder.rglob("*"):
        if path.is_file():
            with open(path, "rb") as handle:
                os.fsync(handle.fileno())
