"""`tailor tune` against the defaults, held out: the handbook (every rag setting) and BEIR SciFact (retrieval only).

    python benchmarks/tune_settings.py [--handbook-budget 20m] [--handbook-arms rag] [--handbook-out out/tune-handbook]
                                       [--scifact-budget 40] [--beir DIR] [--kb DIR] [--dev-queries 200]

Handbook: `run_tune` exactly as `tailor tune examples/handbook --budget B --out OUT` (its study resumes: a
folder already tuned to the budget answers from its caches). The questions are split by document (the
compare.yaml seed and fraction); trials see the dev part, the table scores the test part.

SciFact: the same study, front and held-out machinery (tailor.evaluate.tune) over a retrieval-only arm:
mode, fusion (weighted or RRF), the dense weight, the RRF constant and the candidates per retriever, at the
shipped chunking (another chunking re-embeds the 5,183 abstracts: minutes each on two cores). Objectives:
nDCG@10, p50 search latency, cost per 1,000 searches. Trials see a seeded sample of the *train* queries
(--dev-queries); the table scores the 300 *test* queries, which no trial saw. Skips cleanly without the data.
Results: results/tune_settings.json.
"""

from __future__ import annotations

import argparse
import random
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import optuna
from _common import REPO, datasets_dir, print_table, write_result
from pydantic import BaseModel, ConfigDict

from tailor.evaluate.beir import BeirDataset, load_beir
from tailor.evaluate.compare.config import CompareConfig, Prices
from tailor.evaluate.compare.costs import SECONDS_PER_HOUR, hour_price
from tailor.evaluate.compare.questions import Question
from tailor.evaluate.metrics import ndcg_at_k
from tailor.evaluate.retrieval_eval import beir_documents, document_run
from tailor.evaluate.tune import Budget, TuneConfig, run_tune
from tailor.evaluate.tune.front import pareto_front
from tailor.evaluate.tune.heldout import held_out
from tailor.evaluate.tune.measure import Measure
from tailor.evaluate.tune.objective import Objective
from tailor.evaluate.tune.study import open_study, run_study
from tailor.kb.config import RetrievalConfig
from tailor.kb.knowledge_base import KnowledgeBase
from tailor.kb.retrieval import Retriever

HANDBOOK = REPO / "examples" / "handbook"


