"""In-memory search structures for one committed version of a local knowledge base.

Dense search is exact (one matrix-vector product) below `AnnSettings.min_chunks` and uses a
faiss IVF index above it; BM25 runs on bm25s. Every search applies the caller's filter inside
the search (a mask before the top-k, or a faiss ID selector), so a restricted caller still gets
k hits when k visible chunks exist, and nothing outside its groups ever enters the ranking.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import bm25s
import faiss
import numpy as np
import Stemmer

from tailor.kb.store import ChunkMatch, SearchFilter

_STEMMER = Stemmer.Stemmer("english")


def bm25_tokenize(texts: list[str]) -> list[list[str]]:
    return bm25s.tokenize(texts, stopwords="en", stemmer=_STEMMER, return_ids=False, show_progress=False)


@dataclass(frozen=True)
class AnnSettings:
    min_chunks: int = 50_000  # below this, exact search is fast enough (docs/decisions/0001)
    nprobe: int = 32  # IVF lists scanned per query: higher is more exact and slower
    exact_below_visible: int = 50_000  # a caller who sees fewer chunks than this is searched exactly


@dataclass(frozen=True)
class _Visibility:
    mask: np.ndarray
    count: int
    selector_bits: np.ndarray  # the mask packed for faiss.IDSelectorBitmap


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
        ann: faiss.Index | None = None,
        ann_settings: AnnSettings = AnnSettings(),
    ):
        self.version = version
        self.ann = ann
        self.ann_settings = ann_settings
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
        ann_settings: AnnSettings = AnnSettings(),
    ) -> LocalIndex:
        bm25 = None
        if chunk_ids:
            bm25 = bm25s.BM25()
            bm25.index(bm25_tokenize(index_texts), show_progress=False)
        ann = _build_ivf(vectors) if len(chunk_ids) >= ann_settings.min_chunks else None
        return cls(version, chunk_ids, vectors, doc_pos, documents, bm25, ann, ann_settings)

    def __len__(self) -> int:
        return len(self.chunk_ids)

    def visibility(self, search_filter: SearchFilter) -> _Visibility | None:
        """Which chunks the filter lets through, or None when every chunk is visible."""
        key = (search_filter.groups, json.dumps(search_filter.metadata, sort_keys=True, default=str))
        return self._mask(key)

    def mask(self, search_filter: SearchFilter) -> np.ndarray | None:
        visibility = self.visibility(search_filter)
        return None if visibility is None else visibility.mask

    def _compute_mask(self, key: tuple[tuple[str, ...] | None, str]) -> _Visibility | None:
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
        mask = visible[self.doc_pos]
        return _Visibility(mask, int(mask.sum()), np.packbits(mask, bitorder="little"))

    def dense(self, vector: np.ndarray, k: int, search_filter: SearchFilter) -> list[ChunkMatch]:
        if not len(self):
            return []
        vector = np.ascontiguousarray(vector, dtype=np.float32)
        visibility = self.visibility(search_filter)
        visible = len(self) if visibility is None else visibility.count
        if self.ann is not None and visible >= self.ann_settings.exact_below_visible:
            matches = self._ann_search(vector, k, visibility)
            if len(matches) >= min(k, visible):
                return matches
        scores = self.vectors @ vector
        return self._top_k(scores, k, None if visibility is None else visibility.mask)

    def _ann_search(self, vector: np.ndarray, k: int, visibility: _Visibility | None) -> list[ChunkMatch]:
        selector = None
        if visibility is not None:
            selector = faiss.IDSelectorBitmap(len(self), faiss.swig_ptr(visibility.selector_bits))
        params = faiss.SearchParametersIVF(sel=selector, nprobe=self.ann_settings.nprobe)
        scores, positions = self.ann.search(vector[None, :], k, params=params)
        return [ChunkMatch(self.chunk_ids[p], float(s)) for p, s in zip(positions[0], scores[0], strict=True) if p >= 0]

    def text(self, query: str, k: int, search_filter: SearchFilter) -> list[ChunkMatch]:
        tokens = bm25_tokenize([query])[0]
        if self.bm25 is None or not tokens:  # an empty index, or a query of stopwords only
            return []
        scores = self.bm25.get_scores(tokens)
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
        ids = self.chunk_ids
        return [ChunkMatch(ids[p], s) for p, s in zip(positions.tolist(), scores[top].tolist(), strict=True)]

    def save(self, folder: Path) -> None:
        """Write to `folder`: a temporary sibling is written, then renamed into place."""
        self.install(self.stage(folder), folder)

    def stage(self, folder: Path) -> Path:
        """Write the index, durably, to a temporary sibling of `folder`; `install` puts it in place."""
        folder.parent.mkdir(parents=True, exist_ok=True)
        sweep_orphans(folder)
        # Unique (a reader may rebuild too) and named after this process, so that a sweep knows when it is orphaned.
        tmp = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f"{folder.name}.tmp-{os.getpid()}-"))
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
        if self.ann is not None:
            faiss.write_index(self.ann, str(tmp / "ivf.faiss"))
        _fsync_tree(tmp)
        return tmp

    @staticmethod
    def install(staged: Path, folder: Path) -> None:
        """Put a staged index in place of `folder`; if another one was installed meanwhile, it stays."""
        retired = folder.with_name(f"{folder.name}.old-{staged.name.split('.tmp-', 1)[-1]}")
        with contextlib.suppress(FileNotFoundError):
            os.replace(folder, retired)
        try:
            os.replace(staged, folder)
        except OSError:  # a concurrent install won; loaders check the version they find
            shutil.rmtree(staged, ignore_errors=True)
        shutil.rmtree(retired, ignore_errors=True)

    @classmethod
    def load(cls, folder: Path, ann_settings: AnnSettings = AnnSettings()) -> LocalIndex:
        meta = json.loads((folder / "index.json").read_text())
        documents = [IndexedDocument(i, tuple(g), m) for i, g, m in meta["documents"]]
        bm25 = bm25s.BM25.load(str(folder / "bm25"), mmap=True) if (folder / "bm25").exists() else None
        ann = faiss.read_index(str(folder / "ivf.faiss")) if (folder / "ivf.faiss").exists() else None
        return cls(
            meta["version"],
            meta["chunk_ids"],
            np.load(folder / "vectors.npy", mmap_mode="r"),
            np.load(folder / "doc_pos.npy"),
            documents,
            bm25,
            ann,
            ann_settings,
        )


def _build_ivf(vectors: np.ndarray) -> faiss.Index:
    """IVF-Flat over inner product with about 4 * sqrt(n) lists, trained on a seeded sample."""
    n, dim = vectors.shape
    n_lists = int(4 * np.sqrt(n))
    sample = np.random.default_rng(0).choice(n, size=min(n, 40 * n_lists), replace=False)
    index = faiss.IndexIVFFlat(faiss.IndexFlatIP(dim), dim, n_lists, faiss.METRIC_INNER_PRODUCT)
    index.train(np.ascontiguousarray(vectors[np.sort(sample)]))
    index.add(np.ascontiguousarray(vectors))
    return index


def sweep_orphans(folder: Path) -> None:
    """Remove staged and retired copies of `folder` left by a process that died between writing and
    installing them (`<name>.tmp-<pid>-*`, `<name>.old-<pid>-*`); those of live processes stay."""
    for kind in ("tmp", "old"):
        for path in folder.parent.glob(f"{folder.name}.{kind}-*-*"):
            pid = path.name.removeprefix(f"{folder.name}.{kind}-").split("-", 1)[0]
            if pid.isdigit() and not _alive(int(pid)):
                shutil.rmtree(path, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    return True


def _fsync_tree(folder: Path) -> None:
    for path in folder.rglob("*"):
        if path.is_file():
            with open(path, "rb") as handle:
                os.fsync(handle.fileno())
