"""`tailor kb copy`, run as a subprocess: an embedded knowledge base into Milvus Lite, vectors reused."""

import json
import os
import subprocess
import sys

import numpy as np

from tailor.kb.knowledge_base import open_store
from tailor.kb.store import DocumentWrite, SearchFilter, StoredDocument
from tailor.records import Chunk


def test_kb_copy_moves_a_knowledge_base_and_checks_searches(tmp_path):
    source, destination = tmp_path / "kb", tmp_path / "kb.db"
    rng = np.random.default_rng(0)
    store = open_store(str(source))
    store.set_meta("dim", "8")
    store.set_meta("embedder", "test-embedder")
    writes = []
    for d, topic in enumerate(["refunds", "travel", "salary", "pricing", "shipping"]):
        chunks = [Chunk(f"{topic}#{i}", topic, f"{topic} rule {i} for staff", i, i + 1) for i in range(3)]
        doc = StoredDocument(topic, topic.title(), f"{topic}.md", f"h{d}", ("hr",) if d == 2 else ("public",), {}, topic)
        writes.append(DocumentWrite(doc, chunks, [c.text for c in chunks], rng.normal(size=(3, 8)).astype(np.float32)))
    store.commit(writes, [])
    store.close()

    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    proc = subprocess.run([sys.executable, "-m", "tailor.cli", "kb", "copy", str(source), str(destination), "--json"],
                          capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert (report["documents"], report["chunks"], report["version"], report["verified"]) == (5, 15, 1, True)
    assert report["dense_overlap"] == 1.0 and report["text_overlap"] == 1.0

    copied = open_store(str(destination))
    try:
        assert copied.get_meta("embedder") == "test-embedder" and copied.count_chunks() == 15
        assert [m.chunk_id for m in copied.text_search("salary", 5, SearchFilter(("public",)))] == []
        assert len(copied.text_search("salary", 5, SearchFilter(("hr",)))) == 3
    finally:
        copied.close()
