"""The time budget: a run cut to the steps that fit and recorded as such; threads from the cores the process has."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tailor.finetune.budget import cgroup_cpu_limit, process_cores
from tailor.finetune.config import FinetuneConfig
from tailor.finetune.train import finetune


def test_a_budget_that_allows_part_of_the_epochs_stops_early_and_says_why(tiny_llm_dir, facts_dataset, tmp_path, capsys):
    config = FinetuneConfig(base_model=str(tiny_llm_dir), dataset=facts_dataset, home=tmp_path, epochs=300,
                            budget_minutes=0.01, batch_size=4, max_length=128, warmup=0, logging_steps=1,
                            eval_steps=10_000, save_steps=10_000, early_stopping_metric="none")
    entry = finetune(config).entry
    record = entry.manifest["time_budget"]
    assert record["budget_minutes"] == 0.01 and record["planned_epochs"] == 300
    assert record["stopped_by"] in ("estimate", "wall_clock")
    assert record["steps"] < record["planned_steps"] and record["epochs"] < 300
    assert entry.manifest["cost"]["steps"] == record["steps"]
    out = capsys.readouterr().out
    assert "training: " in out and f"{record['planned_steps']:,} steps" in out and "ETA" in out
    assert f"stopped by the 0.01-minute budget after {record['epochs']:g} of 300 epochs" in out
    if record["stopped_by"] == "estimate":  # the schedule was refitted to end where the budget ends
        assert record["capped_steps"] == record["steps"] and "over the 0.01-minute budget" in out
        rates = [e["learning_rate"] for e in map(json.loads, (entry.path / "metrics.jsonl").read_text().splitlines())
                 if "learning_rate" in e]
        assert rates[-1] < 0.2 * config.learning_rate


def test_without_a_budget_the_run_is_estimated_and_not_cut(tiny_llm_dir, facts_dataset, tmp_path, capsys):
    config = FinetuneConfig(base_model=str(tiny_llm_dir), dataset=facts_dataset, home=tmp_path, max_steps=6,
                            batch_size=4, max_length=128, eval_steps=10_000, save_steps=10_000,
                            early_stopping_metric="none")
    record = finetune(config).entry.manifest["time_budget"]
    assert record["stopped_by"] is None and record["steps"] == record["planned_steps"] == 6
    assert record["seconds_per_step"] > 0 and record["estimated_seconds"] > 0
    assert "estimate: " in capsys.readouterr().out


@pytest.mark.skipif(shutil.which("taskset") is None, reason="needs taskset (util-linux)")
def test_threads_follow_the_cpu_affinity():
    code = ("from tailor.finetune.budget import process_cores, training_threads; import torch; "
            "print(process_cores(), training_threads(), torch.get_num_threads())")
    env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}
    done = subprocess.run(["taskset", "-c", "0", sys.executable, "-c", code], env=env, capture_output=True, text=True,
                          timeout=120, check=True)
    assert done.stdout.split() == ["1", "1", "1"]


@pytest.mark.parametrize(("cpu_max", "cores"), [("150000 100000\n", 2), ("50000 100000\n", 1), ("max 100000\n", None)])
def test_the_cgroup_quota_caps_the_cores(tmp_path: Path, cpu_max, cores):
    path = tmp_path / "cpu.max"
    path.write_text(cpu_max)
    assert cgroup_cpu_limit(path) == cores
    assert process_cores(path) == min(len(os.sched_getaffinity(0)), cores or 10_000)
    assert cgroup_cpu_limit(tmp_path / "absent") is None
