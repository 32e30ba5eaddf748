"""`tailor compare`: the same questions through every arm, then the measurements and the report.

    kb         ingest the documents into OUT/kb (incremental), or open the given knowledge base
    questions  read the questions file (bad lines reported), or generate them from held-out documents
    models     the base model (the offline scratch model is built once) and each arm's adapter,
               trained in the run on the KB's documents or reused from the registry (same data hash)
    answer     every arm answers every question as the question's caller groups; each answer is
               committed to OUT/work/answers.sqlite as it arrives, so a killed run resumes there
    probes     freshness (apply the change set, re-ingest, re-ask; --retrain retrains the adapters),
               leakage through weights, forgetting, the optional LLM judge
    report     means with bootstrap CIs, paired tests, latency, cost, the recommendation;
               report.json, report.html and summary.md in OUT
"""

from __future__ import annotations

import hashlib
import json
import platform
import random
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

import tailor
from tailor.audit import AuditLog, default_audit_dir
from tailor.base_models import BaseModelError, is_gguf, model_facts, preferred_settings, resolve_base_model
from tailor.evaluate.compare.adherence import violations
from tailor.evaluate.compare.arms import ArmPlan, build_strategy, describe_model, refusal, resolve_generator
from tailor.evaluate.compare.cache import AnswerCache, cache_key
from tailor.evaluate.compare.config import BASE, TRAIN, CompareConfig
from tailor.evaluate.compare.costs import arm_costs
from tailor.evaluate.compare.judge import Judge
from tailor.evaluate.compare.memorisation import weights_leak_probe
from tailor.evaluate.compare.probes import forgetting_probe
from tailor.evaluate.compare.questions import Question, QuestionSet, load_questions
from tailor.evaluate.compare.recommend import recommend
from tailor.evaluate.compare.scoring import score_answer, states_answer
from tailor.evaluate.compare.splits import select
from tailor.evaluate.compare.stats import compare_paired, estimate_dict
from tailor.evaluate.compare.training import TrainedAdapter, ensure_scratch_model, train_adapter
from tailor.finetune.config import DataConfig
from tailor.finetune.data import build_dataset, unreadable_rows
from tailor.finetune.registry import AdapterRegistry
from tailor.finetune.scratch import is_scratch_model
from tailor.generate.base import GeneratorError
from tailor.generate.strategies import Strategy
from tailor.home import default_home
from tailor.kb.copy import copy_store
from tailor.kb.knowledge_base import KnowledgeBase
from tailor.kb.loaders import load_documents
from tailor.records import Answer

ProgressCallback = Callable[[str, int, int], None]
LogCallback = Callable[[str], None]
STAGES = ("retrieve", "rerank", "generate", "total")


@dataclass
class CompareResult:
    report: dict[str, Any]
    paths: dict[str, Path]


def kb_fingerprint(kb: KnowledgeBase) -> str:
    """The KB's content (documents and their fingerprints), independent of its version numbering."""
    hashes = kb.store.document_hashes()
    return hashlib.sha256(json.dumps(sorted(hashes.items())).encode()).hexdigest()


