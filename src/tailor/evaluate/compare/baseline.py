"""Since the baseline: this run against an earlier one (its OUT folder or report.json).

    matching      the questions both runs asked, by id and text (whitespace aside); the others are added,
                  dropped, or reworded (same id, other text: not paired)
    differences   per arm and metric, this run minus the baseline on the matched questions: the paired
                  bootstrap CI of `stats.compare_paired`; a change whose CI includes 0 is a tie
    verdict       the recommendation before and after, and the rule that decides it now
    fingerprints  what the answers depend on (base model, KB version and content, each adapter's training
                  data hash, each arm's prompt template) that differs between the two runs
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tailor.evaluate.compare.answering import ArmAnswers
from tailor.evaluate.compare.questions import Question
from tailor.evaluate.compare.stats import compare_paired

Report = dict[str, Any]
LOWER_IS_BETTER = frozenset({"abstain_wrong", "leak_rate"})


@dataclass(frozen=True)
class Asked:
    """One question of a run with every arm's scores (arm -> metric -> value)."""

    id: str
    question: str
    scores: Mapping[str, Mapping[str, float]]

    @property
    def key(self) -> tuple[str, str]:
        return self.id, " ".join(self.question.split())


@dataclass(frozen=True)
class Baseline:
    source: Path  # its report.json
    report: Report
    asked: list[Asked]


def load_baseline(path: Path) -> Baseline:
    """The baseline's report.json (a compare OUT folder or the file itself), read before this run can overwrite
    it; errors name the path."""
    path = Path(path)
    file = path / "report.json" if path.is_dir() else path
    if not file.is_file():
        raise FileNotFoundError(f"--baseline {path}: no report.json there (a compare OUT folder or its report.json)")
    try:
        report = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"--baseline {file}: not a readable report.json ({exc})") from exc
    if not isinstance(report, dict) or not isinstance(report.get("per_question"), list):
        raise ValueError(f"--baseline {file}: not a tailor compare report (no per_question rows)")
    return Baseline(file, report, asked_in_report(report, f"--baseline {file}"))


def asked_in_report(report: Report, where: str = "report.json") -> list[Asked]:
    """The per-question rows of a report.json (numeric scores only); a row without an id or question is an
    error naming it."""
    found = []
    for i, row in enumerate(report["per_question"]):
        if not isinstance(row, dict) or not isinstance(row.get("id"), str | int) or not isinstance(
                row.get("question"), str) or not isinstance(row.get("answers") or {}, dict):
            raise ValueError(f"{where}: /per_question/{i} is not a question row (id, question, answers)")
        scores = {arm: {m: float(v) for m, v in ((answer or {}).get("scores") or {}).items()
                        if isinstance(v, int | float) and not isinstance(v, bool)}
                  for arm, answer in (row.get("answers") or {}).items() if isinstance(answer, dict)}
        found.append(Asked(str(row["id"]), row["question"], scores))
    return found


def asked_in_run(questions: Sequence[Question], answers: Mapping[str, ArmAnswers]) -> list[Asked]:
    """This run's questions with the scores its arms gave them (as assembled, before report.json)."""
    return [Asked(q.id, q.question, {arm: found[q.id].scores for arm, found in answers.items() if q.id in found})
            for q in questions]


@dataclass(frozen=True)
class Matching:
    pairs: list[tuple[Asked, Asked]]  # (baseline, this run)
    added: list[str]
    dropped: list[str]
    reworded: list[str]


def match(before: Sequence[Asked], after: Sequence[Asked]) -> Matching:
    old = {q.key: q for q in before}
    old_ids, new_ids = {q.id for q in before}, {q.id for q in after}
    return Matching(
        pairs=[(old[q.key], q) for q in after if q.key in old],
        added=[q.id for q in after if q.id not in old_ids],
        dropped=[q.id for q in before if q.id not in new_ids],
        reworded=[q.id for q in after if q.id in old_ids and q.key not in old],
    )


def change_of(metric: str, low: float, high: float) -> str:
    """'better', 'worse' or 'tie' (the CI includes 0), for a metric where higher is better unless listed."""
    if low <= 0 <= high:
        return "tie"
    up = low > 0
    return "better" if up != (metric in LOWER_IS_BETTER) else "worse"


def differences(pairs: Sequence[tuple[Asked, Asked]], arms: Sequence[str], resamples: int, seed: int,
                primary: str = "accuracy") -> list[dict[str, Any]]:
    """Per arm and metric (the primary one first), this run minus the baseline on the matched questions both
    scored."""
    found = []
    for arm in arms:
        metrics = sorted({m for old, new in pairs for m in old.scores.get(arm, {}) if m in new.scores.get(arm, {})},
                         key=lambda m: (m != primary, m))
        for metric in metrics:
            both = [(old.scores[arm][metric], new.scores[arm][metric]) for old, new in pairs
                    if metric in old.scores.get(arm, {}) and metric in new.scores.get(arm, {})]
            before, after = [b for b, _ in both], [a for _, a in both]
            paired = compare_paired(arm, arm, metric, after, before, resamples, seed)
            if paired is None:
                continue
            found.append({"arm": arm, "metric": metric, "before": sum(before) / len(before),
                          "after": sum(after) / len(after), "diff": paired.diff, "low": paired.low,
                          "high": paired.high, "p_value": paired.p_value, "n": paired.n,
                          "change": change_of(metric, paired.low, paired.high)})
    return found


