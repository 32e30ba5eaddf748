"""The recommendation: rules written down here, each fed by the run's measurements, printed with the report.

The rules decide from the measurements only, never from what kind of task ran: the best arm of each
strategy is compared with the others on the primary metric (a paired test; a difference inside the 95%
interval is a tie). Fine-tuning when it beats retrieval beyond the interval (or wins the declared format at
a tied primary metric), the hybrid when it beats both, retrieval otherwise. Cost per 1,000 queries, p50
latency and the time to absorb new data are stated beside the verdict: they may explain a tie, never
overturn a win. The verdict comes from the first deciding rule that fired, in the order of `RULES`; the
cautions never decide, they qualify, and a verdict whose arm does not beat the bare model (closed book)
beyond the interval says that no adaptation helped. The same rules then run with semantic match (a
paraphrase-accepting correctness score, `semantic.py`) in place of the primary metric: where they pick
another verdict, arm or answer on adaptation, the recommendation says the verdict depends on the metric.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

Report = dict[str, Any]


@dataclass(frozen=True)
class Finding:
    fired: bool
    because: str
    arm: str | None = None  # the arm a deciding rule recommends


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


def _outcome(report: Report, a: str, b: str, metric: str) -> str:
    found = _winner(report, a, b, metric)
    if found is False:
        return "not compared (no question scored by both)"
    return "a tie inside the 95% interval" if found is None else f"{found} wins beyond the 95% interval"


def _describe(report: Report, name: str) -> str:
    """The arm by name and by what it is: 'rag_extractive (retrieval, extractive reader: no LLM)'."""
    arm = next((a for a in report["arms"] if a["name"] == name), {})
    reader = "extractive reader: no LLM" if arm.get("generator") == "extractive" else "the model"
    what = {"rag": f"retrieval, {reader}", "finetuned": "the fine-tuned adapter",
            "hybrid": "retrieval with the fine-tuned adapter", "closed_book": "the bare model"}
    return f"{name} ({what.get(arm.get('strategy', ''), arm.get('strategy', 'arm'))})"


def _fresh_after(report: Report) -> dict[str, float]:
    """Each arm's share of the change set's questions answered right after the update (the new fact stated, or
    the new examples' output given); empty when no probe ran."""
    arms = (report.get("freshness") or {}).get("arms") or {}
    return {arm: probe["after"]["mean"] for arm, probe in arms.items() if probe.get("after")}


def hybrid_beats_both(report: Report) -> Finding:
    metric = report["primary_metric"]
    hybrid, rag, tuned = _best(report, "hybrid"), _best(report, "rag"), _best(report, "finetuned")
    if not hybrid or not (rag or tuned):
        return Finding(False, "needs a hybrid arm and a RAG or fine-tuned arm")
    rivals = [arm for arm in (rag, tuned) if arm]
    wins = all(_winner(report, hybrid, arm, metric) == hybrid for arm in rivals)
    numbers = "; ".join(_mean(report, arm, metric) for arm in (hybrid, *rivals))
    return Finding(wins, f"{metric}: {numbers}; hybrid {'beats' if wins else 'does not beat'} every other arm "
                         "beyond the 95% interval", hybrid)


def finetune_wins_correctness(report: Report) -> Finding:
    metric = report["primary_metric"]
    rag, tuned = _best(report, "rag"), _best(report, "finetuned")
    if not rag or not tuned:
        return Finding(False, "needs a RAG arm and a fine-tuned arm")
    wins = _winner(report, tuned, rag, metric) == tuned
    return Finding(wins, f"{metric}: {_mean(report, tuned, metric)} vs {_mean(report, rag, metric)}: "
                         f"{_outcome(report, tuned, rag, metric)}", tuned)


def finetune_wins_format(report: Report) -> Finding:
    metric = report["primary_metric"]
    rag, tuned = _best(report, "rag"), _best(report, "finetuned")
    if not rag or not tuned or not report.get("format"):
        return Finding(False, "needs a declared answer format, a RAG arm and a fine-tuned arm")
    format_win = _winner(report, tuned, rag, "format_adherence") == tuned
    tie = _winner(report, tuned, rag, metric) is None
    return Finding(format_win and tie, f"format adherence {_mean(report, tuned, 'format_adherence')} vs "
                   f"{_mean(report, rag, 'format_adherence')}: {_outcome(report, tuned, rag, 'format_adherence')}; "
                   f"{metric}: {_outcome(report, tuned, rag, metric)}", tuned)


def rag_ties_or_wins(report: Report) -> Finding:
    metric = report["primary_metric"]
    rag, tuned = _best(report, "rag"), _best(report, "finetuned")
    if not rag:
        return Finding(False, f"needs a RAG arm measured on {metric}")
    if not tuned:
        return Finding(True, f"no fine-tuned arm ran; {_mean(report, rag, metric)}", rag)
    outcome = _winner(report, rag, tuned, metric)
    after = _fresh_after(report)
    changes = f"after the change set, its questions answered right: {rag} {after[rag]:.2f} vs {tuned} {after[tuned]:.2f}" \
        if rag in after and tuned in after else "no freshness probe ran"
    return Finding(outcome in (None, rag), f"{metric}: {_mean(report, rag, metric)} vs {_mean(report, tuned, metric)}: "
                   f"{_outcome(report, rag, tuned, metric)}; {changes}", rag)


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
         "Fine-tuning beats RAG on the primary metric beyond the CI: fine-tune (latency and cost never overturn a "
         "win).", "finetune", finetune_wins_correctness),
    Rule("finetune_wins_format",
         "Fine-tuning wins on the declared format beyond the CI while the primary metric ties: fine-tune for form.",
         "finetune", finetune_wins_format),
    Rule("rag_ties_or_wins", "Otherwise retrieval: fine-tuning does not beat RAG beyond the CI: use RAG.", "rag",
         rag_ties_or_wins),
    Rule("adapter_leaks", "An adapter states or holds restricted facts for callers without access (caution).", None,
         adapter_leaks),
    Rule("adapter_forgets", "An adapter degrades general text modelling (caution).", None, adapter_forgets),
)

