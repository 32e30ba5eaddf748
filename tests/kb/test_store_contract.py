"""The store contract: every backend passes the same tests (the embedded store and Milvus Lite)."""

import numpy as np
import pytest

from tailor.kb.knowledge_base import open_store
from tailor.kb.store import DocumentWrite, SearchFilter, StoredDocument
from tailor.records import Chunk

DIM = 8
# The Milvus Lite default filters groups as group-set keys; `acl=array` is the server default
# (array_contains_any on the groups array).
BACKENDS = {"local": "{}", "milvus-lite": "{}.db", "milvus-lite-array": "{}.db?acl=array"}


def unit(values) -> np.ndarray:
    v = np.asarray(values, dtype=np.float32)
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def write(doc_id, groups=("public",), n=2, seed=0, metadata=None, text="alpha beta", vectors=None, page=None):
    rng = np.random.default_rng(seed)
    vectors = unit(rng.normal(size=(n, DIM)) if vectors is None else vectors)
    chunks = [
        Chunk(f"{doc_id}#{i}", doc_id, f"{text} {doc_id} part {i}", i * 10, i * 10 + 9, page, ("Intro", f"S{i}"))
        for i in range(n)
    ]
    doc = StoredDocument(doc_id, doc_id.title(), f"/src/{doc_id}", f"h-{doc_id}-{seed}", tuple(groups),
                         metadata or {}, f"{text} body of {doc_id}")
    return DocumentWrite(doc, chunks, [c.text for c in chunks], vectors)


@pytest.fixture(params=sorted(BACKENDS))
def opener(request, tmp_path):
    """Opens (and reopens) one knowledge base of the parametrised backend under tmp_path."""
    uri = str(tmp_path / BACKENDS[request.param].format("kb"))
    opened = []

    def _open():
        store = open_store(uri)
        if store.get_meta("dim") is None:
            store.set_meta("dim", str(DIM))
        opened.append(store)
        return store

    yield _open
    for store in opened:
        store.close()


@pytest.fixture
def store(opener):
    return opener()


def ids(matches) -> list[str]:
    return [m.chunk_id for m in matches]


def test_each_commit_is_a_numbered_version(store):
    assert store.version() == 0 and store.versions() == [] and store.count_chunks() == 0
    assert store.commit([write("a"), write("b")], [], note="first") == 1
    assert store.commit([write("a", seed=1)], ["b", "never-stored"], note="second") == 2
    log = store.versions()
    assert [(v.version, v.added, v.updated, v.removed, v.chunks, v.note) for v in log] == [
        (1, 2, 0, 0, 4, "first"),
        (2, 0, 1, 1, 2, "second"),
    ]
    assert store.document_hashes() == {"a": "h-a-1"}
    assert store.count_chunks() == 2


def test_replacing_a_document_replaces_all_its_chunks(store):
    store.commit([write("a", n=5, text="old words")], [])
    assert len(store.dense_search(unit(np.ones(DIM)), 10, SearchFilter(None))) == 5  # (may cache row keys)
    store.commit([write("a", n=2, seed=3, text="new words")], [])
    assert store.count_chunks() == 2
    found = store.get_chunks(["a#0", "a#1", "a#4"])
    assert set(found) == {"a#0", "a#1"}
    assert all(chunk.text.startswith("new words") for chunk, _ in found.values())
    everything = store.dense_search(unit(np.ones(DIM)), 10, SearchFilter.unrestricted())
    assert sorted(ids(everything)) == ["a#0", "a#1"]
    assert store.text_search("old", 10, SearchFilter.unrestricted()) == []
    assert store.get_document("a").version == 2 and store.get_document("a").n_chunks == 2


