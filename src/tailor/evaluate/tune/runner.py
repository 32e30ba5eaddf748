"""`tailor tune`: the settings of each arm searched on the development questions, then scored held out.

    inputs    the compare configuration's documents (one KB per chunking, see kbs.py) and questions, split
              by document (compare's `question_split` seed and fraction): dev for the search, test held out
    search    per arm an Optuna study in TUNE/study.sqlite (resumable), the defaults as its first trial,
              trials until the budget is spent; every answer cached in TUNE/work/answers.sqlite
    front     the non-dominated trials (accuracy, p50 latency, cost per 1,000 queries), a settings file each
    held out  the most accurate front point and the defaults, each asked every held-out question
    report    tune.json and report.html in TUNE
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna

import tailor
from tailor.evaluate.compare.answering import Answerer
from tailor.evaluate.compare.cache import AnswerCache
from tailor.evaluate.compare.config import ArmConfig
from tailor.evaluate.compare.context import LogCallback, ProgressCallback, RunContext
from tailor.evaluate.compare.inputs import generate_questions
from tailor.evaluate.compare.models import base_generator
from tailor.evaluate.compare.questions import Question, load_questions
from tailor.evaluate.compare.splits import split_by_document
from tailor.evaluate.tune.arms import FinetuneArm, RagArm, TunedArm, is_scratch
from tailor.evaluate.tune.config import TuneConfig
from tailor.evaluate.tune.front import pareto_front, trial_rows
from tailor.evaluate.tune.heldout import held_out
from tailor.evaluate.tune.kbs import KnowledgePool
from tailor.evaluate.tune.objective import Objective
from tailor.evaluate.tune.report import write_report
from tailor.evaluate.tune.settings_files import (
    clear_settings,
    finetune_fragment,
    rag_fragment,
    write_settings,
)
from tailor.evaluate.tune.space import (
    FinetuneSettings,
    RagSettings,
    default_finetune,
    default_rag,
    params_of,
    suggest_finetune,
    suggest_rag,
)
from tailor.evaluate.tune.study import open_study, run_study
from tailor.home import default_home
from tailor.kb.config import IndexConfig, RetrievalConfig
from tailor.kb.embedding import make_embedder


@dataclass
class TuneResult:
    report: dict[str, Any]
    paths: dict[str, Path]


@dataclass
class ArmSearch:
    """One arm made searchable: its evaluator, its defaults, how a trial draws a point, its settings file."""

    arm: TunedArm
    default: RagSettings | FinetuneSettings
    params: dict[str, Any]
    suggest: Any
    fragment: Any
    settings_type: type[RagSettings] | type[FinetuneSettings]


def run_tune(config: TuneConfig, progress: ProgressCallback | None = None, log: LogCallback | None = None) -> TuneResult:
    """Search each arm, write its front's settings files, score the chosen point and the defaults held out."""
    started = time.perf_counter()
    compare = config.compare.model_copy(update={"out": config.out})
    if compare.primary_metric == "judge_accuracy":
        raise ValueError("tune scores without a judge: set primary_metric to accuracy, exact_match, f1 or contains")
    ctx = RunContext(compare, Path(config.out), Path(compare.home) if compare.home else default_home())
    ctx.progress, ctx.log = progress or ctx.progress, log or ctx.log
    ctx.work.mkdir(parents=True, exist_ok=True)
    generator, problem, base_info = base_generator(ctx)
    if generator is None:
        raise ValueError(f"the base model is not available: {problem}")
    pool = KnowledgePool(ctx.work, make_embedder(), docs=compare.docs, kb=compare.kb)
    answerer = Answerer(ctx, AnswerCache(ctx.work / "answers.sqlite"), None)
    try:
        questions = read_questions(ctx, pool)
        parts = split_by_document(questions, config.split.dev_fraction, config.split.seed)
        arms = {}
        for name in config.arms:
            search = make_search(name, config, ctx, answerer, pool, generator)
            if search is None:
                arms[name] = {"skipped": "an openai: model cannot load a LoRA adapter", "front": [], "trials": []}
                continue
            arms[name] = tune_arm(config, ctx, search, parts["dev"], parts["test"])
    finally:
        pool.close()
    report = {
        "command": "tailor tune", "tailor_version": tailor.__version__, "created_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "base_model": compare.base_model, "base": base_info, "optuna_version": optuna.__version__,
        "split": {"dev_fraction": config.split.dev_fraction, "seed": config.split.seed, "dev": len(parts["dev"]),
                  "test": len(parts["test"]), "dev_question_ids": [q.id for q in parts["dev"]],
                  "test_question_ids": [q.id for q in parts["test"]]},
        "objectives": {"accuracy": f"{compare.primary_metric}, maximised", "p50_ms": "minimised",
                       "cost_per_1000": f"minimised ({compare.prices.currency})"},
        "arms": arms, "seconds": round(time.perf_counter() - started, 1),
    }
    return TuneResult(report, write_report(report, Path(config.out)))