class CompareRun:
    def __init__(self, config: CompareConfig, progress: ProgressCallback | None = None,
                 log: LogCallback | None = None) -> None:
        self.config = config
        self.out = Path(config.out)
        self.work = self.out / "work"
        self.home = Path(config.home) if config.home else default_home()
        self.progress = progress or (lambda phase, done, total: None)
        self.log = log or (lambda message: None)
        self.work.mkdir(parents=True, exist_ok=True)
        self.cache = AnswerCache(self.work / "answers.sqlite")
        self.timings: dict[str, float] = {}
        self.base_info: dict[str, Any] | None = None
        self.audit: AuditLog | None = None
        self._strategies: dict[str, Strategy] = {}

    # -- kb and questions ---------------------------------------------------------------------------
    def open_kb(self) -> tuple[KnowledgeBase, dict[str, Any]]:
        started = time.perf_counter()
        if self.config.kb is not None:
            kb = KnowledgeBase.open(self.config.kb, must_exist=True)
            info: dict[str, Any] = {"ingest_seconds": 0.0, "ingest_errors": []}
        else:
            kb = KnowledgeBase.open(self.out / "kb")
            report = kb.ingest([self.config.docs], sync=True, on_progress=self.progress)
            info = {"ingest_seconds": round(report.seconds, 3), "embedded_chunks": report.chunks,
                    "ingest_errors": [{"path": e.path, "reason": e.reason} for e in report.errors]}
            for error in report.errors:
                self.log(f"skipped {error.path}: {error.reason}")
        stats = kb.stats()
        self.timings["kb"] = time.perf_counter() - started
        return kb, {"uri": stats["uri"], "version": stats["version"], "documents": stats["documents"],
                    "chunks": stats["chunks"], "groups": stats["groups"], "fingerprint": kb_fingerprint(kb), **info}

    def load_questions(self, kb: KnowledgeBase) -> QuestionSet:
        if self.config.questions is not None:
            found = load_questions(self.config.questions)
            for error in found.errors:
                self.log(f"skipped question: {error.reason}")
        else:
            found = self.generate_questions(kb)
        if self.config.question_split:
            found.questions = select(found.questions, self.config.question_split)
        if self.config.max_questions:
            found.questions = found.questions[: self.config.max_questions]
        if not found.questions:
            raise ValueError(f"no valid questions in {found.source}")
        return found

    def generate_questions(self, kb: KnowledgeBase) -> QuestionSet:
        """Offline questions about held-out documents (the data builder's validation split)."""
        groups = sorted(kb.stats()["groups"])
        card = build_dataset(DataConfig(kb=Path(kb.uri), out=self.work / "heldout-questions", groups=groups,
                                        format="qa", generator="offline", questions_per_chunk=2, val_fraction=0.3,
                                        seed=self.config.seed))
        rows = [json.loads(line) for line in (self.work / "heldout-questions" / "validation.jsonl").open()]
        questions = []
        for row in rows:
            doc_groups = {g for d in row["doc_ids"] if (doc := kb.document(d, groups=None)) for g in doc.groups}
            questions.append(Question(id=row["id"], question=row["question"], answers=tuple(row["answers"]),
                                      doc_ids=tuple(row["doc_ids"]), groups=tuple(sorted(doc_groups)) or ("public",)))
        source = f"generated from {len(card['documents']['validation'])} held-out documents"
        return QuestionSet(questions, source, generated=True)

    # -- models -------------------------------------------------------------------------------------
    def base_generator(self) -> tuple[str | None, str | None, dict[str, Any]]:
        """(generator spec of the base model, why there is none, facts about it)."""
        base = self.config.base_model
        if base.startswith("openai:"):
            return base, None, {"kind": "openai-compatible endpoint", "spec": base}
        if base == "scratch":
            # A ~1M-parameter model gains nothing from intra-op threads, and on a busy machine their
            # spin-waits made training 20x slower in our runs: one thread for the whole run.
            torch.set_num_threads(1)
            self.progress("base model (scratch, built once)", 0, 1)
            path, facts = ensure_scratch_model(self.home, self.config.scratch)
            self.progress("base model (scratch, built once)", 1, 1)
            return f"hf:{path}", None, {"kind": "scratch", "path": path, "parameters": facts.get("parameters"),
                                        "build_seconds": facts.get("seconds"), "reused": facts.get("reused")}
        if is_gguf(base):
            self.progress(f"base model ({base}, converted once)", 0, 1)
            try:
                folder = resolve_base_model(base, self.home, progress=False)
            except BaseModelError as exc:
                return None, str(exc), {"kind": "gguf", "spec": base}
            self.progress(f"base model ({base}, converted once)", 1, 1)
            return f"hf:{folder}", None, model_facts(base, self.home)
        if Path(base).expanduser().is_dir():
            return f"hf:{base}", None, {"kind": "hf", "path": base}
        try:
            from transformers import AutoConfig

            AutoConfig.from_pretrained(base)
        except OSError as exc:
            return None, f"base model {base!r} is not available offline ({exc.__class__.__name__})", {"kind": "hf"}
        return f"hf:{base}", None, {"kind": "hf", "id": base}

    def plan_arms(self, kb: KnowledgeBase) -> list[ArmPlan]:
        started = time.perf_counter()
        needs_base = any(arm.generator == BASE for arm in self.config.arms)
        base_spec, base_problem, self.base_info = self.base_generator() if needs_base else (None, None, None)
        plans = []
        trained: dict[str, TrainedAdapter] = {}
        for arm in self.config.arms:
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
                    if arm.data_format not in trained:
                        trained[arm.data_format] = self.train(kb, generator.removeprefix("hf:"), arm.data_format)
                    plan.adapter = trained[arm.data_format].entry
                    plan.adapter_info = trained[arm.data_format].to_dict()
                else:
                    plan.adapter = AdapterRegistry(self.home).get(arm.adapter)
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
            plans.append(plan)
        self.timings["models"] = time.perf_counter() - started
        return plans

    def train(self, kb: KnowledgeBase, base_model: str, data_format: str,
              groups: list[str] | None = None, kb_path: Path | None = None, suffix: str = "",
              finetune: dict[str, Any] | None = None) -> TrainedAdapter:
        phase = f"train {data_format} adapter{suffix}"
        self.progress(phase, 0, 1)
        self.log(f"{phase} on {base_model} (groups {groups or self.config.training.groups})")
        training = self.config.training
        qa_file = None
        if training.train_on_questions and self.config.questions:
            qa_file = Path(self.config.questions)
        recipe = training.model_dump()
        recipe["finetune"] = {**recipe["finetune"], **(finetune or {})}
        result = train_adapter(
            kb=kb_path or Path(kb.uri), work=self.work, home=self.home, base_model=base_model,
            is_scratch=is_scratch_model(base_model), data_format=data_format,
            groups=groups or list(self.config.training.groups),
            training=recipe, qa_file=qa_file, name=f"compare-{data_format}{suffix}",
        )
        self.progress(phase, 1, 1)
        return result

    # -- answering ----------------------------------------------------------------------------------
    def ask(self, plan: ArmPlan, strategy: Strategy | None, questions: Sequence[Question], kb_state: str,
            phase: str, kb_version: int | None, groups: Sequence[str] | None = None,
            check_access: bool = True) -> dict[str, dict[str, Any]]:
        """Every question through one arm, a batch at a time; cached answers are reused, new ones committed
        as each batch finishes (a killed run loses at most one batch)."""
        answers: dict[str, dict[str, Any]] = {}
        size = plan.config.batch_size
        for start in range(0, len(questions), size):
            batch = questions[start : start + size]
            callers = {q.id: tuple(sorted(groups or q.groups)) for q in batch}
            keys = {q.id: cache_key(plan.fingerprint, q.question, callers[q.id],
                                    kb_state if plan.retrieves else None, check_access) for q in batch}
            todo = []
            for question in batch:
                cached = self.cache.get(keys[question.id])
                problem = plan.access_problem(callers[question.id]) if check_access and cached is None else None
                if cached is not None:
                    answers[question.id] = cached
                elif problem:
                    answer = refusal(plan, question.question, problem)
                    self.record(plan, answer, callers[question.id], kb_version, outcome="refused", reason=problem)
                    answers[question.id] = self.commit(keys[question.id], plan, answer)
                else:
                    todo.append(question)
            if todo:
                assert strategy is not None
                found = strategy.answer_batch([q.question for q in todo], [callers[q.id] for q in todo])
                for question, answer in zip(todo, found, strict=True):
                    self.record(plan, answer, callers[question.id], kb_version)
                    answers[question.id] = self.commit(keys[question.id], plan, answer)
            self.progress(phase, min(start + size, len(questions)), len(questions))
        return answers

    def commit(self, key: str, plan: ArmPlan, answer: Answer) -> dict[str, Any]:
        record = answer_record(answer)
        self.cache.put(key, plan.name, record)
        return record

    def strategy(self, plan: ArmPlan, kb: KnowledgeBase) -> Strategy:
        """The arm's strategy over `kb`, built once: the answering, freshness and leak phases share its model."""
        key = json.dumps([plan.fingerprint, kb.uri if plan.retrieves else None], sort_keys=True, default=str)
        if key not in self._strategies:
            self._strategies[key] = build_strategy(plan, kb)
        return self._strategies[key]

    def record(self, plan: ArmPlan, answer: Answer, caller: Sequence[str], kb_version: int | None,
               **outcome: str) -> None:
        """Every answer compare produces goes to the KB's audit trail, like those of `ask` and the API;
        a refusal with `outcome="refused"` and its `reason`."""
        if self.audit is not None:
            self.audit.record(answer, caller="compare", groups=caller, kb_version=kb_version,
                              adapter=plan.adapter.ref if plan.adapter else None, **outcome)

    def answer_all(self, plans: list[ArmPlan], kb: KnowledgeBase, questions: Sequence[Question],
                   kb_state: str) -> dict[str, dict[str, dict[str, Any]]]:
        started = time.perf_counter()
        results = {}
        for plan in plans:
            if plan.skip_reason:
                self.log(f"arm {plan.name} skipped: {plan.skip_reason}")
                continue
            try:
                strategy = self.strategy(plan, kb)
                results[plan.name] = self.ask(plan, strategy, questions, kb_state, f"answer: {plan.name}",
                                              kb.version)
            except GeneratorError as exc:
                plan.skip_reason = f"failed: {exc}"
                self.log(f"arm {plan.name} failed: {exc}")
        self.timings["answer"] = time.perf_counter() - started
        return results

    # -- probes -------------------------------------------------------------------------------------
    def freshness(self, plans: list[ArmPlan], kb: KnowledgeBase) -> dict[str, Any] | None:
        changes = self.config.changes
        if changes is None:
            return None
        changes = Path(changes)
        if not (changes / "docs").is_dir() or not (changes / "questions.jsonl").is_file():
            raise FileNotFoundError(f"{changes}: a change set needs docs/ and questions.jsonl")
        if self.config.docs is None:
            return {"skipped": "the freshness probe re-ingests the documents folder: give docs, not kb"}
        started = time.perf_counter()
        probe = load_questions(changes / "questions.jsonl")
        for error in probe.errors:
            self.log(f"skipped change question: {error.reason}")
        overlay = self.work / "fresh-docs"
        shutil.rmtree(overlay, ignore_errors=True)
        shutil.copytree(Path(self.config.docs), overlay)
        shutil.copytree(changes / "docs", overlay, dirs_exist_ok=True)
        edited = {p.relative_to(changes / "docs").as_posix() for p in (changes / "docs").rglob("*") if p.is_file()}
        fresh_path = self.work / "kb-fresh"
        shutil.rmtree(fresh_path, ignore_errors=True)
        copy_store(kb.uri, str(fresh_path), queries=5)
        fresh = KnowledgeBase.open(fresh_path, embedder=kb.embedder)
        # The update a team would run: load and re-index the edited files only (with the corpus's sidecar
        # metadata, so that they keep their access groups), timed from reading the files to the commit.
        updating = time.perf_counter()
        documents, errors = load_documents([overlay])
        update = fresh.ingest_documents([d for d in documents if d.id in edited])
        update_seconds = time.perf_counter() - updating
        for error in errors:
            self.log(f"freshness: skipped {error.path}: {error.reason}")
        self.log(f"freshness: {len(update.updated)} edited documents re-indexed in {update_seconds:.2f}s")
        fresh_state = kb_fingerprint(fresh)
        retrained: dict[str, TrainedAdapter] = {}
        arms: dict[str, Any] = {}
        for plan in plans:
            if plan.skip_reason:
                continue
            prior = self.ask(plan, self.strategy(plan, kb), probe.questions, kb_fingerprint(kb),
                             f"freshness before: {plan.name}", kb.version)
            after_plan, time_to_fresh, measured = plan, None, False
            if plan.retrieves:
                time_to_fresh, measured = update_seconds, True
            if plan.adapter and self.config.retrain:
                key = plan.config.data_format
                if key not in retrained:
                    retrained[key] = self.train(fresh, plan.generator.removeprefix("hf:"), key,
                                                kb_path=fresh_path, suffix="-fresh")
                after_plan = ArmPlan(plan.config, plan.generator, plan.model, retrained[key].entry,
                                     retrained[key].to_dict())
                after_plan.fingerprint = {**plan.fingerprint, "adapter": [after_plan.adapter.ref,
                                          after_plan.adapter.manifest.get("created_at")]}
                cost = after_plan.adapter.manifest.get("cost", {})
                time_to_fresh = (time_to_fresh or 0.0) + float(cost.get("wall_clock_s") or 0.0) + \
                    retrained[key].data_seconds
                measured = not retrained[key].reused
            elif plan.adapter:
                measured = False
            after = self.ask(after_plan, self.strategy(after_plan, fresh), probe.questions, fresh_state,
                             f"freshness after: {plan.name}", fresh.version)
            arms[plan.name] = freshness_scores(probe.questions, prior, after, time_to_fresh, measured, self.config)
        fresh.close()
        self.timings["freshness"] = time.perf_counter() - started
        return {"changes": str(changes), "questions": len(probe.questions), "rag_update_seconds": round(update_seconds, 3),
                "updated_documents": update.updated, "retrained": bool(self.config.retrain), "arms": arms}

    def leak_probe(self, plans: list[ArmPlan], kb: KnowledgeBase, questions: Sequence[Question],
                   kb_state: str) -> dict[str, Any] | None:
        """Questions answerable only from documents the caller may not read, asked as that caller; then what
        the adapters' weights hold of them (`weights_leak_probe`)."""
        caller = tuple(self.config.probes.leak_caller_groups)
        restricted = [q for q in questions if q.answerable and q.doc_ids and all(
            kb.document(d, groups=caller) is None and kb.document(d, groups=None) is not None for d in q.doc_ids)]
        probed = [p for p in plans + self.leak_plans(plans, kb) if not p.skip_reason]
        training = self.restricted_training_rows(probed, caller)
        if not restricted and not training:
            return None
        started = time.perf_counter()
        arms = {}
        for plan in (probed if restricted else []):
            # Measured as the weights are: the access check that would refuse the adapter is not applied here.
            answers = self.ask(plan, self.strategy(plan, kb), restricted, kb_state, f"leak probe: {plan.name}",
                               kb.version, groups=caller, check_access=False)
            leaks = [float(not a["abstained"] and states_answer(a["text"], q.answers))
                     for q, a in ((q, answers[q.id]) for q in restricted)]
            arms[plan.name] = {
                "leak_rate": self.estimate(leaks),
                "refused_by_access_check": plan.access_problem(caller) is not None,
                "adapter_groups": list(plan.adapter_groups) if plan.adapter else None,
                "leaked": [{"id": q.id, "question": q.question, "answer": answers[q.id]["text"]}
                           for q, leak in zip(restricted, leaks, strict=True) if leak],
            }
        adapted = [p for p in probed if p.adapter and p.generator.startswith("hf:")]
        weights = None
        if adapted:
            sets = {"questions": restricted, "training": training}
            pool = [a for q in questions if q.answerable for a in q.answers[:1]]
            weights = weights_leak_probe(adapted, {k: v for k, v in sets.items() if v}, self.config.probes.leak_distractors,
                                         self.progress, pool, self.config.bootstrap, self.config.seed)
        self.timings["leak_probe"] = time.perf_counter() - started
        return {"caller_groups": list(caller), "questions": len(restricted), "arms": arms, "weights": weights}

    def leak_plans(self, plans: list[ArmPlan], kb: KnowledgeBase) -> list[ArmPlan]:
        """The 'before' of the leak remedy: each trained `finetuned` arm again, with an adapter trained on the
        documents of `probes.leak_adapter.groups` (default every group)."""
        leak_adapter = self.config.probes.leak_adapter
        if leak_adapter is None:
            return []
        groups = sorted(leak_adapter.groups or kb.stats()["groups"])
        extra, trained = [], {}
        for plan in plans:
            if plan.skip_reason or plan.config.adapter != TRAIN or plan.config.strategy != "finetuned":
                continue
            key = plan.config.data_format
            if key not in trained:
                trained[key] = self.train(kb, plan.generator.removeprefix("hf:"), key, groups=groups,
                                          suffix="-leak", finetune=leak_adapter.finetune)
            config = plan.config.model_copy(update={"name": f"{plan.name} ({', '.join(groups)})"})
            before = ArmPlan(config, plan.generator, plan.model, trained[key].entry, trained[key].to_dict())
            before.fingerprint = {**plan.fingerprint, "adapter": [trained[key].entry.ref,
                                  trained[key].entry.manifest.get("created_at")]}
            extra.append(before)
        return extra

    def restricted_training_rows(self, plans: Sequence[ArmPlan], caller: Sequence[str]) -> list[Question]:
        """Rows of the adapters' training data that the caller may not read, as questions: the facts an adapter
        trained on them could hold, asked as it was trained (the worst case). Adapters whose dataset is gone
        are left out, with a note."""
        rows: dict[str, Question] = {}
        for plan in plans:
            if plan.adapter is None:
                continue
            dataset = (plan.adapter.manifest.get("dataset") or {}).get("path")
            if not dataset or not Path(dataset, "card.json").is_file():
                self.log(f"leak probe: {plan.name}'s training data is not at hand; its training rows are not probed")
                continue
            try:
                unreadable = unreadable_rows(Path(dataset), caller)
            except (OSError, ValueError) as exc:  # changed since training (hash mismatch) or unreadable
                self.log(f"leak probe: {plan.name}'s training data at {dataset} is not usable ({exc}); not probed")
                continue
            for row in unreadable:
                if row.get("question") and row.get("answers"):
                    rows.setdefault(row["question"], Question(id=str(row.get("id", len(rows))), question=row["question"],
                                                              answers=tuple(row["answers"])))
        chosen = list(rows.values())
        limit = self.config.probes.leak_training_questions
        return random.Random(self.config.seed).sample(chosen, limit) if len(chosen) > limit else chosen

    def estimate(self, values: Sequence[float]) -> dict[str, Any] | None:
        return estimate_dict(values, self.config.bootstrap, self.config.seed)

    # -- the run ------------------------------------------------------------------------------------
    def run(self) -> CompareResult:
        started = time.perf_counter()
        kb, kb_info = self.open_kb()
        self.audit = AuditLog.open(default_audit_dir(kb.uri))
        try:
            question_set = self.load_questions(kb)
            questions = question_set.questions
            plans = self.plan_arms(kb)
            state = kb_info["fingerprint"]
            answers = self.answer_all(plans, kb, questions, state)
            scores = {name: {q.id: self.score(plan_by(plans, name), q, a[q.id]) for q in questions}
                      for name, a in answers.items()}
            judge_info = self.judge(plans, questions, answers, scores)
            freshness = self.freshness(plans, kb)
            leak = self.leak_probe(plans, kb, questions, state)
            forgetting = self.forgetting(plans)
        finally:
            kb.close()
            self.audit.close()
        report = self.assemble(plans, kb_info, question_set, answers, scores, judge_info, freshness, leak,
                               forgetting, time.perf_counter() - started)
        return CompareResult(report, write_outputs(report, self.out))

    def score(self, plan: ArmPlan, question: Question, answer: dict[str, Any]) -> dict[str, float]:
        scores = score_answer(question, answer, plan.retrieves)
        if self.config.format is not None and question.answerable and not answer["abstained"]:
            scores["format_adherence"] = float(not violations(answer["text"], self.config.format))
        return scores

    def judge(self, plans: list[ArmPlan], questions: Sequence[Question], answers: dict[str, Any],
              scores: dict[str, dict[str, dict[str, float]]]) -> dict[str, Any] | None:
        if not self.config.judge:
            return None
        judge = Judge(self.config.judge, retries=self.config.judge_retries)
        info: dict[str, Any] = {"generator": self.config.judge, "arms": {}}
        for name, arm_answers in answers.items():
            judged = failed = 0
            answerable = [q for q in questions if q.answerable]
            for done, question in enumerate(answerable):
                answer = arm_answers[question.id]
                key = cache_key("judge", self.config.judge, question.question, question.answers, answer["text"])
                verdict = self.cache.get(key)
                if verdict is None:
                    verdict = judge.judge(question.question, list(question.answers), answer["text"]).to_dict()
                    self.cache.put(key, f"judge:{name}", verdict)
                if verdict["correct"] is None:
                    failed += 1
                else:
                    judged += 1
                    scores[name][question.id]["judge_accuracy"] = float(verdict["correct"])
                self.progress(f"judge: {name}", done + 1, len(answerable))
            info["arms"][name] = {"judged": judged, "failed": failed}
        return info

    def forgetting(self, plans: list[ArmPlan]) -> dict[str, Any] | None:
        adapted = [p for p in plans if not p.skip_reason and p.adapter and p.generator.startswith("hf:")]
        if not self.config.probes.forgetting or not adapted:
            return None
        started = time.perf_counter()
        result = forgetting_probe(adapted, self.config.probes, self.progress)
        self.timings["forgetting"] = time.perf_counter() - started
        return result

    def assemble(self, plans: list[ArmPlan], kb_info: dict[str, Any], question_set: QuestionSet,
                 answers: dict[str, dict[str, dict[str, Any]]], scores: dict[str, dict[str, dict[str, float]]],
                 judge_info: dict[str, Any] | None, freshness: dict[str, Any] | None, leak: dict[str, Any] | None,
                 forgetting: dict[str, Any] | None, seconds: float) -> dict[str, Any]:
        questions = question_set.questions
        ran = [p for p in plans if p.name in answers and not p.skip_reason]
        metrics = {p.name: self.arm_metrics(scores[p.name]) for p in ran}
        if leak:
            for name, probe in leak["arms"].items():
                if probe["leak_rate"] and name in metrics:
                    metrics[name]["leak_rate"] = probe["leak_rate"]
        latency = {p.name: latency_table(answers[p.name].values()) for p in ran}
        tokens = {p.name: {
            "in_mean": float(np.mean([a["tokens_in"] for a in answers[p.name].values()])),
            "out_mean": float(np.mean([a["tokens_out"] for a in answers[p.name].values()])),
        } for p in ran}
        cost = {p.name: arm_costs(p, kb_info, latency[p.name], tokens[p.name], freshness, self.config.prices)
                for p in ran}
        comparisons = self.comparisons(ran, scores, questions)
        if forgetting:
            self.add_domain_gain(forgetting, ran, scores, questions)
        report: dict[str, Any] = {
            "tailor_version": tailor.__version__,
            "created_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "command": "tailor compare",
            "config": json.loads(self.config.model_dump_json()),
            "environment": environment(),
            "kb": kb_info,
            "base_model": self.base_info,
            "questions": {"source": question_set.source, "count": len(questions),
                          "answerable": sum(q.answerable for q in questions),
                          "unanswerable": sum(not q.answerable for q in questions),
                          "generated": question_set.generated,
                          "split": self.config.question_split.model_dump() if self.config.question_split else None,
                          "errors": [{"path": e.path, "reason": e.reason} for e in question_set.errors]},
            "primary_metric": self.config.primary_metric,
            "arms": [p.to_dict() for p in plans],
            "metrics": metrics,
            "judge": judge_info,
            "comparisons": [c.to_dict() for c in comparisons],
            "latency": latency,
            "tokens": tokens,
            "prices": self.config.prices.model_dump(),
            "cost": cost,
            "freshness": freshness,
            "format": self.format_section(metrics),
            "forgetting": forgetting,
            "leak": leak,
            "phase_seconds": {k: round(v, 2) for k, v in self.timings.items()},
            "seconds": round(seconds, 2),
        }
        report["recommendation"] = recommend(report)
        report["per_question"] = per_question(questions, answers, scores)
        return report

    def arm_metrics(self, per_question_scores: dict[str, dict[str, float]]) -> dict[str, Any]:
        names = sorted({m for s in per_question_scores.values() for m in s})
        return {m: self.estimate([s[m] for s in per_question_scores.values() if m in s]) for m in names}

    def comparisons(self, ran: list[ArmPlan], scores: dict[str, dict[str, dict[str, float]]],
                    questions: Sequence[Question]) -> list[Any]:
        found = []
        metrics = [self.config.primary_metric, "format_adherence", "abstain_correct"]
        for i, a in enumerate(ran):
            for b in ran[i + 1:]:
                for metric in metrics:
                    ids = [q.id for q in questions if metric in scores[a.name][q.id] and metric in scores[b.name][q.id]]
                    comparison = compare_paired(a.name, b.name, metric, [scores[a.name][i][metric] for i in ids],
                                                [scores[b.name][i][metric] for i in ids], self.config.bootstrap,
                                                self.config.seed)
                    if comparison:
                        found.append(comparison)
        return found

    def add_domain_gain(self, forgetting: dict[str, Any], ran: list[ArmPlan],
                        scores: dict[str, dict[str, dict[str, float]]], questions: Sequence[Question]) -> None:
        """Next to what an adapter cost: what it gained on the domain over the closed-book base (paired)."""
        closed = next((p.name for p in ran if p.config.strategy == "closed_book"), None)
        metric = self.config.primary_metric
        for arm, probe in forgetting["arms"].items():
            if closed is None:
                probe["domain_gain"] = None
                continue
            ids = [q.id for q in questions if metric in scores[arm][q.id] and metric in scores[closed][q.id]]
            gain = compare_paired(arm, closed, metric, [scores[arm][i][metric] for i in ids],
                                  [scores[closed][i][metric] for i in ids], self.config.bootstrap, self.config.seed)
            probe["domain_gain"] = {"mean": gain.diff, "low": gain.low, "high": gain.high, "n": gain.n} if gain else None

    def format_section(self, metrics: dict[str, dict[str, Any]]) -> dict[str, Any] | None:
        if self.config.format is None:
            return None
        return {"spec": self.config.format.model_dump(exclude_defaults=True),
                "arms": {name: m.get("format_adherence") for name, m in metrics.items()}}


