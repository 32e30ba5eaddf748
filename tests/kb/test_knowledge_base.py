"""The knowledge base end to end through its Python API, on files written by the tests."""

from pathlib import Path

import pytest

from tailor.kb.config import IndexConfig, KBConfig

POLICY = """# Refund policy

## Window
Customers may return a loom within 45 days of delivery for a full refund.

## Exceptions
Custom-woven orders cannot be returned once production has started.
"""
TRAVEL = "Travel policy\n\nEmployees book trains in second class for trips under four hours.\n"
SALARY = "# Salary bands\n\nBand L4 pays between 71,000 and 84,000 euros per year.\n"


def write_corpus(root: Path) -> Path:
    docs = root / "docs"
    (docs / "hr").mkdir(parents=True)
    (docs / "refunds.md").write_text(POLICY)
    (docs / "travel.txt").write_text(TRAVEL)
    (docs / "hr" / "salary.md").write_text(SALARY)
    (docs / "_meta.yaml").write_text("files:\n  hr/salary.md:\n    groups: [hr]\n")
    return docs


def test_ingest_search_and_cite_exact_spans(tmp_path, make_kb):
    docs = write_corpus(tmp_path)
    kb = make_kb()
    report = kb.ingest([docs])
    assert report.version == 1 and not report.partial
    assert sorted(report.added) == ["hr/salary.md", "refunds.md", "travel.txt"]

    result = kb.search("How many days do customers have to return a loom?", k=3)
    top = result.hits[0]
    assert top.chunk.doc_id == "refunds.md"
    assert top.chunk.heading_path[0] == "Refund policy"
    stored = kb.document("refunds.md")
    assert stored.text[top.chunk.start : top.chunk.end] == top.chunk.text
    assert "45 days" in top.chunk.text
    assert set(top.scores) == {"dense", "bm25"} and set(top.ranks) == {"dense", "bm25"}
    assert {"embed_ms", "dense_ms", "bm25_ms", "fusion_ms", "total_ms"} <= set(result.timings_ms)


@pytest.mark.parametrize("mode", ["dense", "bm25", "hybrid"])
def test_groups_are_enforced_in_every_mode(tmp_path, make_kb, mode):
    kb = make_kb()
    kb.ingest([write_corpus(tmp_path)])
    query = "salary band L4 euros per year"
    public = kb.search(query, k=10, mode=mode, groups=["public"])
    assert all(h.chunk.doc_id != "hr/salary.md" for h in public.hits)
    hr = kb.search(query, k=1, mode=mode, groups=["hr"])
    assert [h.chunk.doc_id for h in hr.hits] == ["hr/salary.md"]
    assert kb.search(query, k=5, mode=mode, groups=["nobody"]).hits == []
    assert kb.document("hr/salary.md", groups=["public"]) is None
    assert kb.document("hr/salary.md", groups=["hr"]) is not None
    assert [d.id for d in kb.documents(groups=["public"])] == ["refunds.md", "travel.txt"]


def test_reingest_embeds_only_what_changed(tmp_path, make_kb):
    docs = write_corpus(tmp_path)
    kb = make_kb()
    kb.ingest([docs])
    again = kb.ingest([docs])
    assert again.version is None and again.unchanged == 3 and again.chunks == 0

    (docs / "travel.txt").write_text(TRAVEL.replace("second class", "first class"))
    changed = kb.ingest([docs])
    assert changed.version == 2 and changed.updated == ["travel.txt"] and changed.unchanged == 2
    hits = kb.search("train class for short trips", k=5, mode="bm25").hits
    texts = " ".join(h.chunk.text for h in hits if h.chunk.doc_id == "travel.txt")
    assert "first class" in texts and "second class" not in texts
    assert kb.stats()["chunks"] == sum(d.n_chunks for d in kb.documents(groups=None))


def test_changing_only_groups_reindexes_without_reembedding(tmp_path, make_kb):
    docs = write_corpus(tmp_path)
    kb = make_kb()
    kb.ingest([docs])
    (docs / "_meta.yaml").write_text("files:\n  hr/salary.md:\n    groups: [public]\n")
    report = kb.ingest([docs])
    assert report.updated == ["hr/salary.md"]
    assert kb.search("salary band L4", k=1, groups=["public"]).hits[0].chunk.doc_id == "hr/salary.md"


def test_sync_removes_documents_whose_files_are_gone_and_rm(tmp_path, make_kb):
    docs = write_corpus(tmp_path)
    kb = make_kb()
    kb.ingest([docs])
    (docs / "travel.txt").unlink()
    assert kb.ingest([docs]).removed == []  # without --sync nothing is deleted
    report = kb.ingest([docs], sync=True)
    assert report.removed == ["travel.txt"]
    assert kb.document("travel.txt") is None
    version = kb.remove(["refunds.md", "not-there.md"])
    assert version == report.version + 1
    assert kb.remove(["not-there.md"]) is None
    assert [d.id for d in kb.documents(groups=None)] == ["hr/salary.md"]
    assert [v.note for v in kb.versions()] == ["ingest", "ingest", "remove"]


def test_bad_files_are_reported_and_the_rest_is_indexed(tmp_path, make_kb):
    docs = write_corpus(tmp_path)
    (docs / "empty.md").write_text("   \n")
    (docs / "blob.txt").write_bytes(b"\x00\x01\x02binary")
    kb = make_kb()
    report = kb.ingest([docs])
    assert report.partial
    assert {Path(e.path).name for e in report.errors} == {"empty.md", "blob.txt"}
    assert len(report.added) == 3


def test_index_settings_are_fixed_at_creation(tmp_path, make_kb, embedder):
    from tailor.kb.knowledge_base import KnowledgeBase

    kb = make_kb("fixed", KBConfig(index=IndexConfig(chunk_tokens=120)))
    kb.ingest([write_corpus(tmp_path)])
    reopened = KnowledgeBase.open(tmp_path / "fixed", embedder=embedder)
    assert reopened.config.index.chunk_tokens == 120
    with pytest.raises(ValueError, match="cannot change"):
        KnowledgeBase.open(tmp_path / "fixed", KBConfig(index=IndexConfig(chunk_tokens=64)), embedder=embedder)
    reopened.close()


@pytest.mark.parametrize("name", ["missing", "missing.db"])
def test_must_exist_names_the_missing_knowledge_base_and_creates_nothing(tmp_path, embedder, name):
    from tailor.kb.knowledge_base import KnowledgeBase

    with pytest.raises(FileNotFoundError, match=f"no knowledge base at .*{name}"):
        KnowledgeBase.open(tmp_path / name, embedder=embedder, must_exist=True)
    assert not (tmp_path / name).exists()


def test_must_exist_opens_an_existing_milvus_lite_knowledge_base(tmp_path, make_kb, embedder):
    from tailor.kb.knowledge_base import KnowledgeBase

    make_kb("lite.db").ingest([write_corpus(tmp_path)])
    reopened = KnowledgeBase.open(tmp_path / "lite.db", embedder=embedder, must_exist=True)
    assert reopened.stats()["documents"] == 3
    reopened.close()
