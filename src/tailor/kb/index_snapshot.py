"""The on-disk cache of a local index: one compacted version, written after a compaction, never per commit.

A store opening a knowledge base loads the snapshot and reads what was committed after it from SQLite
(local_store.py), so the snapshot only needs rewriting when that catch-up would grow long. It is derived
data: written to a temporary sibling, fsynced and renamed into place, and rebuilt from SQLite when absent,
unreadable, or from a version the database does not have.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from pathlib import Path

import faiss
import numpy as np
import scipy.sparse as sp

from tailor.kb.index_segment import Segment
from tailor.kb.lexical import Bm25Stats, TermCounts, Vocabulary
from tailor.kb.local_index import AnnSettings, IndexedDocument, LocalIndex

_ARRAYS = ("rowids", "doc_pos", "vectors", "lengths", "doc_freq", "postings_data", "postings_indices",
           "postings_indptr")


def save_snapshot(index: LocalIndex, folder: Path) -> None:
    """Write a compacted (single-segment) index to `folder`: staged in a temporary sibling, then renamed."""
    install(stage(index, folder), folder)


def stage(index: LocalIndex, folder: Path) -> Path:
    """Write the index, durably, to a temporary sibling of `folder`; `install` puts it in place."""
    (segment,) = index.segments
    folder.parent.mkdir(parents=True, exist_ok=True)
    sweep_orphans(folder)
    # Unique (a reader may write one too) and named after this process, so that a sweep knows when it is orphaned.
    tmp = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f"{folder.name}.tmp-{os.getpid()}-"))
    postings = segment.terms.postings
    arrays = {
        "rowids": segment.rowids, "doc_pos": segment.doc_pos, "vectors": segment.vectors,
        "lengths": segment.terms.lengths, "doc_freq": index.stats.doc_freq, "postings_data": postings.data,
        "postings_indices": postings.indices, "postings_indptr": postings.indptr,
    }
    for name, array in arrays.items():
        np.save(tmp / f"{name}.npy", array)
    if index.ann is not None:
        faiss.write_index(index.ann, str(tmp / "ivf.faiss"))
    meta = {
        "version": index.version,
        "watermark": index.watermark,
        "chunk_ids": segment.chunk_ids,
        "documents": [[d.id, list(d.groups), d.metadata] for d in index.documents],
        "terms": index.stats.vocabulary.terms(),
        "n_terms": postings.shape[1],
        "total_length": index.stats.total_length,
    }
    (tmp / "index.json").write_text(json.dumps(meta))
    _fsync_tree(tmp)
    return tmp


def install(staged: Path, folder: Path) -> None:
    """Put a staged snapshot in place of `folder`; if another one was installed meanwhile, it stays."""
    retired = folder.with_name(f"{folder.name}.old-{staged.name.split('.tmp-', 1)[-1]}")
    with contextlib.suppress(FileNotFoundError):
        os.replace(folder, retired)
    try:
        os.replace(staged, folder)
    except OSError:  # a concurrent install won; loaders check the version they find
        shutil.rmtree(staged, ignore_errors=True)
    shutil.rmtree(retired, ignore_errors=True)


def load_snapshot(folder: Path, ann_settings: AnnSettings) -> LocalIndex | None:
    """The snapshot in `folder`, or None when absent or unreadable."""
    try:
        meta = json.loads((folder / "index.json").read_text())
        arrays = {name: np.load(folder / f"{name}.npy", mmap_mode="r" if name == "vectors" else None)
                  for name in _ARRAYS}
        ann = faiss.read_index(str(folder / "ivf.faiss")) if (folder / "ivf.faiss").exists() else None
        postings = sp.csc_matrix(
            (arrays["postings_data"], arrays["postings_indices"], arrays["postings_indptr"]),
            shape=(len(arrays["rowids"]), meta["n_terms"]),
        )
        terms = TermCounts(postings, arrays["lengths"])
        segment = Segment(arrays["rowids"], meta["chunk_ids"], arrays["doc_pos"], arrays["vectors"], terms)
        stats = Bm25Stats(Vocabulary(meta["terms"]), arrays["doc_freq"], len(segment), meta["total_length"])
        documents = [IndexedDocument(i, tuple(g), m) for i, g, m in meta["documents"]]
    except (OSError, ValueError, KeyError, TypeError, RuntimeError):
        return None
    live = np.ones(len(segment), dtype=bool)
    return LocalIndex(meta["version"], meta["watermark"], (segment,), live, documents, stats, ann, ann_settings)


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
