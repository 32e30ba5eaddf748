"""A trial: draw a setting, answer the development questions, return (accuracy, p50 latency, cost).

Only the development questions are ever given to a trial; each trial records their ids (`question_ids`),
so a reader of the study can check that no held-out question took part in a choice.

Early stop (honest for a front): a trial first answers a seeded slice of the dev questions. It stops there
when a finished trial dominates it beyond doubt: more accurate than the slice's 95% upper bound, and no
slower (p50) and no dearer. Such a point could not reach the front; every other trial answers all of them.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from typing import Any

import optuna

from tailor.evaluate.compare.questions import Question
from tailor.evaluate.compare.stats import estimate
from tailor.evaluate.tune.arms import TunedArm
from tailor.evaluate.tune.measure import Measure

DIRECTIONS = ["maximize", "minimize", "minimize"]  # accuracy, p50 latency (ms), cost per 1,000 queries
Suggest = Callable[[optuna.Trial], Any]


def slice_of(questions: Sequence[Question], fraction: float, seed: int) -> list[Question]:
    """A seeded share of the questions (at least 8 of them), in their order; empty when the share is 0."""
    if fraction <= 0 or len(questions) < 16:
        return []
    size = max(8, round(fraction * len(questions)))
    chosen = set(random.Random(seed).sample(range(len(questions)), size))
    return [q for i, q in enumerate(questions) if i in chosen]


def dominated_beyond_doubt(first: Measure, finished: Sequence[optuna.trial.FrozenTrial]) -> int | None:
    """The number of a finished trial that beats `first` beyond its CI at no more latency and cost, or None."""
    found = estimate(list(first.correct.values()))
    if found is None:
        return None
    for trial in finished:
        accuracy, p50, cost = trial.values
        if accuracy > found.high and p50 <= first.p50_ms and cost <= first.cost_per_1000:
            return trial.number
    return None


class Objective:
    """Optuna's objective for one arm over the development questions."""

    def __init__(self, arm: TunedArm, suggest: Suggest, dev: Sequence[Question], early_stop_fraction: float,
                 seed: int) -> None:
        self.arm = arm
        self.suggest = suggest
        self.dev = list(dev)
        self.first = slice_of(self.dev, early_stop_fraction, seed)

    def __call__(self, trial: optuna.Trial) -> tuple[float, float, float]:
        settings = self.suggest(trial)
        trial.set_user_attr("settings", settings.model_dump())
        phase = f"{self.arm.name} trial {trial.number}"
        if self.first:
            measured = self.arm.measure(settings, self.first, phase)
            finished = trial.study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
            better = dominated_beyond_doubt(measured, finished)
            if better is not None:
                self._record(trial, measured)
                trial.set_user_attr("stopped_by", better)
                raise optuna.TrialPruned(f"trial {better} beats it beyond the CI of its first "
                                         f"{len(self.first)} questions")
        measured = self.arm.measure(settings, self.dev, phase)
        self._record(trial, measured)
        return measured.accuracy, measured.p50_ms, measured.cost_per_1000

    @staticmethod
    def _record(trial: optuna.Trial, measured: Measure) -> None:
        trial.set_user_attr("question_ids", measured.question_ids)
        trial.set_user_attr("measure", measured.model_dump(exclude={"question_ids", "correct"}))
