"""`tailor tune` on an examples folder: k, the demonstration format and the search mode of the arms that
retrieve train examples (rag, hybrid), chosen on the dev part of the examples' split.

    split     the examples task's own seeded split (compare's): the KB holds the train examples, every trial
              asks the dev examples, and the test part is never asked here; `tailor compare DIR --tuned
              TUNE` applies the chosen points and scores them on test
    metric    the task's primary metric (label accuracy for labels, else compare's free-text metric)
    mode      a setting of the examples' KB, shared by both arms: the first arm searched chooses it, the
              next is searched at that choice, so the two settings files agree
"""

from __future__ import annotations

from typing import Any

from tailor.evaluate.compare.answering import Answerer
from tailor.evaluate.compare.cache import AnswerCache
from tailor.evaluate.compare.config import TRAIN, ArmConfig
from tailor.evaluate.compare.context import RunContext
from tailor.evaluate.compare.example_task import ExampleTask
from tailor.evaluate.compare.runner import make_task
from tailor.evaluate.tune.arm_search import ArmSearch, note, tune_arm
from tailor.evaluate.tune.config import TuneConfig
from tailor.evaluate.tune.example_arms import ExampleArm
from tailor.evaluate.tune.example_space import (
    ExampleSettings,
    default_examples,
    example_params,
    suggest_examples,
)
from tailor.evaluate.tune.settings_files import examples_fragment
from tailor.kb.config import RetrievalConfig
from tailor.kb.knowledge_base import KnowledgeBase

SEARCHED = ("rag", "hybrid")


def dev_task(config: TuneConfig) -> ExampleTask:
    """The compare configuration's examples task, asking its dev part."""
    compare = config.compare
    assert compare.examples is not None
    task = make_task(compare.model_copy(update={"examples": compare.examples.model_copy(update={"part": "dev"})}))
    assert isinstance(task, ExampleTask)
    return task


def tune_examples(config: TuneConfig, ctx: RunContext, generator: str) -> tuple[dict[str, Any], dict[str, Any], str]:
    """(each arm's search, the split, the primary metric)."""
    task = dev_task(config)
    ctx = RunContext(task.config, ctx.out, ctx.home, ctx.progress, ctx.log)
    kb, kb_info = task.open_kb(ctx)
    answerer = Answerer(ctx, AnswerCache(ctx.work / "answers.sqlite"), None, task.strategy)
    retrieval = task.config.retrieval or RetrievalConfig()
    mode_chosen = False
    arms: dict[str, Any] = {}
    try:
        dev = task.questions(ctx, kb).questions
        for name in config.arms:
            arm = next((a for a in task.config.arms if a.name == name), None)
            problem = skip_reason(name, arm, generator)
            if problem or arm is None:
                arms[name] = {"skipped": problem, "front": [], "trials": []}
                continue
            search = make_example_search(config, ctx, answerer, task, kb, kb_info, generator, arm, retrieval,
                                         search_mode=not mode_chosen)
            arms[name] = tune_arm(config, ctx, search, dev, None)
            if not mode_chosen:
                chosen = ExampleSettings(**arms[name]["front"][0]["settings"])
                retrieval, mode_chosen = chosen.retrieval(retrieval), True
    finally:
        kb.close()
    spec = task.spec
    split = {"task": "examples", "path": str(spec.path), "seed": spec.seed, "dev_fraction": spec.dev_fraction,
             "test_fraction": spec.test_fraction, "parts": task.parts, "train": len(task.train_examples),
             "dev": len(dev), "test": task.parts["test"], "dev_question_ids": [q.id for q in dev],
             "test_question_ids": [], "held_out": "not asked by tune: `tailor compare DIR --tuned TUNE` applies "
             "the chosen points and scores them on the test part"}
    return arms, split, task.config.primary_metric


def skip_reason(name: str, arm: ArmConfig | None, generator: str) -> str | None:
    if name not in SEARCHED:
        return (f"on examples, tune searches the demonstration arms ({', '.join(SEARCHED)}); the {name} arm's "
                "recipe is compare's")
    if arm is None:
        return f"the compare configuration has no {name} arm"
    if arm.adapter and arm.adapter != TRAIN:
        return f"its adapter {arm.adapter} was trained on one prompt; k and format are searched for a trained one"
    if arm.adapter and not generator.startswith("hf:"):
        return "an openai: model cannot load a LoRA adapter"
    return None


def make_example_search(config: TuneConfig, ctx: RunContext, answerer: Answerer, task: ExampleTask, kb: KnowledgeBase,
                        kb_info: dict[str, Any], generator: str, arm: ArmConfig, retrieval: RetrievalConfig,
                        search_mode: bool) -> ArmSearch:
    default = default_examples(arm, retrieval)
    searched = ExampleArm(ctx, answerer, task, kb, kb_info, generator, arm, retrieval)
    return ArmSearch(searched, default, example_params(default, search_mode),
                     lambda trial: suggest_examples(trial, default, search_mode),
                     lambda s: examples_fragment(config.compare, arm.name, s), ExampleSettings,
                     lambda found: example_note(arm.name, found, None if search_mode else default.mode))


def example_note(name: str, searched: dict[str, Any], mode_given: str | None) -> str | None:
    """How much was searched (a hybrid trial trains an adapter), and where the mode came from."""
    notes = [note(name, searched, None) if name == "hybrid" else None,
             f"searched at the search mode the arm before it chose ({mode_given})" if mode_given else None]
    return "; ".join(n for n in notes if n) or None
