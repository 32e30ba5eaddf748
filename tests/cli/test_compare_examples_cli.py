"""`tailor compare` on a folder of labelled examples, end to end: the real CLI and the real model."""

from __future__ import annotations

import json

from helpers.compare_case import compare
from helpers.examples_case import write_folder

SHORT_TRAINING = {"max_steps": 4, "batch_size": 4, "max_length": 256, "eval_steps": 4, "save_steps": 4,
                  "logging_steps": 1}


def test_examples_compare_with_the_real_model_runs_every_arm(tmp_path):
    config = {  # base_model left out: the default is the real model (SmolLM2-135M-Instruct)
        "examples": {"path": "examples.jsonl", "output": "intent"},
        "training": {"finetune": SHORT_TRAINING},
        "probes": {"forgetting": False},
    }
    folder = write_folder(tmp_path / "case", config)
    out = tmp_path / "out"
    done = compare(folder, out, tmp_path, "--sample", "6")
    assert done.returncode == 0, done.stderr[-3000:]
    assert "examples.jsonl:6" in done.stderr  # the bad row is named, the rest ran
    report = json.loads((out / "report.json").read_text())
    assert report["primary_metric"] == "label_accuracy" and report["questions"]["count"] == 6
    arms = {a["name"]: a for a in report["arms"]}
    assert {name: a["status"] for name, a in arms.items()} == dict.fromkeys(
        ["closed_book", "rag_extractive", "rag", "finetuned", "hybrid"], "ran")
    assert "SmolLM2" in arms["rag"]["model"] and arms["hybrid"]["adapter"]["ref"] != arms["finetuned"]["adapter"]["ref"]
    for name in ("closed_book", "rag", "finetuned", "hybrid"):
        metrics = report["metrics"][name]
        assert {"label_accuracy", "macro_f1", "out_of_set"} <= set(metrics), name
    assert report["metrics"]["rag_extractive"]["label_accuracy"]["mean"] >= 0.5
    assert report["recommendation"]["verdict"] and report["recommendation"]["headline"]
    assert report["freshness"]["arms"]["rag_extractive"]["time_to_fresh_measured"] is True
    html = (out / "report.html").read_text()
    assert "Examples: what each arm saw" in html and "demonstrations" in html