NO_ADAPTATION = ("no_adaptation_helped", "The recommended arm does not beat the bare model (closed book) beyond the "
                 "CI: no adaptation helped (caution, checked once the verdict is known).")


def _headline(report: Report, rule: str, arm: str) -> str:
    metric = report["primary_metric"]
    rag, tuned = _best(report, "rag"), _best(report, "finetuned")
    named = _describe(report, arm)
    if rule == "hybrid_beats_both":
        return f"Use both: {named} beats the best RAG and fine-tuned arms on {metric} beyond the noise."
    if rule == "finetune_wins_correctness":
        return f"Fine-tune: {named} beats retrieval ({_describe(report, rag)}) on {metric} beyond the noise."
    if rule == "finetune_wins_format":
        return (f"Fine-tune for form: {named} holds the declared format beyond the noise while {metric} ties "
                f"with retrieval ({_describe(report, rag)}).")
    if tuned is None:
        relation = "no fine-tuned arm ran"
    elif _winner(report, arm, tuned, metric) == arm:
        relation = f"it beats fine-tuning ({tuned}) on {metric}"
    else:
        relation = f"fine-tuning ({tuned}) does not beat it on {metric} beyond the noise"
    after = _fresh_after(report)
    fresher = tuned is not None and arm in after and tuned in after and after[arm] > after[tuned]
    stays = (f", and it stays fresh: {after[arm]:.2f} of the change set answered right after re-indexing vs "
             f"{after[tuned]:.2f}") if fresher else ""
    return f"Use RAG: {named}; {relation}{stays}."


def _versus_closed_book(report: Report, arm: str) -> Finding | None:
    """Whether the recommended arm beats the bare model beyond the CI (None: no closed-book arm to compare)."""
    metric = report["primary_metric"]
    closed = _best(report, "closed_book")
    if closed is None or arm == closed:
        return None
    outcome = _winner(report, arm, closed, metric)
    return Finding(outcome != arm, f"{metric}: {_mean(report, arm, metric)} vs the bare model "
                                   f"{_mean(report, closed, metric)}: {_outcome(report, arm, closed, metric)}")


def _absorb(report: Report, arm: str) -> str | None:
    """How long the arm took to absorb the change set (re-index, retrain), when the freshness probe ran."""
    probe = ((report.get("freshness") or {}).get("arms") or {}).get(arm)
    if probe is None:
        return None
    strategy = next(a["strategy"] for a in report["arms"] if a["name"] == arm)
    how = {"rag": "re-index", "finetuned": "retrain", "hybrid": "re-index + retrain"}.get(strategy, "update")
    if probe.get("time_to_fresh_measured") and probe.get("time_to_fresh_s") is not None:
        return f"absorbs new data in {_seconds(probe['time_to_fresh_s'])} ({how}, measured)"
    estimate = (report.get("cost") or {}).get(arm, {}).get("per_update_seconds")
    if estimate is not None:
        return f"absorbs new data in ~{_seconds(estimate)} ({how}, estimated from its training: run --retrain to measure)"
    return f"stale until it is retrained ({how})"


def _seconds(value: float) -> str:
    return f"{value:.1f} s" if value < 100 else f"{value:.0f} s"


def _money(value: float) -> str:
    """Three significant digits, never in exponent form (0.00103, 0.0150, 12.50)."""
    return f"{value:.{max(2, 2 - math.floor(math.log10(value)))}f}" if value > 0 else "0.00"


