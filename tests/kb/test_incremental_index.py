"""The local index is derived commit by commit (new rows appended, removed rows tombstoned, BM25 statistics
updated); searches must give what a full build of the same version gives, and BM25 what bm25s gives."""

import json
import shutil
import sqlite3
import zlib
from dataclasses import replace
from pathlib import Path
from unittest import mock

import bm25s
import faiss
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tailor.kb import local_store
from tailor.kb.config import RetrievalConfig
from tailor.kb.lexical import Bm25Stats, TermCounts, Vocabulary, bm25_tokenize
from tailor.kb.local_store import LocalStore
from tailor.kb.retrieval import Retriever
from tailor.kb.store import DocumentWrite, SearchFilter, StoredDocument
from tailor.records import Chunk

DIM = 8
WORDS = "refund refunds refunded travel policy salary budget loom looms warranty invoice the of shipping".split()
GROUPS = [("public",), ("hr",), ("public", "finance")]
FILTERS = [SearchFilter.unrestricted(), SearchFilter(("public",)), SearchFilter(("hr", "finance")),
           SearchFilter(("public",), {"kind": "a"})]
QUERIES = ["refund policy", "looms warranty refund", "salary", "the of", "zebra", "budget budget travel"]


class HashEmbedder:
    """A deterministic stand-in for a sentence embedder: a unit vector seeded by the text."""

    name = "hash"
    dim = DIM

    def embed_query(self, text: str) -> np.ndarray:
        vector = np.random.default_rng(zlib.crc32(text.encode())).normal(size=DIM).astype(np.float32)
        return vector / np.linalg.norm(vector)