def test_groups_filter_inside_the_search_still_returns_k_hits(store):
    query = unit(np.eye(DIM)[0])
    near = unit(np.eye(DIM)[0] + 0.05 * np.random.default_rng(1).normal(size=(6, DIM)))
    far = unit(np.eye(DIM)[1] + 0.3 * np.eye(DIM)[0] + 0.05 * np.random.default_rng(2).normal(size=(6, DIM)))
    store.commit([
        write("hr", ("hr",), n=6, vectors=near, text="salary bands"),
        write("pub", ("public",), n=6, vectors=far, text="salary policy"),
        write("both", ("finance", "public"), n=2, seed=5, text="budget"),
    ], [])
    everyone = store.dense_search(query, 20, SearchFilter.unrestricted())
    public = store.dense_search(query, 3, SearchFilter(("public",)))
    # The six nearer hr chunks would fill a post-filtered top 3: the filter runs inside the search.
    assert len(public) == 3 and all(not c.startswith("hr#") for c in ids(public))
    assert ids(public) == [c for c in ids(everyone) if not c.startswith("hr#")][:3]
    assert len(store.dense_search(query, 20, SearchFilter(("hr", "finance")))) == 8
    assert store.dense_search(query, 5, SearchFilter(("nobody",))) == []
    assert store.dense_search(query, 5, SearchFilter(())) == []
    text_public = store.text_search("salary", 2, SearchFilter(("public",)))
    assert len(text_public) == 2 and all(c.startswith("pub#") for c in ids(text_public))
    assert {c.split("#")[0] for c in ids(store.text_search("salary", 20, SearchFilter(("hr",))))} == {"hr"}


def test_metadata_filter(store):
    store.commit([write("a", metadata={"dept": "sales", "year": 2024}), write("b", metadata={"dept": "ops"})], [])
    vec = unit(np.ones(DIM))
    assert set(ids(store.dense_search(vec, 10, SearchFilter(("public",), {"dept": "ops"})))) == {"b#0", "b#1"}
    assert set(ids(store.text_search("alpha", 10, SearchFilter(("public",), {"year": 2024})))) == {"a#0", "a#1"}
    assert store.dense_search(vec, 10, SearchFilter(("public",), {"dept": "hr"})) == []


def test_text_search_is_stemmed_bm25_and_returns_only_matching_chunks(store):
    store.commit([
        write("a", n=1, text="refund window thirty days"),
        write("b", n=1, text="refunds refunded refund: the refund policy"),
        write("c", n=1, text="travel policy trains"),
    ], [])
    matches = store.text_search("Refunds?", 10, SearchFilter(("public",)))
    assert ids(matches) == ["b#0", "a#0"]  # more occurrences first; stemming matches every form
    assert all(m.score > 0 for m in matches) and matches[0].score > matches[1].score
    assert store.text_search("zebra", 10, SearchFilter(("public",))) == []


def test_text_search_without_terms_finds_nothing(store):
    store.commit([write("a", n=1, text="the refund window")], [])
    assert store.text_search("the of and", 10, SearchFilter(("public",))) == []  # stopwords only


def test_delete_removes_a_document_everywhere(store):
    store.commit([write("a", text="keep me"), write("b", ("hr",), text="delete me")], [])
    assert store.commit([], ["b"], note="remove") == 2
    assert set(store.document_hashes()) == {"a"} and store.get_document("b") is None
    assert store.get_chunks(["b#0", "a#0"]).keys() == {"a#0"}
    assert store.text_search("delete", 10, SearchFilter.unrestricted()) == []
    assert all(not c.startswith("b#") for c in ids(store.dense_search(unit(np.ones(DIM)), 10, SearchFilter(None))))
    assert store.versions()[-1].removed == 1 and store.count_chunks() == 2


def test_document_hashes_drive_incremental_ingest(store):
    assert store.document_hashes() == {}
    store.commit([write("a"), write("b"), write("c")], [])
    store.commit([write("b", seed=9)], [])
    assert store.document_hashes() == {"a": "h-a-0", "b": "h-b-9", "c": "h-c-0"}