class SearchSettings(BaseModel):
    """A point of the retrieval-only space."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    mode: Literal["dense", "bm25", "hybrid"]
    fusion: Literal["weighted", "rrf"]
    dense_weight: float
    rrf_k: int
    candidates: int

    def retrieval(self) -> RetrievalConfig:
        return RetrievalConfig(mode=self.mode, fusion=self.fusion, dense_weight=self.dense_weight,
                               bm25_weight=round(1 - self.dense_weight, 4), rrf_k=self.rrf_k,
                               candidates=self.candidates)


DEFAULT = SearchSettings(mode="hybrid", fusion="weighted", dense_weight=0.5, rrf_k=60, candidates=100)


def suggest(trial: optuna.Trial) -> SearchSettings:
    mode = trial.suggest_categorical("mode", ["dense", "bm25", "hybrid"])
    fusion = trial.suggest_categorical("fusion", ["weighted", "rrf"]) if mode == "hybrid" else DEFAULT.fusion
    weighted = mode == "hybrid" and fusion == "weighted"
    return SearchSettings(
        mode=mode, fusion=fusion,
        dense_weight=trial.suggest_float("dense_weight", 0.0, 1.0) if weighted else DEFAULT.dense_weight,
        rrf_k=trial.suggest_categorical("rrf_k", [10, 30, 60, 100]) if fusion == "rrf" else DEFAULT.rrf_k,
        candidates=trial.suggest_categorical("candidates", [30, 100, 300]),
    )


class RetrievalArm:
    """SciFact queries searched at a setting; the per-query 'correct' score is nDCG@10 of the documents."""

    name = "retrieval"

    def __init__(self, kb: KnowledgeBase, qrels: dict[str, dict[str, int]], prices: Prices) -> None:
        self.kb, self.qrels, self.prices = kb, qrels, prices

    def measure(self, settings: SearchSettings, questions: Sequence[Question], phase: str) -> Measure:
        self.kb.retriever = Retriever(self.kb.store, self.kb.retriever.embedder, settings.retrieval())
        run, seconds = {}, []
        for q in questions:
            started = time.perf_counter()
            result = self.kb.search(q.question, k=30, groups=("public",))
            seconds.append(time.perf_counter() - started)
            run[q.id] = document_run(result, 10)
        scores = ndcg_at_k({q.id: self.qrels[q.id] for q in questions}, run, 10)
        per_hour = hour_price(self.prices)
        return Measure(accuracy=float(np.mean(list(scores.values()))), p50_ms=float(np.median(seconds)) * 1000,
                       cost_per_1000=1000 * float(np.mean(seconds)) / SECONDS_PER_HOUR * per_hour, setup_seconds=0.0,
                       question_ids=[q.id for q in questions], correct=scores, abstain_correct=None)


def as_questions(dataset: BeirDataset, ids: Sequence[str]) -> list[Question]:
    return [Question(id=qid, question=dataset.queries[qid], answers=("-",)) for qid in ids]


def scifact(args: argparse.Namespace) -> dict[str, Any] | None:
    if not (args.beir / "corpus.jsonl").is_file():
        print(f"SciFact skipped: no BEIR folder at {args.beir}")
        return None
    test, train = load_beir(args.beir, "test"), load_beir(args.beir, "train")
    kb = KnowledgeBase.open(args.kb)
    kb.ingest_documents(beir_documents(test))
    dev_ids = sorted(random.Random(0).sample(sorted(train.queries), min(args.dev_queries, len(train.queries))))
    dev, held = as_questions(train, dev_ids), as_questions(test, sorted(test.queries))
    arm = RetrievalArm(kb, {**train.qrels, **test.qrels}, Prices())
    out = Path(args.scifact_out)
    study = open_study(out, "scifact-retrieval", 0, {"mode": "hybrid", "fusion": "weighted", "dense_weight": 0.5,
                                                     "candidates": DEFAULT.candidates})  # DEFAULT's parameters
    searched = run_study(study, Objective(arm, suggest, dev, 0.5, 0), Budget.parse(args.scifact_budget))
    front = pareto_front("retrieval", study)
    chosen = SearchSettings(**front[0].settings)
    result = held_out(arm, chosen, DEFAULT, held, 1000, 0)
    kb.close()
    return {"dev_queries": len(dev), "test_queries": len(held), "search": searched, "chosen": front[0].model_dump(),
            "front": [p.model_dump() for p in front], "defaults": DEFAULT.model_dump(), "held_out": result}


def handbook(args: argparse.Namespace) -> dict[str, Any]:
    config = TuneConfig(compare=CompareConfig.from_folder(HANDBOOK), out=Path(args.handbook_out),
                        arms=args.handbook_arms.split(","), budget=Budget.parse(args.handbook_budget))
    started = time.perf_counter()
    report = run_tune(config, log=print).report
    return {"command": f"tailor tune examples/handbook --budget {args.handbook_budget} --arms {args.handbook_arms} "
                       f"--out {args.handbook_out}", "seconds": round(time.perf_counter() - started, 1),
            "split": {k: v for k, v in report["split"].items() if not k.endswith("_ids")},
            "arms": {name: {k: arm.get(k) for k in ("search", "chosen", "front", "held_out", "note")}
                     for name, arm in report["arms"].items()}}


def row(name: str, held: dict[str, Any]) -> list[Any]:
    def cell(e: dict[str, Any]) -> str:
        return f"{e['mean']:.3f} [{e['low']:.3f}, {e['high']:.3f}]"

    diff = held["difference"]
    return [name, cell(held["tuned"]["accuracy"]), cell(held["defaults"]["accuracy"]),
            f"{diff['diff']:+.3f} [{diff['low']:+.3f}, {diff['high']:+.3f}]", held["tuned"]["p50_ms"],
            held["defaults"]["p50_ms"]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--handbook-budget", default="20m")
    parser.add_argument("--handbook-arms", default="rag")
    parser.add_argument("--handbook-out", default=str(REPO / "out" / "tune-handbook"))
    parser.add_argument("--scifact-budget", default="40")
    parser.add_argument("--scifact-out", default=str(REPO / "out" / "tune-scifact"))
    parser.add_argument("--beir", type=Path, default=datasets_dir() / "beir_scifact")
    parser.add_argument("--kb", type=Path, default=REPO / ".cache" / "bench-scifact")
    parser.add_argument("--dev-queries", type=int, default=200)
    args = parser.parse_args()
    results = {"handbook": handbook(args), "scifact": scifact(args)}
    rows = [row(f"handbook {name}", arm["held_out"]) for name, arm in results["handbook"]["arms"].items()
            if arm.get("held_out")]
    if results["scifact"]:
        rows.append(row("scifact retrieval (nDCG@10)", results["scifact"]["held_out"]))
    print_table("Held out: tuned vs defaults (95% CI)", ["arm", "tuned", "defaults", "tuned - defaults",
                                                          "p50 ms tuned", "p50 ms defaults"], rows)
    print(f"wrote {write_result('tune_settings', results)}")


if __name__ == "__main__":
    main()