def write(doc_id: str, n: int, seed: int, groups=("public",)) -> DocumentWrite:
    rng = np.random.default_rng(seed)
    texts = [" ".join(rng.choice(WORDS, size=int(rng.integers(0, 9)))) for _ in range(n)]
    vectors = rng.normal(size=(n, DIM)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    chunks = [Chunk(f"{doc_id}#{i}", doc_id, t, 0, len(t)) for i, t in enumerate(texts)]
    doc = StoredDocument(doc_id, doc_id, doc_id, f"h{seed}", tuple(groups), {"kind": "ab"[seed % 2]}, "")
    return DocumentWrite(doc, chunks, texts, vectors)


def open_store(folder: Path, ann_min_chunks: int | None = None) -> LocalStore:
    store = LocalStore(folder)
    store.set_meta("dim", str(DIM))
    if ann_min_chunks is not None:
        store.set_meta("index_config", f'{{"ann_min_chunks": {ann_min_chunks}, "ann_nprobe": 4096}}')
    return store


def full_build(folder: Path, target: Path) -> LocalStore:
    """A store over a copy of `folder`'s database without its index: its first search builds the index whole."""
    target.mkdir()
    with sqlite3.connect(folder / "kb.sqlite") as source, sqlite3.connect(target / "kb.sqlite") as copy:
        source.backup(copy)
    return LocalStore(target)


def results(store: LocalStore) -> list:
    retriever = Retriever(store, HashEmbedder(), RetrievalConfig(candidates=5))
    found = []
    for search_filter in FILTERS:
        for query in QUERIES:
            vector = HashEmbedder().embed_query(query)
            found.append([(m.chunk_id, float(m.score)) for m in store.dense_search(vector, 4, search_filter)])
            found.append([(m.chunk_id, float(m.score)) for m in store.text_search(query, 4, search_filter)])
            hybrid = retriever.run(query, search_filter, k=4, mode="hybrid").hits
            found.append([(h.chunk.id, float(h.score)) for h in hybrid])
    return found


operation = st.one_of(
    st.tuples(st.just("write"), st.integers(0, 7), st.integers(0, 4), st.integers(0, 10_000), st.integers(0, 2)),
    st.tuples(st.just("delete"), st.integers(0, 7)),
    st.tuples(st.just("reopen")),
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(commits=st.lists(st.lists(operation, min_size=1, max_size=4), min_size=1, max_size=8),
       compact_after=st.sampled_from([2, 1_000]))
def test_searches_after_incremental_commits_equal_those_of_a_full_build(tmp_path_factory, commits, compact_after):
    folder = tmp_path_factory.mktemp("incremental")
    with mock.patch("tailor.kb.local_index.COMPACT_MIN_ROWS", compact_after):
        store = open_store(folder / "kb")
        for ops in commits:
            writes = {op[1]: write(f"d{op[1]}", op[2], op[3], GROUPS[op[4]]) for op in ops if op[0] == "write"}
            deletes = [f"d{op[1]}" for op in ops if op[0] == "delete" and op[1] not in writes]
            if ("reopen",) in ops:  # the next commit starts from the disk cache caught up from SQLite
                store.close()
                local_store._PUBLISHED.clear()  # what another process would find: no index in memory
                store = open_store(folder / "kb")
            store.commit(list(writes.values()), deletes)
        incremental = results(store)
        store.close()
        reference = full_build(folder / "kb", folder / "full")
        assert_same_results(results(reference), incremental)
        reference.close()


def assert_same_results(expected: list, found: list) -> None:
    """The same chunks in the same order, scores equal up to float32 summation order (a fixed rounding would
    split two scores that differ in the last bit across a rounding boundary: -0.069655 vs -0.069649...)."""
    assert [[chunk for chunk, _ in hits] for hits in found] == [[chunk for chunk, _ in hits] for hits in expected]
    for want, got in zip(expected, found, strict=True):
        assert np.allclose([s for _, s in got], [s for _, s in want], rtol=0, atol=1e-5), (want, got)


def test_bm25_scores_equal_a_bm25s_build_of_the_live_chunks():
    rng = np.random.default_rng(0)
    vocabulary = Vocabulary()
    stats, segments, live = Bm25Stats.empty(vocabulary), [], []
    texts: list[str] = []
    for _ in range(6):  # each step adds a segment (some chunks empty or stopwords only), then removes some rows
        batch = [" ".join(rng.choice(WORDS + ["zest", "quark"], size=int(rng.integers(0, 12)))) for _ in range(30)]
        counts = TermCounts.count(batch, vocabulary)
        stats = stats.added(counts)
        segments.append(counts)
        live.append(np.ones(len(batch), dtype=bool))
        texts += batch
        which = int(rng.integers(0, len(segments)))
        rows = np.flatnonzero(live[which])[: int(rng.integers(0, 6))]
        stats = stats.removed(segments[which], rows)
        live[which][rows] = False
    alive = np.concatenate(live)
    reference = bm25s.BM25()  # the default: method "lucene", k1 = 1.5, b = 0.75
    reference.index(bm25_tokenize([t for t, keep in zip(texts, alive, strict=True) if keep]), show_progress=False)
    for query in QUERIES + ["quark refund refund", "zest"]:
        tokens = bm25_tokenize([query])[0]
        expected = reference.get_scores(tokens) if tokens else np.zeros(int(alive.sum()))
        ours = stats.scores(stats.query_terms(query), segments, len(texts))[alive]
        assert ours == pytest.approx(expected, abs=1e-5)
        assert (ours > 0).any() == (expected > 0).any()


def test_an_older_versions_index_is_unchanged_by_later_commits(tmp_path):
    store = open_store(tmp_path / "kb")
    store.commit([write(f"d{i}", 3, i, GROUPS[i % 3]) for i in range(6)], [])
    old = store.refresh()
    vector = HashEmbedder().embed_query("x")

    def searches():
        return [(old.text(q, 5, f), old.dense(vector, 5, f)) for q in QUERIES for f in FILTERS]

    before = searches()
    store.commit([write("d1", 2, 99), write("d9", 4, 7)], ["d2"])
    assert store.refresh() is not old and store.refresh().version == old.version + 1
    assert searches() == before
    store.close()


def test_a_small_commit_appends_its_rows_and_leaves_the_disk_cache_alone(tmp_path):
    store = open_store(tmp_path / "kb")
    store.commit([write(f"d{i}", 3, i) for i in range(10)], [])
    snapshot = tmp_path / "kb" / "index" / "current" / "index.json"
    written = snapshot.stat()
    local_store._PUBLISHED.clear()
    other = open_store(tmp_path / "kb")  # finds the snapshot current: loads it once, not per search
    assert other.refresh().version == 1 and other.refresh() is other.refresh()
    other.close()
    store.commit([write("new", 2, 1)], ["d0"])
    index = store.refresh()
    assert [len(s) for s in index.segments] == [30, 2] and index.n_live == 29
    assert not index.live[:3].any() and index.live[3:].all()
    assert (snapshot.stat().st_ino, snapshot.stat().st_mtime_ns) == (written.st_ino, written.st_mtime_ns)
    store.close()
    local_store._PUBLISHED.clear()
    reopened = open_store(tmp_path / "kb")  # loads the snapshot of version 1, then reads version 2 from SQLite
    caught_up = reopened.refresh()
    assert caught_up.version == 2 and caught_up.n_live == 29 and reopened.refresh() is caught_up
    assert {m.chunk_id for m in reopened.dense_search(np.ones(DIM, np.float32), 50, SearchFilter(None))} == {
        f"d{i}#{j}" for i in range(1, 10) for j in range(3)} | {"new#0", "new#1"}
    reopened.close()


def assert_same_dense_results(index, reference) -> None:
    for each in (index, reference):
        each.ann_settings = replace(each.ann_settings, exact_below_visible=0)  # every caller through the IVF
    for query in QUERIES:
        vector = HashEmbedder().embed_query(query)
        for search_filter in FILTERS:
            found, expected = (i.dense(vector, 6, search_filter) for i in (index, reference))
            assert [m.chunk_id for m in found] == [m.chunk_id for m in expected]
            assert [m.score for m in found] == pytest.approx([m.score for m in expected], abs=1e-5)


def test_an_ivf_index_with_rows_appended_after_it_equals_a_full_build(tmp_path):
    store = open_store(tmp_path / "kb", ann_min_chunks=40)  # and an exhaustive nprobe: IVF results are exact
    store.commit([write(f"d{i}", 4, i, GROUPS[i % 3]) for i in range(15)], [])
    store.commit([write(f"e{i}", 3, 100 + i, GROUPS[i % 3]) for i in range(5)], ["d3", "d4"])
    incremental = store.refresh()
    assert incremental.ann is not None and len(incremental.segments) == 2 and incremental.n_live == 67
    reference_store = full_build(tmp_path / "kb", tmp_path / "full")
    reference = reference_store.refresh()
    assert reference.ann is not None and len(reference.segments) == 1
    assert_same_dense_results(incremental, reference)
    store.close()
    reference_store.close()


@pytest.mark.parametrize("deleted", [[], ["d3"]])
def test_a_compaction_extends_or_rebuilds_the_ivf_index_and_results_stay_those_of_a_full_build(tmp_path, deleted):
    store = open_store(tmp_path / "kb", ann_min_chunks=40)
    store.commit([write(f"d{i}", 4, i, GROUPS[i % 3]) for i in range(15)], [])
    built = store.refresh().ann
    with mock.patch("tailor.kb.local_index.COMPACT_MIN_ROWS", 2):
        store.commit([write(f"e{i}", 3, 100 + i, GROUPS[i % 3]) for i in range(5)], deleted)
    compacted = store.refresh()
    assert len(compacted.segments) == 1 and compacted.ann.ntotal == compacted.n_live == 75 - 4 * len(deleted)
    # Not trained again: without a removed row the old index is copied and extended, with one it gets new
    # lists on the old centroids.
    centroids = [faiss.downcast_index(i.quantizer).reconstruct_n(0, i.nlist) for i in (compacted.ann, built)]
    assert np.array_equal(*centroids)
    reference_store = full_build(tmp_path / "kb", tmp_path / "full")
    assert_same_dense_results(compacted, reference_store.refresh())
    store.close()
    reference_store.close()


def test_a_disk_cache_newer_than_the_database_is_not_used_and_is_replaced(tmp_path):
    store = open_store(tmp_path / "kb")
    store.commit([write(f"d{i}", 3, i) for i in range(4)], [])
    restored = full_build(tmp_path / "kb", tmp_path / "restored")  # a copy of the database at version 1
    expected = results(restored)
    restored.close()
    with mock.patch("tailor.kb.local_index.COMPACT_MIN_ROWS", 2):
        store.commit([write("d9", 3, 9)], ["d0"])  # compacts: the disk cache is now at version 2
    store.close()
    shutil.rmtree(tmp_path / "restored" / "index")
    shutil.copytree(tmp_path / "kb" / "index", tmp_path / "restored" / "index")
    local_store._PUBLISHED.clear()
    again = LocalStore(tmp_path / "restored")
    assert results(again) == expected and again.refresh().version == 1
    assert json.loads((tmp_path / "restored" / "index" / "current" / "index.json").read_text())["version"] == 1
    again.close()