def test_list_and_get_documents(store):
    store.commit([write("a", ("public",)), write("b", ("hr",), n=3), write("c", ("hr", "finance"))], [])
    assert [d.id for d in store.list_documents(SearchFilter(("hr",)))] == ["b", "c"]
    assert [d.id for d in store.list_documents(SearchFilter(("public",)))] == ["a"]
    assert [d.id for d in store.list_documents(SearchFilter.unrestricted())] == ["a", "b", "c"]
    b = store.get_document("b")
    assert (b.title, b.source, b.hash, b.groups, b.text, b.n_chunks, b.version) == (
        "B", "/src/b", "h-b-0", ("hr",), "alpha beta body of b", 3, 1)
    assert store.get_document("zzz") is None


def test_long_document_text_round_trips(store):
    long = write("long", text="x")
    long.document.text = "".join(f"line {i} é ü 汉字\n" for i in range(9000))  # > 65,535 bytes
    store.commit([long], [])
    assert store.get_document("long").text == long.document.text


def test_get_chunks_returns_chunks_with_their_documents(store):
    store.commit([write("a", ("hr",), metadata={"k": "v"}, page=4)], [])
    found = store.get_chunks(["a#1", "missing#0"])
    chunk, doc = found["a#1"]
    assert chunk == Chunk("a#1", "a", "alpha beta a part 1", 10, 19, 4, ("Intro", "S1"))
    assert (doc.id, doc.title, doc.source, doc.groups, doc.metadata) == ("a", "A", "/src/a", ("hr",), {"k": "v"})
    assert store.get_chunks([]) == {}


def test_reopened_store_keeps_everything(opener):
    first = opener()
    first.set_meta("embedder", "test-embedder")
    first.commit([write("a", text="persistent words"), write("b", ("hr",))], [], note="one")
    first.commit([], ["b"], note="two")
    vec = unit(np.ones(DIM))
    before = (first.dense_search(vec, 5, SearchFilter(None)), first.text_search("persistent", 5, SearchFilter(None)))
    first.close()
    again = opener()
    assert again.version() == 2 and [v.note for v in again.versions()] == ["one", "two"]
    assert again.get_meta("embedder") == "test-embedder" and again.get_meta("dim") == str(DIM)
    assert again.document_hashes() == {"a": "h-a-0"} and again.count_chunks() == 2
    after = (again.dense_search(vec, 5, SearchFilter(None)), again.text_search("persistent", 5, SearchFilter(None)))
    assert [ids(m) for m in after] == [ids(m) for m in before]


def test_failed_commit_leaves_the_previous_version(store):
    store.commit([write("a")], [])
    bad = write("b")
    bad.vectors = bad.vectors[:1]  # fewer vectors than chunks
    with pytest.raises(ValueError):
        store.commit([write("c"), bad], [])
    assert store.version() == 1 and set(store.document_hashes()) == {"a"}
    assert store.commit([write("c")], []) == 2 and set(store.document_hashes()) == {"a", "c"}


def test_both_backends_rank_alike(tmp_path):
    """Same writes, same rankings: exact dense search and BM25 on the same stemmed terms."""
    rng = np.random.default_rng(3)
    words = "refund travel policy salary budget loom warranty invoice shipping training".split()
    writes = [write(f"d{i}", ("public",) if i % 3 else ("hr",), n=3, seed=i,
                    text=" ".join(rng.choice(words, size=8))) for i in range(20)]
    stores = [open_store(str(tmp_path / "local")), open_store(str(tmp_path / "lite.db?index=FLAT"))]
    try:
        for s in stores:
            s.set_meta("dim", str(DIM))
            s.commit(writes, [])
        for query in ["refund policy", "salary", "loom warranty shipping"]:
            vec = unit(rng.normal(size=DIM))
            dense = [ids(s.dense_search(vec, 10, SearchFilter(("public",)))) for s in stores]
            text = [{m.chunk_id: m.score for m in s.text_search(query, 100, SearchFilter(("public",)))}
                    for s in stores]
            assert dense[0] == dense[1]
            # Every matching chunk, the same score up to BM25's constant (k1 + 1) factor that bm25s omits.
            assert text[0].keys() == text[1].keys() and text[0]
            assert {c: s * 2.5 for c, s in text[0].items()} == pytest.approx(text[1], rel=1e-4)
    finally:
        for s in stores:
            s.close()
