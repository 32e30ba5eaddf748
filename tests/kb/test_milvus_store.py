"""What only the Milvus store has: URI settings, partition keys, crash recovery, and a whole KB on Milvus Lite."""

import os
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from tailor.kb.milvus_schema import ALIVE, MilvusSettings
from tailor.kb.milvus_store import MilvusStore
from tailor.kb.store import DocumentWrite, SearchFilter, StoredDocument
from tailor.records import Chunk


def test_settings_come_from_the_uri(monkeypatch):
    monkeypatch.delenv("MILVUS_TOKEN", raising=False)
    server = MilvusSettings.from_uri(
        "milvus://ann:s3cret@milvus.internal:19531/tenants?tls=true&prefix=hr_&index=ivf_sq8&nprobe=64"
        "&consistency=bounded&partition_key=groups"
    )
    assert (server.connect_uri, server.token, server.db_name, server.prefix) == (
        "https://milvus.internal:19531", "ann:s3cret", "tenants", "hr_")
    assert (server.index_type, server.index_params, server.search_params) == ("IVF_SQ8", {"nlist": 1024}, {"nprobe": 64})
    assert (server.consistency, server.acl, server.partition_key, server.flush) == ("Bounded", "groupset", "groups", False)
    monkeypatch.setenv("MILVUS_TOKEN", "from-env")
    plain = MilvusSettings.from_uri("milvus://localhost")
    assert (plain.connect_uri, plain.token, plain.index_type, plain.acl, plain.consistency) == (
        "http://localhost:19530", "from-env", "HNSW", "array", "Strong")
    lite = MilvusSettings.from_uri("/data/kb.db?M=32&partition_key=tenant")
    assert (lite.connect_uri, lite.lite, lite.index_params["M"], lite.acl, lite.tenant_key, lite.flush) == (
        "/data/kb.db", True, 32, "groupset", "tenant", True)
    for bad in ("kb.db?index=SCANN", "kb.db?nprobe=8", "kb.db?consistency=sometimes", "kb.db?acl=none"):
        with pytest.raises(ValueError):
            MilvusSettings.from_uri(bad)


def test_uris_pick_their_backend_even_after_a_path_mangled_them():
    from pathlib import Path

    from tailor.kb.knowledge_base import canonical_uri, store_scheme

    cases = {"kb": "", "out/kb.db": "milvus-lite", "kb.db?index=FLAT": "milvus-lite", "milvus://h:19530": "milvus"}
    assert {uri: store_scheme(canonical_uri(uri)) for uri in cases} == cases
    assert canonical_uri(Path("milvus://h:19530/db?prefix=x_")) == "milvus://h:19530/db?prefix=x_"  # from --kb
    assert canonical_uri("C:/kb") == "C:/kb"


