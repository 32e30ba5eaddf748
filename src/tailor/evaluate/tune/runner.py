"""`tailor tune`: the settings of each arm searched on the development questions, then scored held out.

    inputs    the compare configuration's documents (one KB per chunking, see kbs.py) and questions, split
              by document (compare's `question_split` seed and fraction): dev for the search, test held out
    search    per arm an Optuna study in TUNE/study.sqlite (resumable), the defaults as its first trial,
              trials until the budget is spent; every answer cached in TUNE/work/answers.sqlite
    front     the non-dominated trials (accuracy, p50 latency, cost per 1,000 queries), a settings file each
    held out  the most accurate front point and the defaults, each asked every held-out question
    report    tune.json and report.html in TUNE

An examples folder (`examples:` in the compare configuration) is searched by `example_search.py` instead: k,
the demonstration format and the search mode of the rag and hybrid arms, on the dev part of the examples'
split; its test part is left to `tailor compare --tuned`.
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
from tailor.evaluate.tune.arm_search import ArmSearch, note, tune_arm
from tailor.evaluate.tune.arms import FinetuneArm, RagArm, is_scratch
from tailor.evaluate.tune.config import TuneConfig
from tailor.evaluate.tune.example_search import tune_examples
from tailor.evaluate.tune.kbs import KnowledgePool
from tailor.evaluate.tune.report import write_report
from tailor.evaluate.tune.settings_files import finetune_fragment, rag_fragment
from tailor.evaluate.tune.space import (
    FinetuneSettings,
    RagSettings,
    default_finetune,
    default_rag,
    params_of,
    suggest_finetune,
    suggest_rag,
)
from tailor.home import default_home
from tailor.kb.config import IndexConfig, RetrievalConfig
from tailor.kb.embedding import make_embedder


@dataclass
class TuneResult:
    report: dict[str, Any]
    paths: dict[str, Path]


def run_tune(config: TuneConfig, progress: ProgressCallback | None = None, log: LogCallback | None = None) -> TuneResult:
    """Search each arm, write its front's settings files, score the chosen point and the defaults held out
    (documents); on an examples folder, search on its dev part only (`examples_search`)."""
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
    if compare.examples is not None:
        arms, split, metric = tune_examples(config, ctx, generator)
    else:
        arms, split = tune_documents(config, ctx, generator)
        metric = compare.primary_metric
    report = {
        "command": "tailor tune", "tailor_version": tailor.__version__, "created_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "base_model": compare.base_model, "base": base_info, "optuna_version": optuna.__version__, "split": split,
        "objectives": {"accuracy": f"{metric}, maximised", "p50_ms": "minimised",
                       "cost_per_1000": f"minimised ({compare.prices.currency})"},
        "arms": arms, "seconds": round(time.perf_counter() - started, 1),
    }
    return TuneResult(report, write_report(report, Path(config.out)))


def tune_documents(config: TuneConfig, ctx: RunContext, generator: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Documents and questions: the questions split by document, each arm searched on dev, scored on test."""
    compare = ctx.config
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
    split = {"dev_fraction": config.split.dev_fraction, "seed": config.split.seed, "dev": len(parts["dev"]),
             "test": len(parts["test"]), "dev_question_ids": [q.id for q in parts["dev"]],
             "test_question_ids": [q.id for q in parts["test"]]}
    return arms, split


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
                         lambda s: rag_fragment(compare, s, config.reranker), RagSettings,
                         lambda searched: note(name, searched, config.reranker))
    if not generator.startswith("hf:"):
        return None
    default_ft = default_finetune(arm_config, compare.training, model, is_scratch(generator))
    return ArmSearch(FinetuneArm(ctx, answerer, pool, generator, arm_config), default_ft, params_of(default_ft),
                     lambda trial: suggest_finetune(trial, default_ft),
                     lambda s: finetune_fragment(compare, s, model), FinetuneSettings,
                     lambda searched: note(name, searched, config.reranker))
