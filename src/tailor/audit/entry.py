"""What one audit row says about one answer, as read back by `AuditLog.query`."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, replace
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class ChunkRef:
    """A chunk an answer was given (retrieved) or cited, with its document."""

    chunk_id: str
    doc_id: str


@dataclass(frozen=True)
class AuditEntry:
    """One recorded answer: ids, never document or answer text. `outcome` is "answered", "refused"
    (`reason`: what the caller was told) or "interrupted" (a stream closed before its end).

    `id` is "<file>:<row>"; `deleted_doc_ids` is None until `mark_deleted` checks the documents
    against a knowledge base, then the documents no longer in it.
    """

    id: str
    at: datetime
    caller: str | None
    groups: list[str]
    strategy: str
    generator: str
    adapter: str | None
    adapter_version: int | None
    kb_version: int | None
    question: str | None
    question_sha256: str | None
    answer_sha256: str | None
    answer_chars: int | None
    abstained: bool
    retrieved: list[ChunkRef]
    cited: list[ChunkRef]
    timings_ms: dict[str, float]
    tokens_in: int
    tokens_out: int
    outcome: str = "answered"
    reason: str | None = None
    deleted_doc_ids: list[str] | None = None

    @property
    def doc_ids(self) -> list[str]:
        """Every document the answer was given or cited, cited ones first."""
        return list(dict.fromkeys(ref.doc_id for ref in self.cited + self.retrieved))

    def to_dict(self) -> dict[str, Any]:
        cited = {ref.doc_id for ref in self.cited}
        retrieved = {ref.doc_id for ref in self.retrieved}
        deleted = self.deleted_doc_ids
        return {
            **asdict(self),
            "at": self.at.isoformat(),
            "documents": [
                {"doc_id": d, "cited": d in cited, "retrieved": d in retrieved,
                 "deleted": None if deleted is None else d in deleted}
                for d in self.doc_ids
            ],
        }


def mark_deleted(entries: Iterable[AuditEntry], exists: Callable[[str], bool]) -> list[AuditEntry]:
    """The entries with `deleted_doc_ids` filled in: their documents for which `exists` is false.

    `exists` must see every document (unrestricted), e.g. `lambda d: kb.store.get_document(d) is not None`.
    """
    known: dict[str, bool] = {}
    marked = []
    for entry in entries:
        for doc_id in entry.doc_ids:
            if doc_id not in known:
                known[doc_id] = exists(doc_id)
        marked.append(replace(entry, deleted_doc_ids=[d for d in entry.doc_ids if not known[d]]))
    return marked
