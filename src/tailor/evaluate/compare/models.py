"""The models behind the arms: the base model (converted or built once), then each arm's plan with its
generator and adapter, trained in the run on the KB's documents or taken from the registry.

    qa    closed-book questions; one adapter for every arm that asks for it (the finetuned arm's default)
    raft  a retrieving arm's own adapter (the hybrid's default): its rows are the arm's own prompt, the
          retriever's hits for each training question with the oracle dropped from some (`RetrievedContext`)

When the questions were generated from held-out documents, no adapter is trained on those documents.
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any, Protocol

import torch

import tailor
from tailor.base_models import BaseModelError, is_gguf, model_facts, preferred_settings, resolve_base_model
from tailor.evaluate.compare.arms import ArmPlan, describe_model, resolve_generator
from tailor.evaluate.compare.config import BASE, TRAIN, ArmConfig
from tailor.evaluate.compare.context import RunContext
from tailor.evaluate.compare.training import (
    TrainedAdapter,
    ensure_scratch_model,
    finetune_settings,
    train_adapter,
)
from tailor.finetune.config import FinetuneConfig
from tailor.finetune.data import read_card
from tailor.finetune.registry import AdapterRegistry
from tailor.finetune.retrieved import RetrievedContext
from tailor.finetune.scratch import is_scratch_model
from tailor.generate.strategies import STRATEGIES, AskConfig
from tailor.kb.knowledge_base import KnowledgeBase

HELDOUT_QUESTIONS = "heldout-questions"
"""The folder of RUN/work where `inputs.generate_questions` builds the dataset its questions come from."""


def base_generator(ctx: RunContext) -> tuple[str | None, str | None, dict[str, Any]]:
    """(generator spec of the base model, why there is none, facts about it)."""
    base = ctx.config.base_model
    if base.startswith("openai:"):
        return base, None, {"kind": "openai-compatible endpoint", "spec": base}
    if base == "scratch":
        # A ~1M-parameter model gains nothing from intra-op threads, and on a busy machine their
        # spin-waits made training 20x slower in our runs: one thread for the whole run.
        torch.set_num_threads(1)
        ctx.progress("base model (scratch, built once)", 0, 1)
        path, facts = ensure_scratch_model(ctx.home, ctx.config.scratch)
        ctx.progress("base model (scratch, built once)", 1, 1)
        return f"hf:{path}", None, {"kind": "scratch", "path": path, "parameters": facts.get("parameters"),
                                    "build_seconds": facts.get("seconds"), "reused": facts.get("reused")}
    if is_gguf(base):
        ctx.progress(f"base model ({base}, converted once)", 0, 1)
        try:
            folder = resolve_base_model(base, ctx.home, progress=False)
        except BaseModelError as exc:
            return None, str(exc), {"kind": "gguf", "spec": base}
        ctx.progress(f"base model ({base}, converted once)", 1, 1)
        return f"hf:{folder}", None, model_facts(base, ctx.home)
    if Path(base).expanduser().is_dir():
        return f"hf:{base}", None, {"kind": "hf", "path": base}
    try:
        from transformers import AutoConfig

        AutoConfig.from_pretrained(base)
    except OSError as exc:
        return None, f"base model {base!r} is not available offline ({exc.__class__.__name__})", {"kind": "hf"}
    return f"hf:{base}", None, {"kind": "hf", "id": base}


class Training(Protocol):
    """How a run trains the adapters its arms ask for: the data format an arm needs, and the training."""

    def training_format(self, arm: ArmConfig) -> str: ...

    def train(self, ctx: RunContext, kb: KnowledgeBase, base_model: str, data_format: str) -> TrainedAdapter: ...

    def settings(self, arm: ArmConfig) -> dict[str, Any]:
        """What an arm's answers depend on beyond its own settings (part of its cache key)."""
        ...


class DocumentTraining:
    """Adapters trained on questions written from the KB's documents (`train`)."""

    def training_format(self, arm: ArmConfig) -> str:
        return training_key(arm)

    def train(self, ctx: RunContext, kb: KnowledgeBase, base_model: str, data_format: str) -> TrainedAdapter:
        arm = next((a for a in ctx.config.arms if a.adapter == TRAIN and training_key(a) == data_format), None)
        return train(ctx, kb, base_model, arm.data_format if arm else data_format, arm=arm)

    def settings(self, arm: ArmConfig) -> dict[str, Any]:
        return {}  # none: the cache keys of earlier runs stay valid


def plan_arms(ctx: RunContext, kb: KnowledgeBase,
              training: Training | None = None) -> tuple[list[ArmPlan], dict[str, Any] | None]:
    """Every arm's plan (skipped ones with their reason), and the facts about the base model."""
    training = training or DocumentTraining()
    started = time.perf_counter()
    needs_base = any(arm.generator == BASE for arm in ctx.config.arms)
    base_spec, base_problem, base_info = base_generator(ctx) if needs_base else (None, None, None)
    plans = []
    trained: dict[str, TrainedAdapter] = {}
    for arm in ctx.config.arms:
        plan = ArmPlan(arm)
        generator, problem = resolve_generator(arm, base_spec, base_problem)
        if generator is None:
            plan.skip_reason = problem
            plans.append(plan)
            continue
        plan.generator, plan.model = generator, describe_model(generator)
        if arm.adapter:
            if not generator.startswith("hf:"):
                plan.skip_reason = f"{arm.strategy} loads a LoRA adapter, which needs an hf: base model, not {generator}"
            elif arm.adapter == TRAIN:
                data_format = training.training_format(arm)
                if data_format not in trained:
                    trained[data_format] = training.train(ctx, kb, generator.removeprefix("hf:"), data_format)
                plan.adapter = trained[data_format].entry
                plan.adapter_info = trained[data_format].to_dict()
            else:
                plan.adapter = AdapterRegistry(ctx.home).get(arm.adapter)
                plan.adapter_info = {"ref": plan.adapter.ref, "base_model": plan.adapter.base_model,
                                     "groups": list(plan.adapter.manifest.get("groups", [])), "reused": True,
                                     "training": plan.adapter.manifest.get("cost", {})}
        plan.fingerprint = {
            "strategy": arm.strategy, "generator": generator, "top_k": arm.top_k,
            "max_new_tokens": arm.max_new_tokens, "tailor": tailor.__version__,
            "template": arm.template, "quantize": arm.quantize,
            "model_settings": preferred_settings(generator.removeprefix("hf:"), arm.strategy),
            "adapter": [plan.adapter.ref, plan.adapter.manifest.get("created_at")] if plan.adapter else None,
        }
        plan.fingerprint.update(tuned_settings(ctx, arm, plan.retrieves))
        plan.fingerprint.update(training.settings(arm))
        plans.append(plan)
    ctx.timings["models"] = time.perf_counter() - started
    return plans, base_info


