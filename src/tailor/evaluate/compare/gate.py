"""The gate a CI job acts on: conditions checked against the assembled report, each failure one line with
its numbers.

    regression      an arm's primary metric dropped beyond its 95% CI since the baseline (a tie never fails;
                    an arm skipped now that ran then, or no question in both runs, fails)
    verdict-change  the recommendation differs from the baseline's
    --min A.M=V     arm A's measure M is below V;  --max A.M=V: above V

A measure is a metric's mean (`accuracy`, `grounded`, ...), `p50_ms` / `p95_ms` (whole-query latency) or
`per_1000_queries` (cost). Exit codes of `tailor compare`: 0 passed, 3 the run was partial (question lines
or documents skipped) and nothing failed, 4 a condition failed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

EXIT_GATE = 4
FAIL_ON = ("regression", "verdict-change")
LATENCY = {"p50_ms": "p50", "p95_ms": "p95"}
_BOUND = re.compile(r"^(?P<arm>.+)\.(?P<measure>[A-Za-z0-9_@]+)=(?P<value>.+)$")


@dataclass(frozen=True)
class Bound:
    arm: str
    measure: str
    value: float
    kind: str  # "min" or "max"

    @classmethod
    def parse(cls, text: str, kind: str) -> Bound:
        found = _BOUND.match(text.strip())
        if not found:
            raise ValueError(f"--{kind} {text!r}: expected ARM.MEASURE=VALUE, e.g. rag.accuracy=0.55")
        try:
            value = float(found["value"])
        except ValueError:
            raise ValueError(f"--{kind} {text!r}: {found['value']!r} is not a number") from None
        return cls(found["arm"], found["measure"], value, kind)

    def __str__(self) -> str:
        return f"--{self.kind} {self.arm}.{self.measure}={self.value:g}"


@dataclass(frozen=True)
class Gate:
    fail_on: frozenset[str] = frozenset()
    bounds: tuple[Bound, ...] = field(default_factory=tuple)

    @property
    def active(self) -> bool:
        return bool(self.fail_on or self.bounds)

    def check(self, report: dict[str, Any]) -> list[str]:
        """One line per failed condition, with its numbers; empty when the gate passes."""
        failures = []
        baseline = report.get("baseline")
        if self.fail_on and baseline is None:
            failures.append(f"--fail-on {', '.join(sorted(self.fail_on))}: no baseline to compare with (--baseline)")
        elif baseline is not None:
            if "regression" in self.fail_on:
                failures += regressions(baseline)
            if "verdict-change" in self.fail_on and baseline["verdict"]["changed"]:
                failures.append(verdict_line(baseline["verdict"]))
        failures += [line for bound in self.bounds if (line := bound_failure(report, bound))]
        return failures


def regressions(baseline: dict[str, Any]) -> list[str]:
    """Each arm whose primary metric dropped beyond its CI; an arm that ran in the baseline and was skipped now,
    and a run sharing no question with the baseline, cannot show it did not regress: they fail too."""
    metric, asked = baseline["primary_metric"], baseline["questions"]
    if not asked["matched"]:
        return [f"regression: no question was asked by both runs ({len(asked['added'])} added, "
                f"{len(asked['dropped'])} dropped): nothing to compare"]
    lines = [f"regression: {arm} ran in the baseline and was skipped in this run ({reason})"
             for arm, reason in baseline["arms"].get("skipped", {}).items()]
    return lines + [f"regression: {d['arm']} {metric} {d['before']:.3f} -> {d['after']:.3f}, difference "
                    f"{d['diff']:+.3f} [{d['low']:+.3f}, {d['high']:+.3f}] (95% CI, {d['n']} questions in both runs)"
                    for d in baseline["differences"] if d["metric"] == metric and d["change"] == "worse"]


def verdict_line(verdict: dict[str, Any]) -> str:
    rule = f"now decided by {verdict['decided_by']}: {verdict['because']}" if verdict["decided_by"] else \
        "no deciding rule fired"
    return f"verdict changed: {verdict['before']} -> {verdict['after']} ({rule})"


def measured(report: dict[str, Any], arm: str, measure: str) -> tuple[float | None, str]:
    """The value of `measure` for `arm` and how to print it (with its CI for a metric)."""
    if measure in LATENCY:
        value = ((report.get("latency") or {}).get(arm) or {}).get("total", {}).get(LATENCY[measure])
        return value, f"{value:.1f} ms" if value is not None else ""
    if measure == "per_1000_queries":
        value = ((report.get("cost") or {}).get(arm) or {}).get(measure)
        currency = (report.get("prices") or {}).get("currency", "")
        return value, f"{value:.4f} {currency}".strip() if value is not None else ""
    estimate = ((report.get("metrics") or {}).get(arm) or {}).get(measure)
    if not estimate:
        return None, ""
    return estimate["mean"], f"{estimate['mean']:.3f} [{estimate['low']:.3f}, {estimate['high']:.3f}]"


def bound_failure(report: dict[str, Any], bound: Bound) -> str | None:
    value, shown = measured(report, bound.arm, bound.measure)
    if value is None:
        arms = {a["name"]: a for a in report.get("arms") or []}
        arm = arms.get(bound.arm)
        why = (f"arm {bound.arm} skipped: {arm.get('skip_reason')}" if arm and arm.get("status") == "skipped"
               else f"no arm {bound.arm!r}; arms: {sorted(arms)}" if arm is None
               else f"{bound.arm} has no {bound.measure!r}; it has "
                    f"{sorted([*((report.get('metrics') or {}).get(bound.arm) or {}), *LATENCY, 'per_1000_queries'])}")
        return f"{bound}: not measured ({why})"
    if (bound.kind == "min" and value < bound.value) or (bound.kind == "max" and value > bound.value):
        return f"{bound}: {bound.arm} {bound.measure} {shown} is {'below' if bound.kind == 'min' else 'above'} " \
               f"{bound.value:g}"
    return None