def deciding_rule(report: Report) -> dict[str, Any] | None:
    """The first deciding rule that fired (the one the verdict comes from), or None."""
    rules = (report.get("recommendation") or {}).get("rules") or []
    return next((r for r in rules if r.get("fired") and r.get("decides")), None)


def verdict_change(before: Report, after: Report) -> dict[str, Any]:
    old, new = before.get("recommendation") or {}, after.get("recommendation") or {}
    rule, old_rule = deciding_rule(after), deciding_rule(before)
    return {"before": old.get("verdict"), "after": new.get("verdict"),
            "changed": old.get("verdict") != new.get("verdict"),
            "decided_by": rule["name"] if rule else None, "because": rule["because"] if rule else None,
            "decided_by_before": old_rule["name"] if old_rule else None}


def prompt_fingerprints(plans: Sequence[Any]) -> dict[str, str]:
    """Each language-model arm's prompt template as `name@sha256[:12]` of its file (the extractive reader has
    none). `plans` are compare's ArmPlans."""
    from tailor.generate.prompts import load_template
    from tailor.generate.strategies import STRATEGIES

    found = {}
    for plan in plans:
        if plan.skip_reason or plan.generator == "extractive" or plan.config.strategy not in STRATEGIES:
            continue
        name = (plan.config.template or plan.fingerprint.get("model_settings", {}).get("template")
                or STRATEGIES[plan.config.strategy].template)
        try:
            text = Path(load_template(name).filename or "").read_bytes()
        except (OSError, ValueError):
            found[plan.name] = f"{name}@unreadable"
            continue
        found[plan.name] = f"{name}@{hashlib.sha256(text).hexdigest()[:12]}"
    return found


def fingerprints(report: Report) -> dict[str, str]:
    """What a run's answers depend on, read from its report.json (the names are the keys)."""
    config, base, kb = report.get("config") or {}, report.get("base_model") or {}, report.get("kb") or {}
    found: dict[str, Any] = {"base_model": config.get("base_model"),
                             "base_model_build": Path(base["path"]).name if base.get("path") else None,
                             "kb_version": kb.get("version"), "kb_content": (kb.get("fingerprint") or "")[:12] or None}
    for arm in report.get("arms") or []:
        data_hash = (arm.get("adapter") or {}).get("dataset_hash")
        found[f"adapter_data.{arm.get('name')}"] = data_hash[:12] if data_hash else None
    for arm, prompt in (report.get("prompts") or {}).items():
        found[f"prompt.{arm}"] = prompt
    return {name: str(value) for name, value in found.items() if value is not None}


def fingerprint_changes(before: Report, after: Report) -> list[dict[str, str | None]]:
    old, new = fingerprints(before), fingerprints(after)
    return [{"name": name, "before": old.get(name), "after": new.get(name)}
            for name in dict.fromkeys([*new, *old]) if old.get(name) != new.get(name)]


def ran_arms(report: Report) -> list[str]:
    return [a["name"] for a in report.get("arms") or [] if a.get("name") and a.get("status", "ran") == "ran"]


def since_baseline(found: Baseline, report: Report, asked: Sequence[Asked], resamples: int,
                   seed: int) -> dict[str, Any]:
    """report.json's "baseline" section: this run (`report`, its questions `asked`) against the baseline."""
    baseline = found.report
    matching = match(found.asked, asked)
    old_arms, new_arms = ran_arms(baseline), ran_arms(report)
    both = [arm for arm in new_arms if arm in old_arms]
    return {
        "source": str(found.source),
        "created_at": baseline.get("created_at"),
        "revision": baseline.get("revision"),
        "primary_metric": report.get("primary_metric"),
        "questions": {"matched": len(matching.pairs), "added": matching.added, "dropped": matching.dropped,
                      "reworded": matching.reworded},
        "arms": {"added": [a for a in new_arms if a not in old_arms],
                 "dropped": [a for a in old_arms if a not in new_arms],
                 "skipped": {a["name"]: a.get("skip_reason") for a in report.get("arms") or []
                             if a.get("status") == "skipped" and a.get("name") in old_arms}},
        "differences": differences(matching.pairs, both, resamples, seed, report.get("primary_metric", "accuracy")),
        "verdict": verdict_change(baseline, report),
        "fingerprints": fingerprint_changes(baseline, report),
    }
