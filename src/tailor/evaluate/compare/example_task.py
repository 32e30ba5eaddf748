"""Compare on labelled examples: what each arm is shown, trained on and scored by (`examples.py` reads them).

    knowledge base  the train examples, one document each (text: the input, metadata: the output), in
                    OUT/examples-kb; retrieval is the KB's hybrid search as the caller's groups
    questions       the held-out part (test by default), asked as each example's groups
    arms            closed_book: the input (+ the label set); rag: the k nearest train examples as
                    demonstrations; rag with the extractive generator: their output (k-vote for labels);
                    finetuned: an adapter trained on input -> output; hybrid: an adapter trained on the rag
                    prompt (each train example with its k nearest other train examples) and asked with it
    scores          label tasks: exact label accuracy, out-of-set answers, macro-F1; free text: today's
                    scores plus the embedding similarity to the reference
    freshness       changes/examples.jsonl (e.g. a new intent): half added to the train examples (re-indexed,
                    timed), half asked before and after; adapters stay stale unless --retrain (timed)
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from tailor.evaluate.compare.answering import Answerer, ArmAnswers
from tailor.evaluate.compare.arms import ArmPlan
from tailor.evaluate.compare.assemble import score
from tailor.evaluate.compare.config import CompareConfig
from tailor.evaluate.compare.context import RunContext, kb_fingerprint
from tailor.evaluate.compare.example_freshness import example_freshness
from tailor.evaluate.compare.examples import (
    Example,
    ExamplesConfig,
    as_documents,
    label_set,
    load_examples,
    split_examples,
    stratified,
)
from tailor.evaluate.compare.inputs import kb_settings
from tailor.evaluate.compare.labels import label_scores, macro_f1_estimate, predicted_label
from tailor.evaluate.compare.questions import Question, QuestionSet
from tailor.evaluate.compare.scoring import committed_answer
from tailor.evaluate.compare.training import TrainedAdapter, fit_adapter
from tailor.finetune.example_data import build_example_dataset
from tailor.finetune.scratch import is_scratch_model
from tailor.generate.demonstrations import example_strategy
from tailor.generate.strategies import AskConfig, Strategy
from tailor.kb.knowledge_base import KnowledgeBase

LABEL_MAX_NEW_TOKENS = 16
"""A label answer's longest generation, unless an arm sets max_new_tokens (labels are a few tokens)."""
FORMATS = {"finetuned": "examples", "hybrid": "demonstrations"}
SEEN = {
    "closed_book": "the input alone{labels}",
    "rag": "the {k} most similar train examples (input and output) as demonstrations, then the input",
    "rag_extractive": "no prompt: the output of the nearest train example{vote}",
    "finetuned": "the input alone, read by an adapter trained on the train examples (input -> output)",
    "hybrid": "the rag prompt ({k} nearest train examples, then the input), read by an adapter trained on that "
              "prompt (each train example with its {k} nearest other train examples)",
}


def _digest(payload: Any) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:12]


def _unseen(held_out: Sequence[Example], examples: Sequence[Example]) -> list[Example]:
    """The held-out examples, ids made distinct from the train file's (both files may number rows alike)."""
    taken = {e.id for e in examples}
    return [e if e.id not in taken else Example(f"test:{e.id}", e.input, e.output, e.groups) for e in held_out]