def beside(report: Report, arm: str) -> str:
    """Cost per 1,000 queries, p50 latency and time to absorb new data of the recommended arm, the arms of its
    strategy that tie it, and the best arm of each other adapted strategy: what the verdict costs, stated
    beside it (a cheaper arm that ties is a choice the verdict leaves open)."""
    metric = report["primary_metric"]
    strategy = next(a["strategy"] for a in report["arms"] if a["name"] == arm)
    tied = [a for a in _arms(report, strategy) if a != arm and _winner(report, a, arm, metric) is None]
    others = [best for s in ("rag", "finetuned", "hybrid") if s != strategy and (best := _best(report, s))]
    currency = (report.get("prices") or {}).get("currency", "")
    parts = []
    for name in (arm, *tied, *others):
        found = []
        cost = ((report.get("cost") or {}).get(name) or {}).get("per_1000_queries")
        if cost is not None:
            found.append(f"{_money(cost)} {currency} per 1,000 queries".replace("  ", " "))
        p50 = (report.get("latency") or {}).get(name, {}).get("total", {}).get("p50")
        if p50 is not None:
            found.append(f"p50 {p50:.0f} ms")
        if absorb := _absorb(report, name):
            found.append(absorb)
        if found:
            parts.append(f"{name}{f' (ties {arm} on {metric})' if name in tied else ''}: " + ", ".join(found))
    if not (report.get("freshness") or {}).get("arms"):
        parts.append("time to absorb new data not measured (no change set)")
    return "; ".join(parts)


def recommend(report: Report) -> dict[str, Any]:
    """The verdict on the primary metric, and whether it holds when semantic match decides instead."""
    verdict = verdict_on_primary(report)
    return {**verdict, **metric_dependence(report, verdict)}


SECOND_METRIC = "semantic_match"
_SAID = {"rag": "use RAG", "finetune": "fine-tune", "hybrid": "use both", "no_clear_winner": "no clear winner"}


def _said(verdict: dict[str, Any]) -> str:
    arm = f" ({verdict['arm']})" if verdict["arm"] else ""
    bare = ", though no adaptation beats the bare model" if verdict["adaptation_helped"] is False else ""
    return f"{_SAID.get(verdict['verdict'], verdict['verdict'])}{arm}{bare}"


def metric_dependence(report: Report, verdict: dict[str, Any], metric: str = SECOND_METRIC) -> dict[str, Any]:
    """The same rules run with `metric` in place of the primary metric: the verdict they give there, and whether
    it differs from `verdict` in recommendation, arm or whether adaptation helped (a verdict one reasonable
    metric gives and another takes away must say so). Nothing to check when the run has no such metric."""
    primary = report["primary_metric"]
    if metric == primary or not any(metric in scores for scores in report["metrics"].values()):
        return {f"under_{metric}": None, "metric_dependent": False, "metric_note": ""}
    other = verdict_on_primary({**report, "primary_metric": metric})
    under = {key: other[key] for key in ("verdict", "arm", "adaptation_helped", "headline")}
    dependent = any(under[key] != verdict[key] for key in ("verdict", "adaptation_helped")) or (
        under["arm"] != verdict["arm"] and _beats(report, under["arm"], verdict["arm"], metric))
    note = (f"The verdict depends on the metric: on {primary.replace('_', ' ')}, {_said(verdict)}; on "
            f"{metric.replace('_', ' ')}, {_said(under)}.") if dependent else ""
    return {f"under_{metric}": {"metric": metric, **under}, "metric_dependent": dependent, "metric_note": note}


def _beats(report: Report, a: str | None, b: str | None, metric: str) -> bool:
    """Whether arm a beats arm b beyond the CI on `metric`. The other metric naming another arm of one verdict
    changes the recommendation only then: an arm it merely ties with the recommended one (the handbook's
    rag_extractive and rag, 0.593 each on accuracy, swap places on semantic match) is a toss-up, not a
    reversal."""
    return a is not None and b is not None and _winner(report, a, b, metric) == a


def verdict_on_primary(report: Report) -> dict[str, Any]:
    """The verdict, its arm, what it costs, and every rule's finding, in plain words with their numbers."""
    findings = []
    decided: tuple[Rule, Finding] | None = None
    for rule in RULES:
        finding = rule.check(report)
        findings.append({"name": rule.name, "description": rule.description, "decides": rule.verdict,
                         "fired": finding.fired, "because": finding.because})
        if finding.fired and rule.verdict and decided is None:
            decided = (rule, finding)
    if decided is None:
        return {"verdict": "no_clear_winner", "arm": None, "adaptation_helped": None, "beside": "",
                "headline": f"No verdict: {rag_ties_or_wins(report).because}.",
                "rules": findings}
    rule, finding = decided
    arm = finding.arm
    headline = _headline(report, rule.name, arm)
    bare = _versus_closed_book(report, arm)
    if bare is not None:
        findings.append({"name": NO_ADAPTATION[0], "description": NO_ADAPTATION[1], "decides": None,
                         "fired": bare.fired, "because": bare.because})
        if bare.fired:
            headline = f"No adaptation helped: {arm} does not beat the bare model ({_best(report, 'closed_book')}) " \
                       f"beyond the noise. Among the adapted arms: {headline}"
    return {"verdict": rule.verdict, "arm": arm, "adaptation_helped": None if bare is None else not bare.fired,
            "beside": beside(report, arm), "headline": headline, "rules": findings}