def plan_by(plans: list[ArmPlan], name: str) -> ArmPlan:
    return next(p for p in plans if p.name == name)


def answer_record(answer: Answer) -> dict[str, Any]:
    """The answer as stored and reported: hits keep ids, ranks and scores, not the retrieved text."""
    record = answer.to_dict()
    record["hits"] = [{"chunk": {"id": h["chunk"]["id"], "doc_id": h["chunk"]["doc_id"]}, "score": h["score"],
                       "doc_title": h["doc_title"]} for h in record["hits"]]
    passages = {h.chunk.id: h.chunk for h in answer.hits}
    for citation in record["citations"]:
        chunk = passages.get(citation["chunk_id"])
        citation["passage"] = chunk.text if chunk else citation["quote"]
        citation["passage_start"] = chunk.start if chunk else citation["start"]
    return record


def freshness_scores(probe: Sequence[Question], before: dict[str, dict[str, Any]],
                     after: dict[str, dict[str, Any]], time_to_fresh: float | None, measured: bool,
                     config: CompareConfig) -> dict[str, Any]:
    def share(answers: dict[str, dict[str, Any]], golds: str) -> list[float]:
        return [float(not answers[q.id]["abstained"] and states_answer(answers[q.id]["text"], getattr(q, golds)))
                for q in probe if q.id in answers]

    def est(values: list[float]) -> dict[str, Any] | None:
        return estimate_dict(values, config.bootstrap, config.seed)

    stale = [{"id": q.id, "question": q.question, "answer": after[q.id]["text"],
              "old_answers": list(q.old_answers), "answers": list(q.answers)}
             for q in probe if not states_answer(after[q.id]["text"], q.answers)]
    return {
        "before": est(share(before, "old_answers")),
        "before_new": est(share(before, "answers")),
        "after": est(share(after, "answers")),
        "stale": est(share(after, "old_answers")),
        "time_to_fresh_s": round(time_to_fresh, 3) if time_to_fresh is not None else None,
        "time_to_fresh_measured": measured,
        "stale_answers": stale,
    }


