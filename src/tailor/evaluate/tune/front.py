"""The Pareto front of a study: the finished trials no other trial beats on every objective at once."""

from __future__ import annotations

from typing import Any

import optuna
from pydantic import BaseModel


class FrontPoint(BaseModel):
    """A non-dominated setting with its development-split objectives."""

    arm: str
    rank: int  # 1 = the most accurate point of the front
    trial: int
    accuracy: float
    p50_ms: float
    cost_per_1000: float
    settings: dict[str, Any]
    defaults: bool  # the arm's untuned settings (the first trial)

    @property
    def name(self) -> str:
        return f"{self.arm}-{self.rank}"


def dominates(a: tuple[float, float, float], b: tuple[float, float, float]) -> bool:
    """a is no worse than b on every objective (accuracy up, latency and cost down) and better on one."""
    no_worse = a[0] >= b[0] and a[1] <= b[1] and a[2] <= b[2]
    return no_worse and (a[0] > b[0] or a[1] < b[1] or a[2] < b[2])


def pareto_front(arm: str, study: optuna.Study) -> list[FrontPoint]:
    """`study.best_trials` (Optuna's non-dominated set), most accurate first; ties by latency."""
    trials = sorted(study.best_trials, key=lambda t: (-t.values[0], t.values[1], t.values[2], t.number))
    return [FrontPoint(arm=arm, rank=i, trial=t.number, accuracy=t.values[0], p50_ms=t.values[1],
                       cost_per_1000=t.values[2], settings=t.user_attrs["settings"],
                       defaults=bool(t.user_attrs.get("defaults"))) for i, t in enumerate(trials, start=1)]


def trial_rows(study: optuna.Study) -> list[dict[str, Any]]:
    """Every finished trial, for the report's table and figure."""
    rows = []
    for t in study.get_trials(deepcopy=False):
        if t.state not in (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED):
            continue
        measure = t.user_attrs.get("measure", {})
        rows.append({"trial": t.number, "state": t.state.name.lower(), "values": list(t.values or []),
                     "first_slice": None if t.values else measure, "settings": t.user_attrs.get("settings"),
                     "seconds": round(t.duration.total_seconds(), 1) if t.duration else None,
                     "questions": len(t.user_attrs.get("question_ids", [])),
                     "stopped_by": t.user_attrs.get("stopped_by"), "defaults": bool(t.user_attrs.get("defaults"))})
    return rows
