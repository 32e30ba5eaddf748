"""Entries name their documents; `mark_deleted` flags the ones a knowledge base no longer has."""

from __future__ import annotations

from datetime import UTC, datetime

from tailor.audit import AuditEntry, ChunkRef, mark_deleted


def entry(n: int, cited: list[str], retrieved: list[str]) -> AuditEntry:
    return AuditEntry(
        id=f"2026-11-0001:{n}", at=datetime(2026, 11, 1, tzinfo=UTC), caller="k", groups=["hr"], strategy="rag",
        generator="extractive", adapter=None, adapter_version=None, kb_version=2, question=None, question_sha256=None,
        answer_sha256=None, answer_chars=None, abstained=False, retrieved=[ChunkRef(f"{d}#0", d) for d in retrieved],
        cited=[ChunkRef(f"{d}#0", d) for d in cited], timings_ms={}, tokens_in=0, tokens_out=0,
    )


def test_mark_deleted_asks_once_per_document_and_keeps_the_rows():
    asked = []

    def exists(doc_id: str) -> bool:
        asked.append(doc_id)
        return doc_id != "salary"

    first, second = mark_deleted([entry(1, ["salary"], ["travel", "salary"]), entry(2, [], ["salary"])], exists)
    assert sorted(asked) == ["salary", "travel"]
    assert first.doc_ids == ["salary", "travel"] and first.deleted_doc_ids == ["salary"]
    assert second.deleted_doc_ids == ["salary"]
    assert first.to_dict()["documents"] == [
        {"doc_id": "salary", "cited": True, "retrieved": True, "deleted": True},
        {"doc_id": "travel", "cited": False, "retrieved": True, "deleted": False},
    ]
    assert entry(3, [], ["travel"]).to_dict()["documents"][0]["deleted"] is None  # not checked