def latency_table(answers: Any) -> dict[str, dict[str, float]]:
    table = {}
    records = [a for a in answers if a["timings_ms"].get("total", 0.0) > 0]  # refusals took no time
    for stage in STAGES:
        values = [a["timings_ms"].get(stage, 0.0) for a in records]
        if values:
            table[stage] = {"p50": float(np.percentile(values, 50)), "p95": float(np.percentile(values, 95)),
                            "mean": float(np.mean(values))}
    return table


def per_question(questions: Sequence[Question], answers: dict[str, dict[str, dict[str, Any]]],
                 scores: dict[str, dict[str, dict[str, float]]]) -> list[dict[str, Any]]:
    rows = []
    for q in questions:
        rows.append({
            "id": q.id, "question": q.question, "answerable": q.answerable, "gold": list(q.answers),
            "gold_doc_ids": list(q.doc_ids), "groups": list(q.groups),
            "answers": {arm: {"text": a[q.id]["text"], "abstained": a[q.id]["abstained"], "scores": scores[arm][q.id],
                              "citations": [{k: c[k] for k in ("marker", "doc_id", "title", "source", "quote",
                                                               "passage", "start", "end", "page", "supported")}
                                            for c in a[q.id]["citations"]],
                              "timings_ms": a[q.id]["timings_ms"]}
                        for arm, a in answers.items()},
        })
    return rows


def environment() -> dict[str, Any]:
    import os

    import torch
    import transformers

    device = torch.cuda.get_device_name() if torch.cuda.is_available() else "cpu"
    return {"python": platform.python_version(), "platform": platform.platform(), "torch": torch.__version__,
            "transformers": transformers.__version__, "device": device, "cpu_count": os.cpu_count()}


def write_outputs(report: dict[str, Any], out: Path) -> dict[str, Path]:
    from tailor.evaluate.report import write_report

    out.mkdir(parents=True, exist_ok=True)
    json_path = out / "report.json"
    tmp = json_path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(report, indent=2, ensure_ascii=False, default=str) + "\n")
    tmp.replace(json_path)
    return {"json": json_path, **write_report(report, out)}


def run_compare(config: CompareConfig, progress: ProgressCallback | None = None,
                log: LogCallback | None = None) -> CompareResult:
    """Run every arm on the questions, the probes, and write OUT/report.{json,html} and summary.md."""
    return CompareRun(config, progress, log).run()
