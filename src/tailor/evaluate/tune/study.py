"""The Optuna study of one arm: stored in TUNE/study.sqlite, so a killed tune continues where it stopped.

The sampler is Optuna's multi-objective TPE (a few dozen trials is its range; NSGA-II's first generation
alone would take more). The defaults are enqueued as the first trial. The budget counts what earlier runs
spent: their finished trials, or their trials' time. A trial left running by a killed process is marked
failed and enqueued again (its answers are cached, so it costs little).
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import TrialState

from tailor.evaluate.tune.config import Budget
from tailor.evaluate.tune.objective import DIRECTIONS, Objective

DONE = (TrialState.COMPLETE, TrialState.PRUNED)
TrialCallback = Callable[[optuna.Study, optuna.trial.FrozenTrial], None]


def storage_url(out: Path) -> str:
    return f"sqlite:///{Path(out).resolve() / 'study.sqlite'}"


def open_study(out: Path, arm: str, seed: int, defaults: dict[str, Any]) -> optuna.Study:
    """The arm's study, created with the defaults enqueued first, or loaded to continue."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    Path(out).mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():  # multivariate and group: experimental in Optuna, and right for a
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)  # space with conditional settings
        sampler = optuna.samplers.TPESampler(seed=seed, n_startup_trials=8, multivariate=True, group=True)
    storage = optuna.storages.RDBStorage(storage_url(out))
    study = optuna.create_study(study_name=f"tailor-tune-{arm}", storage=storage, sampler=sampler,
                                directions=DIRECTIONS, load_if_exists=True)
    if not study.trials:
        study.enqueue_trial(defaults, user_attrs={"defaults": True})
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        storage.set_trial_state_values(trial._trial_id, TrialState.FAIL)  # its process was killed
        study.enqueue_trial(trial.params, user_attrs={**trial.user_attrs, "retried": trial.number})
    return study


def spent(study: optuna.Study) -> tuple[int, float]:
    """Trials finished so far and the seconds they took."""
    done = study.get_trials(deepcopy=False, states=DONE)
    return len(done), sum(t.duration.total_seconds() for t in done if t.duration)


def run_study(study: optuna.Study, objective: Objective, budget: Budget,
              on_trial: TrialCallback | None = None) -> dict[str, Any]:
    """Trials until the budget is spent (this run's and the earlier ones' together)."""
    count, seconds = spent(study)
    started = time.perf_counter()
    callbacks = [on_trial] if on_trial else []
    if budget.trials is not None and budget.trials > count:
        study.optimize(objective, n_trials=budget.trials - count, callbacks=callbacks, catch=())
    elif budget.seconds is not None and budget.seconds > seconds:
        study.optimize(objective, timeout=budget.seconds - seconds, callbacks=callbacks, catch=())
    total, total_seconds = spent(study)
    return {"budget": budget.describe(), "trials": total, "trial_seconds": round(total_seconds, 1),
            "trials_this_run": total - count, "seconds_this_run": round(time.perf_counter() - started, 1),
            "pruned": len(study.get_trials(deepcopy=False, states=(TrialState.PRUNED,))),
            "resumed_from": count}
