"""The verdict suite: is the recommendation right, and what does a user lose by following it?

    python benchmarks/verdict_suite.py [--tasks handbook,squad,banking77] [--out out/verdict-suite]
                                       [--base-model smollm2-135m-instruct] [--quick]

Each task runs `tailor compare` twice with the same arms, adapters and settings: once on its dev part, where
the recommendation is made (as a user would, before trusting it), and once on its held-out test part, where
every arm is scored. The regret is the best arm's test score minus the test score of the arm recommended on
dev, with a paired bootstrap CI over the test questions; 0 when the recommendation picked the best arm. The
verdict is also re-derived under the judge-free paraphrase score (`semantic_match`, when the run has it): a
task whose verdict depends on the metric is flagged.

Tasks (each skipped cleanly when its data is absent):
- handbook: examples/handbook (knowledge in policy documents, a house answer format), its question split.
- squad: SQuAD v2 dev articles (../shared/datasets/squad_v2_dev_half, CC BY-SA 4.0; read by path, a compare
  folder is written under --out, never into the repo): public knowledge the model may partly know, with
  unanswerable questions; each paragraph a document, the question split by paragraph.
- banking77: Banking77 (../shared/datasets/banking77, CC BY 4.0): behaviour learnt from labelled messages; a
  stratified sample of the official train split is what arms retrieve or train on, a stratified sample of its
  dev part (held back from training) decides, a stratified sample of the official test split is scored.

The probes (leak, forgetting, freshness) are off: the suite measures the verdict's arm choice, and the adapters
and answers are cached, so the dev and test runs of a task train each adapter once.
Results: results/verdict_suite.json (each task's figures; a re-run of some tasks keeps the others').
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from _common import REPO, RESULTS, datasets_dir, print_table, write_result
from examples_banking77 import banking77_examples, banking77_folder

from tailor.base_models import DEFAULT_BASE_MODEL
from tailor.evaluate.compare import CompareConfig, run_compare
from tailor.evaluate.compare.splits import QuestionSplit
from tailor.evaluate.compare.stats import estimate

SECOND_METRIC = "semantic_match"
BOOTSTRAP = 2000
NO_PROBES = {"forgetting": False, "leak_training_questions": 0, "leak_adapter": None}
LLM_ARMS = [
    {"name": "closed_book", "strategy": "closed_book", "max_new_tokens": 32, "quantize": "bf16"},
    {"name": "rag_extractive", "strategy": "rag", "generator": "extractive"},
    {"name": "rag", "strategy": "rag", "max_new_tokens": 32, "quantize": "bf16"},
    {"name": "finetuned", "strategy": "finetuned", "max_new_tokens": 32, "quantize": "bf16"},
    {"name": "hybrid", "strategy": "hybrid", "max_new_tokens": 32, "quantize": "bf16"},
]


def handbook(part: str, out: Path, args: argparse.Namespace) -> CompareConfig | None:
    config = CompareConfig.from_folder(REPO / "examples" / "handbook", {"out": out, "base_model": args.base_model})
    split = (config.question_split or QuestionSplit()).model_copy(
        update={"part": part, "sample": (24 if part == "dev" else 48) if args.quick else None})
    return config.model_copy(update={"question_split": split, "changes": None,
                                     "probes": config.probes.model_copy(update=NO_PROBES)})


def squad(part: str, out: Path, args: argparse.Namespace) -> CompareConfig | None:
    source = datasets_dir() / "squad_v2_dev_half" / "dev-v2.0.json"
    if not source.is_file():
        return None
    folder = write_squad_folder(source, out.parent / "squad-input", args.squad_articles)
    sample = {"dev": 30 if args.quick else 60, "test": 60 if args.quick else 150}[part]
    return CompareConfig(docs=folder / "docs", questions=folder / "questions.jsonl", out=out,
                         base_model=args.base_model, arms=LLM_ARMS, probes=NO_PROBES,
                         training={"questions_per_chunk": 1, "paraphrases": 2,
                                   "finetune": {"budget_minutes": args.budget_minutes}},
                         question_split=QuestionSplit(part=part, dev_fraction=0.3, sample=sample, seed=0))


def banking77(part: str, out: Path, args: argparse.Namespace) -> CompareConfig | None:
    folder = banking77_folder()
    if folder is None:
        return None
    asked = {"dev": args.banking_dev_per_label, "test": args.banking_test_per_label}[part]
    examples = banking77_examples(folder, args.banking_train_per_label, asked, part)
    return CompareConfig(examples=examples, out=out, base_model=args.base_model,
                         training={"finetune": {"epochs": 2, "budget_minutes": args.budget_minutes}},
                         probes=NO_PROBES)


TASKS: dict[str, Callable[[str, Path, argparse.Namespace], CompareConfig | None]] = {
    "handbook": handbook, "squad": squad, "banking77": banking77}


def write_squad_folder(source: Path, folder: Path, articles: int) -> Path:
    """SQuAD's report-half articles (8 on; 0-7 calibrated the extractive reader) as a compare folder: a document
    per paragraph, its questions with their paragraph as gold document (unanswerable ones too)."""
    data = json.loads(source.read_text())["data"]
    (folder / "docs").mkdir(parents=True, exist_ok=True)
    lines = []
    for a, article in enumerate(data[8: 8 + articles], start=8):
        slug = f"a{a:02d}"
        for j, paragraph in enumerate(article["paragraphs"]):
            doc_id = f"{slug}/p{j:02d}.md"
            path = folder / "docs" / doc_id
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(f"# {article['title'].replace('_', ' ')}\n\n{paragraph['context']}\n")
            for qa in paragraph["qas"]:
                answers = sorted({x["text"] for x in qa["answers"]})
                lines.append({"id": qa["id"], "question": qa["question"], "answers": answers,
                              "answerable": not qa["is_impossible"], "doc_ids": [doc_id]})
    (folder / "questions.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    return folder


def run_task(name: str, args: argparse.Namespace) -> dict[str, Any] | None:
    out = args.out / name
    reports = {}
    seconds = {}
    for part in ("dev", "test"):
        config = TASKS[name](part, out / part, args)
        if config is None:
            print(f"skipped {name}: its dataset is not under {datasets_dir()}", file=sys.stderr)
            return None
        started = time.perf_counter()
        reports[part] = run_compare(config, log=logger(f"{name} {part}")).report
        seconds[part] = round(time.perf_counter() - started, 1)
    return task_result(reports["dev"], reports["test"], seconds)


def logger(prefix: str) -> Callable[[str], None]:
    return lambda line: print(f"[{prefix}] {line}", file=sys.stderr, flush=True)


def task_result(dev: dict[str, Any], test: dict[str, Any], seconds: dict[str, float]) -> dict[str, Any]:
    primary = test["primary_metric"]
    verdict = dev["recommendation"]
    result: dict[str, Any] = {
        "primary_metric": primary, "questions": {"dev": dev["questions"]["count"], "test": test["questions"]["count"]},
        "dev_verdict": verdict["verdict"], "dev_arm": verdict["arm"], "dev_headline": verdict["headline"],
        "test_verdict": test["recommendation"]["verdict"], "test_arm": test["recommendation"]["arm"],
        "arms": {arm: {metric: metrics[metric] for metric in (primary, SECOND_METRIC, "f1") if metric in metrics}
                 for arm, metrics in test["metrics"].items()},
        "seconds": seconds,
    }
    for part, report in (("dev", dev), ("test", test)):
        second = (report["recommendation"].get("under_" + SECOND_METRIC) or {})
        result[f"{part}_arm_under_{SECOND_METRIC}"] = second.get("arm")
        result[f"{part}_metric_dependent"] = report["recommendation"].get("metric_dependent")
    # Each metric's regret is that of the arm the dev run recommends when that metric decides.
    for metric, arm in ((primary, verdict["arm"]), (SECOND_METRIC, result[f"dev_arm_under_{SECOND_METRIC}"])):
        if all(metric in m for m in test["metrics"].values()):
            result[f"regret_{metric}"] = regret(test, arm, metric)
    return result


def regret(test: dict[str, Any], recommended: str | None, metric: str) -> dict[str, Any]:
    """Best arm's test mean minus the recommended arm's, with a paired bootstrap CI over the test questions. The
    best arm is picked on these same test scores, so the point regret is never negative and leans high when arms
    tie: a CI that reaches 0 says the recommendation is as good as the best within the noise."""
    means = {arm: m[metric]["mean"] for arm, m in test["metrics"].items() if metric in m}
    best = max(means, key=means.__getitem__)
    if recommended is None or recommended not in means:
        return {"best": best, "recommended": recommended, "regret": None, "low": None, "high": None}
    pairs = [(row["answers"][best]["scores"][metric], row["answers"][recommended]["scores"][metric])
             for row in test["per_question"]
             if best in row["answers"] and recommended in row["answers"]
             and metric in row["answers"][best]["scores"] and metric in row["answers"][recommended]["scores"]]
    found = estimate([b - r for b, r in pairs], resamples=BOOTSTRAP)
    if found is None:
        return {"best": best, "recommended": recommended, "regret": None, "low": None, "high": None}
    return {"best": best, "recommended": recommended, "regret": round(found.mean, 4), "low": round(found.low, 4),
            "high": round(found.high, 4), "questions": found.n}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", default=",".join(TASKS))
    parser.add_argument("--out", type=Path, default=Path("out/verdict-suite"))
    parser.add_argument("--base-model", default=DEFAULT_BASE_MODEL)
    parser.add_argument("--squad-articles", type=int, default=2)
    parser.add_argument("--budget-minutes", type=float, default=10.0, help="Each adapter's training budget "
                        "(squad, banking77); a cut run is said in its report")
    parser.add_argument("--banking-train-per-label", type=int, default=8)
    parser.add_argument("--banking-dev-per-label", type=int, default=2, help="The dev messages asked per intent "
                        "(a stratified sample of the 15%% of the train split held back)")
    parser.add_argument("--banking-test-per-label", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="Smaller question samples (the handbook and squad)")
    args = parser.parse_args()
    names = [n.strip() for n in args.tasks.split(",") if n.strip()]
    unknown = sorted(set(names) - set(TASKS))
    if unknown:
        parser.error(f"unknown task(s) {unknown}; known: {sorted(TASKS)}")
    previous = RESULTS / "verdict_suite.json"
    tasks = json.loads(previous.read_text()).get("tasks", {}) if previous.is_file() else {}
    for name in names:
        found = run_task(name, args)
        if found is not None:
            tasks[name] = {**found, "settings": {k: str(v) for k, v in vars(args).items()}}
    print_table("Verdict suite: recommended on dev, scored on test", [
        "task", "primary", "dev verdict (arm)", "best on test", "regret [95% CI]", f"under {SECOND_METRIC}",
        "metric-dependent (dev / test)"], [row(name, t) for name, t in tasks.items()])
    path = write_result("verdict_suite", {"command": " ".join(["python benchmarks/verdict_suite.py", *sys.argv[1:]]),
                                          "tasks": tasks})
    print(f"wrote {path}")


def row(name: str, task: dict[str, Any]) -> list[str]:
    primary = task["primary_metric"]
    found = task.get(f"regret_{primary}") or {}
    second = task.get(f"regret_{SECOND_METRIC}") or {}
    ci = "n/a" if found.get("regret") is None else f"{found['regret']:+.3f} [{found['low']:+.3f}, {found['high']:+.3f}]"
    under = "n/a" if not second else (f"{task.get(f'dev_arm_under_{SECOND_METRIC}')}; regret {second['regret']:+.3f}"
                                      if second.get("regret") is not None else "n/a")
    return [name, primary, f"{task['dev_verdict']} ({task['dev_arm']})", found.get("best", "n/a"), ci, under,
            f"{task.get('dev_metric_dependent')} / {task.get('test_metric_dependent')}"]


if __name__ == "__main__":
    main()