def make_write(doc_id, groups, text, n=3, dim=8, seed=0, metadata=None):
    vectors = np.random.default_rng(seed).normal(size=(n, dim)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    chunks = [Chunk(f"{doc_id}#{i}", doc_id, f"{text} {i}", i, i + 1) for i in range(n)]
    doc = StoredDocument(doc_id, doc_id, doc_id, f"{doc_id}:{text}", tuple(groups), metadata or {}, text)
    return DocumentWrite(doc, chunks, [c.text for c in chunks], vectors)


@pytest.mark.parametrize("options", ["partition_key=groups", "partition_key=tenant", "acl=array"])
def test_partition_keys_and_acl_modes_filter_exactly(tmp_path, options):
    store = MilvusStore(f"{tmp_path / 'kb.db'}?{options}&partitions=4")
    try:
        store.commit([
            make_write("a", ["public"], "shared words", metadata={"tenant": "acme"}),
            make_write("b", ["hr"], "shared words", seed=1, metadata={"tenant": "acme"}),
            make_write("c", ["hr", "public"], "shared words", seed=2, metadata={"tenant": "zeta"}),
            make_write("d", ['we"ird\\group'], "shared words", seed=3, metadata={"tenant": "zeta"}),
        ], [])
        docs = lambda matches: sorted({m.chunk_id.split("#")[0] for m in matches})  # noqa: E731
        vec = np.ones(8, dtype=np.float32)
        assert docs(store.dense_search(vec, 20, SearchFilter(("public",)))) == ["a", "c"]
        assert docs(store.text_search("shared", 20, SearchFilter(("hr",)))) == ["b", "c"]
        assert docs(store.text_search("shared", 20, SearchFilter(('we"ird\\group',)))) == ["d"]
        assert docs(store.dense_search(vec, 20, SearchFilter(("public", "hr"), {"tenant": "acme"}))) == ["a", "b"]
        assert store.dense_search(vec, 20, SearchFilter(("finance",))) == []
    finally:
        store.close()


def test_a_crashed_commit_is_invisible_and_tidied_by_the_next(tmp_path, monkeypatch):
    uri = str(tmp_path / "kb.db")
    store = MilvusStore(uri)
    store.commit([make_write("a", ["public"], "first edition"), make_write("b", ["public"], "first edition")], [])
    before = (store.document_hashes(), store.count_chunks())
    # Crash just before the commit point: everything else of version 2 is written, and nothing tidies.
    real_upsert = MilvusStore._upsert

    def upsert_but_die_at_the_head(self, name, rows, partial=False):
        rows = list(rows)
        if rows and rows[0]["key"] == "head":
            raise KeyboardInterrupt("killed")
        real_upsert(self, name, rows, partial)

    monkeypatch.setattr(MilvusStore, "_upsert", upsert_but_die_at_the_head)
    monkeypatch.setattr(MilvusStore, "_tidy", lambda self, base: None)
    with pytest.raises(KeyboardInterrupt):
        store.commit([make_write("a", ["public"], "second edition", n=5)], ["b"])
    monkeypatch.undo()
    store.close()

    store = MilvusStore(uri)
    try:
        raw = lambda expr: store.client.query("tailor_chunks", filter=expr, output_fields=["count(*)"])[0]["count(*)"]  # noqa: E731
        assert raw("born == 2") == 5 and raw("died == 2") == 6  # the crash's leftovers are there...
        assert store.version() == 1 and (store.document_hashes(), store.count_chunks()) == before  # ...unseen
        assert store.text_search("second", 10, SearchFilter(None)) == []
        assert len(store.dense_search(np.ones(8, dtype=np.float32), 10, SearchFilter(None))) == 6
        assert store.commit([make_write("c", ["public"], "third")], []) == 2  # tidies, then commits
        assert raw(f"died < {ALIVE}") == 0 and raw("born <= 2") == 9 and store.count_chunks() == 9
        assert set(store.document_hashes()) == {"a", "b", "c"}
        assert store.text_search("second", 10, SearchFilter(None)) == []
    finally:
        store.close()


CHILD = """
import sys, numpy as np
from tailor.kb.milvus_store import MilvusStore
from tailor.kb.store import DocumentWrite, StoredDocument
from tailor.records import Chunk

def edition(name, doc_ids, dim=32, n=40):
    rng = np.random.default_rng(len(name))
    writes = []
    for doc_id in doc_ids:
        vectors = rng.normal(size=(n, dim)).astype(np.float32)
        chunks = [Chunk(f"{doc_id}#{i}", doc_id, f"edition {name} {doc_id} {i}", i, i + 1) for i in range(n)]
        doc = StoredDocument(doc_id, doc_id, doc_id, f"{name}-{doc_id}", ("public",), {}, name)
        writes.append(DocumentWrite(doc, chunks, [c.text for c in chunks], vectors))
    return writes

ONE = [f"d{i:02d}" for i in range(30)]
TWO = [f"d{i:02d}" for i in range(5, 35)]  # 5 deleted, 25 changed, 5 new
store = MilvusStore(sys.argv[1])
name, ids = (sys.argv[2], ONE if sys.argv[2] == "ivory" else TWO)
known = store.document_hashes()
writes = [w for w in edition(name, ids) if known.get(w.document.id) != w.document.hash]
deletes = [d for d in known if d not in ids]
print("committing", flush=True)
if writes or deletes:
    store.commit(writes, deletes)
print("committed", flush=True)
store.close()
"""


def run_child(uri: str, name: str, kill_after: float | None = None) -> tuple[bool, float]:
    """Commit an edition in a subprocess, SIGKILLed `kill_after` seconds into the commit if given.

    Returns whether the commit finished and how long it took.
    """
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    proc = subprocess.Popen([sys.executable, "-c", CHILD, uri, name], stdout=subprocess.PIPE, text=True, env=env)
    assert proc.stdout.readline().strip() == "committing"
    started = time.perf_counter()
    if kill_after is not None:
        time.sleep(kill_after)
        proc.send_signal(signal.SIGKILL)
    finished = proc.stdout.readline().strip() == "committed"
    seconds = time.perf_counter() - started
    proc.wait(timeout=120)
    return finished, seconds


def raw_count(uri: str, expr: str) -> int:
    """Rows in the chunks collection matching `expr`, visible or not."""
    store = MilvusStore(uri)
    try:
        return store.client.query("tailor_chunks", filter=expr, output_fields=["count(*)"])[0]["count(*)"]
    finally:
        store.close()


def snapshot(uri: str) -> dict:
    store = MilvusStore(uri)
    try:
        texts = {c.text.split()[1] for c, _ in store.get_chunks([f"d{i:02d}#{j}" for i in range(35) for j in (0, 39)]).values()}
        dense = store.dense_search(np.ones(32, dtype=np.float32), 50, SearchFilter(None))
        return {
            "version": store.version(),
            "hashes": store.document_hashes(),
            "chunks": store.count_chunks(),
            "editions": texts | {store.get_chunks([m.chunk_id])[m.chunk_id][0].text.split()[1] for m in dense[:5]},
            "hits_ivory": len(store.text_search("ivory", 2000, SearchFilter(None))),
            "hits_cobalt": len(store.text_search("cobalt", 2000, SearchFilter(None))),
        }
    finally:
        store.close()


def test_sigkill_mid_commit_shows_one_version_whole_and_a_rerun_completes(tmp_path):
    reference, template = str(tmp_path / "reference.db"), tmp_path / "template.db"
    assert run_child(reference, "ivory")[0]
    shutil.copytree(reference, template)  # version 1, closed: each trial starts from a copy
    ref_one = snapshot(reference)
    finished, seconds = run_child(reference, "cobalt")
    assert finished
    ref_two = snapshot(reference)
    assert (ref_one["chunks"], ref_two["chunks"], ref_one["editions"], ref_two["editions"]) == (
        1200, 1200, {"ivory"}, {"cobalt"})

    leftovers = []
    for trial, fraction in enumerate((0.1, 0.3, 0.5, 0.7, 0.9, 0.98)):
        uri = str(tmp_path / f"trial{trial}.db")
        shutil.copytree(template, uri)
        run_child(uri, "cobalt", kill_after=seconds * fraction)
        state = snapshot(uri)
        # All or nothing: the previous version whole, or the new one whole; never a mix.
        assert state in (ref_one, ref_two), (fraction, {k: v for k, v in state.items() if k != "hashes"})
        leftovers.append(raw_count(uri, f"born > {state['version']}"))
    assert any(leftovers), f"no kill landed mid-write: the commit ({seconds:.2f}s) is too fast for these delays"
    assert run_child(uri, "cobalt")[0]  # the last trial, resumed
    assert snapshot(uri) == ref_two


def test_knowledge_base_on_milvus_lite(tmp_path, embedder):
    from tailor.kb.knowledge_base import KnowledgeBase

    docs = tmp_path / "docs"
    (docs / "hr").mkdir(parents=True)
    (docs / "refunds.md").write_text("# Refund policy\n\n## Window\nCustomers may return a loom within 45 days of "
                                     "delivery for a full refund.\n")
    (docs / "travel.txt").write_text("Travel policy\n\nEmployees book trains in second class.\n")
    (docs / "hr" / "salary.md").write_text("# Salary bands\n\nBand L4 pays between 71,000 and 84,000 euros.\n")
    (docs / "_meta.yaml").write_text("files:\n  hr/salary.md:\n    groups: [hr]\n")
    kb = KnowledgeBase.open(tmp_path / "kb.db", embedder=embedder)
    try:
        report = kb.ingest([docs])
        assert report.version == 1 and sorted(report.added) == ["hr/salary.md", "refunds.md", "travel.txt"]
        top = kb.search("How many days do customers have to return a loom?", k=3).hits[0]
        assert top.chunk.doc_id == "refunds.md" and "45 days" in top.chunk.text and set(top.scores) == {"dense", "bm25"}
        assert kb.document("refunds.md").text[top.chunk.start : top.chunk.end] == top.chunk.text
        for mode in ("dense", "bm25", "hybrid"):
            assert all(h.chunk.doc_id != "hr/salary.md" for h in kb.search("salary band L4", mode=mode).hits)
            assert [h.chunk.doc_id for h in kb.search("salary band L4", k=1, mode=mode, groups=["hr"]).hits] == [
                "hr/salary.md"]
        assert kb.ingest([docs]).version is None  # unchanged: nothing re-indexed, no new version
        (docs / "travel.txt").write_text("Travel policy\n\nEmployees book trains in first class.\n")
        assert kb.ingest([docs]).updated == ["travel.txt"] and kb.version == 2
        assert kb.remove(["hr/salary.md"]) == 3
    finally:
        kb.close()
    reopened = KnowledgeBase.open(tmp_path / "kb.db", embedder=embedder)
    try:
        stats = reopened.stats()
        assert (stats["version"], stats["documents"], stats["dim"], stats["embedder"]) == (3, 2, 384, embedder.name)
        assert (tmp_path / "embedding-cache.sqlite").exists()  # beside the .db file
        assert "first class" in reopened.search("travel class", k=1, mode="bm25").hits[0].chunk.text
    finally:
        reopened.close()