def read_questions(ctx: RunContext, pool: KnowledgePool) -> list[Question]:
    if ctx.config.questions is not None:
        found = load_questions(ctx.config.questions)
        for error in found.errors:
            ctx.log(f"skipped question: {error.reason}")
        return found.questions
    return generate_questions(ctx, pool.get(IndexConfig(), RetrievalConfig())).questions


def make_search(name: str, config: TuneConfig, ctx: RunContext, answerer: Answerer, pool: KnowledgePool,
                generator: str) -> ArmSearch | None:
    compare = ctx.config
    arm_config = next((a for a in compare.arms if a.name == name), None) or ArmConfig(name=name, strategy=name)
    model = generator.removeprefix("hf:")
    if name == "rag":
        index = compare.kb_index or IndexConfig()
        if not pool.can_chunk:
            index = pool.get(index, RetrievalConfig()).config.index  # a given KB keeps its chunking
        retrieval = compare.retrieval or RetrievalConfig()
        default = default_rag(arm_config, model, index, retrieval)
        can_rerank = config.reranker is not None
        rag = RagArm(ctx, answerer, pool, generator, arm_config, index, retrieval, config.reranker)
        return ArmSearch(rag, default, params_of(default, pool.can_chunk, can_rerank),
                         lambda trial: suggest_rag(trial, default, pool.can_chunk, can_rerank),
                         lambda s: rag_fragment(compare, s, config.reranker), RagSettings)
    if not generator.startswith("hf:"):
        return None
    default_ft = default_finetune(arm_config, compare.training, model, is_scratch(generator))
    return ArmSearch(FinetuneArm(ctx, answerer, pool, generator, arm_config), default_ft, params_of(default_ft),
                     lambda trial: suggest_finetune(trial, default_ft),
                     lambda s: finetune_fragment(compare, s, model), FinetuneSettings)


def tune_arm(config: TuneConfig, ctx: RunContext, search: ArmSearch, dev: list[Question],
             test: list[Question]) -> dict[str, Any]:
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
    held = held_out(search.arm, chosen, search.default, test, ctx.config.bootstrap, ctx.config.seed)
    return {"search": searched, "defaults": search.default.model_dump(), "front": [p.model_dump() for p in front],
            "chosen": front[0].name, "settings_files": files, "held_out": held, "trials": trial_rows(study),
            "note": note(name, searched, config.reranker)}


def note(name: str, searched: dict[str, Any], reranker: str | None) -> str | None:
    """What the reader of the front should know about how much of the space was searched."""
    if name == "finetuned" and searched["trials"] < 10:
        return (f"{searched['trials']} trials: each trains an adapter (minutes on a CPU), so this budget explored "
                "little of the fine-tuning space; give more time (--budget) for a real search")
    if name == "rag" and reranker is None:
        return "rerank on/off was not searched: no --reranker was given (none ships for offline use)"
    return None
