"""The recommendation: rules written down here, each fed by the run's measurements, printed with the report.

A rule reads the assembled report (metrics with CIs, paired comparisons, freshness, latency, format,
leak and forgetting probes) and says whether it fired and why, with the numbers. The verdict comes from
the first deciding rule that fired, in the order of `RULES`; the cautions never decide, they qualify.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

Report = dict[str, Any]


@dataclass(frozen=True)
class Finding:
    fired: bool
    because: str


@dataclass(frozen=True)
class Rule:
    name: str
    description: str
    verdict: str | None  # None: a caution, it never decides
    check: Callable[[Report], Finding]


def _arms(report: Report, strategy: str) -> list[str]:
    return [a["name"] for a in report["arms"] if a["strategy"] == strategy and a["name"] in report["metrics"]]


def _best(report: Report, strategy: str, metric: str | None = None) -> str | None:
    metric = metric or report["primary_metric"]
    arms = [a for a in _arms(report, strategy) if report["metrics"][a].get(metric)]
    return max(arms, key=lambda a: report["metrics"][a][metric]["mean"], default=None)


def _mean(report: Report, arm: str, metric: str) -> str:
    m = report["metrics"][arm].get(metric)
    return f"{arm} {m['mean']:.3f} [{m['low']:.3f}, {m['high']:.3f}]" if m else f"{arm} n/a"


def _winner(report: Report, a: str, b: str, metric: str) -> str | None | bool:
    """The winner of a vs b on metric; None for a tie; False when they were not compared."""
    for c in report["comparisons"]:
        if c["metric"] == metric and {c["a"], c["b"]} == {a, b}:
            return c["winner"]
    return False


def _p50(report: Report, arm: str) -> float:
    return report["latency"].get(arm, {}).get("total", {}).get("p50", float("nan"))


def hybrid_beats_both(report: Report) -> Finding:
    metric = report["primary_metric"]
    hybrid, rag, tuned = _best(report, "hybrid"), _best(report, "rag"), _best(report, "finetuned")
    if not hybrid or not (rag or tuned):
        return Finding(False, "needs a hybrid arm and a RAG or fine-tuned arm")
    rivals = [arm for arm in (rag, tuned) if arm]
    wins = [_winner(report, hybrid, arm, metric) == hybrid for arm in rivals]
    numbers = "; ".join(_mean(report, arm, metric) for arm in (hybrid, *rivals))
    return Finding(all(wins), f"{metric}: {numbers}; hybrid {'beats' if all(wins) else 'does not beat'} "
                              "every other arm beyond the 95% interval")


def finetune_wins_correctness(report: Report) -> Finding:
    metric = report["primary_metric"]
    rag, tuned = _best(report, "rag"), _best(report, "finetuned")
    if not rag or not tuned:
        return Finding(False, "needs a RAG arm and a fine-tuned arm")
    wins = _winner(report, tuned, rag, metric) == tuned
    faster = _p50(report, tuned) < _p50(report, rag)
    return Finding(wins and faster, f"{metric}: {_mean(report, tuned, metric)} vs {_mean(report, rag, metric)} "
                   f"({'beyond' if wins else 'not beyond'} the CI); p50 latency {_p50(report, tuned):.1f} ms vs "
                   f"{_p50(report, rag):.1f} ms")


def finetune_wins_format(report: Report) -> Finding:
    metric = report["primary_metric"]
    rag, tuned = _best(report, "rag"), _best(report, "finetuned")
    if not rag or not tuned or not report.get("format"):
        return Finding(False, "needs a declared answer format, a RAG arm and a fine-tuned arm")
    format_win = _winner(report, tuned, rag, "format_adherence") == tuned
    tie = _winner(report, tuned, rag, metric) in (None, tuned)
    return Finding(format_win and tie, f"format adherence {_mean(report, tuned, 'format_adherence')} vs "
                   f"{_mean(report, rag, 'format_adherence')}; {metric} "
                   f"{'ties or favours fine-tuning' if tie else 'favours RAG'}")


def rag_ties_or_wins(report: Report) -> Finding:
    metric = report["primary_metric"]
    rag, tuned = _best(report, "rag"), _best(report, "finetuned")
    if not rag:
        return Finding(False, "needs a RAG arm")
    if not tuned:
        closed = _best(report, "closed_book")
        beats = closed is not None and _winner(report, rag, closed, metric) == rag
        return Finding(beats, f"no fine-tuned arm ran; {_mean(report, rag, metric)}"
                       + (f" vs closed book {_mean(report, closed, metric)}" if closed else ""))
    outcome = _winner(report, rag, tuned, metric)
    holds = outcome in (None, rag)
    fresh = report.get("freshness") or {}
    after = {arm: probe["after"]["mean"] for arm, probe in fresh.get("arms", {}).items() if probe.get("after")}
    fresher = rag in after and tuned in after and after[rag] > after[tuned]
    changes = f"after the change set, new facts stated: {rag} {after[rag]:.2f} vs {tuned} {after[tuned]:.2f}" \
        if rag in after and tuned in after else "no freshness probe ran"
    return Finding(holds and (fresher or not after),
                   f"{metric}: {_mean(report, rag, metric)} vs {_mean(report, tuned, metric)} "
                   f"({'RAG wins' if outcome == rag else 'tie' if outcome is None else 'fine-tuning wins'}); {changes}")


def adapter_leaks(report: Report) -> Finding:
    leak = report.get("leak") or {}
    if not leak:
        return Finding(False, "no question is answerable only from restricted documents")
    rates = {arm: p["leak_rate"]["mean"] for arm, p in leak.get("arms", {}).items() if p.get("leak_rate")}
    adapted = {arm for arm, p in leak.get("arms", {}).items() if p.get("adapter_groups") is not None}
    # An arm without an adapter cannot leak through weights and its retrieval is filtered: what it states of a
    # restricted answer is the model's guess, the level an adapter arm must exceed to count as leaking.
    guessed = max((rate for arm, rate in rates.items() if arm not in adapted), default=0.0)
    stating = {arm: rate for arm, rate in rates.items() if arm in adapted and rate > guessed}
    holding = [f"{arm} {s['gold_first']['mean']:.2f} vs base {s['gold_first_base']['mean']:.2f} ({name})"
               for arm, p in ((leak.get("weights") or {}).get("arms") or {}).items()
               for name, s in p["sets"].items() if s["carries_restricted_facts"]]
    found = []
    if stating:
        level = f" (arms without an adapter, guessing: {guessed:.2f})" if guessed else ""
        found.append("restricted facts stated: " + ", ".join(f"{arm} {rate:.2f}" for arm, rate in stating.items())
                     + level)
    if holding:
        found.append("the weights rank the restricted answer first beyond the base model: " + ", ".join(holding))
    if not found:
        stated = f"at most as often as arms without one ({guessed:.2f}, the model's guesses)" if guessed else "none"
        return Finding(False, f"restricted answers stated by adapter arms to a caller with groups "
                              f"{leak['caller_groups']}: {stated}; no adapter's weights favour restricted answers "
                              "beyond its base model")
    return Finding(True, f"to a caller with groups {leak['caller_groups']}: " + "; ".join(found) + "; train with "
                         "`tailor finetune --groups` limited to what every caller of the adapter may read")


def adapter_forgets(report: Report) -> Finding:
    forgetting = report.get("forgetting") or {}
    worse = {arm: p["perplexity_change"] for arm, p in forgetting.get("arms", {}).items()
             if p.get("perplexity_change") and p["perplexity_change"]["low"] > 0}
    if not forgetting:
        return Finding(False, "no forgetting probe ran")
    if not worse:
        return Finding(False, "no adapter raised general-text perplexity beyond the 95% interval")
    listed = ", ".join(f"{arm} +{c['mean']:.1%}" for arm, c in worse.items())
    return Finding(True, f"general-text perplexity rose with the adapter: {listed}")


RULES: tuple[Rule, ...] = (
    Rule("hybrid_beats_both", "Hybrid (adapter + retrieval) beats both RAG and fine-tuning beyond the CI: use both.",
         "hybrid", hybrid_beats_both),
    Rule("finetune_wins_correctness",
         "Fine-tuning beats RAG on correctness beyond the CI and answers faster: fine-tune.", "finetune",
         finetune_wins_correctness),
    Rule("finetune_wins_format",
         "Fine-tuning wins on the declared format beyond the CI while correctness ties: fine-tune for form.",
         "finetune", finetune_wins_format),
    Rule("rag_ties_or_wins",
         "RAG ties or beats fine-tuning on correctness and is fresher after the change set: use RAG.", "rag",
         rag_ties_or_wins),
    Rule("adapter_leaks", "An adapter states or holds restricted facts for callers without access (caution).", None,
         adapter_leaks),
    Rule("adapter_forgets", "An adapter degrades general text modelling (caution).", None, adapter_forgets),
)

HEADLINES = {
    "hybrid": "Use both: retrieval with a fine-tuned adapter wins on this data.",
    "finetune": "Fine-tune: the adapter wins on this data.",
    "rag": "Use RAG: retrieval matches or beats fine-tuning here and stays fresh.",
    "no_clear_winner": "No clear winner: the differences are inside the noise; pick the cheaper arm.",
}


def recommend(report: Report) -> dict[str, Any]:
    """The verdict and every rule's finding, in plain words with their numbers."""
    findings = []
    verdict = None
    for rule in RULES:
        finding = rule.check(report)
        findings.append({"name": rule.name, "description": rule.description, "decides": rule.verdict,
                         "fired": finding.fired, "because": finding.because})
        if finding.fired and rule.verdict and verdict is None:
            verdict = rule.verdict
    verdict = verdict or "no_clear_winner"
    return {"verdict": verdict, "headline": HEADLINES[verdict], "rules": findings}
