"""`copy_store`: a knowledge base moves between backends with its vectors, and searches agree after."""

import json

import numpy as np
import pytest

from tailor.kb.copy import copy_store, export_writes
from tailor.kb.knowledge_base import open_store
from tailor.kb.store import DocumentWrite, SearchFilter, StoredDocument
from tailor.records import Chunk

DIM = 16
WORDS = "refund travel policy salary budget loom warranty invoice shipping training audit payroll".split()


def corpus(n_docs=30, seed=0) -> list[DocumentWrite]:
    rng = np.random.default_rng(seed)
    writes = []
    for d in range(n_docs):
        doc_id, n = f"dir/doc {d:02d}.md", 2 + d % 4
        texts = [" ".join(rng.choice(WORDS, size=12)) for _ in range(n)]
        chunks = [Chunk(f"{doc_id}#{i}", doc_id, t, i * 100, i * 100 + len(t), d % 3 or None, ("H", f"s{i}"))
                  for i, t in enumerate(texts)]
        vectors = rng.normal(size=(n, DIM)).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        groups = ("public",) if d % 3 else ("hr", "finance")
        doc = StoredDocument(doc_id, f"Doc {d}", f"/src/{doc_id}", f"hash-{d}", groups, {"n": d}, "\n".join(texts))
        writes.append(DocumentWrite(doc, chunks, [f"Doc {d}\n{t}" for t in texts], vectors))
    return writes


def make_source(uri: str, writes: list[DocumentWrite], embedder: str = "test-embedder") -> None:
    store = open_store(uri)
    for key, value in {"dim": str(DIM), "embedder": embedder, "index_config": '{"chunk_tokens": 200}'}.items():
        store.set_meta(key, value)
    store.commit(writes, [], note="built")
    store.close()


def snapshot(uri: str) -> dict:
    store = open_store(uri)
    try:
        writes = sorted(export_writes(store), key=lambda w: w.document.id)
        return {
            "meta": [store.get_meta(k) for k in ("dim", "embedder", "index_config")],
            "documents": [(w.document.id, w.document.title, w.document.source, w.document.hash, w.document.groups,
                           w.document.metadata, w.document.text) for w in writes],
            "chunks": [(w.chunks, w.index_texts) for w in writes],
            "vectors": np.concatenate([w.vectors for w in writes]),
        }
    finally:
        store.close()


def test_copy_to_milvus_lite_and_back_keeps_everything(tmp_path):
    local, lite, back = str(tmp_path / "local"), str(tmp_path / "kb.db"), str(tmp_path / "back")
    make_source(local, corpus())
    report = copy_store(local, lite, queries=15)
    assert report.verified and (report.documents, report.chunks, report.version) == (30, 103, 1)
    assert report.dense_overlap >= 0.95 and report.text_overlap >= 0.9
    original, copied = snapshot(local), snapshot(lite)
    assert copied["meta"] == original["meta"] and copied["documents"] == original["documents"]
    assert copied["chunks"] == original["chunks"]
    np.testing.assert_array_equal(copied["vectors"], original["vectors"])  # stored vectors, not re-embedded

    report_back = copy_store(lite, back, queries=15)
    assert report_back.verified
    # Local to local through Milvus: exact dense search and bm25s on both ends give identical results.
    a, b = open_store(local), open_store(back)
    try:
        for query in ["refund policy", "payroll audit shipping"]:
            assert a.text_search(query, 10, SearchFilter(("public",))) == b.text_search(query, 10, SearchFilter(("public",)))
        vec = original["vectors"][7]
        assert a.dense_search(vec, 10, SearchFilter(None)) == b.dense_search(vec, 10, SearchFilter(None))
        assert b.versions()[-1].note == f"copy of {lite} version 1"
    finally:
        a.close()
        b.close()


def test_copy_mirrors_the_source_into_a_matching_destination(tmp_path):
    source, destination = str(tmp_path / "source.db"), str(tmp_path / "dest")
    writes = corpus(8)
    make_source(source, writes[:6])
    make_source(destination, writes[4:])  # documents 6 and 7 are not in the source
    report = copy_store(source, destination, queries=5)
    assert report.verified and report.version == 2
    store = open_store(destination)
    try:
        assert sorted(store.document_hashes()) == sorted(w.document.id for w in writes[:6])
    finally:
        store.close()


def test_copy_refuses_a_destination_built_with_another_embedder(tmp_path):
    source, destination = str(tmp_path / "source"), str(tmp_path / "dest.db")
    make_source(source, corpus(3))
    make_source(destination, corpus(2, seed=1), embedder="other-model")
    with pytest.raises(ValueError, match="embedder"):
        copy_store(source, destination)
    store = open_store(destination)
    try:
        assert store.version() == 1 and store.get_meta("embedder") == "other-model"
    finally:
        store.close()
    assert json.loads(json.dumps(copy_store(source, str(tmp_path / "fresh.db"), queries=3).to_dict()))["verified"]


def test_copy_checks_searches_even_when_a_chunk_has_no_searchable_words(tmp_path):
    source = str(tmp_path / "source")
    writes = corpus(1)
    writes[0].chunks[0] = Chunk(writes[0].chunks[0].id, writes[0].document.id, "1 2 3 of the", 0, 12)
    make_source(source, writes)
    report = copy_store(source, str(tmp_path / "dest.db"), queries=5)
    assert report.verified and report.chunks == 2
