import shutil
import threading
import time

import numpy as np
import pytest

from helpers.serve_support import DOCS
from tailor.records import Document
from tailor.serve.knowledge import BatchingEmbedder, ReadWriteLock, ServedKnowledgeBase


def test_the_lock_lets_readers_share_and_a_writer_wait_for_them_and_hold_new_readers_back():
    lock, events, release = ReadWriteLock(), [], threading.Event()

    def hold(kind: str) -> None:
        with lock.exclusive() if kind == "write" else lock.shared():
            events.append(kind)
            release.wait(10)

    with lock.shared(), lock.shared():  # two readers at once
        writer = threading.Thread(target=hold, args=("write",))
        writer.start()
        time.sleep(0.1)
        late_reader = threading.Thread(target=hold, args=("late read",))
        late_reader.start()
        time.sleep(0.1)
        assert events == []  # the writer waits for the readers, the late reader for the writer
    time.sleep(0.1)
    assert events == ["write"]
    release.set()
    writer.join(5)
    late_reader.join(5)
    assert events == ["write", "late read"]


def _copy(base_kb, tmp_path, embedder) -> ServedKnowledgeBase:
    shutil.copytree(base_kb, tmp_path / "kb")
    return ServedKnowledgeBase.open(str(tmp_path / "kb"), embedder=embedder)


def test_queries_answer_from_the_last_committed_version_while_an_ingest_runs(base_kb, tmp_path, embedder):
    kb = _copy(base_kb, tmp_path, embedder)
    embedding, release = threading.Event(), threading.Event()

    def pause(phase, done, total):
        embedding.set()
        release.wait(30)

    new = Document("news.md", "The Zephyr loom ships in May with a titanium heddle frame.", "News", "news.md")
    writer = threading.Thread(target=lambda: kb.writer.ingest_documents([new], on_progress=pause))
    writer.start()
    assert embedding.wait(30)
    before = kb.version
    hits = kb.reader.search("Zephyr titanium heddle", k=3, groups=("public",)).hits
    assert hits and "news.md" not in {h.chunk.doc_id for h in hits}
    assert kb.reader.document("news.md", ("public",)) is None
    release.set()
    writer.join(30)
    assert kb.version == before + 1
    hits = kb.reader.search("Zephyr titanium heddle", k=3, groups=("public",)).hits
    assert hits[0].chunk.doc_id == "news.md"
    kb.close()


def test_searches_go_on_while_the_commit_builds_the_next_versions_index(base_kb, tmp_path, embedder, monkeypatch):
    from tailor.kb.local_index import LocalIndex

    kb = _copy(base_kb, tmp_path, embedder)
    kb.warm()
    building, release = threading.Event(), threading.Event()
    advance = LocalIndex.advance

    def slow_advance(index, delta):  # the commit is inside its transaction, building the new index
        building.set()
        release.wait(30)
        return advance(index, delta)

    monkeypatch.setattr(LocalIndex, "advance", slow_advance)
    new = Document("news.md", "The Zephyr loom ships in May with a titanium heddle frame.", "News", "news.md")
    writer = threading.Thread(target=lambda: kb.writer.ingest_documents([new]))
    writer.start()
    assert building.wait(30)
    before = kb.version
    answered = []
    reader = threading.Thread(target=lambda: answered.append(
        kb.reader.search("Zephyr titanium heddle", k=3, mode="bm25", groups=("public",)).hits))
    reader.start()
    reader.join(10)
    assert not reader.is_alive(), "a search waited for the commit's index build"
    assert len(answered) == 1 and "news.md" not in {h.chunk.doc_id for h in answered[0]}
    release.set()
    writer.join(30)
    assert kb.version == before + 1
    assert kb.reader.search("Zephyr titanium heddle", k=3, mode="bm25", groups=("public",)).hits[0].chunk.doc_id \
        == "news.md"
    kb.close()


def test_readers_never_fail_while_versions_are_committed(base_kb, tmp_path, embedder):
    kb = _copy(base_kb, tmp_path, embedder)
    stop, failures, searches = threading.Event(), [], []

    def read() -> None:
        while not stop.is_set():
            try:
                result = kb.reader.search("hotel cap loom bonus", k=4, mode="bm25", groups=("public",))
                assert all(h.chunk.doc_id != "hr/falcon-bonus.md" for h in result.hits)
                searches.append(len(result.hits))
            except Exception as exc:  # noqa: BLE001 - any failure is the finding
                failures.append(repr(exc))

    readers = [threading.Thread(target=read, daemon=True) for _ in range(4)]
    for thread in readers:
        thread.start()
    try:
        for i in range(3):
            text = f"Revision {i}: the hotel cap in standard cities is EUR {180 + i}."
            kb.writer.ingest_documents([Document("policies/travel.md", text, "Travel", "travel.md")])
        kb.writer.remove(["products/s200.md"])
    finally:
        stop.set()
        for thread in readers:
            thread.join(30)
    assert failures == [] and len(searches) > 10
    assert kb.version == 1 + 3 + 1
    assert {d.id for d in kb.reader.documents(("public",))} == {d.id for d in DOCS if "public" in d.groups} - {
        "products/s200.md"}
    kb.close()


class Counting:
    """The real embedder, counting its forward passes."""

    def __init__(self, inner) -> None:
        self.inner, self.name, self.calls = inner, inner.name, 0

    @property
    def dim(self) -> int:
        return self.inner.dim

    def embed_documents(self, texts, show_progress=False):
        self.calls += 1
        time.sleep(0.02)  # long enough for the other callers to queue up
        return self.inner.embed_documents(texts)


def test_concurrent_callers_share_forward_passes_and_each_gets_its_own_vectors(embedder):
    counting = Counting(embedder)
    batching = BatchingEmbedder(counting, max_batch=8)
    texts = [[f"question number {i} about looms"] + ([f"sentence {i} of a passage"] * (i % 3)) for i in range(24)]
    results: dict[int, np.ndarray] = {}
    threads = [threading.Thread(target=lambda i=i: results.__setitem__(i, batching.embed_documents(texts[i])))
               for i in range(24)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(results) == 24 and counting.calls < 24
    for i, vectors in results.items():
        assert vectors.shape == (len(texts[i]), embedder.dim)
        assert np.allclose(vectors, embedder.embed_documents(texts[i]), atol=1e-5)


def test_a_failed_pass_fails_every_caller_in_it_and_the_next_pass_works(embedder):
    class Failing(Counting):
        def embed_documents(self, texts, show_progress=False):
            if any("boom" in t for t in texts):
                raise RuntimeError("out of memory")
            return super().embed_documents(texts)

    batching = BatchingEmbedder(Failing(embedder))
    with pytest.raises(RuntimeError, match="out of memory"):
        batching.embed_documents(["boom"])
    assert batching.embed_query("fine").shape == (embedder.dim,)


def test_the_served_reader_can_embed_questions_on_onnx_runtime(base_kb, tmp_path, embedder):
    shutil.copytree(base_kb, tmp_path / "kb")
    kb = ServedKnowledgeBase.open(str(tmp_path / "kb"), onnx_cache=tmp_path / "onnx")
    on_onnx = kb.reader.search("hotel cap in London", k=3, groups=("public",))
    assert list((tmp_path / "onnx").glob("*/transformer.onnx"))  # the reader's queries ran on it
    kb.close()
    on_torch = ServedKnowledgeBase.open(str(tmp_path / "kb"), embedder=embedder)
    expected = on_torch.reader.search("hotel cap in London", k=3, groups=("public",))
    assert [h.chunk.id for h in on_onnx.hits] == [h.chunk.id for h in expected.hits]
    on_torch.close()
