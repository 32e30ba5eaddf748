"""The report's "since the baseline" section and the history of runs in OUT, read from report.json.

Each builder returns None when report.json has nothing for it; the history needs two runs to be a trend.
"""

from __future__ import annotations

from dataclasses import dataclass

from tailor.evaluate.report.fields import Estimate, Number, ReportField

SHOWN_IDS = 20  # question ids listed per kind; report.json has them all


@dataclass(frozen=True)
class Difference:
    arm: str
    metric: str
    before: Number | None
    after: Number | None
    diff: Estimate | None  # this run minus the baseline, with its paired 95% CI
    p_value: Number | None
    change: str  # better | worse | tie


@dataclass(frozen=True)
class FingerprintChange:
    name: str
    before: str
    after: str


@dataclass(frozen=True)
class SinceBaseline:
    source: str
    created_at: str
    revision: str
    primary_metric: str
    matched: Number | None
    added: list[str]
    dropped: list[str]
    reworded: list[str]
    arms_added: list[str]
    arms_dropped: list[str]
    differences: list[Difference]
    verdict_before: str
    verdict_after: str
    verdict_changed: bool
    decided_by: str
    because: str
    fingerprints: list[FingerprintChange]

    @property
    def primary(self) -> list[Difference]:
        return [d for d in self.differences if d.metric == self.primary_metric]

    @property
    def beyond_noise(self) -> list[Difference]:
        """The other metrics' differences whose CI excludes 0."""
        return [d for d in self.differences if d.metric != self.primary_metric and d.change != "tie"]


@dataclass(frozen=True)
class HistoryRun:
    time: str
    revision: str
    verdict: str
    arms: dict[str, Estimate | None]  # the primary metric
    p50_ms: dict[str, Number | None]
    per_1000_queries: dict[str, Number | None]

    @property
    def label(self) -> str:
        """The git revision, else the date and minute."""
        return self.revision[:12] or self.time[5:16].replace("T", " ")


@dataclass(frozen=True)
class History:
    metric: str
    arms: list[str]
    runs: list[HistoryRun]  # oldest first, this run last


def since_baseline(report: ReportField) -> SinceBaseline | None:
    block = report.field("baseline")
    if not block.present:
        return None
    asked, verdict = block.field("questions"), block.field("verdict")
    differences = []
    for entry in block.field("differences").elements():
        arm, metric = entry.field("arm").required_text(), entry.field("metric").required_text()
        diff = entry.field("diff").number("signed", metric, arm, stat="difference")
        differences.append(Difference(
            arm=arm, metric=metric,
            before=entry.field("before").number("rate", metric, arm, stat="before"),
            after=entry.field("after").number("rate", metric, arm, stat="after"),
            diff=Estimate(diff, entry.field("low").number("signed", metric, arm),
                          entry.field("high").number("signed", metric, arm),
                          entry.field("n").number("count", metric, arm)) if diff else None,
            p_value=entry.field("p_value").number("p_value", metric, arm),
            change=entry.field("change").text("tie"),
        ))
    return SinceBaseline(
        source=block.field("source").text(),
        created_at=block.field("created_at").text(),
        revision=block.field("revision").text(),
        primary_metric=block.field("primary_metric").text(report.field("primary_metric").text("accuracy")),
        matched=asked.field("matched").number("count", "questions_matched"),
        added=asked.field("added").texts(),
        dropped=asked.field("dropped").texts(),
        reworded=asked.field("reworded").texts(),
        arms_added=block.field("arms").field("added").texts(),
        arms_dropped=block.field("arms").field("dropped").texts(),
        differences=differences,
        verdict_before=verdict.field("before").text(),
        verdict_after=verdict.field("after").text(),
        verdict_changed=verdict.field("changed").flag(),
        decided_by=verdict.field("decided_by").text(),
        because=verdict.field("because").text(),
        fingerprints=[FingerprintChange(e.field("name").text(), e.field("before").text("(none)"),
                                        e.field("after").text("(none)"))
                      for e in block.field("fingerprints").elements()],
    )


def history(report: ReportField) -> History | None:
    entries = report.field("history").elements()
    if len(entries) < 2:
        return None
    metric = entries[-1].field("primary_metric").text(report.field("primary_metric").text("accuracy"))
    runs = []
    for entry in entries:
        arms = dict(entry.field("arms").entries())
        runs.append(HistoryRun(
            time=entry.field("time").text(),
            revision=entry.field("revision").text(),
            verdict=entry.field("verdict").text(),
            arms={arm: e.estimate(metric, arm) for arm, e in arms.items()},
            p50_ms={arm: e.field("p50_ms").number("ms", "latency_ms", arm, stat="p50") for arm, e in arms.items()},
            per_1000_queries={arm: e.field("per_1000_queries").number("money", "cost.per_1000_queries", arm)
                              for arm, e in arms.items()},
        ))
    arms = list(dict.fromkeys(arm for run in runs for arm in run.arms))
    return History(metric, arms, runs)
