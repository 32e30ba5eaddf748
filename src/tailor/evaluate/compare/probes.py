"""The forgetting probe: what an adapter costs the base model's general abilities.

For each arm with an adapter, on the same base model with and without the adapter: perplexity on
held-out general text (passages no model here was trained on) and accuracy on general questions, with
`general_retained`: the share of the questions the base model answers correctly that the adapter still does.
The defaults are small sets written for Tailor (probe_data/); both are configurable.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
from peft import PeftModel
from transformers import AutoModelForCausalLM, AutoTokenizer, PreTrainedModel, PreTrainedTokenizerBase

from tailor.evaluate.compare.arms import ArmPlan
from tailor.evaluate.compare.config import ProbeConfig
from tailor.evaluate.compare.scoring import states_answer
from tailor.evaluate.compare.stats import estimate_dict
from tailor.finetune.evaluation import generate_answers
from tailor.finetune.formats import closed_book_prompt
from tailor.jsonl import jsonl_lines

PROBE_DATA = Path(__file__).with_name("probe_data")


def general_passages(folder: Path | None) -> list[str]:
    """Blank-line separated passages of the .txt files in `folder` (default: the shipped held-out text)."""
    files = sorted(Path(folder).glob("*.txt")) if folder else [PROBE_DATA / "general_heldout.txt"]
    passages = [p.strip() for f in files for p in f.read_text(encoding="utf-8").split("\n\n") if p.strip()]
    if not passages:
        raise ValueError(f"no general text passages in {folder}")
    return passages


def general_questions(path: Path | None) -> list[dict[str, Any]]:
    path = Path(path) if path else PROBE_DATA / "general_questions.jsonl"
    rows = []
    for line in jsonl_lines(path):
        if line.error is not None:
            raise ValueError(f"{line.where}: {line.error}")
        if not isinstance(line.value.get("question"), str) or not line.value.get("answers"):
            raise ValueError(f"{line.where}: needs 'question' and 'answers'")
        rows.append(line.value)
    return rows


@torch.no_grad()
def passage_nll(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, passages: Sequence[str]) -> list[float]:
    """Mean next-token negative log-likelihood of each passage (truncated to the model's context)."""
    model.eval()
    limit = getattr(model.config, "max_position_embeddings", 512)
    losses = []
    for passage in passages:
        ids = tokenizer(passage, return_tensors="pt", truncation=True, max_length=limit).input_ids.to(model.device)
        losses.append(float(model(input_ids=ids, labels=ids).loss))
    return losses


def _accuracy(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, rows: list[dict[str, Any]]) -> list[float]:
    replies = generate_answers(model, tokenizer, [closed_book_prompt(r["question"]) for r in rows], max_new_tokens=24)
    return [float(states_answer(reply, tuple(row["answers"]))) for reply, row in zip(replies, rows, strict=True)]


def probe_dtype(plan: ArmPlan) -> torch.dtype:
    """The weights' precision an arm is probed at: the one it answers with (bf16 arms in bf16, else fp32)."""
    return torch.bfloat16 if plan.config.quantize == "bf16" else torch.float32


def precision(plan: ArmPlan) -> str:
    """`probe_dtype` as the report names it: "bfloat16" or "float32"."""
    return str(probe_dtype(plan)).removeprefix("torch.")


def _base_key(plan: ArmPlan) -> tuple[str, torch.dtype]:
    return plan.generator.removeprefix("hf:"), probe_dtype(plan)


def bases_to_load(plans: Sequence[ArmPlan]) -> int:
    """How many models `models_by_base` loads for these arms (a probe's progress counts them)."""
    return len({_base_key(plan) for plan in plans})


def models_by_base(plans: Sequence[ArmPlan]) -> Iterator[tuple[PreTrainedModel, PreTrainedTokenizerBase, list[ArmPlan]]]:
    """The arms grouped by base model and precision, each loaded once (the probes put each adapter on and off
    it). An arm is measured at the precision it answers with, and bf16 halves the probes' time on a CPU."""
    by_base: dict[tuple[str, torch.dtype], list[ArmPlan]] = {}
    for plan in plans:
        by_base.setdefault(_base_key(plan), []).append(plan)
    for (base, dtype), adapted in by_base.items():
        yield AutoModelForCausalLM.from_pretrained(base, dtype=dtype), AutoTokenizer.from_pretrained(base), adapted


@contextmanager
def with_adapter(model: PreTrainedModel, plan: ArmPlan) -> Iterator[PeftModel]:
    """The base model with the arm's adapter on; taken off again on exit, leaving `model` bare."""
    assert plan.adapter is not None
    tuned = PeftModel.from_pretrained(model, str(plan.adapter.weights))
    try:
        yield tuned
    finally:
        tuned.unload()


def forgetting_probe(plans: Sequence[ArmPlan], probes: ProbeConfig,
                     progress: Callable[[str, int, int], None]) -> dict[str, Any]:
    passages = general_passages(probes.general_text)
    rows = general_questions(probes.general_questions)
    arms: dict[str, Any] = {}
    done, total = 0, len(plans) + bases_to_load(plans)
    for model, tokenizer, adapted in models_by_base(plans):
        base_nll = passage_nll(model, tokenizer, passages)
        base_accuracy = _accuracy(model, tokenizer, rows)
        done += 1
        progress("forgetting probe", done, total)
        for plan in adapted:
            with with_adapter(model, plan) as tuned:
                nll = passage_nll(tuned, tokenizer, passages)
                accuracy = _accuracy(tuned, tokenizer, rows)
            change = [math.exp(a - b) - 1.0 for a, b in zip(nll, base_nll, strict=True)]
            accuracy_change = [a - b for a, b in zip(accuracy, base_accuracy, strict=True)]
            known = [a for a, b in zip(accuracy, base_accuracy, strict=True) if b]  # what the base model knew
            arms[plan.name] = {
                "precision": precision(plan),
                "perplexity": math.exp(sum(nll) / len(nll)),
                "perplexity_base": math.exp(sum(base_nll) / len(base_nll)),
                "perplexity_change": estimate_dict(change),
                "general_accuracy": estimate_dict(accuracy),
                "general_accuracy_base": sum(base_accuracy) / len(base_accuracy),
                "general_accuracy_change": estimate_dict(accuracy_change),
                "general_retained": estimate_dict(known),
                "general_known_by_base": len(known),
            }
            done += 1
            progress("forgetting probe", done, total)
    return {"probe": f"{len(passages)} held-out general passages, {len(rows)} general questions", "arms": arms}