class ExampleTask:
    def __init__(self, config: CompareConfig) -> None:
        examples = config.examples
        assert examples is not None
        self.spec: ExamplesConfig = examples
        loaded = load_examples(examples)
        self.errors = loaded.errors
        if not loaded.examples:
            raise ValueError(f"no valid examples in {examples.path}")
        self.labels = label_set(loaded.examples, examples)
        parts = split_examples(loaded.examples, examples, self.labels)
        if examples.test_path is not None:
            held_out = load_examples(examples, examples.test_path)
            self.errors += held_out.errors
            parts["test"] = _unseen(held_out.examples, loaded.examples)
        self.parts = {name: len(found) for name, found in parts.items()}
        self.train_examples = stratified(parts["train"], examples.max_train, examples.seed, self.labels)
        self.asked = stratified(parts[examples.part], examples.max_test, examples.seed, self.labels)
        if not self.train_examples or not self.asked:
            raise ValueError(f"{examples.path}: too few examples to split into train and {examples.part}")
        self.config = self._completed(config)
        self.kb: KnowledgeBase | None = None

    def _completed(self, config: CompareConfig) -> CompareConfig:
        """The primary metric (label accuracy for labels, token F1 for free text, unless set) and, for labels,
        short answers for the arms that do not set their length."""
        update: dict[str, Any] = {}
        if "primary_metric" not in config.model_fields_set:
            update["primary_metric"] = "label_accuracy" if self.labels else "f1"
        if self.labels:
            update["arms"] = [arm if "max_new_tokens" in arm.model_fields_set
                              else arm.model_copy(update={"max_new_tokens": LABEL_MAX_NEW_TOKENS})
                              for arm in config.arms]
        return config.model_copy(update=update)

    # -- inputs --------------------------------------------------------------------------------------
    def open_kb(self, ctx: RunContext) -> tuple[KnowledgeBase, dict[str, Any]]:
        started = time.perf_counter()
        kb = KnowledgeBase.open(ctx.out / "examples-kb", kb_settings(self.config))
        report = kb.ingest_documents(as_documents(self.train_examples, str(self.spec.path)), on_progress=ctx.progress)
        kept = {e.id for e in self.train_examples}
        kb.remove([doc_id for doc_id in kb.store.document_hashes() if doc_id not in kept])  # another split's
        stats = kb.stats()
        ctx.timings["kb"] = time.perf_counter() - started
        self.kb = kb
        return kb, {"uri": stats["uri"], "version": stats["version"], "documents": stats["documents"],
                    "chunks": stats["chunks"], "groups": stats["groups"], "fingerprint": kb_fingerprint(kb),
                    "ingest_seconds": round(report.seconds, 3), "embedded_chunks": report.chunks,
                    "ingest_errors": []}

    def questions(self, ctx: RunContext, kb: KnowledgeBase) -> QuestionSet:
        for error in self.errors:
            ctx.log(f"skipped example {error.path}: {error.reason}")
        asked = self.asked[: self.config.max_questions] if self.config.max_questions else self.asked
        questions = [Question(id=e.id, question=e.input, answers=(e.output,), groups=e.groups) for e in asked]
        source = (f"{len(questions)} held-out ({self.spec.part}) examples of {self.spec.path}; "
                  f"{len(self.train_examples)} train examples shown or trained on")
        return QuestionSet(questions, source, list(self.errors))

    # -- arms ----------------------------------------------------------------------------------------
    def training_format(self, arm: Any) -> str:
        return FORMATS[arm.strategy]

    def settings(self, arm: Any) -> dict[str, Any]:
        """What the arm's answers depend on beyond its own settings: the task and its label set."""
        return {"examples": {"output": self.spec.output, "labels": _digest(self.labels or [])}}

    def train(self, ctx: RunContext, kb: KnowledgeBase, base_model: str, data_format: str) -> TrainedAdapter:
        return self.train_on(ctx, kb, base_model, data_format, self.train_examples, "")

    def train_on(self, ctx: RunContext, kb: KnowledgeBase, base_model: str, data_format: str,
               examples: Sequence[Example], suffix: str) -> TrainedAdapter:
        phase = f"train {data_format} adapter{suffix}"
        ctx.progress(phase, 0, 1)
        training = self.config.training
        ctx.log(f"{phase} on {base_model} ({len(examples)} train examples, groups {training.groups})")
        started = time.perf_counter()
        hybrid = next((arm for arm in self.config.arms if arm.strategy == "hybrid"), None)
        top_k = hybrid.top_k if hybrid else 5
        template = hybrid.template if hybrid and data_format == "demonstrations" else None  # the prompt it is asked
        name = f"compare-examples-{data_format}{suffix}"
        out = ctx.work / f"data-{name}"
        card = build_example_dataset(examples, out, data_format, kb, training.groups, top_k, self.spec.seed,  # type: ignore[arg-type]
                                     template)
        trained = fit_adapter(card, out, time.perf_counter() - started, work=ctx.work, home=ctx.home,
                              base_model=base_model, is_scratch=is_scratch_model(base_model),
                              finetune_overrides=training.finetune, name=name)
        ctx.progress(phase, 1, 1)
        return trained

    def strategy(self, plan: ArmPlan, kb: KnowledgeBase) -> Strategy:
        return self.strategy_with(plan, kb, self.labels)

    def strategy_with(self, plan: ArmPlan, kb: KnowledgeBase, labels: Sequence[str] | None) -> Strategy:
        arm = plan.config
        config = AskConfig(strategy=arm.strategy, generator=plan.generator,
                           adapter=str(plan.adapter.weights) if plan.adapter else None, top_k=arm.top_k,
                           max_new_tokens=arm.max_new_tokens, temperature=0.0, template=arm.template,
                           quantize=arm.quantize if plan.generator.startswith("hf:") else None,
                           batch_size=arm.batch_size)
        return example_strategy(config, kb, labels)

    # -- scores --------------------------------------------------------------------------------------
    def score(self, config: CompareConfig, plan: ArmPlan, question: Question,
              answer: dict[str, Any]) -> dict[str, float]:
        scores = score(config, plan, question, answer)
        if self.labels:
            return {**scores, **label_scores(answer["text"], answer["abstained"], question.answers[0], self.labels)}
        return {**scores, "similarity": self.similarity(answer, question.answers[0])}

    def similarity(self, answer: dict[str, Any], reference: str) -> float:
        """Cosine similarity of the committed answer's and the reference's embeddings (0 for an abstention)."""
        text = committed_answer(answer["text"])
        if answer["abstained"] or not text or self.kb is None:
            return 0.0
        vectors = self.kb.embedder.embed_documents([text, reference])
        return float(max(0.0, np.dot(vectors[0], vectors[1]) / (np.linalg.norm(vectors[0]) * np.linalg.norm(vectors[1]))))

    def extend(self, report: dict[str, Any], plans: list[ArmPlan], questions: Sequence[Question],
               answers: dict[str, ArmAnswers]) -> None:
        """The report's `examples` section: the split, the label set, what each arm saw, and for labels each
        arm's macro-F1 (also in its metrics) and out-of-set answers."""
        config = self.config
        section: dict[str, Any] = {
            "source": str(self.spec.path), "input": self.spec.input, "output": self.spec.output,
            "split": {**self.parts, "trained_or_retrieved": len(self.train_examples), "asked": len(questions),
                      "part": self.spec.part, "seed": self.spec.seed},
            "labels": list(self.labels) if self.labels else None,
            "errors": [{"path": e.path, "reason": e.reason} for e in self.errors],
            "arms": {plan.name: self.seen(plan) for plan in plans},
        }
        if self.labels:
            golds = {q.id: q.answers[0] for q in questions}
            for name, found in answers.items():
                ids = [qid for qid in found if qid in golds]
                estimate = macro_f1_estimate([golds[i] for i in ids], [predicted_label(found[i].text) for i in ids],
                                             self.labels, config.bootstrap, config.seed)
                if name in report["metrics"] and estimate:
                    report["metrics"][name]["macro_f1"] = estimate
        report["examples"] = section

    def seen(self, plan: ArmPlan) -> str:
        arm = plan.config
        key = "rag_extractive" if arm.strategy == "rag" and plan.generator == "extractive" else arm.strategy
        shown = "" if not self.labels else " and the label set" if arm.strategy == "closed_book" else ""
        return SEEN[key].format(k=arm.top_k, labels=shown,
                                vote=f" (the majority label of the {arm.top_k} nearest)" if self.labels else "")

    # -- probes --------------------------------------------------------------------------------------
    def freshness(self, ctx: RunContext, answerer: Answerer, plans: list[ArmPlan],
                  kb: KnowledgeBase) -> dict[str, Any] | None:
        return example_freshness(ctx, answerer, plans, kb, self)

    def leak(self, ctx: RunContext, answerer: Answerer, plans: list[ArmPlan], kb: KnowledgeBase,
             questions: Sequence[Question], kb_state: str) -> dict[str, Any] | None:
        ctx.log("leak probe: not run on examples (it probes restricted documents' facts)")
        return None
