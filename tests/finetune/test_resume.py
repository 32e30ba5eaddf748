"""A run killed with SIGKILL resumes from its last complete checkpoint and ends like an uninterrupted one."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import torch
from safetensors.torch import load_file

from tailor.finetune.config import FinetuneConfig
from tailor.finetune.registry import AdapterRegistry
from tailor.finetune.train import finetune

FIELDS = dict(epochs=12, batch_size=2, max_length=192, packing=False, learning_rate=5e-3, lora_dropout=0.1,
              eval_steps=4, save_steps=4, eval_samples=2, eval_max_new_tokens=8, early_stopping_metric="loss",
              early_stopping_patience=0, logging_steps=2)


def flags(fields: dict) -> list[str]:
    tokens = []
    for key, value in fields.items():
        flag = key.replace("_", "-")
        tokens += [f"--{flag}" if value else f"--no-{flag}"] if isinstance(value, bool) else [f"--{flag}", str(value)]
    return tokens


def adapter_weights(entry) -> dict[str, torch.Tensor]:
    return load_file(str(entry.weights / "adapter_model.safetensors"))


def test_sigkill_then_resume_matches_an_uninterrupted_run(tiny_llm_dir, facts_dataset, tmp_path, cli_env):
    reference = finetune(FinetuneConfig(base_model=str(tiny_llm_dir), dataset=facts_dataset, home=tmp_path / "ref",
                                        name="ref", **FIELDS))
    total = reference.metrics["train"]["global_step"]
    assert total == 12 * 8  # 16 rows, batch 2: 8 steps per epoch

    home = Path(cli_env["TAILOR_HOME"])
    command = [sys.executable, "-m", "tailor.cli", "finetune", "--base-model", str(tiny_llm_dir), "--dataset",
               str(facts_dataset), "--name", "killed", "--no-progress", *flags(FIELDS)]
    run_dir = home / "runs" / "killed"
    child = subprocess.Popen(command, env=cli_env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 60
    while not (run_dir / "checkpoint-8" / "trainer_state.json").is_file():
        assert child.poll() is None, child.stderr.read().decode()[-2000:]
        assert time.time() < deadline, "no checkpoint within 60 s"
        time.sleep(0.02)
    child.send_signal(signal.SIGKILL)
    assert child.wait(timeout=10) == -signal.SIGKILL
    assert not AdapterRegistry(home).entries()  # nothing published by the killed run
    steps_done = max(int(p.name.split("-")[1]) for p in run_dir.glob("checkpoint-*"))
    assert 8 <= steps_done < total

    resumed = subprocess.run([*command, "--resume"], env=cli_env, capture_output=True, text=True, timeout=120)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    entry = AdapterRegistry(home).get("killed")
    assert entry.manifest["metrics"]["train"]["global_step"] == total
    assert entry.manifest["cost"]["steps"] == total
    expected, actual = adapter_weights(reference.entry), adapter_weights(entry)
    assert expected.keys() == actual.keys()
    for name in expected:
        torch.testing.assert_close(actual[name], expected[name], rtol=1e-4, atol=1e-5)
    sessions = {line.split('"session": "')[1][:12] for line in (entry.path / "metrics.jsonl").read_text().splitlines()}
    assert len(sessions) == 2  # the killed session and the resumed one are both in the log (and in the cost)
