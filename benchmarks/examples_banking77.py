"""Banking77 (behaviour learnt from examples): every compare arm on the intents of online-banking messages.

    python benchmarks/examples_banking77.py [--train-per-label 10] [--test-per-label 5] [--epochs 2]
                                            [--budget-minutes M] [--out out/bench-banking77]
                                            [--base-model smollm2-135m-instruct]

The dataset (CC BY 4.0, Casanueva et al. 2020) is read by path from ../shared/datasets/banking77 (or
$TAILOR_DATASETS); the benchmark skips cleanly when it is absent and copies none of its text. `tailor compare`
runs on it as an examples task: a stratified sample of the official train split (N messages per intent) is
what every arm may retrieve or train on (a dev part of it is held back, as for any examples run), and a
stratified sample of the official test split (M per intent) is asked. Arms: closed book (the 77 intents listed
in the prompt), kNN over the train sample (the majority intent of the 5 nearest), RAG with the 5 nearest train
messages as demonstrations, an adapter trained on message -> intent, and a hybrid adapter trained on the RAG
prompt. Scored by exact label accuracy and macro-F1 with 95% bootstrap CIs. Also: training time and tokens/s
per adapter, questions/s per arm, peak RSS. Results: results/examples_banking77.json.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path
from typing import Any

from _common import datasets_dir, print_table, write_result

from tailor.base_models import DEFAULT_BASE_MODEL
from tailor.evaluate.compare import CompareConfig, run_compare
from tailor.evaluate.compare.examples import ExamplesConfig

LABELS = 77


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train-per-label", type=int, default=10)
    parser.add_argument("--test-per-label", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--budget-minutes", type=float, default=None,
                        help="Each adapter's training budget (a cut run is said in the results); default: none")
    parser.add_argument("--out", type=Path, default=Path("out/bench-banking77"))
    parser.add_argument("--base-model", default=DEFAULT_BASE_MODEL)
    args = parser.parse_args()
    folder = banking77_folder()
    if folder is None:
        print(f"skipped: Banking77 not found at {datasets_dir() / 'banking77'} (set TAILOR_DATASETS)")
        return
    examples = banking77_examples(folder, args.train_per_label, args.test_per_label)
    config = CompareConfig(examples=examples, out=args.out, base_model=args.base_model,
                           training={"finetune": {"epochs": args.epochs, "budget_minutes": args.budget_minutes}},
                           probes={"forgetting": False})
    started = time.perf_counter()
    report = run_compare(config, log=lambda line: print(line, file=sys.stderr, flush=True)).report
    seconds = time.perf_counter() - started
    peak_rss_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    arms = arm_rows(report)
    print_table(
        f"Banking77: {report['examples']['split']['trained_or_retrieved']} train messages "
        f"({args.train_per_label} per intent), {report['questions']['count']} test messages; {seconds:.0f} s",
        ["arm", "accuracy [95% CI]", "macro-F1 [95% CI]", "out of set", "questions/s", "train s", "train tok/s"],
        [[a["arm"], _ci(a["accuracy"]), _ci(a["macro_f1"]), f"{a['out_of_set']:.3f}", f"{a['questions_per_s']:.2f}",
          a["train_seconds"] or "-", a["train_tokens_per_s"] or "-"] for a in arms],
    )
    verdict = report["recommendation"]
    print(f"Verdict: {verdict['headline']}")
    path = write_result("examples_banking77", {
        "command": " ".join(["python benchmarks/examples_banking77.py", *sys.argv[1:]]),
        "dataset": "banking77 (CC BY 4.0): official train split sampled, official test split sampled",
        "split": report["examples"]["split"],
        "questions": report["questions"]["count"], "base_model": report["base_model"], "epochs": args.epochs,
        "budget_minutes": args.budget_minutes,
        "arms": arms, "seen": report["examples"]["arms"], "verdict": verdict["verdict"],
        "headline": verdict["headline"], "seconds": round(seconds, 1), "phase_seconds": report["phase_seconds"],
        "peak_rss_mib": round(peak_rss_mib),
    })
    print(f"wrote {path}")


def banking77_folder() -> Path | None:
    """The dataset's folder, or None when its train and test splits are not there."""
    folder = datasets_dir() / "banking77"
    return folder if (folder / "train.csv").is_file() and (folder / "test.csv").is_file() else None


def banking77_examples(folder: Path, train_per_label: int, asked_per_label: int, part: str = "test") -> ExamplesConfig:
    """N train messages per intent for every arm; M per intent of `part` asked. The dev part (15% of the train
    split) is held back from training and retrieval, as in every examples run; the verdict suite shares this
    split, so the two reuse each other's adapters."""
    return ExamplesConfig(path=folder / "train.csv", test_path=folder / "test.csv", input="text", output="category",
                          max_train=train_per_label * LABELS, max_test=asked_per_label * LABELS, dev_fraction=0.15,
                          part=part)


def arm_rows(report: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    adapters = {a["name"]: a.get("adapter") for a in report["arms"]}
    for name, metrics in report["metrics"].items():
        latency = report["latency"][name]["total"]
        training = (adapters.get(name) or {}).get("training") or {}
        wall, tokens = training.get("wall_clock_s"), training.get("tokens")
        rows.append({
            "arm": name, "accuracy": metrics["label_accuracy"], "macro_f1": metrics["macro_f1"],
            "out_of_set": metrics["out_of_set"]["mean"],
            "questions_per_s": 1000.0 / latency["mean"] if latency.get("mean") else 0.0,
            "p50_ms": latency.get("p50"), "train_seconds": round(wall, 1) if wall else None,
            "train_tokens_per_s": round(tokens / wall) if wall and tokens else None,
            "time_budget": training.get("time_budget"),
        })
    return rows


def _ci(estimate: dict[str, float]) -> str:
    return f"{estimate['mean']:.3f} [{estimate['low']:.3f}, {estimate['high']:.3f}]"


if __name__ == "__main__":
    main()
