"""The records of synthetic question writing: a question/answer pair, a writer's report, the writer protocol.

Writers (`offline_qa.py`, the LLM writer of `synthetic.py`) and the data builder all use them; they
depend on nothing else of the package.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Protocol

MAX_REJECT_SAMPLES = 5


@dataclass(frozen=True)
class QAPair:
    question: str
    answer: str


@dataclass
class WriterReport:
    """What a writer was asked for, what survived, and why the rest did not."""

    writer: str = ""
    requested: int = 0
    accepted: int = 0
    malformed: int = 0
    invalid: int = 0
    duplicates: int = 0
    errors: int = 0
    rejects: list[str] = field(default_factory=list)
    filtered: dict[str, int] = field(default_factory=dict)  # text the writer refused, by reason (fact_filter)
    filtered_samples: dict[str, list[str]] = field(default_factory=dict)
    markers_cut: int = 0  # sentences kept once their reference markers were cut out

    def reject(self, kind: str, detail: str) -> None:
        setattr(self, kind, getattr(self, kind) + 1)
        if len(self.rejects) < MAX_REJECT_SAMPLES:
            self.rejects.append(f"{kind}: {detail[:200]}")

    def refuse(self, reason: str, text: str) -> None:
        """The writer found no fact in `text`, for `reason` (tailor.finetune.fact_filter.REASONS)."""
        self.filtered[reason] = self.filtered.get(reason, 0) + 1
        samples = self.filtered_samples.setdefault(reason, [])
        if len(samples) < MAX_REJECT_SAMPLES:
            samples.append(text[:200])

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


class QAWriter(Protocol):
    name: str

    def questions(self, passage: str, title: str, n: int, report: WriterReport) -> list[QAPair]:
        """Up to n candidate pairs about the passage; unparseable output and failures go to `report`."""
        ...

    def paraphrases(self, question: str, n: int, report: WriterReport) -> list[str]:
        """Up to n rewordings of the question that keep its meaning."""
        ...
