import os
import subprocess
import sys

import numpy as np
import pytest

from tailor.kb.local_store import LocalStore
from tailor.kb.store import DocumentWrite, SearchFilter, StoredDocument
from tailor.records import Chunk

DIM = 4


def write(doc_id: str, groups=("public",), n=2, seed=0, metadata=None, text="alpha beta"):
    rng = np.random.default_rng(seed)
    vectors = rng.normal(size=(n, DIM)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    chunks = [Chunk(f"{doc_id}#{i}", doc_id, f"{text} {doc_id} part {i}", 0, 5) for i in range(n)]
    doc = StoredDocument(doc_id, doc_id.title(), f"/src/{doc_id}", f"h-{doc_id}-{seed}", tuple(groups),
                         metadata or {}, text)
    return DocumentWrite(doc, chunks, [c.text for c in chunks], vectors)


@pytest.fixture
def store(tmp_path):
    s = LocalStore(tmp_path / "kb")
    s.set_meta("dim", str(DIM))
    yield s
    s.close()


def test_each_commit_is_a_numbered_version(store):
    assert store.version() == 0
    assert store.commit([write("a"), write("b")], [], note="first") == 1
    assert store.commit([write("a", seed=1)], ["b"], note="second") == 2
    log = store.versions()
    assert [(v.version, v.added, v.updated, v.removed, v.chunks, v.note) for v in log] == [
        (1, 2, 0, 0, 4, "first"),
        (2, 0, 1, 1, 2, "second"),
    ]
    assert store.document_hashes() == {"a": "h-a-1"}


def test_replacing_a_document_replaces_all_its_chunks(store):
    store.commit([write("a", n=5)], [])
    store.commit([write("a", n=2, seed=3)], [])
    assert store.count_chunks() == 2
    assert set(store.get_chunks(["a#0", "a#1", "a#4"])) == {"a#0", "a#1"}


def test_dense_search_is_exact_and_filtered_before_top_k(store):
    store.commit([write("pub", ("public",), n=3, seed=1), write("hr", ("hr",), n=3, seed=2)], [])
    vec = np.ones(DIM, dtype=np.float32) / 2
    everyone = store.dense_search(vec, 10, SearchFilter.unrestricted())
    public = store.dense_search(vec, 2, SearchFilter(("public",)))
    assert len(everyone) == 6
    # A restricted caller still gets k hits, all visible to it, in exact score order.
    assert len(public) == 2 and all(m.chunk_id.startswith("pub#") for m in public)
    expected = [m for m in everyone if m.chunk_id.startswith("pub#")][:2]
    assert public == expected
    assert store.dense_search(vec, 5, SearchFilter(("nobody",))) == []
    both = store.dense_search(vec, 10, SearchFilter(("hr", "public")))
    assert len(both) == 6


def test_text_search_uses_bm25_and_returns_only_matching_chunks(store):
    store.commit([write("a", text="refund window thirty days"), write("b", text="travel policy trains")], [])
    matches = store.text_search("refunds", 10, SearchFilter(("public",)))
    assert {m.chunk_id for m in matches} == {"a#0", "a#1"}
    assert all(m.score > 0 for m in matches)
    assert store.text_search("zebra", 10, SearchFilter(("public",))) == []


def test_metadata_filter(store):
    store.commit([write("a", metadata={"dept": "sales"}), write("b", metadata={"dept": "ops"})], [])
    vec = np.ones(DIM, dtype=np.float32)
    found = store.dense_search(vec, 10, SearchFilter(("public",), {"dept": "ops"}))
    assert {m.chunk_id for m in found} == {"b#0", "b#1"}


def test_index_cache_is_rebuilt_when_stale_or_corrupt(tmp_path, store):
    store.commit([write("a")], [])
    vec = np.ones(DIM, dtype=np.float32)
    before = store.dense_search(vec, 5, SearchFilter.unrestricted())
    # Another process commits: this store notices the new version on its next search.
    other = LocalStore(tmp_path / "kb")
    other.commit([write("b")], [])
    other.close()
    assert len(store.dense_search(vec, 5, SearchFilter.unrestricted())) == 4
    # A corrupt cache is derived data: it is rebuilt, not trusted.
    (tmp_path / "kb" / "index" / "current" / "index.json").write_text("{not json")
    fresh = LocalStore(tmp_path / "kb")
    assert len(fresh.dense_search(vec, 5, SearchFilter.unrestricted())) == 4
    fresh.close()
    assert before


def test_a_commit_sweeps_index_copies_orphaned_by_dead_processes_and_keeps_live_ones(tmp_path, store):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    index = tmp_path / "kb" / "index"
    index.mkdir(parents=True, exist_ok=True)
    orphans = [index / f"current.tmp-{dead.stdout.strip()}-x1", index / f"current.old-{dead.stdout.strip()}-x2"]
    staging = index / f"current.tmp-{os.getpid()}-x3"  # this process, still writing it
    for folder in (*orphans, staging):
        folder.mkdir()
        (folder / "vectors.npy").write_bytes(b"partial")
    store.commit([write("a")], [])
    assert not any(p.exists() for p in orphans) and staging.is_dir()
    assert sorted(p.name for p in index.iterdir()) == sorted(["current", staging.name])


def test_failed_commit_rolls_back(store):
    store.commit([write("a")], [])
    bad = write("b")
    bad.vectors = bad.vectors[:1]  # fewer vectors than chunks
    with pytest.raises(ValueError):
        store.commit([write("c"), bad], [])
    assert store.version() == 1
    assert set(store.document_hashes()) == {"a"}


def test_list_documents_respects_groups(store):
    store.commit([write("a", ("public",)), write("b", ("hr",)), write("c", ("hr", "finance"))], [])
    assert [d.id for d in store.list_documents(SearchFilter(("hr",)))] == ["b", "c"]
    assert [d.id for d in store.list_documents(SearchFilter(("public",)))] == ["a"]
    assert store.get_document("b").n_chunks == 2


def test_ivf_index_above_the_threshold_filters_inside_the_search(tmp_path):
    import json

    rng = np.random.default_rng(7)
    store = LocalStore(tmp_path / "ivf")
    store.set_meta("dim", str(DIM))
    store.set_meta("index_config", json.dumps({"ann_min_chunks": 100, "ann_nprobe": 64}))
    writes = []
    for i in range(60):
        w = write(f"d{i:02d}", ("hr",) if i % 3 == 0 else ("public",), n=4, seed=i)
        writes.append(w)
    store.commit(writes, [])
    index = store.refresh()
    assert index.ann is not None and index.ann_settings.exact_below_visible > 0
    # Make every caller go through IVF, then compare with the exact scan.
    from dataclasses import replace

    index.ann_settings = replace(index.ann_settings, exact_below_visible=0)
    for _ in range(5):
        query = rng.normal(size=DIM).astype(np.float32)
        query /= np.linalg.norm(query)
        found = index.dense(query, 5, SearchFilter(("hr",)))
        exact = index._top_k(index.vectors @ query, 5, index.mask(SearchFilter(("hr",))))
        assert [m.chunk_id for m in found] == [m.chunk_id for m in exact]
        assert all(int(m.chunk_id[1:3]) % 3 == 0 for m in found)
    # The IVF index is cached with the rest and reloaded.
    reopened = LocalStore(tmp_path / "ivf")
    assert reopened.refresh().ann is not None
    reopened.close()
    store.close()
