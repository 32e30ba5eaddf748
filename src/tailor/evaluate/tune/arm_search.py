"""One arm's search: its study run to the budget, the front's settings files, the chosen point (and, for
documents, the chosen point and the defaults asked the held-out questions)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
from pydantic import BaseModel

from tailor.evaluate.compare.context import RunContext
from tailor.evaluate.compare.questions import Question
from tailor.evaluate.tune.arms import TunedArm
from tailor.evaluate.tune.config import TuneConfig
from tailor.evaluate.tune.front import pareto_front, trial_rows
from tailor.evaluate.tune.heldout import held_out
from tailor.evaluate.tune.objective import Objective
from tailor.evaluate.tune.settings_files import clear_settings, write_settings
from tailor.evaluate.tune.study import open_study, run_study


@dataclass
class ArmSearch:
    """One arm made searchable: its evaluator, its defaults, how a trial draws a point, its settings file."""

    arm: TunedArm
    default: BaseModel
    params: dict[str, Any]
    suggest: Any
    fragment: Any
    settings_type: type[BaseModel]
    note: Callable[[dict[str, Any]], str | None] = lambda searched: None


def tune_arm(config: TuneConfig, ctx: RunContext, search: ArmSearch, dev: Sequence[Question],
             test: Sequence[Question] | None) -> dict[str, Any]:
    """The arm searched on `dev`; with `test`, its chosen point and defaults scored there (None: not here)."""
    name = search.arm.name
    study = open_study(config.out, name, config.sampler_seed, search.params)

    def on_trial(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        if trial.values:
            ctx.log(f"{name} trial {trial.number}: accuracy {trial.values[0]:.3f}, p50 {trial.values[1]:.0f} ms, "
                    f"front {len(study.best_trials)} points")
        elif trial.state == optuna.trial.TrialState.PRUNED:
            ctx.log(f"{name} trial {trial.number}: stopped early (trial {trial.user_attrs.get('stopped_by')} "
                    "beats it beyond its CI)")

    objective = Objective(search.arm, search.suggest, dev, config.early_stop_fraction, config.sampler_seed)
    budget = config.arm_budget(name)  # type: ignore[arg-type]
    searched = run_study(study, objective, budget, on_trial)
    front = pareto_front(name, study)
    folder = Path(config.out) / "settings"
    clear_settings(folder, name)
    files = {p.name: str(write_settings(folder, p, search.fragment(search.settings_type(**p.settings))))
             for p in front}
    chosen = search.settings_type(**front[0].settings)
    held = None if test is None else held_out(search.arm, chosen, search.default, test, ctx.config.bootstrap,
                                               ctx.config.seed)
    return {"search": searched, "defaults": search.default.model_dump(), "front": [p.model_dump() for p in front],
            "chosen": front[0].name, "settings_files": files, "held_out": held, "trials": trial_rows(study),
            "note": search.note(searched)}


def note(name: str, searched: dict[str, Any], reranker: str | None) -> str | None:
    """What the reader of the front should know about how much of the space was searched."""
    if name in ("finetuned", "hybrid") and searched["trials"] < 10:
        space = "the fine-tuning space" if name == "finetuned" else "the hybrid arm's space"
        return (f"{searched['trials']} trials: each trains an adapter (minutes on a CPU), so this budget explored "
                f"little of {space}; give more time (--budget) for a real search")
    if name == "rag" and reranker is None:
        return "rerank on/off was not searched: no --reranker was given (none ships for offline use)"
    return None
