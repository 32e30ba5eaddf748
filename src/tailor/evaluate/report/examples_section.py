"""The report's examples section: the split, the label set and what each arm was shown (compare on examples)."""

from __future__ import annotations

from dataclasses import dataclass

from tailor.evaluate.report.fields import Estimate, Number, ReportField


@dataclass(frozen=True)
class ExamplesSection:
    source: str
    input: str
    output: str
    split: list[tuple[str, Number]]
    labels: list[str]
    seen: list[tuple[str, str]]  # (arm, what it was shown and trained on)
    out_of_set: list[tuple[str, Estimate | None]]  # (arm, share of answers naming no label of the set)
    errors: list[tuple[str, str]]


def examples_section(report: ReportField) -> ExamplesSection | None:
    block = report.field("examples")
    if not block.present:
        return None
    metrics = report.field("metrics")
    seen = [(arm, entry.text()) for arm, entry in block.field("arms").entries()]
    labels = block.field("labels").texts() if block.field("labels").value is not None else []
    return ExamplesSection(
        source=block.field("source").text(),
        input=block.field("input").text(),
        output=block.field("output").text(),
        split=[(part, number) for part, entry in block.field("split").entries()
               if isinstance(entry.value, int) and (number := entry.number("count", "examples_split")) is not None],
        labels=labels,
        seen=seen,
        out_of_set=[(arm, metrics.field(arm).field("out_of_set").estimate("out_of_set", arm)) for arm, _ in seen
                    if labels and metrics.field(arm).present],
        errors=[(e.field("path").text(), e.field("reason").text()) for e in block.field("errors").elements()],
    )