def tuned_settings(ctx: RunContext, arm: ArmConfig, retrieves: bool) -> dict[str, Any]:
    """The answer-deciding settings beyond the arm's basic ones, only where set (so earlier cache keys stay valid)."""
    found: dict[str, Any] = {}
    if arm.focus_sentences is not None or arm.focus_abstain_below is not None:
        found["focus"] = [arm.focus_sentences, arm.focus_abstain_below]
    if retrieves and ctx.config.kb_index is not None:
        found["kb_index"] = ctx.config.kb_index.model_dump()
    if retrieves and ctx.config.retrieval is not None:
        found["retrieval"] = ctx.config.retrieval.model_dump()
    return found


def training_key(arm: ArmConfig) -> str:
    """The adapter an arm is answered with: `qa`, shared by every arm that asks for it, or `raft-<arm>`, trained
    on this retrieving arm's own prompt (another arm's prompt may differ by retrieval, focus or template)."""
    if arm.data_format == "raft" and STRATEGIES[arm.strategy].retrieves:
        return "raft-" + re.sub(r"[^A-Za-z0-9_.-]+", "_", arm.name)
    return arm.data_format


def heldout_documents(ctx: RunContext) -> list[str]:
    """The documents the run's generated questions were written from (none when questions were given)."""
    if ctx.config.questions is not None:
        return []
    folder = ctx.work / HELDOUT_QUESTIONS
    if not (folder / "card.json").is_file():
        raise RuntimeError(f"questions are generated but {folder} is missing: the adapters cannot be kept off "
                           "the documents they were written from; generate the questions first")
    return sorted(read_card(folder)["documents"]["validation"])


def raft_context(arm: ArmConfig, base_model: str, kb: KnowledgeBase, groups: list[str]) -> RetrievedContext:
    """What a retrieving arm is shown (its retrieval, focus and template, as `arms.build_strategy` asks it), searched
    as the training groups."""
    asked = AskConfig(strategy=arm.strategy, generator=f"hf:{base_model}", top_k=arm.top_k, template=arm.template,
                      focus_sentences=arm.focus_sentences, focus_abstain_below=arm.focus_abstain_below)
    return RetrievedContext.for_arm(asked, kb, groups)


def train(ctx: RunContext, kb: KnowledgeBase, base_model: str, data_format: str, groups: list[str] | None = None,
          kb_path: Path | None = None, suffix: str = "", finetune: dict[str, Any] | None = None,
          arm: ArmConfig | None = None) -> TrainedAdapter:
    """An adapter of `base_model` on the KB's documents of `groups` (default: the training groups), never on
    those generated questions were written from. A raft adapter of a retrieving `arm` is trained on that arm's
    prompt over `kb`; any other raft adapter on sampled context."""
    key = training_key(arm) if arm is not None and arm.data_format == data_format else data_format
    phase = f"train {key} adapter{suffix}"
    ctx.progress(phase, 0, 1)
    training = ctx.config.training
    groups = groups or list(training.groups)
    excluded = heldout_documents(ctx)
    ctx.log(f"{phase} on {base_model} (groups {groups}" + (f", less the {len(excluded)} documents the questions "
                                                            f"were written from)" if excluded else ")"))
    qa_file = Path(ctx.config.questions) if training.train_on_questions and ctx.config.questions else None
    recipe = training.model_dump()
    recipe["finetune"] = {**recipe["finetune"], **(finetune or {})}
    retrieved = raft_context(arm, base_model, kb, groups) if key != data_format and arm is not None else None
    if retrieved is not None:
        # The adapter learns to read its context more than to store facts: each question once, for half the
        # closed-book adapter's passes. On the handbook (59 questions) hybrid 0.525 with the rewordings at 6
        # epochs, 0.492 without them, 0.542 at 3: ties, at 230,232, 75,222 and 37,611 training tokens.
        recipe["paraphrases"] = 0
        planned = FinetuneConfig(**finetune_settings(base_model, is_scratch_model(base_model), recipe["finetune"]),
                                 dataset=ctx.work)
        recipe["finetune"]["epochs"] = planned.epochs / 2
    result = train_adapter(
        kb=kb_path or Path(kb.uri), work=ctx.work, home=ctx.home, base_model=base_model,
        is_scratch=is_scratch_model(base_model), data_format=data_format, groups=groups,
        training=recipe, qa_file=qa_file, name=f"compare-{key}{suffix}", exclude_documents=excluded,
        retrieved=retrieved,
    )
    ctx.progress(phase, 1, 1)
    return result
